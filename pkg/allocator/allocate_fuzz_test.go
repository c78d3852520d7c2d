package allocator

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// snapshotOpts compare label selectors by what they select and Dims by
// their names.
var snapshotOpts = cmp.Options{
	cmp.Comparer(func(a, b labels.Selector) bool {
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return a.String() == b.String()
	}),
	cmp.Comparer(func(a, b *resources.Dims) bool {
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if a.Name(i) != b.Name(i) {
				return false
			}
		}
		return true
	}),
}

// FuzzAllocate runs an allocation cycle over a decoded snapshot and checks
// what must hold of any cycle, whatever the ledger says:
//
//   - the snapshot is not modified, and the same snapshot gives the same
//     offers;
//   - every offer names a known framework and agent, carries the agent's
//     node and attributes and the framework's role, holds no negative
//     quantity and something positive, holds one of the minimum
//     allocatable sets in full (if any) and the framework's minResources;
//   - no offer goes to a suppressed framework, an agent that is not
//     offerable, an agent the framework already has an offer for, a GPU
//     agent of a framework without the GPU capability, an agent the
//     framework filtered until after now, or one its selector does not
//     select; a framework gets at most one offer per agent, at most
//     maxOffers in the cycle, and none once its demand is covered; an
//     agent is split at most maxOffersPerAgent ways;
//   - per agent, the offers add up to no more than its free resources
//     (allocatable − allocated − offered, each position at least 0), and
//     their ports are free ports of the agent, none offered twice;
//   - no offer takes a part of an agent's reservation for a role the
//     framework is not under; no role's subtree is offered past its quota
//     limit; offers to roles without a guarantee leave the other roles'
//     unmet guarantees free in the cluster;
//   - with nothing to cap an offer (no quota, reservation, minimum,
//     minResources, demand or maxOffers), every agent with free resources
//     that some framework may be offered is offered whole, ports and all.
//
// Role trees are checked where they do not loop (see roleChain).
func FuzzAllocate(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		fuzzSeedWhole,
		fuzzSeedQuota,
		// fuzzSeedWhole's agents and one framework whose demand the
		// first agent covers.
		append(append([]byte(nil), fuzzSeedWhole[:33]...), 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 2, 2, 7, 0, 0, 0),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := (&fuzzInput{b: data}).snapshot()
		var offers []Offer
		within(t, "Allocate", func() { offers = Allocate(s) })
		if diff := cmp.Diff((&fuzzInput{b: data}).snapshot(), s, snapshotOpts); diff != "" {
			t.Fatalf("Allocate changed its snapshot (-before +after):\n%s", diff)
		}
		// Map iteration order is random: where an agent's reservations (a
		// map) could leak it into the offers, try many times.
		runs := 1
		for _, a := range s.Agents {
			if len(a.Reservations) > 1 {
				runs = 100
			}
		}
		for ; runs > 0; runs-- {
			if again := Allocate(s); !cmp.Equal(offers, again, snapshotOpts) {
				t.Fatalf("the same snapshot gave other offers:\n%s\nthen\n%s", render(offers), render(again))
			}
		}
		checkOffers(t, s, offers)
	})
}

// within runs call, failing the test if it panics or does not return in
// 5 s (it takes microseconds on these inputs): a loop that never ends, say
// in a role tree, fails fast instead of hanging the run. A call that does
// not return is left running.
func within(t *testing.T, what string, call func()) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Sprintf("%v\n%s", r, debug.Stack())
			}
			close(done)
		}()
		call()
	}()
	select {
	case p, panicked := <-done:
		if panicked {
			t.Fatalf("%s panicked: %s", what, p)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not return within 5s", what)
	}
}

// fuzzSeedWhole decodes to two agents (one with ports) and two
// frameworks with nothing to cap their offers: each gets an agent whole.
var fuzzSeedWhole = []byte{0, 2,
	0, 0, 0, 0, 0, 1, 5, 3, 0, 0, 0, 0, 0,
	1, 0, 0, 4, 200, 3, 2, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0,
	2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0}

// fuzzSeedQuota decodes to three agents (one with a reservation for r1,
// one with GPUs and tasks, one not offerable); r0 with a guarantee, r1
// under it with a CPU limit, r2 and r3 each other's parent; a GPU
// framework in r0, a framework in r1 with a selector, a filter, demand and
// maxOffers, one in the loop holding an offer for a0, a suppressed one;
// and a minimum allocatable of 5m CPU.
var fuzzSeedQuota = []byte{1, 0, 3,
	0, 0, 0, 2, 8, 3, 4, 7, 1, 5, 3, 0, 0, 0, 0, 1, 1, 0, 1, 2, 2, 7, 0,
	1, 0, 0, 2, 12, 3, 6, 4, 2, 0, 0, 5, 2, 0, 0, 2, 6, 3, 3, 4, 1, 0, 0,
	2, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0,
	2, 2, 0, 2, 0, 0, 2, 4, 7, 7, 0,
	2, 1, 2, 0, 2, 0, 0, 2, 6, 7, 7, 0, 2, 2,
	2, 1, 5, 0, 0,
	2, 1, 4, 0, 0,
	0,
	4,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 0, 0, 2, 1, 0, 0, 2, 4, 7, 7, 1, 0, 0, 3, 0, 0, 2, 2, 7, 7, 0, 1, 4, 0,
	2, 0, 0, 0, 0, 2, 1, 0, 0, 2, 0, 0,
	4, 5, 0, 0, 0, 0, 3, 0, 0, 7, 7, 7, 0, 0, 0, 0,
	2, 0, 0, 0, 1, 5, 7, 7}

func checkOffers(t *testing.T, s *Snapshot, offers []Offer) {
	t.Helper()
	n := s.Dims.Len()
	agents := map[string]*Agent{}
	for _, a := range s.Agents {
		agents[a.Name] = a
	}
	fws := map[string]*Framework{}
	for _, f := range s.Frameworks {
		fws[f.Key] = f
	}
	given := map[string]resources.Vec{}     // per agent
	givenTo := map[string]resources.Vec{}   // per framework
	ports := map[string]resources.PortSet{} // per agent
	splits := map[string]int{}
	counts := map[string]int{}
	pairs := map[[2]string]bool{}
	for _, o := range offers {
		a, f := agents[o.Agent], fws[o.Framework]
		if a == nil || f == nil {
			t.Fatalf("offer %s@%s names an unknown agent or framework", o.Framework, o.Agent)
		}
		where := o.Framework + "@" + o.Agent
		if o.Node != a.Node || o.Role != f.Role || !cmp.Equal(o.Attributes, a.Attributes) {
			t.Fatalf("offer %s: node %q, role %q, attributes %v; want %q, %q, %v", where, o.Node, o.Role, o.Attributes, a.Node, f.Role, a.Attributes)
		}
		if len(o.Resources) > n || o.Resources.AnyNegative() || o.Resources.IsZero() {
			t.Fatalf("offer %s holds %v: negative, nothing, or more than %d positions", where, o.Resources, n)
		}
		// A framework's own minimum alternatives replace the master's, as in
		// Mesos; its floor applies on top.
		mins := s.MinAllocatable
		if f.MinAllocatable != nil {
			mins = f.MinAllocatable
		}
		if len(mins) > 0 && !meetsAnyOf(o.Resources, mins) {
			t.Fatalf("offer %s holds %v, none of the minimum allocatable sets %v", where, o.Resources, mins)
		}
		if f.Floor != nil && !f.Floor.Fits(o.Resources) {
			t.Fatalf("offer %s holds %v, less than the framework's floor %v", where, o.Resources, f.Floor)
		}
		switch until, filtered := f.Filters[a.Name]; {
		case f.Suppressed:
			t.Fatalf("offer %s to a suppressed framework", where)
		case !a.Offerable:
			t.Fatalf("offer %s of an agent that is not offerable", where)
		case f.OfferedAgents[a.Name]:
			t.Fatalf("offer %s of an agent the framework holds an offer for", where)
		case a.HasGPU && !f.GPU:
			t.Fatalf("offer %s of a GPU agent to a framework without the GPU capability", where)
		case filtered && s.Now.Before(until):
			t.Fatalf("offer %s of an agent filtered until %s (now %s)", where, until, s.Now)
		case f.Selector != nil && !f.Selector.Matches(labels.Set(a.Attributes)):
			t.Fatalf("offer %s of an agent its selector %s does not select", where, f.Selector)
		case pairs[[2]string{f.Key, a.Name}]:
			t.Fatalf("offer %s made twice", where)
		}
		pairs[[2]string{f.Key, a.Name}] = true
		if f.Demand != nil && covers(givenTo[f.Key], f.Demand) {
			t.Fatalf("offer %s after the framework's demand %v was covered by %v", where, f.Demand, givenTo[f.Key])
		}
		if counts[f.Key]++; f.MaxOffers > 0 && counts[f.Key] > f.MaxOffers {
			t.Fatalf("framework %s got %d offers, more than its maxOffers %d", f.Key, counts[f.Key], f.MaxOffers)
		}
		if splits[a.Name]++; splits[a.Name] > maxOffersPerAgent {
			t.Fatalf("agent %s split %d ways", a.Name, splits[a.Name])
		}
		given[a.Name] = plus(given[a.Name], o.Resources, n)
		givenTo[f.Key] = plus(givenTo[f.Key], o.Resources, n)
		if !a.FreePorts.Contains(o.Ports) || ports[a.Name].Overlaps(o.Ports) {
			t.Fatalf("offer %s has ports %s: agent's free ports %s, already offered %s", where, o.Ports, a.FreePorts, ports[a.Name])
		}
		ports[a.Name] = ports[a.Name].Union(o.Ports)
	}

	for _, a := range s.Agents {
		free := freeOf(a, n)
		if !given[a.Name].Clone(n).Fits(free) {
			t.Fatalf("agent %s: offers add up to %v, more than its free %v", a.Name, given[a.Name], free)
		}
		checkReservations(t, s, a, free, offers)
	}
	checkLimits(t, s, offers)
	checkHeadroom(t, s, offers)
	checkWholeAgents(t, s, offers, given, ports)
}

// freeOf is allocatable − allocated − offered, each position at least 0,
// computed here rather than by Agent.Free.
func freeOf(a *Agent, n int) resources.Vec {
	free := make(resources.Vec, n)
	for i := range free {
		free[i] = max(0, a.Allocatable.Get(i)-a.Allocated.Get(i)-a.Offered.Get(i))
	}
	return free
}

func plus(a, b resources.Vec, n int) resources.Vec {
	out := make(resources.Vec, n)
	for i := range out {
		out[i] = a.Get(i) + b.Get(i)
	}
	return out
}

// covers reports whether got is at least want in every position.
func covers(got, want resources.Vec) bool {
	for i, w := range want {
		if got.Get(i) < w {
			return false
		}
	}
	return true
}

func meetsAnyOf(v resources.Vec, sets []resources.Vec) bool {
	for _, m := range sets {
		if covers(v, m) {
			return true
		}
	}
	return false
}

// checkReservations: the part of a role's reservation still left on an
// agent goes only to frameworks under that role. Checked when the agent's
// free resources cover every reservation's left part, so that none is cut.
func checkReservations(t *testing.T, s *Snapshot, a *Agent, free resources.Vec, offers []Offer) {
	t.Helper()
	n := len(free)
	left := map[string]resources.Vec{}
	var all resources.Vec
	for role, r := range a.Reservations {
		// As in Mesos, a descendant's use of an ancestor's reservation is
		// charged to it: count every use under the role (a lower bound of
		// what is left, so the check is weaker, never wrong).
		var used resources.Vec
		for q, u := range a.UsedByRole {
			if under(s.Roles, q, role) {
				used = plus(used, u, n)
			}
		}
		// A reservation holds at most what the agent has.
		l := make(resources.Vec, n)
		for i := range l {
			l[i] = max(0, min(r.Get(i), a.Allocatable.Get(i))-used.Get(i))
		}
		left[role] = l
		all = plus(all, l, n)
	}
	if !all.Clone(n).Fits(free) {
		return
	}
	for role, l := range left {
		if _, ends := roleChain(s.Roles, role); !ends {
			continue
		}
		var others resources.Vec
		for _, o := range offers {
			if o.Agent == a.Name && !under(s.Roles, o.Role, role) {
				others = plus(others, o.Resources, n)
			}
		}
		room := make(resources.Vec, n)
		for i := range room {
			room[i] = free[i] - l[i]
		}
		if !others.Clone(n).Fits(room) {
			t.Fatalf("agent %s: frameworks outside role %s were offered %v, dipping into its reservation (%v left of %v free)",
				a.Name, role, others, l, free)
		}
	}
}

// checkLimits: no role's subtree is offered past its quota limit. As in
// Mesos, a role's reservations count toward its quota whether used or not,
// so offering a role its own reservation costs it nothing, and an
// ancestor's reservation counts for the ancestor: the subtree may be
// offered at most those reservations plus what its holdings leave under
// the limit (an upper bound that never counts a reservation as used).
func checkLimits(t *testing.T, s *Snapshot, offers []Offer) {
	t.Helper()
	n := s.Dims.Len()
	for name, r := range s.Roles {
		if r.Limit == nil {
			continue
		}
		if _, ends := roleChain(s.Roles, name); !ends {
			continue
		}
		var held, offered resources.Vec
		for _, f := range s.Frameworks {
			if under(s.Roles, f.Role, name) {
				held = plus(held, f.Allocated, n)
			}
		}
		for _, o := range offers {
			if under(s.Roles, o.Role, name) {
				offered = plus(offered, o.Resources, n)
			}
		}
		// Reservations of the subtree, and of the role's ancestors, which
		// its frameworks may be offered: an ancestor's reservation counts
		// for the ancestor's quota, not this role's (decisions.md).
		var reserved resources.Vec
		for _, a := range s.Agents {
			for role, rv := range a.Reservations {
				if under(s.Roles, role, name) || under(s.Roles, name, role) {
					reserved = plus(reserved, rv, n)
				}
			}
		}
		for i, l := range r.Limit {
			if l >= 0 && offered.Get(i) > reserved.Get(i)+max(0, l-held.Get(i)) {
				t.Fatalf("role %s: limit %v, held %v, reserved %v, offered %v more", name, r.Limit, held, reserved, offered)
			}
		}
	}
}

// checkHeadroom: when no framework under a role with a guarantee is
// offered anything, the offers leave the cluster's free resources at or
// above the guaranteed roles' unmet guarantees (or offer none of a
// resource already short of them).
func checkHeadroom(t *testing.T, s *Snapshot, offers []Offer) {
	t.Helper()
	n := s.Dims.Len()
	var roots []string
	for name, r := range s.Roles {
		if r.Guarantee == nil {
			continue
		}
		chain, ends := roleChain(s.Roles, name)
		if !ends {
			return
		}
		root := true
		for _, up := range chain[1:] {
			if ur := s.Roles[up]; ur != nil && ur.Guarantee != nil {
				root = false
			}
		}
		if root {
			roots = append(roots, name)
		}
	}
	if len(roots) == 0 {
		return
	}
	// As in Mesos, a role's own (or an ancestor's) reservation is never
	// held back for other roles' guarantees, so the part of an offer its
	// reservations could cover is left out of the total; and a guaranteed
	// role's reservations count toward its guarantee, so they may shrink
	// what it still needs. Both make the check weaker, never wrong.
	agents := map[string]*Agent{}
	for _, a := range s.Agents {
		agents[a.Name] = a
	}
	var total resources.Vec
	for _, o := range offers {
		for _, g := range roots {
			if under(s.Roles, o.Role, g) {
				return
			}
		}
		rest := o.Resources.Clone(n)
		if a := agents[o.Agent]; a != nil {
			for role, rv := range a.Reservations {
				if under(s.Roles, o.Role, role) {
					rest.Sub(rv)
				}
			}
		}
		rest.ClampZero()
		total = plus(total, rest, n)
	}
	need := make(resources.Vec, n)
	for _, g := range roots {
		var held resources.Vec
		for _, f := range s.Frameworks {
			if under(s.Roles, f.Role, g) {
				held = plus(held, f.Allocated, n)
			}
		}
		for _, a := range s.Agents {
			for role, rv := range a.Reservations {
				if under(s.Roles, role, g) {
					held = plus(held, rv, n)
				}
			}
		}
		for i, x := range s.Roles[g].Guarantee {
			need[i] += max(0, x-held.Get(i))
		}
	}
	var clusterFree resources.Vec
	for _, a := range s.Agents {
		if a.Offerable {
			clusterFree = plus(clusterFree, freeOf(a, n), n)
		}
	}
	for i, x := range need {
		if x > 0 && total.Get(i) > max(0, clusterFree.Get(i)-x) {
			t.Fatalf("offers of %v leave less than the unmet guarantees %v of %v free (roles %v)", total, need, clusterFree, roots)
		}
	}
}

// checkWholeAgents: with nothing to cap an offer, an agent that some
// framework may be offered goes whole, ports and all, and an agent no
// framework may be offered goes to none.
func checkWholeAgents(t *testing.T, s *Snapshot, offers []Offer, given map[string]resources.Vec, ports map[string]resources.PortSet) {
	t.Helper()
	if len(s.MinAllocatable) > 0 {
		return
	}
	for _, r := range s.Roles {
		if r.Guarantee != nil || r.Limit != nil {
			return
		}
	}
	for _, f := range s.Frameworks {
		if f.MinAllocatable != nil || f.Floor != nil || f.Demand != nil || f.MaxOffers > 0 {
			return
		}
	}
	n := s.Dims.Len()
	for _, a := range s.Agents {
		if len(a.Reservations) > 0 {
			return
		}
	}
	for _, a := range s.Agents {
		free := freeOf(a, n)
		wanted := false
		for _, f := range s.Frameworks {
			until, filtered := f.Filters[a.Name]
			wanted = wanted || (!f.Suppressed && !f.OfferedAgents[a.Name] && (!a.HasGPU || f.GPU) &&
				!(filtered && s.Now.Before(until)) && (f.Selector == nil || f.Selector.Matches(a.Attributes)))
		}
		if !a.Offerable || free.IsZero() || !wanted {
			if given[a.Name] != nil {
				t.Fatalf("agent %s was offered %v, though no framework may be", a.Name, given[a.Name])
			}
			continue
		}
		if !cmp.Equal(given[a.Name], free) || !cmp.Equal(ports[a.Name], a.FreePorts) {
			t.Fatalf("agent %s: offered %v and ports %s of its free %v and ports %s, though nothing caps its offer",
				a.Name, given[a.Name], ports[a.Name], free, a.FreePorts)
		}
	}
}
