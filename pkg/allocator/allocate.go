package allocator

import (
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// maxOffersPerAgent bounds how many frameworks one agent is split between
// in one cycle. An agent is split only when quota limits, reservations or
// guarantee headroom cap what one framework may take.
const maxOffersPerAgent = 8

// Allocate runs one allocation cycle over s and returns the offers to make,
// in the order they were decided. It does not modify s.
func Allocate(s *Snapshot) []Offer {
	n := s.Dims.Len()
	total := make(resources.Vec, n)
	for _, a := range s.Agents {
		total.Add(a.Allocatable)
	}
	states := make([]*fwState, len(s.Frameworks))
	for i, f := range s.Frameworks {
		states[i] = &fwState{fw: f, alloc: f.Allocated.Clone(n)}
		if f.Demand != nil {
			states[i].demand = f.Demand.Clone(n)
		}
	}
	t := buildTree(s, total, states)
	c := &cycle{s: s, t: t, n: n, clusterFree: make(resources.Vec, n)}
	free := make([]resources.Vec, len(s.Agents))
	for i, a := range s.Agents {
		free[i] = a.Free(n)
		if a.Offerable {
			c.clusterFree.Add(free[i])
		}
	}
	c.guaranteeRoots = guaranteeRoots(t.root, nil)

	var out []Offer
	for i, a := range s.Agents {
		if !a.Offerable || free[i].IsZero() {
			continue
		}
		ag := c.newAgentPool(a, free[i])
		portsLeft := a.FreePorts
		for k := 0; k < maxOffersPerAgent; k++ {
			st, give := c.pick(t.root, ag)
			if st == nil {
				break
			}
			o := Offer{
				Framework:  st.fw.Key,
				Agent:      a.Name,
				Node:       a.Node,
				Role:       st.fw.Role,
				Resources:  give,
				Ports:      portsLeft,
				Attributes: a.Attributes,
			}
			portsLeft = nil
			out = append(out, o)
			st.given(a.Name, give)
			ag.take(t, st, give)
			c.clusterFree.Sub(give)
			t.charge(st, give)
			if ag.empty() {
				break
			}
		}
	}
	return out
}

// cycle is one Allocate call's working state.
type cycle struct {
	s              *Snapshot
	t              *tree
	n              int
	clusterFree    resources.Vec
	guaranteeRoots []*node
}

// guaranteeRoots lists the topmost roles with a guarantee: their
// guarantees include their descendants'.
func guaranteeRoots(nd *node, out []*node) []*node {
	for _, k := range nd.kids {
		if k.guarantee != nil {
			out = append(out, k)
			continue
		}
		out = guaranteeRoots(k, out)
	}
	return out
}

// agentPool is what one agent still has to give in this cycle: the
// unreserved part and what is left of each role's reservation.
type agentPool struct {
	agent      *Agent
	unreserved resources.Vec
	reserved   map[string]resources.Vec
}

func (c *cycle) newAgentPool(a *Agent, free resources.Vec) *agentPool {
	p := &agentPool{agent: a, unreserved: free.Clone(c.n)}
	for role, r := range a.Reservations {
		left := r.Clone(c.n)
		if used, ok := a.UsedByRole[role]; ok {
			left.Sub(used)
		}
		left.ClampZero()
		left.Min(p.unreserved)
		p.unreserved.Sub(left)
		if p.reserved == nil {
			p.reserved = map[string]resources.Vec{}
		}
		p.reserved[role] = left
	}
	return p
}

// availableTo is what st may be offered of the agent: the unreserved part
// plus reservations of st's role or its ancestors.
func (p *agentPool) availableTo(t *tree, st *fwState, n int) resources.Vec {
	v := p.unreserved.Clone(n)
	for role, left := range p.reserved {
		if t.isAncestorOrSelf(role, st.leaf) {
			v.Add(left)
		}
	}
	return v
}

// take removes give from the pool, from st's reservations first.
func (p *agentPool) take(t *tree, st *fwState, give resources.Vec) {
	rest := give.Clone(len(give))
	for role, left := range p.reserved {
		if !t.isAncestorOrSelf(role, st.leaf) {
			continue
		}
		for i := range left {
			d := min(left[i], rest.Get(i))
			left[i] -= d
			rest[i] -= d
		}
	}
	p.unreserved.Sub(rest)
	p.unreserved.ClampZero()
}

func (p *agentPool) empty() bool {
	if !p.unreserved.IsZero() {
		return false
	}
	for _, left := range p.reserved {
		if !left.IsZero() {
			return false
		}
	}
	return true
}

// pick walks the role tree in weighted-DRF order and returns the first
// framework that wants (part of) the agent, with what it would be offered.
func (c *cycle) pick(nd *node, p *agentPool) (*fwState, resources.Vec) {
	for _, st := range nd.frameworks {
		if st.lastAgent == p.agent.Name || st.satisfied() || !st.fw.Wants(p.agent, c.s.Now) {
			continue
		}
		if give := c.offerFor(st, p); give != nil {
			return st, give
		}
	}
	for _, k := range nd.kids {
		if st, give := c.pick(k, p); st != nil {
			return st, give
		}
	}
	return nil, nil
}

// offerFor caps what the agent has for st by st's quota limits and by the
// headroom other roles' guarantees need, and returns nil when what is left
// is not worth offering.
func (c *cycle) offerFor(st *fwState, p *agentPool) resources.Vec {
	give := p.availableTo(c.t, st, c.n)
	if room := c.t.headroom(st); room != nil {
		for i, r := range room {
			if r >= 0 && give[i] > r {
				give[i] = r
			}
		}
	}
	c.holdHeadroom(st, give)
	if !meetsMinimum(give, c.s.MinAllocatable) {
		return nil
	}
	if st.fw.MinResources != nil && !st.fw.MinResources.Fits(give) {
		return nil
	}
	return give
}

// holdHeadroom lowers give so that, after it, the cluster's free resources
// still cover every other role's unmet guarantee (Mesos's quota headroom).
func (c *cycle) holdHeadroom(st *fwState, give resources.Vec) {
	if len(c.guaranteeRoots) == 0 {
		return
	}
	need := make(resources.Vec, c.n)
	for _, g := range c.guaranteeRoots {
		if c.t.isAncestorOrSelf(g.name, st.leaf) {
			continue
		}
		for i, x := range g.guarantee {
			if left := x - g.consumed.Get(i); left > 0 {
				need[i] += left
			}
		}
	}
	for i, x := range need {
		if x <= 0 {
			continue
		}
		spare := c.clusterFree[i] - x
		if spare < 0 {
			spare = 0
		}
		if give[i] > spare {
			give[i] = spare
		}
	}
}

// meetsMinimum reports whether v holds at least one of the minimum
// allocatable sets in full (Mesos's "cpus:0.01|mem:32" means either).
func meetsMinimum(v resources.Vec, mins []resources.Vec) bool {
	if v.IsZero() {
		return false
	}
	if len(mins) == 0 {
		return true
	}
	for _, m := range mins {
		if m.Fits(v) {
			return true
		}
	}
	return false
}
