package allocation

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// usageTotals is what frameworks and roles hold, for their status.
type usageTotals struct {
	allocated, offered resources.Vec
}

// planStatus patches the status fields the loop owns where they changed:
// offers' remainders, frameworks' and roles' allocation and shares, roles'
// quota consumption and conditions (with an Event for each condition that
// turned). Usage figures that changed are held back while pace says they
// were written too recently. It also gives the allocation gauges their
// values.
func (l *Loop) planStatus(p *pass) plan {
	return planStatus(p, l.roleConditions, l.pace)
}

func planStatus(p *pass, memo conditionMemo, pace *statusPace) plan {
	var patches []statusPatch
	w, l := p.w, p.l
	g := &gauges{roleShares: map[string]float64{}}
	n := l.dims.Len()
	total := make(resources.Vec, n)
	for _, a := range l.snapshot.Agents {
		total.Add(a.Allocatable)
	}
	perFw := map[kov1.FrameworkKey]*usageTotals{}
	get := func(k kov1.FrameworkKey) *usageTotals {
		u := perFw[k]
		if u == nil {
			u = &usageTotals{allocated: make(resources.Vec, n), offered: make(resources.Vec, n)}
			perFw[k] = u
		}
		return u
	}
	counts := map[kov1.FrameworkKey]map[kov1.TaskState]int32{}
	stateCounts := map[kov1.TaskState]int{}
	for _, t := range w.tasks {
		fk := t.FrameworkKey()
		state := t.Status.State
		if state == "" {
			state = kov1.TaskPending
		}
		if counts[fk] == nil {
			counts[fk] = map[kov1.TaskState]int32{}
		}
		counts[fk][state]++
		stateCounts[state]++
		if taskstatus.HoldsResources(t) {
			get(fk).allocated.Add(l.dims.FromList(t.Charged()).Clone(n))
		}
	}
	// In key order, so a pass's plan is the same every time.
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		ov := l.offers[k]
		if ov == nil {
			continue
		}
		get(o.FrameworkKey()).offered.Add(ov.Resources)
		patches = appendPatch(patches, offerStatusPatch(l, o, ov.Resources, ov.Ports))
	}
	perRole := map[string]*usageTotals{}
	fwPerRole := map[string]int32{}
	for _, k := range sortedNNKeys(w.frameworks) {
		f := w.frameworks[k]
		u := get(k)
		role := roleOf(f)
		fwPerRole[role]++
		for _, r := range roleChain(w, role) {
			ru := perRole[r]
			if ru == nil {
				ru = &usageTotals{allocated: make(resources.Vec, n), offered: make(resources.Vec, n)}
				perRole[r] = ru
			}
			ru.allocated.Add(u.allocated)
			ru.offered.Add(u.offered)
		}
		share := shareOf(u, total)
		g.frameworkShares = append(g.frameworkShares, frameworkShare{framework: k.String(), role: role, share: share})
		if fp := frameworkStatusPatch(l, f, u, share, counts[k]); fp != nil && pace.due(f.UID, false, w.now) {
			patches = append(patches, *fp)
		}
	}
	reserved, unused := roleReservations(w, l)
	conditions := roleConditions(l.dims, w.roles, holdOf(l))
	memo.forget(w.roles)
	for _, name := range sortedKeys(w.roles) {
		r := w.roles[name]
		u := perRole[name]
		if u == nil {
			u = &usageTotals{allocated: make(resources.Vec, n), offered: make(resources.Vec, n)}
		}
		view := roleView{usage: u, reserved: reserved[name], unusedReserved: unused[name], share: shareOf(u, total),
			frameworks: fwPerRole[name], conditions: conditions[name]}
		if rp := roleStatusPatch(l, r, view, memo.previous(r), w.now); rp != nil && pace.due(r.UID, roleStatusUrgent(r, rp.next.(*kov1.Role)), w.now) {
			patches = append(patches, *rp)
		}
	}
	pace.retain(liveUIDs(w))
	for name, u := range perRole {
		g.roleShares[name] = shareOf(u, total)
	}
	resourceGauges(g, l, total)
	g.tasks = stateCounts
	return plan{patches: patches, gauges: g}
}

func shareOf(u *usageTotals, total resources.Vec) float64 {
	sum := u.allocated.Clone(len(u.allocated))
	sum.Add(u.offered)
	return sum.DominantShare(total)
}

// roleChain is role and its ancestors (stopping at a loop).
func roleChain(w *world, role string) []string {
	chain := []string{role}
	seen := map[string]bool{role: true}
	for r := w.roles[role]; r != nil && r.Spec.Parent != "" && !seen[r.Spec.Parent]; r = w.roles[r.Spec.Parent] {
		seen[r.Spec.Parent] = true
		chain = append(chain, r.Spec.Parent)
	}
	return chain
}

func formatShare(x float64) string { return fmt.Sprintf("%.3f", x) }

// appendPatch appends p unless it is nil (nothing changed).
func appendPatch(ps []statusPatch, p *statusPatch) []statusPatch {
	if p == nil {
		return ps
	}
	return append(ps, *p)
}

func newPatch(cur, next client.Object) *statusPatch { return &statusPatch{cur: cur, next: next} }

// offerStatusPatch records what is left of an offer once tasks accepted
// it. An offer no task has accepted keeps an empty status (all of
// spec.resources remains), which saves a write per offer.
func offerStatusPatch(l *ledger, o *kov1.ResourceOffer, left resources.Vec, ports resources.PortSet) *statusPatch {
	var want kov1.ResourceOfferStatus
	if u := l.usage[key(o)]; u != nil && len(u.tasks) > 0 {
		want = kov1.ResourceOfferStatus{Remaining: nonEmpty(l.dims.ToList(left)), RemainingPorts: []kov1.PortRange(ports)}
		want.AcceptedTasks = append([]string(nil), u.tasks...)
		sort.Strings(want.AcceptedTasks)
	}
	if equality.Semantic.DeepEqual(o.Status, want) || o.UID == "" {
		return nil
	}
	next := o.DeepCopy()
	next.Status = want
	return newPatch(o, next)
}

func frameworkStatusPatch(l *ledger, f *kov1.Framework, u *usageTotals, share float64, counts map[kov1.TaskState]int32) *statusPatch {
	next := f.DeepCopy()
	next.Status.Allocated = nonEmpty(l.dims.ToList(u.allocated))
	next.Status.Offered = nonEmpty(l.dims.ToList(u.offered))
	next.Status.DominantShare = formatShare(share)
	next.Status.TaskCounts = counts
	next.Status.ActiveTasks = 0
	for state, c := range counts {
		if !state.IsTerminal() {
			next.Status.ActiveTasks += c
		}
	}
	if equality.Semantic.DeepEqual(f.Status, next.Status) {
		return nil
	}
	return newPatch(f, next)
}

// roleView is what one pass learned of a role, for its status.
type roleView struct {
	usage *usageTotals
	// reserved is what Agents reserve for the role's subtree, and
	// unusedReserved the part of it no task or offer of the subtree uses.
	reserved, unusedReserved resources.Vec
	share                    float64
	frameworks               int32
	// conditions are roleConditions' verdicts, not yet stamped.
	conditions []metav1.Condition
}

// roleStatusPatch writes a role's usage, quota consumption and conditions
// where they changed; once written, it records an Event for each condition
// that changed.
func roleStatusPatch(l *ledger, r *kov1.Role, v roleView, previous []metav1.Condition, now time.Time) *statusPatch {
	n := l.dims.Len()
	next := r.DeepCopy()
	next.Status.Allocated = nonEmpty(l.dims.ToList(v.usage.allocated))
	next.Status.Offered = nonEmpty(l.dims.ToList(v.usage.offered))
	next.Status.Reserved = nonEmpty(l.dims.ToList(v.reserved))
	consumed := v.usage.allocated.Clone(n)
	consumed.Add(v.usage.offered)
	if v.unusedReserved != nil {
		consumed.Add(v.unusedReserved)
	}
	next.Status.Consumed = nonEmpty(l.dims.ToList(consumed))
	next.Status.DominantShare = formatShare(v.share)
	next.Status.Frameworks = v.frameworks
	next.Status.ObservedGeneration = r.Generation
	for _, c := range v.conditions {
		c.ObservedGeneration, c.LastTransitionTime = r.Generation, metav1.NewTime(now)
		meta.SetStatusCondition(&next.Status.Conditions, c)
	}
	if equality.Semantic.DeepEqual(r.Status, next.Status) {
		return nil
	}
	p := newPatch(r, next)
	for _, e := range roleTransitions(previous, next.Status.Conditions) {
		p.events = append(p.events, event{regarding: next, eventType: e.eventType, reason: e.reason, action: e.action, note: e.note})
	}
	return p
}

// roleStatusUrgent says whether next changes more of a role's status than
// its usage figures: its conditions or observed generation, which a pass
// writes at once (statusPace).
func roleStatusUrgent(cur, next *kov1.Role) bool {
	return cur.Status.ObservedGeneration != next.Status.ObservedGeneration ||
		!equality.Semantic.DeepEqual(cur.Status.Conditions, next.Status.Conditions)
}

// liveUIDs are the UIDs of w's frameworks and roles.
func liveUIDs(w *world) map[types.UID]bool {
	live := make(map[types.UID]bool, len(w.frameworks)+len(w.roles))
	for _, f := range w.frameworks {
		live[f.UID] = true
	}
	for _, r := range w.roles {
		live[r.UID] = true
	}
	return live
}

func nonEmpty(rl corev1.ResourceList) corev1.ResourceList {
	if len(rl) == 0 {
		return nil
	}
	return rl
}

// resourceGauges sets g's per-resource values from the ledger's agents.
func resourceGauges(g *gauges, l *ledger, total resources.Vec) {
	n := l.dims.Len()
	offered, used := make(resources.Vec, n), make(resources.Vec, n)
	for _, a := range l.snapshot.Agents {
		offered.Add(a.Offered)
		used.Add(a.Allocated)
	}
	g.total, g.offered, g.used = map[string]float64{}, map[string]float64{}, map[string]float64{}
	for i := 0; i < n; i++ {
		name := string(l.dims.Name(i))
		scale := 1.0
		if name == string(corev1.ResourceCPU) {
			scale = 1000
		}
		g.total[name] = float64(total.Get(i)) / scale
		g.offered[name] = float64(offered.Get(i)) / scale
		g.used[name] = float64(used.Get(i)) / scale
	}
	g.outstandingOffers = len(l.snapshot.Offers)
}
