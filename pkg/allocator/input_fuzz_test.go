package allocator

import (
	"encoding/binary"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// fuzzInput reads a fuzzer's bytes as a stream of small decisions. Past the
// end every read is zero, so every byte string decodes to some input and
// the same bytes always decode to the same input.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) uint64() uint64 {
	var buf [8]byte
	n := copy(buf[:], in.b)
	in.b = in.b[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

func (in *fuzzInput) intn(n int) int {
	if n <= 1 {
		return 0
	}
	return int(in.byte()) % n
}

func (in *fuzzInput) bool() bool { return in.byte()&1 == 1 }

// rare is true for one byte value in k: zero bytes, where the input runs
// out, decode to the common case.
func (in *fuzzInput) rare(k int) bool { return int(in.byte())%k == k-1 }

// maxAmount bounds every decoded quantity, so that the sums the invariants
// take over a handful of agents and frameworks cannot wrap an int64.
// (About a pebibyte of memory, or a trillion cores in millicores.)
const maxAmount = int64(1) << 50

// amount returns a quantity in [0, maxAmount], from a palette that makes
// zeros, equal values and exact fits common.
func (in *fuzzInput) amount() int64 {
	switch in.byte() % 8 {
	case 0:
		return 1000
	case 1:
		return int64(in.byte() % 8)
	case 2:
		return int64(in.byte()%16) * 250
	case 3:
		return int64(in.byte()%8) << 30
	case 4:
		return int64(in.byte())
	case 5:
		return maxAmount
	case 6:
		return int64(in.uint64() % uint64(maxAmount+1))
	default:
		return 0
	}
}

// vec returns a Vec of up to n positions (a shorter Vec reads as zero),
// or nil.
func (in *fuzzInput) vec(n int) resources.Vec {
	if in.rare(6) {
		return nil
	}
	v := make(resources.Vec, n-in.intn(n+1))
	for i := range v {
		v[i] = in.amount()
	}
	return v
}

// limit returns a quota limit: like vec, with -1 (unlimited) common.
func (in *fuzzInput) limit(n int) resources.Vec {
	v := in.vec(n)
	for i := range v {
		if in.rare(3) {
			v[i] = -1
		}
	}
	return v
}

// ports returns up to three ranges in a narrow window, so that sets
// overlap and touch.
func (in *fuzzInput) ports() resources.PortSet {
	var rs []kov1.PortRange
	for k := in.intn(4); k > 0; k-- {
		b := 31000 + int32(in.byte()%64)
		rs = append(rs, kov1.PortRange{Begin: b, End: b + int32(in.byte()%8)})
	}
	return resources.NewPortSet(rs...)
}

// fuzzRoles are the role names the decoders choose from.
var fuzzRoles = []string{"r0", "r1", "r2", "r3", "r4"}

func (in *fuzzInput) role() string { return fuzzRoles[in.intn(len(fuzzRoles))] }

func (in *fuzzInput) dims() *resources.Dims {
	d := resources.NewDims()
	for k := in.intn(3); k > 0; k-- {
		d.Add([]corev1.ResourceName{"nvidia.com/gpu", "ephemeral-storage", "example.com/widget"}[in.intn(3)])
	}
	return d
}

// snapshot decodes a Snapshot: up to six agents, the five roles (each
// with or without a Role object, parents that may loop, guarantees and
// limits), up to six frameworks and their outstanding offers' traces
// (OfferedAgents), and minimum allocatable sets. Vectors are
// independent: the invariants checked on it must hold for any ledger.
func (in *fuzzInput) snapshot() *Snapshot {
	d := in.dims()
	n := d.Len()
	s := &Snapshot{Now: t0, Dims: d, Roles: map[string]*Role{}}
	zones := []string{"z0", "z1", "z2"}
	for i, k := 0, in.intn(7); i < k; i++ {
		a := &Agent{
			Name: fmt.Sprintf("a%d", i), Node: fmt.Sprintf("node-%d", i),
			Attributes:  labels.Set{"zone": zones[in.intn(3)]},
			Allocatable: in.vec(n), FreePorts: in.ports(),
			Offerable: !in.rare(8), HasGPU: in.rare(6),
		}
		if in.rare(3) {
			a.Allocated = in.vec(n)
		}
		if in.rare(4) {
			a.Offered = in.vec(n)
		}
		for r := in.intn(4); r > 0; r-- {
			if a.Reservations == nil {
				a.Reservations, a.UsedByRole = map[string]resources.Vec{}, map[string]resources.Vec{}
			}
			role := in.role()
			a.Reservations[role] = in.vec(n)
			if in.bool() {
				a.UsedByRole[role] = in.vec(n)
			}
		}
		s.Agents = append(s.Agents, a)
	}
	for _, name := range fuzzRoles {
		if !in.rare(3) {
			continue // implicit, if named
		}
		r := &Role{Name: name, Weight: int32(in.intn(5))}
		if p := in.intn(len(fuzzRoles)+2) - 2; p >= 0 {
			r.Parent = fuzzRoles[p] // possibly itself, or a loop
		}
		if in.rare(3) {
			r.Guarantee = in.vec(n)
		}
		if in.rare(3) {
			r.Limit = in.limit(n)
		}
		s.Roles[name] = r
	}
	for i, k := 0, in.intn(7); i < k; i++ {
		f := &Framework{
			Key: fmt.Sprintf("ns/f%d", i), Namespace: "ns", Name: fmt.Sprintf("f%d", i),
			Role: in.role(), Suppressed: in.rare(6), GPU: in.bool(), MaxOffers: in.intn(4),
		}
		if in.rare(2) {
			f.Allocated = in.vec(n)
		}
		switch in.byte() % 4 {
		case 1:
			f.Selector = labels.SelectorFromSet(labels.Set{"zone": zones[in.intn(3)]})
		case 2:
			sel, err := labels.Parse("zone notin (" + zones[in.intn(3)] + ")")
			if err != nil {
				panic(err)
			}
			f.Selector = sel
		}
		if in.rare(4) {
			f.MinAllocatable = []resources.Vec{in.vec(n)} // replaces the snapshot's
		}
		if in.rare(4) {
			f.Demand = in.vec(n)
		}
		for j := range s.Agents {
			switch in.byte() % 8 {
			case 1:
				f.Filters = setTime(f.Filters, s.Agents[j].Name, t0.Add(time.Duration(in.intn(5)-2)*time.Minute))
			case 2:
				if f.OfferedAgents == nil {
					f.OfferedAgents = map[string]bool{}
				}
				f.OfferedAgents[s.Agents[j].Name] = true
			}
		}
		s.Frameworks = append(s.Frameworks, f)
	}
	if in.rare(3) {
		for k := 1 + in.intn(2); k > 0; k-- {
			s.MinAllocatable = append(s.MinAllocatable, in.vec(n))
		}
	}
	return s
}

func setTime(m map[string]time.Time, k string, v time.Time) map[string]time.Time {
	if m == nil {
		m = map[string]time.Time{}
	}
	m[k] = v
	return m
}

// roleChain is name followed by its ancestors through the Role objects'
// parents, and whether the chain ends without returning to a role it
// passed. A role whose chain ends has exactly that chain as its ancestors
// in the allocator's tree, and so has every role whose chain reaches it;
// roles on a loop are placed by where buildTree cuts it, which the
// invariants below do not guess.
func roleChain(roles map[string]*Role, name string) ([]string, bool) {
	seen := map[string]bool{}
	var chain []string
	for {
		if seen[name] {
			return chain, false
		}
		seen[name] = true
		chain = append(chain, name)
		r, ok := roles[name]
		if !ok || r.Parent == "" {
			return chain, true
		}
		name = r.Parent
	}
}

// under reports whether a framework of role fwRole is in the subtree of
// role, for a role whose chain ends (see roleChain).
func under(roles map[string]*Role, fwRole, role string) bool {
	chain, _ := roleChain(roles, fwRole)
	for _, r := range chain {
		if r == role {
			return true
		}
	}
	return false
}
