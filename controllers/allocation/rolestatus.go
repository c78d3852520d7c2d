package allocation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// A Role reports itself: what its subtree holds and consumes of its quota
// (roleUsage), whether its parent resolves and whether the offerable agents
// can hold its guarantee (roleConditions). Both are decided here from
// plain data; the pass's status step writes them.

// parentLink is how a Role's spec.parent resolves.
type parentLink struct {
	// parent is the parent Role; empty for a top-level role, a missing
	// parent, or a role on a loop.
	parent string
	// missing is spec.parent when it names no Role object.
	missing string
	// loop lists the roles met following parents from the role back to it
	// (first and last are the role), when it is on a loop.
	loop []string
}

// resolveParents follows every Role's parents once: each role's parent is
// found, missing, or the role lies on a loop of parents. Roles that lead
// into a loop without being on it keep their parent.
func resolveParents(roles map[string]*kov1.Role) map[string]parentLink {
	links := make(map[string]parentLink, len(roles))
	done := map[string]bool{}
	for _, start := range sortedKeys(roles) {
		var path []string
		onPath := map[string]int{}
		for cur := start; !done[cur]; {
			if i, seen := onPath[cur]; seen {
				loop := path[i:]
				for j, r := range loop {
					seq := append(append(append([]string{}, loop[j:]...), loop[:j]...), r)
					links[r] = parentLink{loop: seq}
				}
				break
			}
			onPath[cur] = len(path)
			path = append(path, cur)
			p := roles[cur].Spec.Parent
			if roles[p] == nil {
				break
			}
			cur = p
		}
		for _, r := range path {
			done[r] = true
			if _, set := links[r]; set {
				continue
			}
			switch p := roles[r].Spec.Parent; {
			case roles[p] != nil:
				links[r] = parentLink{parent: p}
			case p != "":
				links[r] = parentLink{missing: p}
			default:
				links[r] = parentLink{}
			}
		}
	}
	return links
}

// parentCondition says how a role's parent resolved.
func parentCondition(l parentLink) metav1.Condition {
	c := metav1.Condition{Type: kov1.RoleParentResolvedCondition, Status: metav1.ConditionTrue}
	switch {
	case l.loop != nil:
		c.Status, c.Reason = metav1.ConditionFalse, kov1.RoleParentResolvedLoopReason
		c.Message = fmt.Sprintf("Following spec.parent comes back to the role: %s; the master cuts the loop and makes one of its roles top-level. "+
			"Change spec.parent of one of them to break it", strings.Join(l.loop, " → "))
	case l.missing != "":
		c.Status, c.Reason = metav1.ConditionFalse, kov1.RoleParentResolvedNotFoundReason
		c.Message = fmt.Sprintf("Parent %q has no Role object: the master treats it as a top-level role of weight 1 with no quota. "+
			"Create Role %q or correct spec.parent", l.missing, l.missing)
	case l.parent != "":
		c.Reason, c.Message = kov1.RoleParentResolvedFoundReason, fmt.Sprintf("Parent %q is a Role", l.parent)
	default:
		c.Reason, c.Message = kov1.RoleParentResolvedTopLevelReason, "The role has no parent"
	}
	return c
}

// clusterHold is what the offerable agents hold: guarantees are judged
// against it.
type clusterHold struct {
	// capacity is the allocatable of every offerable agent, in all.
	capacity resources.Vec
	// reserved is what the offerable agents reserve, by role.
	reserved map[string]resources.Vec
}

// holdOf sums what the ledger's offerable agents hold.
func holdOf(l *ledger) clusterHold {
	n := l.dims.Len()
	h := clusterHold{capacity: make(resources.Vec, n), reserved: map[string]resources.Vec{}}
	for _, a := range l.snapshot.Agents {
		if !a.Offerable {
			continue
		}
		h.capacity.Add(a.Allocatable)
		for role, r := range a.Reservations {
			resources.AddTo(h.reserved, role, r.Clone(n), n)
		}
	}
	return h
}

// guaranteeConditions judges every Role's guarantee against what the
// offerable agents hold. A guarantee alone beyond the agents' capacity
// can never be met (ExceedsCluster). Otherwise, as in Mesos's quota
// overcommit check, the guarantees of all roles together must fit: a
// parent's guarantee contains its children's, so each subtree needs at
// least the largest of its own guarantee, its children's needs together,
// and every reservation in it (reservations count against quota whether
// used or not). Roles whose guarantee names a resource the top-level
// subtrees together need more of than the agents hold are Overcommitted.
func guaranteeConditions(d *resources.Dims, roles map[string]*kov1.Role, links map[string]parentLink, hold clusterHold) map[string]metav1.Condition {
	for _, r := range roles {
		if q := r.Spec.Quota; q != nil {
			d.AddList(q.Guarantee)
		}
	}
	n := d.Len()
	guarantees := map[string]resources.Vec{}
	for name, r := range roles {
		if q := r.Spec.Quota; q != nil && len(q.Guarantee) > 0 {
			if g := d.FromList(q.Guarantee).Clone(n); !g.IsZero() {
				guarantees[name] = g
			}
		}
	}
	// The role forest: Role objects under their resolved parents, roles
	// with a missing parent under that parent (an implicit role), and
	// implicit roles named only by reservations at the top.
	parentOf := map[string]string{}
	kids := map[string][]string{}
	for _, name := range sortedKeys(roles) {
		p := links[name].parent
		if p == "" {
			p = links[name].missing
		}
		if p != "" {
			parentOf[name] = p
			kids[p] = append(kids[p], name)
		}
	}
	var need func(name string) (claim, reserved resources.Vec)
	need = func(name string) (resources.Vec, resources.Vec) {
		claim, reserved := make(resources.Vec, n), make(resources.Vec, n)
		if r, ok := hold.reserved[name]; ok {
			reserved.Add(r)
		}
		for _, k := range kids[name] {
			kc, kr := need(k)
			claim.Add(kc)
			reserved.Add(kr)
		}
		claim = claim.Max(reserved)
		if g, ok := guarantees[name]; ok {
			claim = claim.Max(g)
		}
		return claim, reserved
	}
	tops := map[string]bool{}
	for name := range roles {
		top := name
		for parentOf[top] != "" {
			top = parentOf[top]
		}
		tops[top] = true
	}
	for name := range hold.reserved {
		if _, nested := parentOf[name]; !nested {
			tops[name] = true
		}
	}
	total := make(resources.Vec, n)
	for top := range tops {
		claim, _ := need(top)
		total.Add(claim)
	}

	out := make(map[string]metav1.Condition, len(roles))
	for name := range roles {
		c := metav1.Condition{Type: kov1.RoleGuaranteeSatisfiableCondition, Status: metav1.ConditionTrue,
			Reason: kov1.RoleGuaranteeSatisfiableNoGuaranteeReason, Message: "The role has no quota guarantee"}
		g, ok := guarantees[name]
		if ok {
			c.Reason, c.Message = kov1.RoleGuaranteeSatisfiableFitsReason,
				"The offerable agents can hold the guarantee together with every other role's guarantee and every reservation"
			over := make(resources.Vec, n)
			for i, x := range g {
				if x > 0 {
					over[i] = total[i]
				}
			}
			if short := d.Shortfall(g, hold.capacity); short != "" {
				c.Status, c.Reason = metav1.ConditionFalse, kov1.RoleGuaranteeSatisfiableExceedsClusterReason
				c.Message = fmt.Sprintf("The guarantee is more than all offerable agents hold (%s): it cannot be met. "+
					"Lower spec.quota.guarantee or add agents", short)
			} else if short := d.Shortfall(over, hold.capacity); short != "" {
				c.Status, c.Reason = metav1.ConditionFalse, kov1.RoleGuaranteeSatisfiableOvercommittedReason
				c.Message = fmt.Sprintf("The guarantees of all roles and the agents' reservations together need more than the offerable agents hold (%s): "+
					"not every guarantee can be met at once. Lower guarantees or add agents", short)
			}
		}
		out[name] = c
	}
	return out
}

// roleConditions decides every Role's conditions: Ready, ParentResolved
// and GuaranteeSatisfiable, in that order, without times or generations
// (the status step stamps them).
func roleConditions(d *resources.Dims, roles map[string]*kov1.Role, hold clusterHold) map[string][]metav1.Condition {
	links := resolveParents(roles)
	guarantees := guaranteeConditions(d, roles, links, hold)
	out := make(map[string][]metav1.Condition, len(roles))
	for name := range roles {
		parent, guarantee := parentCondition(links[name]), guarantees[name]
		ready := metav1.Condition{Type: kov1.RoleReadyCondition, Status: metav1.ConditionTrue, Reason: kov1.RoleReadyAsExpectedReason,
			Message: "The role's parent resolves and the offerable agents can hold its guarantee"}
		for _, c := range []metav1.Condition{parent, guarantee} {
			if c.Status != metav1.ConditionTrue {
				ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, c.Reason, c.Message
				break
			}
		}
		out[name] = []metav1.Condition{ready, parent, guarantee}
	}
	return out
}

// roleReservations is, for every role, what the Agents reserve for its
// subtree (reserved) and the part of it that no task or offer of the
// subtree uses, agent by agent (unused): Mesos counts a reservation
// against quota whether it is used or not, so a role consumes its
// allocated and offered resources plus unused.
func roleReservations(w *world, l *ledger) (reserved, unused map[string]resources.Vec) {
	n := l.dims.Len()
	reserved, unused = map[string]resources.Vec{}, map[string]resources.Vec{}
	chains := map[string][]string{}
	chain := func(role string) []string {
		c, ok := chains[role]
		if !ok {
			c = roleChain(w, role)
			chains[role] = c
		}
		return c
	}
	for _, a := range l.snapshot.Agents {
		if len(a.Reservations) == 0 {
			continue
		}
		res, used := map[string]resources.Vec{}, map[string]resources.Vec{}
		for role, r := range a.Reservations {
			for _, anc := range chain(role) {
				resources.AddTo(res, anc, r.Clone(n), n)
			}
		}
		for role, u := range a.UsedByRole {
			for _, anc := range chain(role) {
				if res[anc] != nil {
					resources.AddTo(used, anc, u.Clone(n), n)
				}
			}
		}
		for role, r := range res {
			resources.AddTo(reserved, role, r, n)
			left := r.Clone(n)
			if u := used[role]; u != nil {
				left.Sub(u)
				left.ClampZero()
			}
			resources.AddTo(unused, role, left, n)
		}
	}
	return reserved, unused
}

// conditionMemo remembers the role conditions this master last wrote, by
// role UID: a pass that runs before the informer cache shows a write then
// does not announce the same transition twice.
type conditionMemo map[types.UID][]metav1.Condition

// previous is what the role's conditions were before this pass: what this
// master last wrote, or else what the cache shows.
func (m conditionMemo) previous(r *kov1.Role) []metav1.Condition {
	if c, ok := m[r.UID]; ok {
		return c
	}
	return r.Status.Conditions
}

// forget drops the roles that are gone.
func (m conditionMemo) forget(roles map[string]*kov1.Role) {
	live := make(map[types.UID]bool, len(roles))
	for _, r := range roles {
		live[r.UID] = true
	}
	for uid := range m {
		if !live[uid] {
			delete(m, uid)
		}
	}
}

// roleEvent is an Event to record once a role's status is written.
type roleEvent struct {
	eventType, reason, action, note string
}

// roleTransitions are the Events a change of a role's conditions from prev
// to next calls for: a problem condition turning False (or False for
// another reason) is a Warning, turning True again is Normal. A new role
// that is well is not announced, and Ready, which sums up the others, has
// no Events of its own.
func roleTransitions(prev, next []metav1.Condition) []roleEvent {
	var out []roleEvent
	for _, c := range next {
		if c.Type == kov1.RoleReadyCondition {
			continue
		}
		p := meta.FindStatusCondition(prev, c.Type)
		switch {
		case p == nil && c.Status == metav1.ConditionTrue:
			continue
		case p != nil && p.Status == c.Status && (c.Status == metav1.ConditionTrue || p.Reason == c.Reason):
			continue
		}
		eventType := corev1.EventTypeWarning
		if c.Status == metav1.ConditionTrue {
			eventType = corev1.EventTypeNormal
		}
		out = append(out, roleEvent{eventType: eventType, reason: c.Reason, action: c.Type,
			note: fmt.Sprintf("%s=%s: %s", c.Type, c.Status, c.Message)})
	}
	return out
}
