package allocation

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/allocator"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// planAdmission binds tasks that name an offer, or ends them with a reason.
// Decisions are made in creation order against the offers' remaining
// resources, each assuming every bind before it lands (an offer shrinks by
// what the tasks bound to it before took); apply writes the binds first,
// and the refusals only if every bind was written.
func planAdmission(p *pass) plan {
	var pl plan
	w, l := p.w, p.l
	tasks := pendingTasks(w, func(t *kov1.Task) bool { return t.Spec.OfferName != "" })
	taken := offerClaims{}
	binds := bindEvents{}
	for _, t := range tasks {
		if len(pl.binds)+len(pl.refusals) >= p.maxTasks {
			pl.more = true // the next pass admits the rest
			break
		}
		offerKey := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}
		if w.unseenOffers[offerKey] {
			continue // the cache lags behind the framework's view; next pass
		}
		a := admit(w, l, t, t.Spec.OfferName, acceptedAt(t), taken.view(l, offerKey))
		if !a.verdict.Bind {
			pl.refusals = append(pl.refusals, refusal(t, a.verdict, w.now))
			continue
		}
		taken.claim(offerKey, a.need, a.ports)
		binds.add(&pl, t, w.offers[offerKey], w.frameworks[t.FrameworkKey()], a.overhead, w.now)
	}
	pl.bindEvents = binds.events()
	return pl
}

// admission is admission's verdict on a task, with what the task needs of
// the offer.
type admission struct {
	verdict  allocator.Admission
	need     resources.Vec
	ports    resources.PortSet
	overhead corev1.ResourceList
}

// admit judges task t against offer (named offerName; view is what is left
// of it, nil when there is no such offer), accepted at acceptedAt (zero:
// now): the rules of allocator.Admit, and a template the API server would
// refuse as a Pod (a RuntimeClass that does not exist) is the task's
// error, whatever the offer.
func admit(w *world, l *ledger, t *kov1.Task, offerName string, acceptedAt time.Time, view *allocator.OfferView) admission {
	overhead, overheadErr := w.podOverhead(t)
	a := admission{need: l.dims.FromList(kov1.AddResources(t.Spec.Resources, overhead)), ports: resources.NewPortSet(t.Spec.Ports...),
		overhead: overhead}
	a.verdict = allocator.Admit(l.dims, allocator.TaskRequest{Framework: t.Spec.FrameworkName, Offer: offerName, AcceptedAt: acceptedAt,
		Needs: a.need, Ports: a.ports, TemplateNodeName: t.Spec.Template.Spec.NodeName, HostPorts: hostPorts(&t.Spec.Template.Spec)},
		view, frameworkLive(w.frameworks[t.FrameworkKey()]), w.now)
	if overheadErr != nil && (a.verdict.Bind || a.verdict.State != kov1.TaskError) {
		a.verdict = allocator.Admission{State: kov1.TaskError, Reason: kov1.TaskReasonInvalid, Message: overheadErr.Error()}
	}
	if a.verdict.Reason == kov1.TaskReasonInsufficientResources && len(overhead) > 0 {
		a.verdict.Message += fmt.Sprintf("; the need includes the Pod overhead of RuntimeClass %q (%s)", *t.Spec.Template.Spec.RuntimeClassName, describe(overhead))
	}
	return a
}

// refusal ends task t as admission's verdict says, with a Warning Event.
func refusal(t *kov1.Task, v allocator.Admission, now time.Time) taskWrite {
	next := t.DeepCopy()
	next.Status.ObservedGeneration = t.Generation
	taskstatus.Transition(&next.Status, v.State, v.Reason, v.Message, now)
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionFalse,
		Reason: v.Reason, Message: v.Message, ObservedGeneration: t.Generation})
	return taskWrite{cur: t, next: next, event: &event{regarding: next, eventType: corev1.EventTypeWarning,
		reason: v.Reason, action: "Admit", note: fmt.Sprintf("Task %s: %s", v.State, v.Message)}}
}

// bound is task t bound to the agent of offer o (Staging), charged the
// RuntimeClass overhead: one status write. An offer that lives in the
// master only (a built-in scheduler's) is not named.
func bound(t *kov1.Task, o *kov1.ResourceOffer, overhead corev1.ResourceList, now time.Time) *kov1.Task {
	next := t.DeepCopy()
	next.Status.ObservedGeneration = t.Generation
	msg := fmt.Sprintf("Bound to agent %s from offer %s", o.Spec.AgentName, o.Name)
	offerName := o.Name
	if isInMaster(o) {
		msg, offerName = fmt.Sprintf("Bound to agent %s by the built-in scheduler", o.Spec.AgentName), ""
	}
	next.Status.State = kov1.TaskStaging
	next.Status.Reason, next.Status.Message = "", msg
	next.Status.AgentName, next.Status.NodeName, next.Status.OfferName = o.Spec.AgentName, o.Spec.NodeName, offerName
	next.Status.Overhead = overhead
	taskstatus.AppendHistory(&next.Status, kov1.TaskStaging, "", msg, now)
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionTrue,
		Reason: kov1.TaskBoundOfferAcceptedReason, Message: msg, ObservedGeneration: t.Generation})
	return next
}

// bindEvents gathers a step's binds and the Events they record: a task a
// framework placed gets a Staging Event of its own; the tasks the built-in
// schedulers placed get one Event per offer (offerBinds).
type bindEvents struct {
	byOffer map[types.NamespacedName]*offerBinds
	order   []types.NamespacedName
}

// add plans the bind of t to offer o's agent.
func (b *bindEvents) add(pl *plan, t *kov1.Task, o *kov1.ResourceOffer, f *kov1.Framework, overhead corev1.ResourceList, now time.Time) {
	next := bound(t, o, overhead, now)
	if f == nil || f.Spec.Scheduler == nil {
		pl.binds = append(pl.binds, taskWrite{cur: t, next: next, event: &event{regarding: next, related: o, eventType: corev1.EventTypeNormal,
			reason: TaskStagingReason, action: "Bind", note: next.Status.Message}})
		return
	}
	k := key(o)
	if b.byOffer == nil {
		b.byOffer = map[types.NamespacedName]*offerBinds{}
	}
	if b.byOffer[k] == nil {
		b.byOffer[k] = &offerBinds{offer: o, framework: f}
		b.order = append(b.order, k)
	}
	b.byOffer[k].binds = append(b.byOffer[k].binds, len(pl.binds))
	pl.binds = append(pl.binds, taskWrite{cur: t, next: next})
}

// events returns the per-offer Events, in the order the offers first took
// a task.
func (b *bindEvents) events() []offerBinds {
	var out []offerBinds
	for _, k := range b.order {
		out = append(out, *b.byOffer[k])
	}
	return out
}

// offerClaims are what the decisions of one step have taken from offers so
// far, before any of them is written: each later decision sees the offers
// smaller by that much.
type offerClaims map[types.NamespacedName]*claim

type claim struct {
	resources resources.Vec
	ports     resources.PortSet
}

// claim takes need and ports from offer k.
func (c offerClaims) claim(k types.NamespacedName, need resources.Vec, ports resources.PortSet) {
	x := c[k]
	if x == nil {
		x = &claim{}
		c[k] = x
	}
	x.resources = x.resources.Clone(len(need))
	x.resources.Add(need)
	x.ports = x.ports.Union(ports)
}

// remaining is what is left of ledger offer ov (key k) after the claims.
func (c offerClaims) remaining(k types.NamespacedName, ov *allocator.Offer) (resources.Vec, resources.PortSet) {
	x := c[k]
	if x == nil {
		return ov.Resources, ov.Ports
	}
	left := ov.Resources.Clone(len(x.resources))
	left.Sub(x.resources)
	left.ClampZero()
	return left, ov.Ports.Subtract(x.ports)
}

// view is what admission needs to know of offer k, after the claims; nil
// when there is no such offer.
func (c offerClaims) view(l *ledger, k types.NamespacedName) *allocator.OfferView {
	o := l.w.offers[k]
	if o == nil || o.DeletionTimestamp != nil {
		return nil
	}
	v := &allocator.OfferView{Framework: o.Spec.FrameworkName, Agent: o.Spec.AgentName, Declined: o.Spec.Decline != nil}
	if o.Spec.ExpirationTime != nil {
		v.Expires = o.Spec.ExpirationTime.Time
	}
	if ov := l.offers[k]; ov != nil {
		v.Remaining, v.RemainingPorts = c.remaining(k, ov)
	} else {
		v.Remaining = make(resources.Vec, l.dims.Len())
	}
	if a := l.w.agents[o.Spec.AgentName]; a != nil {
		v.AgentOfferable = agentState(a) == allocator.AgentOK
	}
	return v
}

// hostPorts lists the host ports a Pod spec's containers ask for.
func hostPorts(spec *corev1.PodSpec) []allocator.HostPort {
	var out []allocator.HostPort
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					out = append(out, allocator.HostPort{Container: c.Name, Port: p.HostPort})
				}
			}
		}
	}
	return out
}
