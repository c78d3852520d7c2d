package allocation

import (
	"time"

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
	// The offers still-unbound tasks name. Those a task accepted before they
	// expired do not lapse (allocator.RescindInput.Accepting): the
	// framework answered in time, and the pass binds at most maxTasks tasks,
	// so a large accept can wait several passes. And an idle built-in
	// framework's offer such a task names is kept: that task's bind failed
	// this pass (a conflict) and is tried again next pass, which needs it.
	named := map[types.NamespacedName]bool{}
	accepting := map[string]bool{}
	for _, t := range pendingTasks(w, func(t *kov1.Task) bool { return t.Spec.OfferName != "" }) {
		k := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}
		named[k] = true
		if o := w.offers[k]; o != nil && acceptedInTime(t, o, w.now) {
			accepting[k.String()] = true
		}
	}
	in := allocator.RescindInput{AgentStates: states, Frameworks: l.fws, Disconnected: l.away, Accepting: accepting}
	for _, r := range allocator.Rescinds(l.snapshot, in) {
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
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		if idle[o.FrameworkKey().String()] && !named[k] {
			pl.deletions = append(pl.deletions, offerDeletion{offer: o, kind: offerReturned, reason: OfferUnusedReason,
				event: offerEvent(o, corev1.EventTypeNormal, OfferUnusedReason, "Returned: the framework's built-in scheduler has no task to place")})
		}
	}
	return pl
}

// acceptedInTime says whether task t accepted offer o, which it names,
// before o expired (an offer with no expiration never does), as admission
// judges it.
func acceptedInTime(t *kov1.Task, o *kov1.ResourceOffer, now time.Time) bool {
	at := acceptedAt(t)
	if at.IsZero() {
		at = now
	}
	return o.Spec.ExpirationTime == nil || at.Before(o.Spec.ExpirationTime.Time)
}

// acceptedAt is when task t accepted the offer it names, as far as the
// master can tell: its creation while its spec is as created (generation
// 1, or unset in a test's object); otherwise unknown (zero: the accept is
// judged as made now), since spec.offerName may have been set later.
func acceptedAt(t *kov1.Task) time.Time {
	if t.Generation > 1 {
		return time.Time{}
	}
	return t.CreationTimestamp.Time
}
