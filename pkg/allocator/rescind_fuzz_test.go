package allocator

import (
	"fmt"
	"testing"
	"time"

	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// rescindCase decodes a snapshot with outstanding offers, kept consistent
// as the master's ledger is: an agent's Offered is the sum of its offers,
// a framework's Allocated its tasks plus its offers. Offers may name an
// agent that is gone or a framework that was torn down; frameworks may be
// disconnected; agents that are not offerable say why.
func (in *fuzzInput) rescindCase() (*Snapshot, RescindInput) {
	s := in.snapshot()
	n := s.Dims.Len()
	agents := map[string]*Agent{}
	for _, a := range s.Agents {
		a.Offered = nil
		agents[a.Name] = a
	}
	fws := map[string]*Framework{}
	for _, f := range s.Frameworks {
		fws[f.Key] = f
	}
	for i, k := 0, in.intn(9); i < k; i++ {
		o := &Offer{Namespace: "ns", Name: fmt.Sprintf("o%d", i), Agent: "gone", Framework: "ns/gone", Role: in.role(),
			Resources: in.vec(n), Ports: in.ports()}
		if j := in.intn(len(s.Agents) + 1); j < len(s.Agents) {
			a := s.Agents[j]
			o.Agent, o.Node, o.Attributes = a.Name, a.Node, a.Attributes
			a.Offered = plus(a.Offered, o.Resources, n)
		}
		if j := in.intn(len(s.Frameworks) + 1); j < len(s.Frameworks) {
			f := s.Frameworks[j]
			o.Framework, o.Role = f.Key, f.Role
			f.Allocated = plus(f.Allocated, o.Resources, n)
		}
		if in.rare(3) {
			o.Expires = t0.Add(time.Duration(in.intn(5)-2) * time.Minute)
		}
		s.Offers = append(s.Offers, o)
	}
	ri := RescindInput{AgentStates: map[string]AgentState{}, Frameworks: map[string]*Framework{}, Disconnected: map[string]bool{}}
	for _, a := range s.Agents {
		if !a.Offerable {
			ri.AgentStates[a.Name] = AgentState(1 + in.intn(2))
		}
	}
	for _, f := range s.Frameworks {
		switch in.byte() % 8 {
		case 6: // torn down
		case 7:
			ri.Frameworks[f.Key], ri.Disconnected[f.Key] = f, true
		default:
			ri.Frameworks[f.Key] = f
		}
	}
	return s, ri
}

var rescindReasons = map[string]bool{
	RescindExpired: true, RescindAgentGone: true, RescindAgentUnreachable: true, RescindAgentMaintenance: true,
	RescindFrameworkGone: true, RescindFrameworkAway: true, RescindConstraintsChanged: true,
	RescindCapacityChanged: true, RescindQuotaExceeded: true, RescindUsedUp: true,
}

// FuzzRescinds decides the rescinds of a decoded, consistent snapshot and
// checks that
//
//   - only outstanding offers are rescinded, each at most once, each with
//     a known reason and a message, and the reason is true of the offer;
//   - every offer that expired, whose agent is gone or not offerable,
//     whose framework was torn down or disconnected, or whose agent its
//     framework's selector no longer selects, is rescinded;
//   - afterwards no agent has given out more than its allocatable unless
//     none of its offers is left, and no role's subtree holds more than
//     its quota limit unless none of its offers is left;
//   - an offer is rescinded for capacity or quota only while its agent or
//     a role over it is still over, counting the offers rescinded before
//     it as returned (nothing is withdrawn that need not be).
func FuzzRescinds(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		// The two agents and frameworks of fuzzSeedWhole, with a0 given
		// out whole to f0 and in part to f1, and an offer on an agent
		// that is gone.
		append(append([]byte(nil), fuzzSeedWhole...),
			3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 0, 2, 2, 7, 1, 6, 0, 0, 1, 0,
			0, 0, 0, 0, 0, 0, 2, 0, 0),
		// fuzzSeedQuota's snapshot with an offer over r1's limit, one
		// expired, one used up, and a0 given out beyond its allocatable.
		append(append([]byte(nil), fuzzSeedQuota...), 4, 1, 0, 0, 2, 4, 7, 7, 0, 0, 1, 0, 1, 0, 0, 2, 2, 7, 7, 0, 1, 1, 2, 1, 0, 0, 0, 0, 0, 0, 2, 2, 0, 1, 0, 0, 0, 4, 2, 0, 7),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ri := (&fuzzInput{b: data}).rescindCase()
		var out []Rescind
		within(t, "Rescinds", func() { out = Rescinds(s, ri) })
		checkRescinds(t, s, ri, out)
	})
}

func checkRescinds(t *testing.T, s *Snapshot, ri RescindInput, out []Rescind) {
	t.Helper()
	n := s.Dims.Len()
	agents := map[string]*Agent{}
	for _, a := range s.Agents {
		agents[a.Name] = a
	}
	outstanding := map[*Offer]bool{}
	for _, o := range s.Offers {
		outstanding[o] = true
	}
	// returned is what the rescinds so far gave back, per agent and per
	// framework.
	returnedBy := map[string]resources.Vec{}
	returnedTo := map[string]resources.Vec{}
	rescinded := map[*Offer]string{}
	for _, r := range out {
		o := r.Offer
		if !outstanding[o] {
			t.Fatalf("rescind of %+v, which is not an outstanding offer", o)
		}
		if _, twice := rescinded[o]; twice {
			t.Fatalf("offer %s rescinded twice (%s, then %s)", o.Name, rescinded[o], r.Reason)
		}
		if !rescindReasons[r.Reason] || r.Message == "" {
			t.Fatalf("rescind of %s: reason %q, message %q", o.Name, r.Reason, r.Message)
		}
		a, f := agents[o.Agent], ri.Frameworks[o.Framework]
		var untrue bool
		switch r.Reason {
		case RescindExpired:
			untrue = o.Expires.IsZero() || s.Now.Before(o.Expires)
		case RescindAgentGone:
			untrue = a != nil
		case RescindAgentUnreachable, RescindAgentMaintenance:
			untrue = a == nil || a.Offerable
		case RescindFrameworkGone:
			untrue = f != nil
		case RescindFrameworkAway:
			untrue = !ri.Disconnected[o.Framework]
		case RescindConstraintsChanged:
			untrue = a == nil || f == nil || f.Selector == nil || f.Selector.Matches(a.Attributes)
		case RescindUsedUp:
			mins := s.MinAllocatable // a framework's own alternatives replace the master's
			if f != nil && f.MinAllocatable != nil {
				mins = f.MinAllocatable
			}
			untrue = !o.Resources.IsZero() && (len(mins) == 0 || meetsAnyOf(o.Resources, mins))
		case RescindCapacityChanged:
			untrue = a == nil || !overAgent(a, returnedBy[a.Name], n)
		case RescindQuotaExceeded:
			untrue = f == nil || !overRole(s, ri, f.Role, returnedTo)
		}
		if untrue {
			t.Fatalf("offer %s (%+v) rescinded for %s (%s), which is not so", o.Name, *o, r.Reason, r.Message)
		}
		rescinded[o] = r.Reason
		returnedBy[o.Agent] = plus(returnedBy[o.Agent], o.Resources, n)
		returnedTo[o.Framework] = plus(returnedTo[o.Framework], o.Resources, n)
	}

	left := map[string]int{} // offers left per agent
	for _, o := range s.Offers {
		a, f := agents[o.Agent], ri.Frameworks[o.Framework]
		dead := (!o.Expires.IsZero() && !s.Now.Before(o.Expires)) || a == nil || f == nil || ri.Disconnected[o.Framework] ||
			!a.Offerable || (f.Selector != nil && !f.Selector.Matches(a.Attributes))
		if _, ok := rescinded[o]; !ok {
			if dead {
				t.Fatalf("offer %s (%+v) should have been rescinded", o.Name, *o)
			}
			left[o.Agent]++
		}
	}
	for _, a := range s.Agents {
		if left[a.Name] > 0 && overAgent(a, returnedBy[a.Name], n) {
			t.Fatalf("agent %s keeps %d offers while over its allocatable %v (allocated %v, offered %v, %v of it rescinded)",
				a.Name, left[a.Name], a.Allocatable, a.Allocated, a.Offered, returnedBy[a.Name])
		}
	}
	for name, r := range s.Roles {
		if r.Limit == nil || !overRole(s, ri, name, returnedTo) {
			continue
		}
		if _, ends := roleChain(s.Roles, name); !ends {
			continue
		}
		for _, o := range s.Offers {
			if _, ok := rescinded[o]; !ok && under(s.Roles, o.Role, name) && ri.Frameworks[o.Framework] != nil {
				t.Fatalf("role %s is over its limit %v, yet offer %s of its subtree stays", name, r.Limit, o.Name)
			}
		}
	}
}

// overAgent reports whether a's tasks and offers, less returned, exceed
// its allocatable in some resource.
func overAgent(a *Agent, returned resources.Vec, n int) bool {
	for i := 0; i < n; i++ {
		if a.Allocated.Get(i)+a.Offered.Get(i)-returned.Get(i) > a.Allocatable.Get(i) {
			return true
		}
	}
	return false
}

// overRole reports whether role, or a role above it, holds more than its
// quota limit once the offers returned are given back. Roles on a parent
// loop count as over (their place in the tree is not guessed here).
func overRole(s *Snapshot, ri RescindInput, role string, returned map[string]resources.Vec) bool {
	chain, ends := roleChain(s.Roles, role)
	if !ends {
		return true
	}
	n := s.Dims.Len()
	for _, name := range chain {
		r := s.Roles[name]
		if r == nil || r.Limit == nil {
			continue
		}
		var held resources.Vec
		for key, f := range ri.Frameworks {
			if under(s.Roles, f.Role, name) {
				held = plus(held, f.Allocated, n)
				for i := range held {
					held[i] -= returned[key].Get(i)
				}
			}
		}
		for i, l := range r.Limit {
			if l >= 0 && held.Get(i) > l {
				return true
			}
		}
	}
	return false
}
