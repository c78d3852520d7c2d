package allocator

import (
	"sort"

	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// node is a role in the role tree (or the virtual leaf that holds a role's
// own frameworks when the role also has child roles). Siblings are kept
// sorted by weighted dominant share; after each offer only the nodes on the
// path from the receiving framework to the root are re-positioned, so an
// offer costs O(depth × log siblings) instead of a full sort.
type node struct {
	name   string
	role   *Role
	parent *node
	// kids are child roles (and the virtual leaf), sorted by less.
	kids []*node
	// frameworks are the role's own frameworks, sorted by share, when the
	// node is a leaf.
	frameworks []*fwState
	weight     float64
	// consumed is the subtree's allocation: tasks and offers. Weighted DRF
	// compares it (Mesos's sorters count allocations, not reservations).
	consumed resources.Vec
	// count is how many offers the subtree's frameworks have been made
	// (Mesos's sorter count): of equal shares, the lower count goes first.
	count uint64
	// guarantee and limit are the role's quota (nil when none).
	guarantee resources.Vec
	limit     resources.Vec
	// quota is the subtree's quota consumption, as Mesos counts it: its
	// allocations plus its reservations not in use, less what it uses of
	// its ancestors' reservations (those count for the ancestor). Kept only
	// for roles with a guarantee or a limit; nil otherwise.
	quota resources.Vec
	// groot is the topmost role with a guarantee on the path from the root
	// to this node, itself included, or nil. Guarantees nest (a parent's
	// covers its children's), so only these are held back as headroom.
	groot *node
	// stage1 marks nodes on a path from the root to a framework under a
	// guarantee: the guarantee stage walks only these.
	stage1 bool
	share  float64
}

// fwState is a framework's mutable state during one cycle.
type fwState struct {
	fw    *Framework
	leaf  *node
	alloc resources.Vec
	share float64
	// count is how many offers the framework has been made, this cycle's
	// included.
	count uint64
	// visit marks the (stage, agent) the framework was last offered, so an
	// agent split between frameworks goes to each at most once per stage.
	visit int
	// firstStage are the agents (by index) the framework was offered in the
	// guarantee stage.
	firstStage map[int]bool
	// demand is what is left of fw.Demand (nil: unbounded), and offers how
	// many offers st got, this cycle.
	demand resources.Vec
	offers int
}

// satisfied reports whether st wants no more offers this cycle.
func (st *fwState) satisfied() bool {
	return (st.demand != nil && st.demand.IsZero()) || (st.fw.MaxOffers > 0 && st.offers >= st.fw.MaxOffers)
}

// given records that st was offered give.
func (st *fwState) given(give resources.Vec) {
	st.offers++
	if st.demand != nil {
		st.demand.Sub(give)
	}
}

// unmet reports whether the role's quota consumption is under its
// guarantee in some resource the guarantee names.
func (n *node) unmet() bool {
	for i, g := range n.guarantee {
		if g > 0 && n.quota.Get(i) < g {
			return true
		}
	}
	return false
}

// less orders siblings by weighted dominant share, then by how many offers
// they have had, then by name, as Mesos's DRF sorter does.
func (n *node) less(o *node) bool {
	if n.share != o.share {
		return n.share < o.share
	}
	if n.count != o.count {
		return n.count < o.count
	}
	return n.name < o.name
}

func fwLess(a, b *fwState) bool {
	if a.share != b.share {
		return a.share < b.share
	}
	if a.count != b.count {
		return a.count < b.count
	}
	return a.fw.Key < b.fw.Key
}

// tree is the role tree for one cycle.
type tree struct {
	root  *node
	nodes map[string]*node
	// total is what shares are taken of: the cluster's allocatable, less
	// the resources excluded from fair sharing.
	total resources.Vec
	dims  int
	// groots are the topmost roles with a guarantee.
	groots []*node
}

// buildTree links roles into a tree: Role objects with their parents, and
// implicit weight-1 roles for names frameworks or parents use without an
// object. A parent chain that loops is cut: the role that closes the loop
// becomes top-level.
func buildTree(s *Snapshot, total resources.Vec, states []*fwState) *tree {
	n := s.Dims.Len()
	t := &tree{root: &node{name: "", weight: 1, consumed: make(resources.Vec, n)}, nodes: map[string]*node{}, total: total, dims: n}
	var get func(name string, seen map[string]bool) *node
	get = func(name string, seen map[string]bool) *node {
		if nd, ok := t.nodes[name]; ok {
			return nd
		}
		nd := &node{name: name, weight: 1, consumed: make(resources.Vec, n)}
		t.nodes[name] = nd
		parent := t.root
		if r, ok := s.Roles[name]; ok {
			nd.role = r
			if r.Weight > 0 {
				nd.weight = float64(r.Weight)
			}
			nd.guarantee, nd.limit = r.Guarantee, r.Limit
			// Mark the role before following its parent, so a role named as
			// its own parent (stored before the API refused it) becomes
			// top-level instead of its own ancestor.
			seen[name] = true
			if r.Parent != "" && !seen[r.Parent] {
				parent = get(r.Parent, seen)
			}
		}
		nd.parent = parent
		parent.kids = append(parent.kids, nd)
		return nd
	}
	for _, name := range sortedRoleNames(s.Roles) {
		get(name, map[string]bool{})
	}
	for _, st := range states {
		st.leaf = get(st.fw.Role, map[string]bool{})
	}
	// A role with both child roles and frameworks puts its frameworks in a
	// virtual leaf that competes with the child roles at weight 1.
	virtual := map[*node]*node{}
	for _, st := range states {
		nd := st.leaf
		if v, ok := virtual[nd]; ok {
			st.leaf = v
		} else if len(nd.kids) > 0 {
			v = &node{name: nd.name + virtualSuffix, weight: 1, parent: nd, consumed: make(resources.Vec, n)}
			nd.kids = append(nd.kids, v)
			virtual[nd] = v
			st.leaf = v
		}
		st.leaf.frameworks = append(st.leaf.frameworks, st)
	}
	// Consumption and offer counts roll up from frameworks to the root.
	for _, st := range states {
		for nd := st.leaf; nd != nil; nd = nd.parent {
			nd.consumed.Add(st.alloc)
			nd.count += st.count
		}
	}
	t.linkGuarantees(t.root, nil)
	t.sortAll(t.root)
	return t
}

// linkGuarantees sets every node's groot and lists the topmost guarantees.
func (t *tree) linkGuarantees(nd, groot *node) {
	for _, k := range nd.kids {
		g := groot
		if g == nil && k.guarantee != nil {
			g = k
			t.groots = append(t.groots, k)
		}
		k.groot = g
		t.linkGuarantees(k, g)
	}
}

// virtualSuffix names the leaf holding a parent role's own frameworks.
const virtualSuffix = "/."

func sortedRoleNames(m map[string]*Role) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (t *tree) updateShare(nd *node) {
	nd.share = nd.consumed.DominantShare(t.total) / nd.weight
}

func (t *tree) sortAll(nd *node) {
	for _, k := range nd.kids {
		t.sortAll(k)
	}
	t.updateShare(nd)
	for _, st := range nd.frameworks {
		st.share = st.alloc.DominantShare(t.total)
	}
	sort.Slice(nd.frameworks, func(i, j int) bool { return fwLess(nd.frameworks[i], nd.frameworks[j]) })
	sort.Slice(nd.kids, func(i, j int) bool { return nd.kids[i].less(nd.kids[j]) })
}

// charge records that st was offered v: its share, count and every
// ancestor's change, and each is moved to its new place among its siblings.
func (t *tree) charge(st *fwState, v resources.Vec) {
	st.alloc.Add(v)
	st.share = st.alloc.DominantShare(t.total)
	st.count++
	repositionFw(st.leaf.frameworks, st)
	for nd := st.leaf; nd != nil && nd != t.root; nd = nd.parent {
		nd.consumed.Add(v)
		nd.count++
		t.updateShare(nd)
		repositionNode(nd.parent.kids, nd)
	}
	t.root.consumed.Add(v)
	t.root.count++
}

// repositionFw moves st, whose share and count only grew, rightwards to its
// place.
func repositionFw(list []*fwState, st *fwState) {
	i := 0
	for i < len(list) && list[i] != st {
		i++
	}
	for i+1 < len(list) && fwLess(list[i+1], st) {
		list[i] = list[i+1]
		i++
	}
	list[i] = st
}

// repositionNode moves nd, whose share and count only grew, rightwards to
// its place.
func repositionNode(list []*node, nd *node) {
	i := 0
	for i < len(list) && list[i] != nd {
		i++
	}
	for i+1 < len(list) && list[i+1].less(nd) {
		list[i] = list[i+1]
		i++
	}
	list[i] = nd
}

// hasQuota reports whether any role has a guarantee or a limit.
func (t *tree) hasQuota() bool {
	for _, nd := range t.nodes {
		if nd.guarantee != nil || nd.limit != nil {
			return true
		}
	}
	return false
}

// startQuota sets each quota role's consumption to its allocation; the
// reservations are added as the agents are read (chargeReservations).
func (t *tree) startQuota() {
	for _, nd := range t.nodes {
		if nd.guarantee != nil || nd.limit != nil {
			nd.quota = nd.consumed.Clone(t.dims)
		}
	}
}

// addQuota adds v to the quota consumption of nd and its ancestors below
// stop (nil: up to the root).
func (t *tree) addQuota(nd, stop *node, v resources.Vec, sign int64) {
	for ; nd != nil && nd != t.root && nd != stop; nd = nd.parent {
		if nd.quota == nil {
			continue
		}
		for i, x := range v {
			nd.quota[i] += sign * x
		}
	}
}

// endQuota clamps quota consumption at zero: a snapshot whose frameworks
// hold less than the agents say their roles use must not make room.
func (t *tree) endQuota() {
	for _, nd := range t.nodes {
		if nd.quota != nil {
			nd.quota.ClampZero()
		}
	}
}

// limitRoom is what st may still be offered of unreserved resources under
// the quota limits of its role and every ancestor: nil for unlimited, else
// a Vec with -1 in unlimited positions.
func (t *tree) limitRoom(st *fwState) resources.Vec {
	var room resources.Vec
	for nd := st.leaf; nd != nil && nd != t.root; nd = nd.parent {
		if nd.limit == nil {
			continue
		}
		if room == nil {
			room = make(resources.Vec, t.dims)
			for i := range room {
				room[i] = -1
			}
		}
		for i := range room {
			l := int64(-1)
			if i < len(nd.limit) {
				l = nd.limit[i]
			}
			if l < 0 {
				continue
			}
			left := l - nd.quota.Get(i)
			if left < 0 {
				left = 0
			}
			if room[i] < 0 || left < room[i] {
				room[i] = left
			}
		}
	}
	return room
}

// parentName is the name of role name's parent in the tree, or "" for a
// top-level role or a role the tree does not know.
func (t *tree) parentName(name string) string {
	if nd, ok := t.nodes[name]; ok && nd.parent != t.root {
		return nd.parent.name
	}
	return ""
}

// depth is how deep role name is in the tree (1 for top-level or unknown).
func (t *tree) depth(name string) int {
	d := 0
	for nd, ok := t.nodes[name]; ok && nd != nil && nd != t.root; nd = nd.parent {
		d++
	}
	return max(d, 1)
}

// isAncestorOrSelf reports whether role is name or one of its ancestors.
func (t *tree) isAncestorOrSelf(name string, leaf *node) bool {
	for nd := leaf; nd != nil && nd != t.root; nd = nd.parent {
		if nd.name == name || nd.name == name+virtualSuffix {
			return true
		}
	}
	return false
}
