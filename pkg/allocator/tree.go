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
	// kids are child roles (and the virtual leaf), sorted by key.
	kids []*node
	// frameworks are the role's own frameworks, sorted by share, when the
	// node is a leaf.
	frameworks []*fwState
	weight     float64
	// consumed is the subtree's allocation: tasks and offers.
	consumed resources.Vec
	// guarantee and limit are the role's quota (nil when none).
	guarantee resources.Vec
	limit     resources.Vec
	share     float64
}

// fwState is a framework's mutable state during one cycle.
type fwState struct {
	fw    *Framework
	leaf  *node
	alloc resources.Vec
	share float64
	// lastAgent is the agent st was last offered in this cycle, so an agent
	// split between frameworks goes to each at most once.
	lastAgent string
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
func (st *fwState) given(agent string, give resources.Vec) {
	st.lastAgent = agent
	st.offers++
	if st.demand != nil {
		st.demand.Sub(give)
	}
}

// belowGuarantee reports whether the node's consumption is under its
// guarantee in some resource the guarantee names.
func (n *node) belowGuarantee() bool {
	for i, g := range n.guarantee {
		if g > 0 && n.consumed.Get(i) < g {
			return true
		}
	}
	return false
}

// less orders siblings: roles below their guarantee first, then by weighted
// dominant share, then by name for determinism.
func (n *node) less(o *node) bool {
	nb, ob := n.belowGuarantee(), o.belowGuarantee()
	if nb != ob {
		return nb
	}
	if n.share != o.share {
		return n.share < o.share
	}
	return n.name < o.name
}

func fwLess(a, b *fwState) bool {
	if a.share != b.share {
		return a.share < b.share
	}
	return a.fw.Key < b.fw.Key
}

// tree is the role tree for one cycle.
type tree struct {
	root  *node
	nodes map[string]*node
	total resources.Vec
	dims  int
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
			if r.Parent != "" && !seen[r.Parent] {
				seen[name] = true
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
	// Consumption rolls up from frameworks to the root.
	for _, st := range states {
		for nd := st.leaf; nd != nil; nd = nd.parent {
			nd.consumed.Add(st.alloc)
		}
	}
	t.sortAll(t.root)
	return t
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

// charge records that st was offered v: its share and every ancestor's
// change, and each is moved to its new place among its siblings.
func (t *tree) charge(st *fwState, v resources.Vec) {
	st.alloc.Add(v)
	st.share = st.alloc.DominantShare(t.total)
	repositionFw(st.leaf.frameworks, st)
	for nd := st.leaf; nd != nil && nd != t.root; nd = nd.parent {
		nd.consumed.Add(v)
		t.updateShare(nd)
		repositionNode(nd.parent.kids, nd)
	}
	t.root.consumed.Add(v)
}

// repositionFw moves st, whose share only grew, rightwards to its place.
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

// repositionNode moves nd, whose share only grew, rightwards to its place.
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

// headroom is what st may still be offered under the quota limits of its
// role and every ancestor: nil for unlimited, else a Vec with -1 in
// unlimited positions.
func (t *tree) headroom(st *fwState) resources.Vec {
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
			left := l - nd.consumed.Get(i)
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

// isAncestorOrSelf reports whether role is name or one of its ancestors.
func (t *tree) isAncestorOrSelf(name string, leaf *node) bool {
	for nd := leaf; nd != nil && nd != t.root; nd = nd.parent {
		if nd.name == name || nd.name == name+virtualSuffix {
			return true
		}
	}
	return false
}
