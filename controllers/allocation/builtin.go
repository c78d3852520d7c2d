package allocation

import (
	"fmt"
	"slices"
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

// The built-in schedulers are a framework that lives in the master: for a
// Framework with spec.scheduler they place its tasks on its offers, answer
// the offers they are done with, and say which tasks wait. They talk to the
// first level only as any framework would, through its offers and through
// what the allocator already takes from a framework: a demand and a count
// of offers (setBuiltinDemand), and being suppressed while idle.

// maxWaitingMarksPerPass bounds how many tasks one pass marks as waiting
// for an offer; the rest are marked by the passes after.
const maxWaitingMarksPerPass = 256

// builtinPlacing is what the built-in schedulers had to do at the start of
// a pass: the frameworks with tasks to place, and whether several
// frameworks wanted offers.
type builtinPlacing struct {
	frameworks map[string]bool
	contended  bool
	// deferred are the frameworks with tasks left for the next pass (this
	// one placed as many as a pass may): their offers are kept for them.
	deferred map[string]bool
}

// planPlacements is the built-in schedulers' placement: each pending task
// of a framework with spec.scheduler that names no offer is put on one of
// the framework's offers by its policy, in creation order, and bound there
// in one status write (status.offerName says which offer; spec.offerName
// stays empty), or marked as waiting.
func planPlacements(p *pass) (builtinPlacing, plan) {
	var pl plan
	w, l := p.w, p.l
	placing := builtinPlacing{frameworks: map[string]bool{}, deferred: map[string]bool{}}
	tasks := pendingTasks(w, func(t *kov1.Task) bool {
		f := w.frameworks[t.FrameworkKey()]
		return t.Spec.OfferName == "" && frameworkLive(f) && f.Spec.Scheduler != nil
	})
	if len(tasks) == 0 {
		return placing, pl
	}
	// A task that names one of the offers but is not bound yet (admission
	// binds it later this pass; or an earlier master placed it by setting
	// spec.offerName and died before binding it) still claims its share of
	// the offer; the ledger counts bound tasks only, so without this the
	// offer's rest would be given out twice and admission would drop one of
	// the two tasks.
	claims := offerClaims{}
	for _, t := range pendingTasks(w, func(t *kov1.Task) bool { return t.Spec.OfferName != "" }) {
		overhead, _ := w.podOverhead(t)
		claims.claim(types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName},
			l.dims.FromList(kov1.AddResources(t.Spec.Resources, overhead)), resources.NewPortSet(t.Spec.Ports...))
	}
	// When frameworks compete for offers, a built-in scheduler takes one
	// task per offer per pass and returns the rest (planBuiltinReturns), so
	// the next pass re-offers it in weighted-DRF order and shares converge at
	// task granularity. Alone, it packs each offer.
	contended := competing(l, idleBuiltins(w)) > 1
	placing.contended = contended
	total := make(resources.Vec, l.dims.Len())
	for _, a := range l.snapshot.Agents {
		total.Add(a.Allocatable)
	}
	spread := map[string]map[string]int{}
	// Each framework's candidate offers are gathered once a pass and kept
	// up to date as its tasks claim them: placing k tasks among n offers
	// costs k·n candidate checks, not k sorts of every offer.
	offerKeys := sortedNNKeys(l.offers)
	candsOf := map[string]*placementCands{}
	binds := bindEvents{}
	for _, t := range tasks {
		f := w.frameworks[t.FrameworkKey()]
		fk := f.Key().String()
		placing.frameworks[fk] = true
		if len(pl.binds)+len(pl.refusals) >= p.maxTasks {
			pl.more = true // the next pass places the rest
			placing.deferred[fk] = true
			continue
		}
		attr := f.Spec.Scheduler.SpreadAttribute
		if attr == "" {
			attr = corev1.LabelHostname
		}
		if spread[fk] == nil {
			spread[fk] = spreadCounts(w, f, attr)
		}
		pc := candsOf[fk]
		if pc == nil {
			pc = gatherCands(l, w.now, claims, offerKeys, fk, attr)
			candsOf[fk] = pc
		}
		cands, keys, takenCands := pc.cands, pc.keys, pc.taken
		overhead, _ := w.podOverhead(t) // a missing RuntimeClass is refused at admission
		need := l.dims.FromList(kov1.AddResources(t.Spec.Resources, overhead))
		ports := resources.NewPortSet(t.Spec.Ports...)
		i := allocator.Place(f.Spec.Scheduler.Policy, need, ports, cands, spread[fk], total)
		if i < 0 {
			// A task that fits an offer already taken this pass is placed
			// next pass; one that none of the framework's offers fits waits,
			// and says so (a bounded number per pass, so a large burst does
			// not hold the pass up). Without any offer, planUnofferedMarks
			// decides once this pass's offers are made.
			if len(cands)+len(takenCands) == 0 || len(pl.marks) >= maxWaitingMarksPerPass || !p.hasWaited(t) ||
				allocator.Place(f.Spec.Scheduler.Policy, need, ports, takenCands, spread[fk], total) >= 0 {
				continue
			}
			if mark := waitingStatus(w, t); !statusEqual(mark.cur.Status, mark.next.Status) {
				pl.marks = append(pl.marks, mark)
			}
			continue
		}
		// Placed: admitted against the chosen offer and bound to its agent
		// in one status write, spec.offerName left empty. Assumed to land
		// for the rest of this step's decisions; a task whose bind fails is
		// placed again next pass.
		a := admit(w, l, t, cands[i].Offer, time.Time{}, claims.view(l, keys[i]))
		if !a.verdict.Bind {
			pl.refusals = append(pl.refusals, refusal(t, a.verdict, w.now))
			continue
		}
		binds.add(&pl, t, w.offers[keys[i]], f, a.overhead, w.now)
		claims.claim(keys[i], need, ports)
		spread[fk][cands[i].SpreadValue]++
		pc.claimed(l, claims, i, contended)
	}
	pl.bindEvents = binds.events()
	return placing, pl
}

// placementCands are one framework's unexpired offers of a pass, in key
// order, as placement candidates with what the pass's claims leave of
// them. In a contended pass an offer that has taken a task moves to taken:
// it gets no more this pass.
type placementCands struct {
	cands []allocator.Candidate
	keys  []types.NamespacedName
	taken []allocator.Candidate
}

// gatherCands returns framework fk's placement candidates among the
// ledger's offers (offerKeys, in key order), valued by spread attribute
// attr.
func gatherCands(l *ledger, now time.Time, claims offerClaims, offerKeys []types.NamespacedName, fk, attr string) *placementCands {
	pc := &placementCands{}
	for _, k := range offerKeys {
		ov := l.offers[k]
		if ov.Framework != fk || (!ov.Expires.IsZero() && !now.Before(ov.Expires)) {
			continue
		}
		left, ports := claims.remaining(k, ov)
		pc.cands = append(pc.cands, allocator.Candidate{Offer: ov.Name, Remaining: left, Ports: ports, SpreadValue: ov.Attributes[attr]})
		pc.keys = append(pc.keys, k)
	}
	return pc
}

// claimed updates candidate i after a task claimed it: what is left of it,
// and, in a contended pass, its move to taken.
func (pc *placementCands) claimed(l *ledger, claims offerClaims, i int, contended bool) {
	c := pc.cands[i]
	c.Remaining, c.Ports = claims.remaining(pc.keys[i], l.offers[pc.keys[i]])
	if !contended {
		pc.cands[i] = c
		return
	}
	pc.taken = append(pc.taken, c)
	pc.cands = slices.Delete(pc.cands, i, i+1)
	pc.keys = slices.Delete(pc.keys, i, i+1)
}

// planInMasterReturns hands back what is left of the offers the built-in
// schedulers were made in the master this pass: the next pass allocates it
// again by weighted DRF. An offer no waiting task of its framework fits
// refuses its agent to the framework for the refuse duration, as a declined
// offer does, so the allocator does not give it the same agent every pass.
func planInMasterReturns(p *pass) plan {
	var pl plan
	w := p.w
	waiting := map[string]bool{}
	for _, t := range w.tasks {
		if waitingForPlacement(w, t) {
			waiting[t.FrameworkKey().String()] = true
		}
	}
	for _, k := range sortedNNKeys(p.inMaster) {
		o := w.offers[k]
		fk := o.FrameworkKey()
		if !p.tried[k] && waiting[fk.String()] && !p.placing.deferred[fk.String()] {
			pl.filters = append(pl.filters, refuseFilter{framework: fk, agent: o.Spec.AgentName,
				until: w.now.Add(refuseDuration(w.frameworks[fk], nil))})
		}
		pl.forget = append(pl.forget, k)
	}
	return pl
}

// waitingForPlacement reports whether t is a built-in scheduler's task
// still to be placed.
func waitingForPlacement(w *world, t *kov1.Task) bool {
	f := w.frameworks[t.FrameworkKey()]
	return taskstatus.IsPending(t) && t.Spec.OfferName == "" && frameworkLive(f) && f.Spec.Scheduler != nil
}

// hasWaited reports whether this master has seen t waiting to be placed for
// at least an allocation interval: only then is it marked waiting. A task
// of a burst is usually placed within a pass or two, and a mark written
// first costs a status write for nothing.
func (p *pass) hasWaited(t *kov1.Task) bool {
	since, seen := p.waitingSince[key(t)]
	return seen && p.w.now.Sub(since) >= p.markAfter
}

// stillWaiting is when each built-in task still to be placed at the end of
// pass p was first seen waiting: carried over from the passes before, or
// now for a task seen for the first time. Tasks placed or gone are
// forgotten.
func stillWaiting(p *pass) map[types.NamespacedName]time.Time {
	out := map[types.NamespacedName]time.Time{}
	for k, t := range p.w.tasks {
		if !waitingForPlacement(p.w, t) {
			continue
		}
		if since, seen := p.waitingSince[k]; seen {
			out[k] = since
		} else {
			out[k] = p.w.now
		}
	}
	return out
}

// planUnofferedMarks marks as waiting the tasks of built-in frameworks that
// hold no offer at the end of a pass: nothing is free for them now.
func planUnofferedMarks(p *pass) plan {
	var pl plan
	w := p.w
	offered := map[kov1.FrameworkKey]bool{}
	for _, o := range w.offers {
		offered[o.FrameworkKey()] = true
	}
	for _, t := range pendingTasks(w, func(t *kov1.Task) bool {
		fk := t.FrameworkKey()
		f := w.frameworks[fk]
		return t.Spec.OfferName == "" && frameworkLive(f) && f.Spec.Scheduler != nil && !offered[fk]
	}) {
		if len(pl.marks) >= maxWaitingMarksPerPass {
			break
		}
		if !p.hasWaited(t) {
			continue
		}
		if mark := waitingStatus(w, t); !statusEqual(mark.cur.Status, mark.next.Status) {
			pl.marks = append(pl.marks, mark)
		}
	}
	return pl
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

// planBuiltinReturns makes the built-in schedulers answer their offers as a
// well-behaved Mesos framework does, so that weighted DRF, not whoever was
// offered first, decides who gets an agent next. For every framework that
// had tasks to place this pass: an offer that took tasks has the rest
// declined once they are bound (no refuse time: the next pass re-offers it
// by DRF order), unless no other framework wants offers, when it is kept
// for the framework's next tasks; an offer no waiting task fits is declined
// with the framework's refuse duration, or returned without one when no
// task waits at all (so tasks created a moment later are not kept off the
// agent). Offers a still-unbound task names are kept, and so are those of a
// framework whose tasks this pass had no room to place.
func planBuiltinReturns(p *pass) plan {
	var pl plan
	w, placing := p.w, p.placing
	if len(placing.frameworks) == 0 {
		return pl
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
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		fk := o.FrameworkKey().String()
		if !placing.frameworks[fk] || placing.deferred[fk] || named[k] || o.Spec.Decline != nil || o.DeletionTimestamp != nil {
			continue
		}
		used := p.placed[k]
		if used && !placing.contended {
			continue // alone, it keeps the rest for its next tasks
		}
		var note string
		reason := OfferUnusedReason
		switch {
		case used:
			reason, note = OfferUsedReason, "Returned the rest: the framework's built-in scheduler placed its tasks"
		case !waiting[fk]:
			note = "Returned: the framework's built-in scheduler has no task left to place"
		default:
			refuse := refuseDuration(w.frameworks[o.FrameworkKey()], nil)
			pl.filters = append(pl.filters, refuseFilter{framework: o.FrameworkKey(), agent: o.Spec.AgentName, until: w.now.Add(refuse)})
			note = fmt.Sprintf("Returned: no waiting task of the framework's built-in scheduler fits; agent %s refused for %s", o.Spec.AgentName, refuse)
		}
		pl.deletions = append(pl.deletions, offerDeletion{offer: o, kind: offerReturned, reason: reason,
			event: offerEvent(o, corev1.EventTypeNormal, reason, note)})
	}
	return pl
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
func waitingStatus(w *world, t *kov1.Task) taskWrite {
	next := t.DeepCopy()
	next.Status.State = kov1.TaskPending
	next.Status.ObservedGeneration = t.Generation
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionFalse,
		Reason: kov1.TaskReasonWaitingForOffer, Message: "No offer of the framework fits the task yet; it waits for resources to free up", ObservedGeneration: t.Generation})
	if t.Status.State == "" {
		taskstatus.AppendHistory(&next.Status, kov1.TaskPending, kov1.TaskReasonWaitingForOffer, "", w.now)
	}
	return taskWrite{cur: t, next: next}
}

// idleBuiltins are frameworks with a built-in scheduler and no task waiting
// to be placed: they are offered nothing and their offers are returned.
func idleBuiltins(w *world) map[string]bool {
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

// setBuiltinDemand tells the allocator what the built-in schedulers can
// use, since the master knows their waiting tasks: an offer too small for
// the smallest of them is not made; alone, a framework is offered until its
// offers cover all of them (it packs offers); competing, it gets at most one
// offer per waiting task it holds no offer for (it places one task per
// offer per pass). Without this every free agent would be offered, and
// mostly returned unused, on every pass.
func (l *ledger) setBuiltinDemand(w *world, n int) {
	demand := map[string]resources.Vec{}
	smallest := map[string]resources.Vec{}
	waiting := map[string]int{}
	for _, t := range w.tasks {
		if !taskstatus.IsPending(t) || t.Spec.OfferName != "" {
			continue
		}
		f := w.frameworks[t.FrameworkKey()]
		if f == nil || f.Spec.Scheduler == nil {
			continue
		}
		fk := f.Key().String()
		need := l.dims.FromList(t.Spec.Resources).Clone(n)
		if demand[fk] == nil {
			demand[fk] = make(resources.Vec, n)
			smallest[fk] = need.Clone(n)
		}
		demand[fk].Add(need)
		smallest[fk].Min(need)
		waiting[fk]++
	}
	for _, f := range l.snapshot.Frameworks {
		f.Floor, f.Demand, f.MaxOffers = nil, nil, 0
	}
	offers := map[string]int{}
	held := map[string]resources.Vec{}
	for _, ov := range l.offers {
		offers[ov.Framework]++
		if held[ov.Framework] == nil {
			held[ov.Framework] = make(resources.Vec, n)
		}
		held[ov.Framework].Add(ov.Resources)
	}
	wanting := 0
	for _, f := range l.snapshot.Frameworks {
		if !f.Suppressed {
			wanting++
		}
	}
	for _, f := range l.snapshot.Frameworks {
		wf := w.frameworks[kov1.FrameworkKey{Namespace: f.Namespace, Name: f.Name}]
		if wf == nil || wf.Spec.Scheduler == nil || f.Suppressed || demand[f.Key] == nil {
			continue
		}
		f.Floor = smallest[f.Key]
		if wanting > 1 {
			if f.MaxOffers = waiting[f.Key] - offers[f.Key]; f.MaxOffers <= 0 {
				f.Demand = make(resources.Vec, n) // it holds enough offers
			}
			continue
		}
		f.Demand = demand[f.Key]
		if h := held[f.Key]; h != nil {
			f.Demand.Sub(h)
		}
		f.Demand.ClampZero()
	}
}
