package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/allocator"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// admitTasks binds tasks that name an offer, or ends them with a reason.
// Decisions are made in creation order against the offers' remaining
// resources, assuming every bind before succeeds; the binds are written
// first, and the refusals only if every bind was written (a failed bind
// gives back resources a later refusal may have counted as used).
func (s *Scheduler) admitTasks(ctx context.Context, w *world) {
	tasks := pendingTasks(w, func(t *kov1.Task) bool { return t.Spec.OfferName != "" })
	if len(tasks) == 0 {
		return
	}
	l := s.ledger(w, nil)
	var binds, refusals []statusWrite
	var bindOffers []*kov1.ResourceOffer
	for _, t := range tasks {
		offerKey := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}
		view := l.offerView(offerKey)
		if view == nil && s.offerExistsInAPI(ctx, offerKey) {
			continue // the cache lags behind the framework's view; next pass
		}
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
			setTerminal(&next.Status, verdict.State, verdict.Reason, verdict.Message, w.now)
			meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionFalse,
				Reason: verdict.Reason, Message: verdict.Message, ObservedGeneration: t.Generation})
			refusals = append(refusals, statusWrite{cur: t, next: next})
			continue
		}
		o := w.offers[offerKey]
		msg := fmt.Sprintf("Bound to agent %s from offer %s", o.Spec.AgentName, o.Name)
		next.Status.State = kov1.TaskStaging
		next.Status.Reason, next.Status.Message = "", msg
		next.Status.AgentName, next.Status.NodeName = o.Spec.AgentName, o.Spec.NodeName
		next.Status.Overhead = overhead
		appendHistory(&next.Status, kov1.TaskStaging, "", msg, w.now)
		meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionTrue,
			Reason: "Bound", Message: msg, ObservedGeneration: t.Generation})
		binds = append(binds, statusWrite{cur: t, next: next})
		bindOffers = append(bindOffers, o)
		l.consume(offerKey, need, ports)
	}
	allBound := true
	for i, bound := range s.writeTaskStatuses(ctx, w, binds) {
		if !bound {
			allBound = false
			continue
		}
		t := binds[i].next
		s.Metrics.OffersAccepted.WithLabelValues(t.FrameworkKey().String()).Inc()
		s.Recorder.Eventf(t, bindOffers[i], corev1.EventTypeNormal, "Staging", "Bind", t.Status.Message)
	}
	if !allBound {
		return // the refusals are decided again next pass
	}
	for i, refused := range s.writeTaskStatuses(ctx, w, refusals) {
		if refused {
			t := refusals[i].next
			s.Recorder.Eventf(t, nil, corev1.EventTypeWarning, t.Status.Reason, "Admit", "Task %s: %s", t.Status.State, t.Status.Message)
		}
	}
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

func (s *Scheduler) offerExistsInAPI(ctx context.Context, k types.NamespacedName) bool {
	var o kov1.ResourceOffer
	err := s.APIReader.Get(ctx, k, &o)
	return err == nil && o.DeletionTimestamp == nil && o.Spec.Decline == nil
}
