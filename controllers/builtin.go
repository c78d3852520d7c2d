package controllers

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/allocator"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// pendingTasks returns pending tasks matching keep, oldest first.
func pendingTasks(w *world, keep func(*kov1.Task) bool) []*kov1.Task {
	var out []*kov1.Task
	for _, t := range w.tasks {
		if taskstatus.IsPending(t) && keep(t) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return key(out[i]).String() < key(out[j]).String()
	})
	return out
}

// maxWaitingMarksPerPass bounds how many tasks one pass marks as waiting
// for an offer; the rest are marked by the passes after.
const maxWaitingMarksPerPass = 256

// builtinPlacing is what one pass of the built-in schedulers did: the
// frameworks that had tasks to place, and the offers that took a task.
type builtinPlacing struct {
	frameworks map[string]bool
	used       map[types.NamespacedName]bool
	// contended is whether several frameworks wanted offers.
	contended bool
}

// placeBuiltin is the built-in schedulers: each pending task of a framework
// with spec.scheduler that names no offer is put on one of the framework's
// offers by its policy, in creation order, or marked as waiting.
func (s *Scheduler) placeBuiltin(ctx context.Context, w *world) builtinPlacing {
	placing := builtinPlacing{frameworks: map[string]bool{}, used: map[types.NamespacedName]bool{}}
	tasks := pendingTasks(w, func(t *kov1.Task) bool {
		f := w.frameworks[t.FrameworkKey()]
		return t.Spec.OfferName == "" && frameworkLive(f) && f.Spec.Scheduler != nil
	})
	if len(tasks) == 0 {
		return placing
	}
	l := s.ledger(w, nil)
	// A task placed on an offer by an earlier pass (or an earlier leader)
	// but not bound yet — its bind met a conflict, or its leader died —
	// still claims its share of the offer; the ledger counts bound tasks
	// only, so without this the offer's rest would be given out twice and
	// admission would drop one of the two tasks.
	for _, t := range pendingTasks(w, func(t *kov1.Task) bool { return t.Spec.OfferName != "" }) {
		overhead, _ := w.podOverhead(t)
		l.consume(types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName},
			l.dims.FromList(kov1.AddResources(t.Spec.Resources, overhead)), resources.NewPortSet(t.Spec.Ports...))
	}
	// When frameworks compete for offers, a built-in scheduler takes one
	// task per offer per pass and returns the rest (returnBuiltinOffers), so
	// the next pass re-offers it in weighted-DRF order and shares converge at
	// task granularity. Alone, it packs each offer.
	contended := competing(l, s.idleBuiltins(w)) > 1
	placing.contended = contended
	total := make(resources.Vec, l.dims.Len())
	for _, a := range l.snapshot.Agents {
		total.Add(a.Allocatable)
	}
	type placement struct {
		cur, placed *kov1.Task
		offer       types.NamespacedName
	}
	var places []placement
	var waiting []statusWrite
	taken := map[types.NamespacedName]bool{}
	spread := map[string]map[string]int{}
	for _, t := range tasks {
		f := w.frameworks[t.FrameworkKey()]
		fk := f.Key().String()
		placing.frameworks[fk] = true
		attr := f.Spec.Scheduler.SpreadAttribute
		if attr == "" {
			attr = corev1.LabelHostname
		}
		if spread[fk] == nil {
			spread[fk] = spreadCounts(w, f, attr)
		}
		var cands, takenCands []allocator.Candidate
		var keys []types.NamespacedName
		for _, offerKey := range sortedNNKeys(l.offers) {
			ov := l.offers[offerKey]
			if ov.Framework != fk || (!ov.Expires.IsZero() && !w.now.Before(ov.Expires)) {
				continue
			}
			c := allocator.Candidate{Offer: ov.Name, Remaining: ov.Resources, Ports: ov.Ports, SpreadValue: ov.Attributes[attr]}
			if contended && taken[offerKey] {
				takenCands = append(takenCands, c)
				continue
			}
			cands = append(cands, c)
			keys = append(keys, offerKey)
		}
		overhead, _ := w.podOverhead(t) // a missing RuntimeClass is refused at admission
		need := l.dims.FromList(kov1.AddResources(t.Spec.Resources, overhead))
		ports := resources.NewPortSet(t.Spec.Ports...)
		i := allocator.Place(f.Spec.Scheduler.Policy, need, ports, cands, spread[fk], total)
		if i < 0 {
			// A task that fits an offer already taken this pass is placed
			// next pass; one that none of the framework's offers fits waits,
			// and says so (a bounded number per pass, so a large burst does
			// not hold the pass up). Without any offer, markUnoffered decides
			// once this pass's offers are made.
			if len(cands)+len(takenCands) == 0 || len(waiting) >= maxWaitingMarksPerPass ||
				allocator.Place(f.Spec.Scheduler.Policy, need, ports, takenCands, spread[fk], total) >= 0 {
				continue
			}
			if mark := waitingStatus(w, t); !statusEqual(mark.cur.Status, mark.next.Status) {
				waiting = append(waiting, mark)
			}
			continue
		}
		placed := t.DeepCopy()
		placed.Spec.OfferName = cands[i].Offer
		places = append(places, placement{cur: t, placed: placed, offer: keys[i]})
		// Assumed to succeed for the rest of this pass's decisions; a task
		// whose patch fails is placed again next pass.
		l.consume(keys[i], need, ports)
		taken[keys[i]] = true
		spread[fk][cands[i].SpreadValue]++
	}
	errs := make([]error, len(places))
	s.parallelize(ctx, len(places), func(i int) {
		// A patch of offerName alone: an Update would resend the whole spec,
		// and a template written without metadata (kubectl) would come back
		// with an empty one, which the immutability rule refuses.
		p := places[i]
		errs[i] = s.Client.Patch(ctx, p.placed, client.MergeFromWithOptions(p.cur, client.MergeFromWithOptimisticLock{}))
	})
	for i, p := range places {
		if errs[i] != nil {
			ctrl.LoggerFrom(ctx).V(1).Info("Could not place task; will retry", "Task", klog.KObj(p.cur), "err", errs[i].Error())
			continue
		}
		w.tasks[key(p.placed)] = p.placed
		placing.used[p.offer] = true
	}
	s.writeTaskStatuses(ctx, w, waiting)
	return placing
}

// markUnoffered marks as waiting the tasks of built-in frameworks that
// hold no offer at the end of a pass: nothing is free for them now.
func (s *Scheduler) markUnoffered(ctx context.Context, w *world) {
	offered := map[kov1.FrameworkKey]bool{}
	for _, o := range w.offers {
		offered[o.FrameworkKey()] = true
	}
	var marks []statusWrite
	for _, t := range pendingTasks(w, func(t *kov1.Task) bool {
		fk := t.FrameworkKey()
		f := w.frameworks[fk]
		return t.Spec.OfferName == "" && frameworkLive(f) && f.Spec.Scheduler != nil && !offered[fk]
	}) {
		if len(marks) >= maxWaitingMarksPerPass {
			break
		}
		if mark := waitingStatus(w, t); !statusEqual(mark.cur.Status, mark.next.Status) {
			marks = append(marks, mark)
		}
	}
	s.writeTaskStatuses(ctx, w, marks)
}

// competing counts the frameworks that want offers now: connected, not
// suppressed, and (with a built-in scheduler) with a task to place.
func competing(l *ledger, idle map[string]bool) int {
	n := 0
	for _, f := range l.snapshot.Frameworks {
		if !f.Suppressed && !idle[f.Key] {
			n++
		}
	}
	return n
}

// returnBuiltinOffers makes the built-in schedulers answer their offers as a
// well-behaved Mesos framework does, so that weighted DRF, not whoever was
// offered first, decides who gets an agent next. For every framework that
// had tasks to place this pass: an offer that took tasks has the rest
// declined once they are bound (no refuse time: the next pass re-offers it
// by DRF order), unless no other framework wants offers, when it is kept
// for the framework's next tasks; an offer no waiting task fits is declined with the
// framework's refuse duration, or returned without one when no task waits
// at all (so tasks created a moment later are not kept off the agent).
// Offers a still-unbound task names are kept.
func (s *Scheduler) returnBuiltinOffers(ctx context.Context, w *world, placing builtinPlacing) {
	if len(placing.frameworks) == 0 {
		return
	}
	named := map[types.NamespacedName]bool{}
	waiting := map[string]bool{}
	for _, t := range w.tasks {
		switch {
		case taskstatus.IsPending(t) && t.Spec.OfferName != "":
			named[types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}] = true
		case taskstatus.IsPending(t):
			waiting[t.FrameworkKey().String()] = true
		}
	}
	var dels []offerDeletion
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		fk := o.FrameworkKey().String()
		if !placing.frameworks[fk] || named[k] || o.Spec.Decline != nil || o.DeletionTimestamp != nil {
			continue
		}
		if placing.used[k] && !placing.contended {
			continue // alone, it keeps the rest for its next tasks
		}
		if placing.used[k] {
			dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Used",
				message: "Returned the rest: the framework's built-in scheduler placed its tasks"})
			continue
		}
		if !waiting[fk] {
			dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Unused",
				message: "Returned: the framework's built-in scheduler has no task left to place"})
			continue
		}
		refuse := refuseDuration(w.frameworks[o.FrameworkKey()], nil)
		s.filters.add(fk, o.Spec.AgentName, w.now.Add(refuse), w.now)
		dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Unused",
			message: fmt.Sprintf("Returned: no waiting task of the framework's built-in scheduler fits; agent %s refused for %s", o.Spec.AgentName, refuse)})
	}
	s.deleteOffers(ctx, w, dels)
}

func spreadCounts(w *world, f *kov1.Framework, attr string) map[string]int {
	counts := map[string]int{}
	for _, t := range w.tasks {
		if t.Namespace != f.Namespace || t.Spec.FrameworkName != f.Name || !taskstatus.HoldsResources(t) {
			continue
		}
		if a := w.agents[t.Status.AgentName]; a != nil {
			counts[a.Status.Attributes[attr]]++
		}
	}
	return counts
}

// waitingStatus records on a task that no offer fits it yet.
func waitingStatus(w *world, t *kov1.Task) statusWrite {
	next := t.DeepCopy()
	next.Status.State = kov1.TaskPending
	next.Status.ObservedGeneration = t.Generation
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionFalse,
		Reason: kov1.TaskReasonWaitingForOffer, Message: "No offer of the framework fits the task yet; it waits for resources to free up", ObservedGeneration: t.Generation})
	if t.Status.State == "" {
		appendHistory(&next.Status, kov1.TaskPending, kov1.TaskReasonWaitingForOffer, "", w.now)
	}
	return statusWrite{cur: t, next: next}
}

// idleBuiltins are frameworks with a built-in scheduler and no task waiting
// to be placed: they are offered nothing and their offers are returned.
func (s *Scheduler) idleBuiltins(w *world) map[string]bool {
	idle := map[string]bool{}
	for k, f := range w.frameworks {
		if f.Spec.Scheduler != nil {
			idle[k.String()] = true
		}
	}
	for _, t := range w.tasks {
		if taskstatus.IsPending(t) && t.Spec.OfferName == "" {
			delete(idle, t.FrameworkKey().String())
		}
	}
	return idle
}
