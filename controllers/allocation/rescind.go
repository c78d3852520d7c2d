package allocation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/allocator"
)

// planRescinds withdraws the offers the allocator says must go (expired,
// used up, their agent or framework gone, quota or guarantees changed),
// and returns the offers of idle built-in frameworks.
func planRescinds(p *pass, idle map[string]bool) plan {
	var pl plan
	w, l := p.w, p.l
	states := map[string]allocator.AgentState{}
	for name, a := range w.agents {
		states[name] = agentState(a)
	}
	for _, r := range allocator.Rescinds(l.snapshot, allocator.RescindInput{AgentStates: states, Frameworks: l.fws, Disconnected: l.away}) {
		o := w.offers[types.NamespacedName{Namespace: r.Offer.Namespace, Name: r.Offer.Name}]
		if o == nil {
			continue
		}
		eventType := corev1.EventTypeWarning
		if r.Reason == allocator.RescindUsedUp || r.Reason == allocator.RescindExpired {
			eventType = corev1.EventTypeNormal
		}
		pl.deletions = append(pl.deletions, offerDeletion{offer: o, kind: offerRescinded, reason: r.Reason,
			event: offerEvent(o, eventType, r.Reason, "Rescinded: "+r.Message)})
	}
	// An offer a still-unbound task names is kept: that task's bind failed
	// this pass (a conflict) and is tried again next pass, which needs it.
	named := map[types.NamespacedName]bool{}
	for _, t := range pendingTasks(w, func(t *kov1.Task) bool { return t.Spec.OfferName != "" }) {
		named[types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}] = true
	}
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		if idle[o.FrameworkKey().String()] && !named[k] {
			pl.deletions = append(pl.deletions, offerDeletion{offer: o, kind: offerReturned, reason: OfferUnusedReason,
				event: offerEvent(o, corev1.EventTypeNormal, OfferUnusedReason, "Returned: the framework's built-in scheduler has no task to place")})
		}
	}
	return pl
}
