package allocator

import (
	"fmt"
	"sort"

	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// Rescind reasons: the Event reason and metric label of each rescind.
const (
	RescindExpired            = "OfferExpired"
	RescindAgentGone          = "AgentRemoved"
	RescindAgentUnreachable   = "AgentUnreachable"
	RescindAgentMaintenance   = "AgentMaintenance"
	RescindFrameworkGone      = "FrameworkTornDown"
	RescindFrameworkAway      = "FrameworkDisconnected"
	RescindConstraintsChanged = "ConstraintsChanged"
	RescindCapacityChanged    = "AgentCapacityChanged"
	RescindQuotaExceeded      = "QuotaExceeded"
	// RescindUsedUp is not a rescind in Mesos's sense: the offer's
	// remainder is too small to use, so it is retired without a filter.
	RescindUsedUp = "OfferUsedUp"
)

// AgentState says why an agent might not be offerable, for rescind reasons.
type AgentState int

const (
	// AgentOK is an offerable agent.
	AgentOK AgentState = iota
	// AgentUnreachable has a stale heartbeat.
	AgentUnreachable
	// AgentInMaintenance is draining or down.
	AgentInMaintenance
)

// RescindInput adds to a Snapshot what only rescinding needs.
type RescindInput struct {
	// AgentStates says why non-offerable agents are not; agents missing
	// from the snapshot are gone.
	AgentStates map[string]AgentState
	// Frameworks that still exist and are not torn down, by key, including
	// suppressed ones (suppressing does not rescind, as in Mesos).
	Frameworks map[string]*Framework
	// Disconnected frameworks exist but their scheduler is away: as Mesos
	// deactivates them, their offers are rescinded.
	Disconnected map[string]bool
	// Accepting are the outstanding offers ("namespace/name") a framework
	// answered in time with tasks the master has not bound yet. Mesos's
	// ACCEPT consumes an offer the moment it arrives, so a master slow to
	// bind must not let such an offer lapse: neither expiry nor a remainder
	// below the minimum withdraws it. Every other reason still does, and
	// its tasks are then refused.
	Accepting map[string]bool
}

// Rescind is an outstanding offer to withdraw, and why.
type Rescind struct {
	Offer   *Offer
	Reason  string
	Message string
}

// Rescinds decides which outstanding offers in s to withdraw.
func Rescinds(s *Snapshot, in RescindInput) []Rescind {
	agents := make(map[string]*Agent, len(s.Agents))
	for _, a := range s.Agents {
		agents[a.Name] = a
	}
	var out []Rescind
	rescinded := map[*Offer]bool{}
	add := func(o *Offer, reason, msg string) {
		if !rescinded[o] {
			rescinded[o] = true
			out = append(out, Rescind{Offer: o, Reason: reason, Message: msg})
		}
	}
	for _, o := range s.Offers {
		a, ok := agents[o.Agent]
		f := in.Frameworks[o.Framework]
		accepting := in.Accepting[o.Namespace+"/"+o.Name]
		switch {
		case !o.Expires.IsZero() && !s.Now.Before(o.Expires) && !accepting:
			add(o, RescindExpired, fmt.Sprintf("offer expired at %s", o.Expires.UTC().Format("15:04:05")))
		case !ok:
			add(o, RescindAgentGone, fmt.Sprintf("agent %s was removed (deleted or marked Gone)", o.Agent))
		case in.Disconnected[o.Framework]:
			add(o, RescindFrameworkAway, fmt.Sprintf("framework %s disconnected", o.Framework))
		case f == nil:
			add(o, RescindFrameworkGone, fmt.Sprintf("framework %s was torn down", o.Framework))
		case !a.Offerable && in.AgentStates[o.Agent] == AgentUnreachable:
			add(o, RescindAgentUnreachable, fmt.Sprintf("agent %s missed its heartbeat", o.Agent))
		case !a.Offerable:
			add(o, RescindAgentMaintenance, fmt.Sprintf("agent %s is in maintenance or not ready", o.Agent))
		case f.Selector != nil && !f.Selector.Matches(a.Attributes):
			add(o, RescindConstraintsChanged, fmt.Sprintf("agent %s no longer matches the framework's attribute selector", o.Agent))
		case !accepting && !meetsMinimum(o.Resources, f.minimums(s.MinAllocatable)):
			add(o, RescindUsedUp, "what is left of the offer is below the minimum allocatable resources")
		}
	}
	// An agent whose allocatable shrank below what it has given out gets its
	// offers back, largest first, until it is whole.
	// Offers already rescinded above give their resources back first.
	byAgent := map[string][]*Offer{}
	returned := map[string]resources.Vec{}
	n := s.Dims.Len()
	for _, o := range s.Offers {
		if !rescinded[o] {
			byAgent[o.Agent] = append(byAgent[o.Agent], o)
			continue
		}
		if returned[o.Agent] == nil {
			returned[o.Agent] = make(resources.Vec, n)
		}
		returned[o.Agent].Add(o.Resources)
	}
	// The cluster's total, which offers' shares are of, summed once: not
	// once an agent.
	total := make(resources.Vec, n)
	for _, a := range s.Agents {
		total.Add(a.Allocatable)
	}
	for _, a := range s.Agents {
		over := a.Allocated.Clone(n)
		over.Add(a.Offered)
		over.Sub(a.Allocatable.Clone(n))
		if r := returned[a.Name]; r != nil {
			over.Sub(r)
		}
		if !positive(over) {
			continue
		}
		offers := byAgent[a.Name]
		sortLargestFirst(offers, total)
		for _, o := range offers {
			if !positive(over) {
				break
			}
			add(o, RescindCapacityChanged, fmt.Sprintf("agent %s has less allocatable than it had offered", a.Name))
			over.Sub(o.Resources)
		}
	}
	out = append(out, quotaRescinds(s, in, rescinded, total)...)
	return out
}

// quotaRescinds withdraws offers of roles whose consumption exceeds their
// quota limit (after a limit was lowered), largest offers first.
func quotaRescinds(s *Snapshot, in RescindInput, done map[*Offer]bool, total resources.Vec) []Rescind {
	n := s.Dims.Len()
	var fws []*Framework
	for _, f := range in.Frameworks {
		fws = append(fws, f)
	}
	sort.Slice(fws, func(i, j int) bool { return fws[i].Key < fws[j].Key })
	states := make([]*fwState, len(fws))
	for i, f := range fws {
		states[i] = &fwState{fw: f, alloc: f.Allocated.Clone(n)}
	}
	t := buildTree(s, make(resources.Vec, n), states)
	var out []Rescind
	leafOf := map[string]*node{}
	for _, st := range states {
		leafOf[st.fw.Key] = st.leaf
	}
	// Offers already rescinded no longer count toward their roles.
	for _, o := range s.Offers {
		if done[o] {
			for up := leafOf[o.Framework]; up != nil; up = up.parent {
				up.consumed.Sub(o.Resources)
			}
		}
	}
	offers := append([]*Offer(nil), s.Offers...)
	sortLargestFirst(offers, total)
	for _, o := range offers {
		if done[o] {
			continue
		}
		for nd := leafOf[o.Framework]; nd != nil && nd != t.root; nd = nd.parent {
			if !overLimit(nd) {
				continue
			}
			done[o] = true
			out = append(out, Rescind{Offer: o, Reason: RescindQuotaExceeded,
				Message: fmt.Sprintf("role %s is over its quota limit", nd.name)})
			for up := leafOf[o.Framework]; up != nil; up = up.parent {
				up.consumed.Sub(o.Resources)
			}
			break
		}
	}
	return out
}

func overLimit(nd *node) bool {
	for i, l := range nd.limit {
		if l >= 0 && nd.consumed.Get(i) > l {
			return true
		}
	}
	return false
}

func positive(v resources.Vec) bool {
	for _, x := range v {
		if x > 0 {
			return true
		}
	}
	return false
}

// sortLargestFirst sorts offers by dominant share of total, largest
// first, then by name.
func sortLargestFirst(offers []*Offer, total resources.Vec) {
	sort.SliceStable(offers, func(i, j int) bool {
		si, sj := offers[i].Resources.DominantShare(total), offers[j].Resources.DominantShare(total)
		if si != sj {
			return si > sj
		}
		return offers[i].Name < offers[j].Name
	})
}
