package allocator

import (
	"sort"

	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// maxOffersPerAgent bounds how many frameworks one agent is split between
// in one cycle. An agent is split only when quota limits, reservations or
// guarantee headroom cap what one framework may take.
const maxOffersPerAgent = 8

// The two stages of a cycle, as in Mesos's hierarchical allocator.
const (
	// stageGuarantee gives roles under an unmet guarantee what they are
	// guaranteed, whatever the headroom, before anyone else is offered.
	stageGuarantee = iota
	// stageFair offers every role in weighted-DRF order.
	stageFair
)

// Allocate runs one allocation cycle over s and returns the offers to make,
// in the order they were decided. It does not modify s.
func Allocate(s *Snapshot) []Offer {
	c := newCycle(s)
	if c.stageOneNeeded() {
		for i := range c.pools {
			if !c.stageOneNeeded() {
				break
			}
			c.allocateAgent(i, stageGuarantee)
		}
	}
	for i := range c.pools {
		c.allocateAgent(i, stageFair)
	}
	return c.out
}

// cycle is one Allocate call's working state.
type cycle struct {
	s *Snapshot
	t *tree
	n int
	// pools are the agents' free resources, by agent index (agent nil for
	// agents offered nothing).
	pools []agentPool
	// headroom is the cluster's unreserved resources not allocated or
	// offered (Mesos's available headroom), and required what unmet
	// guarantees still need of them. Both change as offers are made.
	headroom resources.Vec
	required resources.Vec
	// holding is whether any guarantee is unmet at the start of the cycle:
	// without one, nothing is held back and required stays zero.
	holding bool
	out     []Offer
}

func newCycle(s *Snapshot) *cycle {
	n := s.Dims.Len()
	total := make(resources.Vec, n)
	for _, a := range s.Agents {
		total.Add(a.Allocatable)
	}
	shareTotal := total
	if len(s.FairShareExcluded) > 0 {
		shareTotal = total.Clone(n)
		for _, name := range s.FairShareExcluded {
			if i := s.Dims.Index(name); i >= 0 && i < n {
				shareTotal[i] = 0
			}
		}
	}
	states := make([]*fwState, len(s.Frameworks))
	for i, f := range s.Frameworks {
		states[i] = &fwState{fw: f, alloc: f.Allocated.Clone(n), count: s.AllocationCounts[f.Key]}
		if f.Demand != nil {
			states[i].demand = f.Demand.Clone(n)
		}
	}
	t := buildTree(s, shareTotal, states)
	c := &cycle{s: s, t: t, n: n, pools: make([]agentPool, len(s.Agents)),
		headroom: make(resources.Vec, n), required: make(resources.Vec, n)}
	quota := t.hasQuota()
	if quota {
		t.startQuota()
	}
	for i, a := range s.Agents {
		free := a.Free(n)
		var left []reservation
		if len(a.Reservations) > 0 {
			left = c.chargeReservations(a, free, quota)
		}
		if !a.Offerable || free.IsZero() {
			continue
		}
		p := agentPool{index: i, agent: a, unreserved: free, reserved: left, ports: a.FreePorts}
		for _, r := range left {
			p.unreserved.Sub(r.left)
		}
		c.headroom.Add(p.unreserved)
		c.pools[i] = p
	}
	if quota {
		t.endQuota()
	}
	for _, g := range t.groots {
		for i, x := range g.guarantee {
			if gap := x - g.quota.Get(i); gap > 0 {
				c.required[i] += gap
				c.holding = true
			}
		}
	}
	// The guarantee stage walks only towards frameworks under a guarantee
	// that may want offers.
	for _, st := range states {
		if st.leaf.groot == nil || st.fw.Suppressed {
			continue
		}
		for nd := st.leaf; nd != nil && !nd.stage1; nd = nd.parent {
			nd.stage1 = true
		}
	}
	return c
}

// reservation is what is left of one role's reservation on an agent.
type reservation struct {
	role string
	left resources.Vec
}

// chargeReservations charges what each role holds on agent a to the
// reservations of the role and then of its ancestors, nearest first
// (ancestors' own use before their descendants'), and returns what is left
// of each reservation, within the agent's free resources, in role order.
// With quota, it also counts for each role what is left of its reservation
// (a reservation consumes quota whether used or not) and uncounts what a
// role uses of an ancestor's reservation (that counts for the ancestor).
func (c *cycle) chargeReservations(a *Agent, free resources.Vec, quota bool) []reservation {
	t := c.t
	roles := make([]string, 0, len(a.Reservations))
	byRole := make(map[string]resources.Vec, len(a.Reservations))
	for role, r := range a.Reservations {
		roles = append(roles, role)
		left := r.Clone(c.n)
		left.Min(a.Allocatable)
		byRole[role] = left
	}
	sort.Strings(roles)
	users := make([]string, 0, len(a.UsedByRole))
	for role := range a.UsedByRole {
		users = append(users, role)
	}
	sort.Slice(users, func(i, j int) bool {
		di, dj := t.depth(users[i]), t.depth(users[j])
		if di != dj {
			return di < dj
		}
		return users[i] < users[j]
	})
	for _, user := range users {
		use := a.UsedByRole[user].Clone(c.n)
		for owner := user; owner != "" && !use.IsZero(); owner = t.parentName(owner) {
			left, ok := byRole[owner]
			if !ok {
				continue
			}
			took := make(resources.Vec, c.n)
			for i := range left {
				took[i] = min(left[i], use[i])
				left[i] -= took[i]
				use[i] -= took[i]
			}
			if quota && owner != user {
				t.addQuota(t.nodes[user], t.nodes[owner], took, -1)
			}
		}
	}
	rest := free.Clone(c.n)
	out := make([]reservation, 0, len(roles))
	for _, role := range roles {
		left := byRole[role]
		left.ClampZero()
		left.Min(rest)
		rest.Sub(left)
		out = append(out, reservation{role: role, left: left})
		if quota {
			t.addQuota(t.nodes[role], nil, left, 1)
		}
	}
	return out
}

// agentPool is what one agent still has to give in this cycle: the
// unreserved part and what is left of each role's reservation.
type agentPool struct {
	index      int
	agent      *Agent
	unreserved resources.Vec
	reserved   []reservation
	// ports go with the agent's first offer.
	ports resources.PortSet
	// offers is how many frameworks the agent was split between.
	offers int
}

// reservedFor is what is left of the reservations of st's role and its
// ancestors: Mesos always offers these whole to the role.
func (p *agentPool) reservedFor(t *tree, st *fwState, n int) resources.Vec {
	v := make(resources.Vec, n)
	for _, r := range p.reserved {
		if t.isAncestorOrSelf(r.role, st.leaf) {
			v.Add(r.left)
		}
	}
	return v
}

// take removes what st was given: all of its reservations and unreserved.
func (p *agentPool) take(t *tree, st *fwState, unreserved resources.Vec) {
	for _, r := range p.reserved {
		if t.isAncestorOrSelf(r.role, st.leaf) {
			clear(r.left)
		}
	}
	p.unreserved.Sub(unreserved)
	p.unreserved.ClampZero()
}

func (p *agentPool) empty() bool {
	if !p.unreserved.IsZero() {
		return false
	}
	for _, r := range p.reserved {
		if !r.left.IsZero() {
			return false
		}
	}
	return true
}

// grant is what a framework would be offered of an agent: give in all,
// of which unreserved is not from reservations and guaranteed counts
// towards an unmet guarantee.
type grant struct {
	give, unreserved, guaranteed resources.Vec
}

// stageOneNeeded reports whether some guarantee with a framework under it
// is still unmet.
func (c *cycle) stageOneNeeded() bool {
	for _, g := range c.t.groots {
		if g.stage1 && g.unmet() {
			return true
		}
	}
	return false
}

// allocateAgent offers agent i in the given stage.
func (c *cycle) allocateAgent(i, stage int) {
	p := &c.pools[i]
	if p.agent == nil {
		return
	}
	visit := 2*i + stage + 1
	for p.offers < maxOffersPerAgent && !p.empty() {
		var st *fwState
		var g grant
		if stage == stageGuarantee {
			st, g = c.pickGuaranteed(c.t.root, p, visit)
		} else {
			st, g = c.pick(c.t.root, p, visit)
		}
		if st == nil {
			return
		}
		c.record(st, p, g, visit)
	}
}

// record makes an offer of g to st and books it.
func (c *cycle) record(st *fwState, p *agentPool, g grant, visit int) {
	a := p.agent
	c.out = append(c.out, Offer{Framework: st.fw.Key, Agent: a.Name, Node: a.Node, Role: st.fw.Role,
		Resources: g.give, Ports: p.ports, Attributes: a.Attributes})
	p.ports = nil
	p.offers++
	st.visit = visit
	st.given(g.give)
	if g.guaranteed != nil {
		if st.firstStage == nil {
			st.firstStage = map[int]bool{}
		}
		st.firstStage[p.index] = true
	}
	p.take(c.t, st, g.unreserved)
	if c.holding {
		c.headroom.Sub(g.unreserved)
		c.required.Sub(g.guaranteed)
	}
	c.t.addQuota(st.leaf, nil, g.unreserved, 1)
	c.t.charge(st, g.give)
}

// wants reports whether st may be offered (part of) p in this visit. A
// framework offered the agent in the guarantee stage got all it could of
// it then (the fair stage's limits and headroom are no looser), so it is
// not offered it again.
func (c *cycle) wants(st *fwState, p *agentPool, visit int) bool {
	return st.visit != visit && !st.firstStage[p.index] && !st.satisfied() && st.fw.Wants(p.agent, c.s.Now)
}

// pick walks the role tree in weighted-DRF order and returns the first
// framework that wants (part of) the agent, with what it would be offered.
func (c *cycle) pick(nd *node, p *agentPool, visit int) (*fwState, grant) {
	for _, st := range nd.frameworks {
		if !c.wants(st, p, visit) {
			continue
		}
		if g, ok := c.fairGrant(st, p); ok {
			return st, g
		}
	}
	for _, k := range nd.kids {
		if st, g := c.pick(k, p, visit); st != nil {
			return st, g
		}
	}
	return nil, grant{}
}

// pickGuaranteed is pick for the guarantee stage: it walks only towards
// frameworks under an unmet guarantee, in weighted-DRF order, except that
// among siblings under the same guarantee those below a guarantee of their
// own go first.
func (c *cycle) pickGuaranteed(nd *node, p *agentPool, visit int) (*fwState, grant) {
	if nd.groot != nil {
		if !nd.groot.unmet() {
			return nil, grant{}
		}
		for _, st := range nd.frameworks {
			if !c.wants(st, p, visit) {
				continue
			}
			if g, ok := c.guaranteedGrant(st, p); ok {
				return st, g
			}
		}
	}
	for _, first := range []bool{true, false} {
		for _, k := range nd.kids {
			if !k.stage1 || (k.guarantee != nil && k.unmet()) != first {
				continue
			}
			if st, g := c.pickGuaranteed(k, p, visit); st != nil {
				return st, g
			}
		}
	}
	return nil, grant{}
}

// guaranteedGrant is what st gets of p in the guarantee stage: unreserved
// resources up to what its guarantee still lacks, whatever the headroom
// (Mesos gives guarantees even when they overcommit the cluster); then,
// only if that is not nothing, its reservations and the rest of the
// unreserved resources within its limits and the headroom other
// guarantees need.
func (c *cycle) guaranteedGrant(st *fwState, p *agentPool) (grant, bool) {
	g := st.leaf.groot
	room := c.t.limitRoom(st)
	guaranteed := make(resources.Vec, c.n)
	unreserved := make(resources.Vec, c.n)
	for i, avail := range p.unreserved {
		gap := max(g.guarantee.Get(i)-g.quota.Get(i), 0)
		x := min(avail, gap)
		if room != nil && room[i] >= 0 {
			x = min(x, room[i])
		}
		guaranteed[i] = x
		unreserved[i] = x + c.beyond(i, avail-x, room, x)
	}
	if guaranteed.IsZero() {
		return grant{}, false
	}
	return c.finish(st, p, unreserved, guaranteed)
}

// fairGrant is what st gets of p in the fair stage: its reservations and
// the unreserved resources within its limits and the headroom unmet
// guarantees need.
func (c *cycle) fairGrant(st *fwState, p *agentPool) (grant, bool) {
	room := c.t.limitRoom(st)
	unreserved := make(resources.Vec, c.n)
	for i, avail := range p.unreserved {
		unreserved[i] = c.beyond(i, avail, room, 0)
	}
	return c.finish(st, p, unreserved, nil)
}

// beyond caps avail (of resource i, offered on top of already) by the
// quota limit room and by the headroom that unmet guarantees need.
func (c *cycle) beyond(i int, avail int64, room resources.Vec, already int64) int64 {
	if room != nil && room[i] >= 0 {
		avail = min(avail, max(room[i]-already, 0))
	}
	if c.required[i] > 0 {
		avail = min(avail, max(c.headroom[i]-c.required[i], 0))
	}
	return avail
}

// finish adds st's reservations to the unreserved part and returns the
// grant, and false when it is not worth offering to st.
func (c *cycle) finish(st *fwState, p *agentPool, unreserved, guaranteed resources.Vec) (grant, bool) {
	give := unreserved
	if len(p.reserved) > 0 {
		give = p.reservedFor(c.t, st, c.n)
		give.Add(unreserved)
	}
	if !meetsMinimum(give, st.fw.minimums(c.s.MinAllocatable)) {
		return grant{}, false
	}
	if st.fw.Floor != nil && !st.fw.Floor.Fits(give) {
		return grant{}, false
	}
	return grant{give: give, unreserved: unreserved, guaranteed: guaranteed}, true
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
