package allocation

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/allocator"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// The ledger is built once per pass, from the world read at its start, and
// kept in step with the world as the pass's writes land: a task bound
// (bind), an offer deleted (retire) or made (add), a refuse filter
// installed (refuse), the built-in frameworks' idleness and demand
// re-decided (setIdle, setBuiltinDemand). At every step it equals the
// ledger buildLedger would make from the world as it then is
// (TestLedgerKeptInPlace).

// offerUsage is what the bound tasks of one offer took from it.
type offerUsage struct {
	resources resources.Vec
	ports     resources.PortSet
	tasks     []string
}

// ledger is the world digested for the allocator: vectors per agent,
// framework and offer.
type ledger struct {
	w        *world
	dims     *resources.Dims
	snapshot *allocator.Snapshot
	agents   map[string]*allocator.Agent
	fws      map[string]*allocator.Framework // live frameworks by key, suppressed included
	// away are live frameworks whose scheduler is disconnected: offered
	// nothing (Mesos deactivates them).
	away   map[string]bool
	offers map[types.NamespacedName]*allocator.Offer
	usage  map[types.NamespacedName]*offerUsage
}

// options are the master's allocation settings.
type options struct {
	MinAllocatable    []corev1.ResourceList
	FairShareExcluded []corev1.ResourceName
	// AllocationCounts are how many offers each framework has been made
	// (allocationCounts), for the allocator's ties.
	AllocationCounts map[string]uint64
}

// buildLedger digests w. filters gives each framework's decline filters;
// builtinIdle marks frameworks with a built-in scheduler and no pending
// task, which are offered nothing.
func buildLedger(w *world, opts options, filters func(fw string) map[string]time.Time, builtinIdle map[string]bool) *ledger {
	d := resources.NewDims()
	l := &ledger{w: w, dims: d, agents: map[string]*allocator.Agent{}, fws: map[string]*allocator.Framework{},
		offers: map[types.NamespacedName]*allocator.Offer{}, usage: map[types.NamespacedName]*offerUsage{}, away: map[string]bool{}}
	s := &allocator.Snapshot{Now: w.now, Dims: d, Roles: map[string]*allocator.Role{},
		FairShareExcluded: opts.FairShareExcluded, AllocationCounts: opts.AllocationCounts}
	l.snapshot = s
	for _, m := range opts.MinAllocatable {
		s.MinAllocatable = append(s.MinAllocatable, d.FromList(m))
	}

	for _, name := range sortedKeys(w.agents) {
		a := w.agents[name]
		if a.IsGone() {
			continue // removed, as from Mesos's allocator: its offers are rescinded, its resources count nowhere
		}
		av := &allocator.Agent{
			Name: a.Name, Node: a.Name, Attributes: labels.Set(a.Status.Attributes),
			Allocatable: d.FromList(a.Status.Allocatable),
			FreePorts:   resources.NewPortSet(a.Status.Ports...),
			Offerable:   agentState(a) == allocator.AgentOK,
			HasGPU:      resources.HasGPU(a.Status.Allocatable),
			UsedByRole:  map[string]resources.Vec{},
		}
		if av.Attributes == nil {
			av.Attributes = labels.Set{}
		}
		for _, r := range a.Spec.Reservations {
			if av.Reservations == nil {
				av.Reservations = map[string]resources.Vec{}
			}
			av.Reservations[r.Role] = d.FromList(r.Resources)
		}
		l.agents[name] = av
		s.Agents = append(s.Agents, av)
	}
	for _, name := range sortedKeys(w.roles) {
		r := w.roles[name]
		rv := &allocator.Role{Name: r.Name, Parent: r.Spec.Parent, Weight: r.Spec.Weight}
		if q := r.Spec.Quota; q != nil {
			if len(q.Guarantee) > 0 {
				rv.Guarantee = d.FromList(q.Guarantee)
			}
			if len(q.Limit) > 0 {
				rv.Limit = d.Limit(q.Limit)
			}
		}
		s.Roles[name] = rv
	}
	for _, k := range sortedNNKeys(w.frameworks) {
		f := w.frameworks[k]
		if !frameworkLive(f) {
			continue
		}
		fk := f.Key().String()
		fv := &allocator.Framework{
			Key: fk, Namespace: f.Namespace, Name: f.Name, Role: roleOf(f),
			Suppressed:    f.Spec.Offers == kov1.OfferModeSuppressed || builtinIdle[fk],
			OfferedAgents: map[string]bool{}, Filters: filters(fk),
		}
		for _, c := range f.Spec.Capabilities {
			if c == kov1.CapabilityGPUResources {
				fv.GPU = true
			}
		}
		if oc := f.Spec.OfferConstraints; oc != nil {
			if oc.AttributeSelector != nil {
				if sel, err := metav1.LabelSelectorAsSelector(oc.AttributeSelector); err == nil {
					fv.Selector = sel
				} else {
					fv.Selector = labels.Nothing()
				}
			}
			// The framework's alternatives replace the master's minimum, as
			// in Mesos; minResources is one more of them.
			for _, rl := range oc.MinAllocatable {
				fv.MinAllocatable = append(fv.MinAllocatable, d.FromList(rl))
			}
			if len(oc.MinResources) > 0 {
				fv.MinAllocatable = append(fv.MinAllocatable, d.FromList(oc.MinResources))
			}
		}
		l.fws[fk] = fv
		if !meta.IsStatusConditionTrue(f.Status.Conditions, kov1.FrameworkConnectedCondition) {
			l.away[fk] = true
			continue
		}
		s.Frameworks = append(s.Frameworks, fv)
	}
	// Register every resource name before sizing vectors: what tasks are
	// charged, what offers hold, and the Pod overhead admission may add.
	for _, t := range w.tasks {
		d.AddList(t.Charged())
	}
	for _, rc := range w.runtimeClasses {
		if rc.Overhead != nil {
			d.AddList(rc.Overhead.PodFixed)
		}
	}
	for _, o := range w.offers {
		d.AddList(o.Spec.Resources)
	}
	n := d.Len()
	for _, a := range s.Agents {
		a.Allocatable = a.Allocatable.Clone(n)
		a.Allocated = make(resources.Vec, n)
		a.Offered = make(resources.Vec, n)
	}
	for _, f := range l.fws {
		f.Allocated = make(resources.Vec, n)
	}

	// Tasks: what bound tasks hold, per agent, framework, role and offer;
	// then offers: what is left of each outstanding offer is offered.
	for _, k := range sortedNNKeys(w.tasks) {
		l.addTask(w.tasks[k], +1)
	}
	for _, k := range sortedNNKeys(w.offers) {
		l.addOffer(w.offers[k])
	}
	l.setBuiltinDemand(w, n)
	return l
}

// addTask adds (sign +1) or takes away (-1) what task t holds: its use of
// its offer, and, while it holds resources, its agent's, framework's and
// role's share.
func (l *ledger) addTask(t *kov1.Task, sign int) {
	n := l.dims.Len()
	need := l.dims.FromList(t.Charged()).Clone(n)
	ports := resources.NewPortSet(t.Spec.Ports...)
	if t.Status.AgentName != "" && t.BoundOffer() != "" {
		offerKey := types.NamespacedName{Namespace: t.Namespace, Name: t.BoundOffer()}
		u := l.usage[offerKey]
		if u == nil {
			u = &offerUsage{resources: make(resources.Vec, n)}
			l.usage[offerKey] = u
		}
		if sign > 0 {
			u.resources.Add(need)
			u.ports = u.ports.Union(ports)
			u.tasks = insertSorted(u.tasks, t.Name)
		} else {
			u.resources.Sub(need)
			u.ports = u.ports.Subtract(ports)
			u.tasks = removeSorted(u.tasks, t.Name)
			if len(u.tasks) == 0 {
				delete(l.usage, offerKey)
			}
		}
	}
	if !taskstatus.HoldsResources(t) {
		return
	}
	role := kov1.DefaultRole
	if f := l.w.frameworks[t.FrameworkKey()]; f != nil {
		role = roleOf(f)
	}
	if a := l.agents[t.Status.AgentName]; a != nil {
		if sign > 0 {
			a.Allocated.Add(need)
			a.FreePorts = a.FreePorts.Subtract(ports)
			resources.AddTo(a.UsedByRole, role, need, n)
		} else {
			a.Allocated.Sub(need)
			a.FreePorts = a.FreePorts.Union(ports)
			subFrom(a.UsedByRole, role, need)
		}
	}
	if f := l.fws[t.FrameworkKey().String()]; f != nil {
		if sign > 0 {
			f.Allocated.Add(need)
		} else {
			f.Allocated.Sub(need)
		}
	}
}

// addOffer adds what is left of outstanding offer o (spec less what its
// bound tasks use) to its agent and framework.
func (l *ledger) addOffer(o *kov1.ResourceOffer) {
	if o.DeletionTimestamp != nil || o.Spec.Decline != nil {
		return
	}
	k := key(o)
	n := l.dims.Len()
	left := l.dims.FromList(o.Spec.Resources).Clone(n)
	ports := resources.NewPortSet(o.Spec.Ports...)
	if u := l.usage[k]; u != nil {
		left.Sub(u.resources)
		left.ClampZero()
		ports = ports.Subtract(u.ports)
	}
	ov := &allocator.Offer{Namespace: o.Namespace, Name: o.Name, Framework: o.FrameworkKey().String(),
		Agent: o.Spec.AgentName, Node: o.Spec.NodeName, Role: o.Spec.Role, Resources: left, Ports: ports,
		Attributes: labels.Set(o.Spec.Attributes)}
	if o.Spec.ExpirationTime != nil {
		ov.Expires = o.Spec.ExpirationTime.Time
	}
	l.offers[k] = ov
	// Kept in key order, as a ledger built afresh has them.
	i := sort.Search(len(l.snapshot.Offers), func(i int) bool { return !offerBefore(l.snapshot.Offers[i], ov) })
	l.snapshot.Offers = append(l.snapshot.Offers, nil)
	copy(l.snapshot.Offers[i+1:], l.snapshot.Offers[i:])
	l.snapshot.Offers[i] = ov
	if a := l.agents[o.Spec.AgentName]; a != nil {
		a.Offered.Add(left)
		a.FreePorts = a.FreePorts.Subtract(ports)
		resources.AddTo(a.UsedByRole, o.Spec.Role, left, n)
	}
	if f := l.fws[ov.Framework]; f != nil {
		f.Allocated.Add(left)
		f.OfferedAgents[o.Spec.AgentName] = true
	}
}

// dropOffer takes offer k out of the ledger, giving what was left of it
// back to its agent.
func (l *ledger) dropOffer(k types.NamespacedName) {
	ov := l.offers[k]
	if ov == nil {
		return
	}
	delete(l.offers, k)
	for i, x := range l.snapshot.Offers {
		if x == ov {
			l.snapshot.Offers = append(l.snapshot.Offers[:i], l.snapshot.Offers[i+1:]...)
			break
		}
	}
	if a := l.agents[ov.Agent]; a != nil {
		a.Offered.Sub(ov.Resources)
		a.FreePorts = a.FreePorts.Union(ov.Ports)
		subFrom(a.UsedByRole, ov.Role, ov.Resources)
	}
	if f := l.fws[ov.Framework]; f != nil {
		f.Allocated.Sub(ov.Resources)
		f.OfferedAgents[ov.Agent] = false
		for _, x := range l.offers {
			if x.Framework == ov.Framework && x.Agent == ov.Agent {
				f.OfferedAgents[ov.Agent] = true
			}
		}
		if !f.OfferedAgents[ov.Agent] {
			delete(f.OfferedAgents, ov.Agent)
		}
	}
}

// taskWritten keeps the ledger in step with a task status the pass wrote
// (a bind, above all): the offers cur and next name are taken out, cur's
// holdings replaced by next's, and the offers put back with what is now
// left of them.
func (l *ledger) taskWritten(cur, next *kov1.Task) {
	var named []*kov1.ResourceOffer
	for _, t := range []*kov1.Task{cur, next} {
		if t == nil {
			continue
		}
		for _, name := range []string{t.Spec.OfferName, t.BoundOffer()} {
			k := types.NamespacedName{Namespace: t.Namespace, Name: name}
			if o := l.w.offers[k]; name != "" && o != nil && l.offers[k] != nil {
				l.dropOffer(k)
				named = append(named, o)
			}
		}
	}
	if cur != nil {
		l.addTask(cur, -1)
	}
	l.addTask(next, +1)
	for _, o := range named {
		l.addOffer(o)
	}
}

// offerDeleted takes a deleted offer out of the ledger.
func (l *ledger) offerDeleted(k types.NamespacedName) { l.dropOffer(k) }

// offerCreated puts a new offer into the ledger.
func (l *ledger) offerCreated(o *kov1.ResourceOffer) { l.addOffer(o) }

// refuse installs a refuse filter: framework fw is not offered agent until
// then.
func (l *ledger) refuse(fw, agent string, until time.Time) {
	if f := l.fws[fw]; f != nil {
		if f.Filters == nil {
			f.Filters = map[string]time.Time{}
		}
		f.Filters[agent] = until
	}
}

// setIdle marks the built-in frameworks with no task to place (idle) as
// suppressed, and unmarks the others: the offers step gives idle ones
// nothing.
func (l *ledger) setIdle(idle map[string]bool) {
	for k, f := range l.fws {
		wf := l.w.frameworks[kov1.FrameworkKey{Namespace: f.Namespace, Name: f.Name}]
		f.Suppressed = (wf != nil && wf.Spec.Offers == kov1.OfferModeSuppressed) || idle[k]
	}
}

func offerBefore(a, b *allocator.Offer) bool {
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// subFrom takes v from m[k]; an entry left at zero is removed, as a ledger
// built afresh would not have it.
func subFrom(m map[string]resources.Vec, k string, v resources.Vec) {
	cur := m[k]
	if cur == nil {
		return
	}
	cur.Sub(v)
	if cur.IsZero() {
		delete(m, k)
	}
}

func insertSorted(s []string, x string) []string {
	i := sort.SearchStrings(s, x)
	if i < len(s) && s[i] == x {
		return s
	}
	s = append(s, "")
	copy(s[i+1:], s[i:])
	s[i] = x
	return s
}

func removeSorted(s []string, x string) []string {
	i := sort.SearchStrings(s, x)
	if i < len(s) && s[i] == x {
		return append(s[:i], s[i+1:]...)
	}
	return s
}
