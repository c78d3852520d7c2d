// Package allocator decides who is offered what. It is pure: it reads an
// immutable Snapshot of agents, roles, frameworks and outstanding offers,
// and returns decisions (offers to make, offers to rescind, whether a task
// may bind to its offer). The master's controllers build snapshots from the
// API and carry the decisions out.
//
// Allocation follows Mesos's hierarchical allocator: roles are ordered by
// weighted Dominant Resource Fairness (a role's dominant share divided by
// its weight, compared among siblings of the role tree; equal shares go to
// the one offered fewer times, then by name), frameworks within a role by
// their own dominant share, and each agent's free resources go to the first
// framework in that order that wants them. A cycle has Mesos's two stages:
// first, roles under an unmet quota guarantee are given their guarantee
// unconditionally; then every role is offered by weighted DRF. A role's
// quota consumption counts its reservations whether used or not; no role is
// offered unreserved resources past its quota limit; reservations are always
// offered to their role; and enough unreserved resources are held back to
// cover every unmet guarantee (headroom).
package allocator

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// Snapshot is everything one allocation cycle reads. Nothing in it changes
// during the cycle; Allocate works on copies of the vectors it updates.
type Snapshot struct {
	// Now is the cycle's time, for filters and offer expiry.
	Now time.Time
	// Dims lays out every Vec in the snapshot.
	Dims *resources.Dims
	// Agents in a stable order (by name).
	Agents []*Agent
	// Roles are the Role objects by name. Roles that frameworks name
	// without an object exist implicitly with weight 1 and no quota.
	Roles map[string]*Role
	// Frameworks that may be offered resources, in a stable order.
	Frameworks []*Framework
	// Offers are the outstanding offers.
	Offers []*Offer
	// MinAllocatable is Mesos's --min_allocatable_resources: an offer is
	// made only if it holds at least one of these quantities in full. A
	// framework's own Framework.MinAllocatable replaces it.
	MinAllocatable []resources.Vec
	// FairShareExcluded are resources left out of every dominant share, of
	// roles and frameworks alike (Mesos's
	// --fair_sharing_excluded_resource_names), so that a scarce resource
	// such as GPUs does not decide who is offered the rest.
	FairShareExcluded []corev1.ResourceName
	// AllocationCounts is how many offers each framework (by key) has been
	// made, kept by the master across cycles (Mesos's DRF sorter keeps the
	// same count): of two equal shares the one offered fewer times goes
	// first, so identical frameworks take turns. A role's count is the sum
	// of its frameworks'. Frameworks missing from it count zero.
	AllocationCounts map[string]uint64
}

// Agent is one agent's ledger as the master sees it.
type Agent struct {
	Name string
	Node string
	// Attributes are matched by frameworks' attribute selectors.
	Attributes labels.Set
	// Allocatable is what agentd says may be offered in all.
	Allocatable resources.Vec
	// Allocated is held by the agent's bound, non-terminal tasks.
	Allocated resources.Vec
	// Offered is held by outstanding offers (what is left of them).
	Offered resources.Vec
	// FreePorts are the agent's ports not held by tasks or offers.
	FreePorts resources.PortSet
	// Reservations are static reservations by role.
	Reservations map[string]resources.Vec
	// UsedByRole is what each role's tasks and offers hold on this agent.
	// Allocate charges it to the role's own reservation first, then to its
	// ancestors' reservations, nearest first; the rest is unreserved.
	UsedByRole map[string]resources.Vec
	// Offerable is false for an agent that is unreachable, not ready, or in
	// maintenance: it is offered nothing.
	Offerable bool
	// HasGPU is true when the agent has GPUs; only GPU-capable frameworks
	// are offered it.
	HasGPU bool
}

// Free is allocatable − allocated − offered, never below zero.
func (a *Agent) Free(n int) resources.Vec {
	f := a.Allocatable.Clone(n)
	f.Sub(a.Allocated)
	f.Sub(a.Offered)
	f.ClampZero()
	return f
}

// Role is a Role object's allocation settings.
type Role struct {
	Name   string
	Parent string
	Weight int32
	// Guarantee is the quota guarantee; nil for none.
	Guarantee resources.Vec
	// Limit is the quota limit; -1 (or a position past its end) means
	// unlimited; nil for no limit.
	Limit resources.Vec
}

// Framework is a framework the allocator may offer to.
type Framework struct {
	// Key is the framework's kov1.FrameworkKey in its text form, "namespace/name".
	Key       string
	Namespace string
	Name      string
	Role      string
	// Allocated is what the framework holds: its bound, non-terminal tasks
	// plus its outstanding offers (Mesos counts offers as allocated).
	Allocated resources.Vec
	// Suppressed frameworks are offered nothing.
	Suppressed bool
	// GPU is the GPUResources capability.
	GPU bool
	// Selector restricts agents by attributes; nil selects all.
	Selector labels.Selector
	// MinAllocatable, when not nil, replaces the snapshot's MinAllocatable
	// for this framework, as a Mesos framework's offer_filters
	// min_allocatable_resources do: an offer must hold one of these in
	// full. An all-zero alternative accepts any non-empty offer.
	MinAllocatable []resources.Vec
	// Floor, when set, is what every offer to the framework must hold in
	// full on top of the minimum allocatable: the master sets it to a
	// built-in scheduler's smallest waiting task.
	Floor resources.Vec
	// Filters hide agents until a time (decline refuse filters).
	Filters map[string]time.Time
	// OfferedAgents are agents the framework already has an outstanding
	// offer for; it gets at most one offer per agent.
	OfferedAgents map[string]bool
	// Demand, when set, is what the framework can use beyond its
	// outstanding offers: once one cycle's offers cover it in every
	// resource, the framework wants no more. Unset, it wants everything (a
	// Mesos framework's demand is unknown; the master's built-in schedulers'
	// is their waiting tasks).
	Demand resources.Vec
	// MaxOffers, when positive, bounds how many offers the framework gets in
	// one cycle (a built-in scheduler under contention places one task per
	// offer).
	MaxOffers int
}

// Wants reports whether f may be offered (some of) agent a at now, ignoring
// quantities.
func (f *Framework) Wants(a *Agent, now time.Time) bool {
	if f.Suppressed || !a.Offerable || f.OfferedAgents[a.Name] {
		return false
	}
	if a.HasGPU && !f.GPU {
		return false
	}
	if until, ok := f.Filters[a.Name]; ok && now.Before(until) {
		return false
	}
	if f.Selector != nil && !f.Selector.Matches(a.Attributes) {
		return false
	}
	return true
}

// minimums are the alternatives an offer to f must hold one of: its own
// when it gives any (they replace the master's, as in Mesos), else the
// master's.
func (f *Framework) minimums(global []resources.Vec) []resources.Vec {
	if f.MinAllocatable != nil {
		return f.MinAllocatable
	}
	return global
}

// Offer is an offer to make (from Allocate) or an outstanding one (in a
// Snapshot).
type Offer struct {
	// Namespace and Name identify an outstanding offer; empty for new ones.
	Namespace string
	Name      string
	// Framework is the framework's key.
	Framework string
	Agent     string
	Node      string
	Role      string
	// Resources are the offered quantities (for an outstanding offer: what
	// is left of it).
	Resources resources.Vec
	Ports     resources.PortSet
	// Attributes of the agent at offer time.
	Attributes labels.Set
	// Expires is when the offer lapses; zero for never.
	Expires time.Time
}
