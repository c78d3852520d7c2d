package allocator

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const gi = int64(1) << 30

// vec makes a Vec of cpu millicores and memory GiB (and GPUs, if given).
func vec(milliCPU int64, memGiB float64, gpus ...int64) resources.Vec {
	v := resources.Vec{milliCPU, int64(memGiB * float64(gi)), 0}
	if len(gpus) > 0 {
		v[2] = gpus[0]
	}
	return v
}

type snap struct{ *Snapshot }

func newSnap() *snap {
	d := resources.NewDims()
	d.Add("nvidia.com/gpu")
	return &snap{&Snapshot{Now: t0, Dims: d, Roles: map[string]*Role{},
		MinAllocatable: []resources.Vec{{10, 0, 0}, {0, 32 << 20, 0}}}}
}

func (s *snap) agent(name string, alloc resources.Vec, opts ...func(*Agent)) *snap {
	a := &Agent{Name: name, Node: name, Allocatable: alloc, Allocated: vec(0, 0), Offered: vec(0, 0),
		Attributes: labels.Set{"kubernetes.io/hostname": name}, Offerable: true, HasGPU: alloc.Get(2) > 0}
	for _, o := range opts {
		o(a)
	}
	s.Agents = append(s.Agents, a)
	return s
}

func (s *snap) role(name, parent string, weight int32, guarantee, limit resources.Vec) *snap {
	s.Roles[name] = &Role{Name: name, Parent: parent, Weight: weight, Guarantee: guarantee, Limit: limit}
	return s
}

func (s *snap) fw(key, role string, opts ...func(*Framework)) *snap {
	f := &Framework{Key: key, Namespace: "ns", Name: key, Role: role, Allocated: vec(0, 0)}
	for _, o := range opts {
		o(f)
	}
	s.Frameworks = append(s.Frameworks, f)
	return s
}

func allocated(v resources.Vec) func(*Framework) { return func(f *Framework) { f.Allocated = v } }

// declined hides agents from the framework, as a decline's refuse filter.
func declined(agents ...string) func(*Framework) {
	return func(f *Framework) {
		if f.Filters == nil {
			f.Filters = map[string]time.Time{}
		}
		for _, a := range agents {
			f.Filters[a] = t0.Add(time.Hour)
		}
	}
}

// reserve sets a static reservation on the agent.
func reserve(role string, v resources.Vec) func(*Agent) {
	return func(a *Agent) {
		if a.Reservations == nil {
			a.Reservations = map[string]resources.Vec{}
		}
		a.Reservations[role] = v
	}
}

// counts sets how many offers frameworks have had: key, count, key, count…
func (s *snap) counts(kv ...any) *snap {
	if s.AllocationCounts == nil {
		s.AllocationCounts = map[string]uint64{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		s.AllocationCounts[kv[i].(string)] = uint64(kv[i+1].(int))
	}
	return s
}

// excluded leaves resources out of fair sharing.
func (s *snap) excluded(names ...corev1.ResourceName) *snap {
	s.FairShareExcluded = append(s.FairShareExcluded, names...)
	return s
}

// got renders offers as "fw@agent cpu/memGi[+gpu][ports]" sorted, for
// readable comparisons.
func render(offers []Offer) []string {
	var out []string
	for _, o := range offers {
		s := fmt.Sprintf("%s@%s %d/%.4g", o.Framework, o.Agent, o.Resources.Get(0), float64(o.Resources.Get(1))/float64(gi))
		if g := o.Resources.Get(2); g > 0 {
			s += fmt.Sprintf("+%dgpu", g)
		}
		if len(o.Ports) > 0 {
			s += o.Ports.String()
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func lines(s ...string) []string {
	sort.Strings(s)
	return s
}
