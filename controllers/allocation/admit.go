package allocation

import (
	"fmt"

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
	builtinBinds := map[types.NamespacedName]*offerBinds{}
	var order []types.NamespacedName
	for _, t := range tasks {
		if len(pl.binds)+len(pl.refusals) >= p.maxTasks {
			pl.more = true // the next pass admits the rest
			break
		}
		offerKey := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}
		if w.unseenOffers[offerKey] {
			continue // the cache lags behind the framework's view; next pass
		}
		view := taken.view(l, offerKey)
		f := w.frameworks[t.FrameworkKey()]
		overhead, overheadErr := w.podOverhead(t)
		need := l.dims.FromList(kov1.AddResources(t.Spec.Resources, overhead))
		ports := resources.NewPortSet(t.Spec.Ports...)
		verdict := allocator.Admit(l.dims, allocator.TaskRequest{Framework: t.Spec.FrameworkName, Offer: t.Spec.OfferName,
			Needs: need, Ports: ports, TemplateNodeName: t.Spec.Template.Spec.NodeName, HostPorts: hostPorts(&t.Spec.Template.Spec)}, view, frameworkLive(f), w.now)
		if overheadErr != nil && (verdict.Bind || verdict.State != kov1.TaskError) {
			// A template the API server would refuse as a Pod is the task's
			// error, whatever the offer.
			verdict = allocator.Admission{State: kov1.TaskError, Reason: kov1.TaskReasonInvalid, Message: overheadErr.Error()}
		}
		if verdict.Reason == kov1.TaskReasonInsufficientResources && len(overhead) > 0 {
			verdict.Message += fmt.Sprintf("; the need includes the Pod overhead of RuntimeClass %q (%s)", *t.Spec.Template.Spec.RuntimeClassName, describe(overhead))
		}
		next := t.DeepCopy()
		next.Status.ObservedGeneration = t.Generation
		if !verdict.Bind {
			taskstatus.Transition(&next.Status, verdict.State, verdict.Reason, verdict.Message, w.now)
			meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionFalse,
				Reason: verdict.Reason, Message: verdict.Message, ObservedGeneration: t.Generation})
			pl.refusals = append(pl.refusals, taskWrite{cur: t, next: next, event: &event{regarding: next, eventType: corev1.EventTypeWarning,
				reason: verdict.Reason, action: "Admit", note: fmt.Sprintf("Task %s: %s", verdict.State, verdict.Message)}})
			continue
		}
		o := w.offers[offerKey]
		msg := fmt.Sprintf("Bound to agent %s from offer %s", o.Spec.AgentName, o.Name)
		next.Status.State = kov1.TaskStaging
		next.Status.Reason, next.Status.Message = "", msg
		next.Status.AgentName, next.Status.NodeName = o.Spec.AgentName, o.Spec.NodeName
		next.Status.Overhead = overhead
		taskstatus.AppendHistory(&next.Status, kov1.TaskStaging, "", msg, w.now)
		meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionTrue,
			Reason: kov1.TaskBoundOfferAcceptedReason, Message: msg, ObservedGeneration: t.Generation})
		taken.claim(offerKey, need, ports)
		if f != nil && f.Spec.Scheduler != nil {
			// The master placed it: one Event per offer says so for all.
			if builtinBinds[offerKey] == nil {
				builtinBinds[offerKey] = &offerBinds{offer: o, framework: f}
				order = append(order, offerKey)
			}
			builtinBinds[offerKey].binds = append(builtinBinds[offerKey].binds, len(pl.binds))
			pl.binds = append(pl.binds, taskWrite{cur: t, next: next})
			continue
		}
		pl.binds = append(pl.binds, taskWrite{cur: t, next: next, event: &event{regarding: next, related: o, eventType: corev1.EventTypeNormal,
			reason: TaskStagingReason, action: "Bind", note: msg}})
	}
	for _, k := range order {
		pl.bindEvents = append(pl.bindEvents, *builtinBinds[k])
	}
	return pl
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
