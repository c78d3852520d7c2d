package controllers

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/allocator"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// world is the master's view of every kubeoffer object in one scheduling
// pass: the informer cache plus what this master wrote and the cache has
// not shown yet. Objects in it are shared with the cache and must not be
// mutated; writers replace them.
type world struct {
	now        time.Time
	agents     map[string]*kov1.Agent
	roles      map[string]*kov1.Role
	frameworks map[kov1.FrameworkKey]*kov1.Framework
	offers     map[types.NamespacedName]*kov1.ResourceOffer
	tasks      map[types.NamespacedName]*kov1.Task
	// runtimeClasses by name, for the Pod overhead a task is charged.
	runtimeClasses map[string]*nodev1.RuntimeClass
}

// podOverhead is the Pod overhead the kubelet will reserve for a task's Pod:
// the fixed overhead of the template's RuntimeClass. A RuntimeClass that
// does not exist is an error: the API server would refuse the Pod.
func (w *world) podOverhead(t *kov1.Task) (corev1.ResourceList, error) {
	name := t.Spec.Template.Spec.RuntimeClassName
	if name == nil || *name == "" {
		return nil, nil
	}
	rc := w.runtimeClasses[*name]
	if rc == nil {
		return nil, fmt.Errorf("RuntimeClass %q named by template.spec.runtimeClassName does not exist: create it or remove runtimeClassName", *name)
	}
	if rc.Overhead == nil {
		return nil, nil
	}
	return rc.Overhead.PodFixed, nil
}

func key(o metav1.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// frameworkLive reports whether f may run tasks and be offered resources.
func frameworkLive(f *kov1.Framework) bool {
	return f != nil && f.DeletionTimestamp == nil && !meta.IsStatusConditionTrue(f.Status.Conditions, kov1.FrameworkTornDownCondition)
}

// agentState says whether an agent is offerable, and why not.
func agentState(a *kov1.Agent) allocator.AgentState {
	if !meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReachableCondition) {
		return allocator.AgentUnreachable
	}
	if !meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReadyCondition) ||
		(a.Spec.Maintenance != "" && a.Spec.Maintenance != kov1.AgentMaintenanceNone) || a.DeletionTimestamp != nil {
		return allocator.AgentInMaintenance
	}
	return allocator.AgentOK
}

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
		if agentGone(a) {
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
	// Register every resource name before sizing vectors.
	for _, t := range w.tasks {
		d.AddList(t.Charged())
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

	// Tasks: what bound tasks hold, per agent, framework, role and offer.
	for _, k := range sortedNNKeys(w.tasks) {
		t := w.tasks[k]
		need := d.FromList(t.Charged()).Clone(n)
		if t.Status.AgentName != "" && t.Spec.OfferName != "" {
			offerKey := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}
			u := l.usage[offerKey]
			if u == nil {
				u = &offerUsage{resources: make(resources.Vec, n)}
				l.usage[offerKey] = u
			}
			u.resources.Add(need)
			u.ports = u.ports.Union(resources.NewPortSet(t.Spec.Ports...))
			u.tasks = append(u.tasks, t.Name)
		}
		if !taskstatus.HoldsResources(t) {
			continue
		}
		role := kov1.DefaultRole
		if f := w.frameworks[t.FrameworkKey()]; f != nil {
			role = roleOf(f)
		}
		if a := l.agents[t.Status.AgentName]; a != nil {
			a.Allocated.Add(need)
			a.FreePorts = a.FreePorts.Subtract(resources.NewPortSet(t.Spec.Ports...))
			resources.AddTo(a.UsedByRole, role, need, n)
		}
		if f := l.fws[t.FrameworkKey().String()]; f != nil {
			f.Allocated.Add(need)
		}
	}
	// Offers: what is left of each outstanding offer is offered.
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		if o.DeletionTimestamp != nil || o.Spec.Decline != nil {
			continue
		}
		left := d.FromList(o.Spec.Resources).Clone(n)
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
		s.Offers = append(s.Offers, ov)
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
	l.setBuiltinDemand(w, n)
	return l
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

// offerView is what admission needs to know of an offer, or nil.
func (l *ledger) offerView(k types.NamespacedName) *allocator.OfferView {
	o := l.w.offers[k]
	if o == nil || o.DeletionTimestamp != nil {
		return nil
	}
	v := &allocator.OfferView{Framework: o.Spec.FrameworkName, Agent: o.Spec.AgentName, Declined: o.Spec.Decline != nil}
	if o.Spec.ExpirationTime != nil {
		v.Expires = o.Spec.ExpirationTime.Time
	}
	if ov := l.offers[k]; ov != nil {
		v.Remaining, v.RemainingPorts = ov.Resources, ov.Ports
	} else {
		v.Remaining = make(resources.Vec, l.dims.Len())
	}
	if a := l.w.agents[o.Spec.AgentName]; a != nil {
		v.AgentOfferable = agentState(a) == allocator.AgentOK
	}
	return v
}

// consume records that a task bound to offer k took need and ports, so the
// next admission in the same pass sees the smaller offer.
func (l *ledger) consume(k types.NamespacedName, need resources.Vec, ports resources.PortSet) {
	if ov := l.offers[k]; ov != nil {
		ov.Resources = ov.Resources.Clone(len(need))
		ov.Resources.Sub(need)
		ov.Resources.ClampZero()
		ov.Ports = ov.Ports.Subtract(ports)
	}
}

func roleOf(f *kov1.Framework) string {
	if f.Spec.Role == "" {
		return kov1.DefaultRole
	}
	return f.Spec.Role
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sortedNNKeys returns m's keys, object keys or framework keys, by
// namespace then name.
func sortedNNKeys[K ~struct{ Namespace, Name string }, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := types.NamespacedName(out[i]), types.NamespacedName(out[j])
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}
