package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeoffer/kubeoffer/pkg/allocator"
)

// rescind withdraws the offers the allocator says must go, and returns the
// offers of idle built-in frameworks.
func (s *Scheduler) rescind(ctx context.Context, w *world, l *ledger, idle map[string]bool) {
	states := map[string]allocator.AgentState{}
	for name, a := range w.agents {
		states[name] = agentState(a)
	}
	rescinds := allocator.Rescinds(l.snapshot, allocator.RescindInput{AgentStates: states, Frameworks: l.fws, Disconnected: l.away})
	var dels []offerDeletion
	var labels [][2]string
	for _, r := range rescinds {
		o := w.offers[types.NamespacedName{Namespace: r.Offer.Namespace, Name: r.Offer.Name}]
		if o == nil {
			continue
		}
		eventType := corev1.EventTypeWarning
		if r.Reason == allocator.RescindUsedUp || r.Reason == allocator.RescindExpired {
			eventType = corev1.EventTypeNormal
		}
		dels = append(dels, offerDeletion{offer: o, eventType: eventType, reason: r.Reason, message: "Rescinded: " + r.Message})
		labels = append(labels, [2]string{r.Offer.Framework, r.Reason})
	}
	rescinded := len(dels)
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		if idle[o.FrameworkKey().String()] {
			dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Unused",
				message: "Returned: the framework's built-in scheduler has no task to place"})
		}
	}
	for i, deleted := range s.deleteOffers(ctx, w, dels) {
		if deleted && i < rescinded {
			s.Metrics.OffersRescinded.WithLabelValues(labels[i][0], labels[i][1]).Inc()
		}
	}
}
