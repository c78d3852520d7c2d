package allocator

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/labels"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

func TestAllocate(t *testing.T) {
	cases := map[string]struct {
		snap *snap
		want []string
	}{
		"seed example: one agent, one framework, whole agent offered": {
			snap: newSnap().agent("a", vec(4000, 4)).fw("fw", "default"),
			want: lines("fw@a 4000/4"),
		},
		"remainder after tasks is offered again": {
			snap: newSnap().agent("a", vec(4000, 4), func(a *Agent) { a.Allocated = vec(3000, 3) }).
				fw("fw", "default", allocated(vec(3000, 3))),
			want: lines("fw@a 1000/1"),
		},
		"DRF: the framework with the lower dominant share goes first": {
			snap: newSnap().agent("a", vec(1000, 1)).agent("b", vec(1000, 1)).
				agent("c", vec(10000, 10), func(a *Agent) { a.Allocated = vec(4000, 1) }).
				fw("big", "default", allocated(vec(3000, 1))).fw("small", "default", allocated(vec(1000, 0))),
			// total 12 cpu: big 3/12, small 1/12. small gets a (2/12) and b
			// (3/12, now equal to big's); the tie breaks by name, so big gets c.
			want: lines("small@a 1000/1", "small@b 1000/1", "big@c 6000/9"),
		},
		"weighted roles: weight 3 gets three agents for every one": {
			snap: newSnap().agent("a1", vec(1000, 1)).agent("a2", vec(1000, 1)).agent("a3", vec(1000, 1)).
				agent("a4", vec(1000, 1)).agent("a5", vec(1000, 1)).agent("a6", vec(1000, 1)).
				agent("a7", vec(1000, 1)).agent("a8", vec(1000, 1)).
				role("heavy", "", 3, nil, nil).fw("h", "heavy").fw("l", "light"),
			// After a4 the shares tie (3/8 ÷ 3 = 1/8); light has been offered
			// fewer times (1 against 3), so it gets a5, as in Mesos's sorter.
			want: lines("h@a1 1000/1", "l@a2 1000/1", "h@a3 1000/1", "h@a4 1000/1",
				"l@a5 1000/1", "h@a6 1000/1", "h@a7 1000/1", "h@a8 1000/1"),
		},
		"hierarchy: siblings compete inside their parent, parents at the top": {
			// eng (weight 1) has two children; ops (weight 1) one framework.
			// eng's subtree and ops alternate; within eng, fe and be alternate.
			snap: newSnap().agent("a1", vec(1000, 1)).agent("a2", vec(1000, 1)).agent("a3", vec(1000, 1)).agent("a4", vec(1000, 1)).
				role("eng", "", 1, nil, nil).role("fe", "eng", 1, nil, nil).role("be", "eng", 1, nil, nil).
				fw("be-fw", "be").fw("fe-fw", "fe").fw("ops-fw", "ops"),
			want: lines("be-fw@a1 1000/1", "ops-fw@a2 1000/1", "fe-fw@a3 1000/1", "ops-fw@a4 1000/1"),
		},
		"quota guarantee goes first even with a higher share": {
			snap: newSnap().agent("a1", vec(1000, 1)).agent("a2", vec(1000, 1)).
				role("prod", "", 1, vec(2000, 0), nil).
				fw("batch", "batch").fw("prod-fw", "prod", allocated(vec(500, 0.5))),
			want: lines("prod-fw@a1 1000/1", "prod-fw@a2 1000/1"),
		},
		"guarantee headroom is held back from other roles": {
			// prod is suppressed, so it takes nothing, but its unmet 2 cpu
			// guarantee must stay free: batch gets 1 of the 3 cpus.
			snap: newSnap().agent("a1", vec(3000, 3)).
				role("prod", "", 1, vec(2000, 0), nil).
				fw("batch", "batch").fw("prod-fw", "prod", func(f *Framework) { f.Suppressed = true }),
			want: lines("batch@a1 1000/3"),
		},
		"quota limit caps the offer": {
			snap: newSnap().agent("a1", vec(4000, 4)).
				role("capped", "", 1, nil, resources.Vec{1500, -1, -1}).fw("fw", "capped", allocated(vec(500, 0))),
			want: lines("fw@a1 1000/4"),
		},
		"quota limit reached: nothing offered": {
			snap: newSnap().agent("a1", vec(4000, 4)).
				role("capped", "", 1, nil, resources.Vec{1000, gi, -1}).fw("fw", "capped", allocated(vec(1000, 1))),
			want: nil,
		},
		"limit reached in one resource: the others are still offered (as Mesos)": {
			snap: newSnap().agent("a1", vec(4000, 4)).
				role("capped", "", 1, nil, resources.Vec{1000, -1, -1}).fw("fw", "capped", allocated(vec(1000, 0))),
			want: lines("fw@a1 0/4"),
		},
		"parent's limit caps the child": {
			snap: newSnap().agent("a1", vec(4000, 4)).
				role("parent", "", 1, nil, resources.Vec{-1, 2 * gi, -1}).role("child", "parent", 1, nil, nil).fw("fw", "child"),
			want: lines("fw@a1 4000/2"),
		},
		"capped framework leaves the rest to the next one": {
			snap: newSnap().agent("a1", vec(4000, 4)).
				role("capped", "", 1, nil, resources.Vec{1000, gi, -1}).fw("a-capped", "capped").fw("b-free", "other"),
			want: lines("a-capped@a1 1000/1", "b-free@a1 3000/3"),
		},
		"decline filter hides the agent until it expires": {
			snap: newSnap().agent("a1", vec(1000, 1)).agent("a2", vec(1000, 1)).
				fw("fw", "default", func(f *Framework) {
					f.Filters = map[string]time.Time{"a1": t0.Add(5 * time.Second), "a2": t0.Add(-time.Second)}
				}),
			want: lines("fw@a2 1000/1"),
		},
		"suppressed framework is offered nothing": {
			snap: newSnap().agent("a1", vec(1000, 1)).fw("fw", "default", func(f *Framework) { f.Suppressed = true }),
			want: nil,
		},
		"one offer per framework and agent": {
			snap: newSnap().agent("a1", vec(2000, 2), func(a *Agent) { a.Offered = vec(1000, 1) }).
				fw("fw", "default", func(f *Framework) { f.OfferedAgents = map[string]bool{"a1": true} }).fw("other", "default"),
			want: lines("other@a1 1000/1"),
		},
		"below minimum allocatable is not offered": {
			snap: newSnap().agent("a1", vec(1000, 1), func(a *Agent) { a.Allocated = vec(995, 1) }).fw("fw", "default"),
			want: nil,
		},
		"memory alone meets the minimum": {
			snap: newSnap().agent("a1", vec(1000, 1), func(a *Agent) { a.Allocated = vec(1000, 0.5) }).fw("fw", "default"),
			want: lines("fw@a1 0/0.5"),
		},
		"framework minimum resources skip small agents": {
			snap: newSnap().agent("small", vec(500, 1)).agent("large", vec(4000, 8)).
				fw("fw", "default", func(f *Framework) { f.MinAllocatable = []resources.Vec{vec(1000, 0)} }),
			want: lines("fw@large 4000/8"),
		},
		"attribute selector": {
			snap: newSnap().agent("a1", vec(1000, 1), func(a *Agent) { a.Attributes["zone"] = "us-1" }).
				agent("a2", vec(1000, 1), func(a *Agent) { a.Attributes["zone"] = "eu-1" }).
				fw("fw", "default", func(f *Framework) { f.Selector = labels.SelectorFromSet(labels.Set{"zone": "eu-1"}) }),
			want: lines("fw@a2 1000/1"),
		},
		"unreachable or draining agents are offered nothing": {
			snap: newSnap().agent("a1", vec(1000, 1), func(a *Agent) { a.Offerable = false }).fw("fw", "default"),
			want: nil,
		},
		"reservation goes only to its role (and descendants)": {
			snap: newSnap().agent("a1", vec(4000, 4), func(a *Agent) {
				a.Reservations = map[string]resources.Vec{"analytics": vec(1000, 1)}
			}).role("analytics", "", 1, nil, nil).role("spark", "analytics", 1, nil, nil).
				fw("other", "default").fw("spark-fw", "spark", allocated(vec(4000, 0))),
			// other (share 0) goes first but gets only the unreserved 3/3;
			// spark-fw gets the reservation.
			want: lines("other@a1 3000/3", "spark-fw@a1 1000/1"),
		},
		"reservation already in use by its role is not held": {
			snap: newSnap().agent("a1", vec(4000, 4), func(a *Agent) {
				a.Reservations = map[string]resources.Vec{"analytics": vec(1000, 1)}
				a.Allocated = vec(1000, 1)
				a.UsedByRole = map[string]resources.Vec{"analytics": vec(1000, 1)}
			}).fw("other", "default"),
			want: lines("other@a1 3000/3"),
		},
		"ports go with the first offer on the agent": {
			snap: newSnap().agent("a1", vec(2000, 2), func(a *Agent) {
				a.FreePorts = resources.NewPortSet(kov1.PortRange{Begin: 31000, End: 31005})
			}).role("capped", "", 1, nil, resources.Vec{1000, gi, -1}).fw("a", "capped").fw("b", "default"),
			want: lines("a@a1 1000/1[31000-31005]", "b@a1 1000/1"),
		},
		"GPU agents only for GPU-capable frameworks": {
			snap: newSnap().agent("gpu", vec(4000, 4, 2)).agent("cpu", vec(4000, 4)).
				fw("plain", "default").fw("ml", "default", func(f *Framework) { f.GPU = true }),
			// gpu comes first and only ml may have it; then plain has the
			// lower share and gets cpu.
			want: lines("ml@gpu 4000/4+2gpu", "plain@cpu 4000/4"),
		},
		"a framework with a known demand is offered until it is covered": {
			// 5 cpu of waiting tasks: a1 and a2 (4 cpu each) cover it; a3
			// goes to the framework without a known demand.
			snap: newSnap().agent("a1", vec(4000, 4)).agent("a2", vec(4000, 4)).agent("a3", vec(4000, 4)).
				fw("builtin", "default", func(f *Framework) { f.Demand = vec(5000, 1) }).
				fw("other", "default", allocated(vec(9000, 9))),
			want: lines("builtin@a1 4000/4", "builtin@a2 4000/4", "other@a3 4000/4"),
		},
		"a covered demand wants nothing": {
			snap: newSnap().agent("a1", vec(4000, 4)).fw("builtin", "default", func(f *Framework) { f.Demand = vec(0, 0) }),
			want: nil,
		},
		"MaxOffers bounds the offers of one cycle": {
			snap: newSnap().agent("a1", vec(1000, 1)).agent("a2", vec(1000, 1)).agent("a3", vec(1000, 1)).
				fw("two", "default", func(f *Framework) { f.MaxOffers = 2 }),
			want: lines("two@a1 1000/1", "two@a2 1000/1"),
		},
		// Issue #13, 1: a role's quota consumption counts its reservations,
		// used or not (Mesos's quota consumption).
		"an idle reservation counts toward the role's limit: nothing more is offered": {
			// fw declined a1, where capped's 2 cpu / 2 GiB reservation sits
			// idle; that already uses capped's whole limit.
			snap: newSnap().agent("a1", vec(4000, 4), reserve("capped", vec(2000, 2))).agent("a2", vec(4000, 4)).
				role("capped", "", 1, nil, vec(2000, 2)).fw("fw", "capped", declined("a1")),
			want: nil,
		},
		"a child's idle reservation counts toward its parent's limit": {
			snap: newSnap().agent("a1", vec(4000, 4), reserve("a.b", vec(1000, 1))).agent("a2", vec(4000, 4)).
				role("a", "", 1, nil, vec(2000, 2)).role("a.b", "a", 1, nil, nil).fw("fw", "a.b", declined("a1")),
			want: lines("fw@a2 1000/1"),
		},
		"an idle reservation counts toward the role's guarantee": {
			// g holds 1 cpu and an idle 2-cpu reservation: its 2-cpu guarantee
			// is met, so it neither goes first nor has anything held back,
			// and other (the lower share) gets a2.
			snap: newSnap().agent("a1", vec(2000, 2), reserve("g", vec(2000, 2))).agent("a2", vec(2000, 2)).
				role("g", "", 1, vec(2000, 0), nil).
				fw("g-fw", "g", allocated(vec(1000, 1)), declined("a1")).fw("other", "other"),
			want: lines("other@a2 2000/2"),
		},
		// Issue #13, 2: guarantees are given before headroom is applied.
		"two roles guaranteed the one agent: the first in DRF order gets it": {
			snap: newSnap().agent("a1", vec(1000, 1)).
				role("x", "", 1, vec(1000, 0), nil).role("y", "", 1, vec(1000, 0), nil).fw("x-fw", "x").fw("y-fw", "y"),
			want: lines("x-fw@a1 1000/1"),
		},
		"a guaranteed role with a framework gets the agent beside a guaranteed role without one": {
			snap: newSnap().agent("a1", vec(1000, 1)).
				role("g", "", 1, vec(1000, 0), nil).role("idle", "", 1, vec(1000, 0), nil).fw("g-fw", "g"),
			want: lines("g-fw@a1 1000/1"),
		},
		"beyond its guarantee a role leaves the headroom other guarantees need": {
			// g is guaranteed 1 cpu and gets it; of the other 2 cpus, idle's
			// unmet 1 cpu is held back.
			snap: newSnap().agent("a1", vec(3000, 3)).
				role("g", "", 1, vec(1000, 0), nil).role("idle", "", 1, vec(1000, 0), nil).fw("g-fw", "g"),
			want: lines("g-fw@a1 2000/3"),
		},
		"under a parent's guarantee, a child below its own guarantee goes first": {
			// c1 has the higher share but has not had its own 1 cpu yet.
			snap: newSnap().agent("a1", vec(1000, 1)).agent("a2", vec(9000, 9), func(a *Agent) { a.Allocated = vec(9000, 9) }).
				role("p", "", 1, vec(2000, 0), nil).role("c1", "p", 1, vec(1000, 0), nil).role("c2", "p", 1, nil, nil).
				fw("c1-fw", "c1", allocated(vec(500, 0))).fw("c2-fw", "c2"),
			want: lines("c1-fw@a1 1000/1"),
		},
		"a child's limit caps what it gets of its parent's guarantee": {
			snap: newSnap().agent("a1", vec(2000, 2)).
				role("p", "", 1, vec(2000, 0), nil).role("c", "p", 1, nil, resources.Vec{500, -1, -1}).fw("c-fw", "c"),
			want: lines("c-fw@a1 500/2"),
		},
		"a guarantee nested under a met one is not held back": {
			// p's 1-cpu guarantee is met by c2; c1's own is not, but nothing
			// above it holds headroom for it.
			snap: newSnap().agent("a1", vec(1000, 1)).agent("a2", vec(1000, 1), func(a *Agent) { a.Allocated = vec(1000, 1) }).
				role("p", "", 1, vec(1000, 0), nil).role("c1", "p", 1, vec(1000, 0), nil).role("c2", "p", 1, nil, nil).
				fw("c2-fw", "c2", allocated(vec(1000, 1)), func(f *Framework) { f.Suppressed = true }).fw("other", "other"),
			want: lines("other@a1 1000/1"),
		},
		// Issue #13, 3: headroom is unallocated unreserved resources.
		"a reservation is offered to its role whatever other guarantees need": {
			snap: newSnap().agent("a1", vec(4000, 4), reserve("r", vec(4000, 4))).
				role("g", "", 1, vec(4000, 0), nil).fw("r-fw", "r"),
			want: lines("r-fw@a1 4000/4"),
		},
		"reservations do not cover other roles' guarantees": {
			// Only a2's 2 cpus can serve g's unmet 2-cpu guarantee (a1 is r's),
			// so other is offered none of them.
			snap: newSnap().agent("a1", vec(2000, 2), reserve("r", vec(2000, 2))).agent("a2", vec(2000, 2)).
				role("g", "", 1, vec(2000, 0), nil).fw("other", "other"),
			want: lines("other@a2 0/2"),
		},
		// Issue #13, 4: a descendant's use of an ancestor's reservation is
		// charged to that reservation.
		"a child's use of its parent's reservation is not held back again": {
			snap: newSnap().agent("a1", vec(4000, 4), reserve("p", vec(2000, 2)), func(a *Agent) {
				a.Allocated = vec(2000, 2)
				a.UsedByRole = map[string]resources.Vec{"c": vec(2000, 2)}
			}).role("p", "", 1, nil, nil).role("c", "p", 1, nil, nil).fw("other", "other"),
			want: lines("other@a1 2000/2"),
		},
		"a child's use of its parent's reservation counts toward the parent's quota, not the child's": {
			// c-fw's 2 cpus are p's reservation: c's own 2-cpu limit is untouched.
			snap: newSnap().agent("a1", vec(2000, 2), reserve("p", vec(2000, 2)), func(a *Agent) {
				a.Allocated = vec(2000, 2)
				a.UsedByRole = map[string]resources.Vec{"c": vec(2000, 2)}
			}).agent("a2", vec(2000, 2)).
				role("p", "", 1, nil, nil).role("c", "p", 1, nil, vec(2000, 2)).fw("c-fw", "c", allocated(vec(2000, 2))),
			want: lines("c-fw@a2 2000/2"),
		},
		// Issue #13, 5: equal shares go to the one offered fewer times.
		"equal shares: the framework offered fewer times goes first": {
			snap: newSnap().agent("a1", vec(1000, 1)).fw("a", "default").fw("b", "default").counts("a", 1),
			want: lines("b@a1 1000/1"),
		},
		"equal shares: the role whose frameworks were offered fewer times goes first": {
			snap: newSnap().agent("a1", vec(1000, 1)).fw("x-fw", "x").fw("y-fw", "y").counts("x-fw", 3, "y-fw", 1),
			want: lines("y-fw@a1 1000/1"),
		},
		// Issue #13, 6: a framework's minimum allocatable replaces the master's.
		"a framework's own minimum replaces the master's": {
			// 5m cpu is below the master's 10m, but enough for fw.
			snap: newSnap().agent("a1", vec(1000, 1), func(a *Agent) { a.Allocated = vec(995, 1) }).
				fw("fw", "default", func(f *Framework) { f.MinAllocatable = []resources.Vec{vec(5, 0)} }),
			want: lines("fw@a1 5/0"),
		},
		"an empty alternative takes any offer": {
			snap: newSnap().agent("a1", vec(1000, 1), func(a *Agent) { a.Allocated = vec(995, 1) }).
				fw("fw", "default", func(f *Framework) { f.MinAllocatable = []resources.Vec{vec(0, 0)} }),
			want: lines("fw@a1 5/0"),
		},
		"an offer needs to hold one of the framework's alternatives": {
			snap: newSnap().agent("small", vec(1000, 1)).agent("gpu", vec(1000, 1, 1)).agent("large", vec(2000, 1)).
				fw("fw", "default", func(f *Framework) {
					f.GPU = true
					f.MinAllocatable = []resources.Vec{vec(2000, 0), vec(0, 0, 1)}
				}),
			want: lines("fw@gpu 1000/1+1gpu", "fw@large 2000/1"),
		},
		"the floor (a built-in scheduler's smallest task) applies on top of the minimum": {
			snap: newSnap().agent("small", vec(1000, 1)).agent("large", vec(4000, 4)).
				fw("fw", "default", func(f *Framework) {
					f.MinAllocatable = []resources.Vec{vec(0, 0)}
					f.Floor = vec(2000, 0)
				}),
			want: lines("fw@large 4000/4"),
		},
		// Mesos's --fair_sharing_excluded_resource_names.
		"GPUs count in shares unless excluded": {
			// ml holds all the GPUs (share 1) and zz a quarter of the cpu.
			snap: newSnap().agent("gpu", vec(1000, 1, 2), func(a *Agent) { a.Allocated = vec(1000, 1, 2) }).agent("cpu", vec(7000, 7)).
				fw("ml", "ml", allocated(vec(0, 0, 2)), func(f *Framework) { f.GPU = true }).fw("zz", "batch", allocated(vec(2000, 2))),
			want: lines("zz@cpu 7000/7"),
		},
		"excluded resources leave role shares": {
			snap: newSnap().agent("gpu", vec(1000, 1, 2), func(a *Agent) { a.Allocated = vec(1000, 1, 2) }).agent("cpu", vec(7000, 7)).
				fw("ml", "ml", allocated(vec(0, 0, 2)), func(f *Framework) { f.GPU = true }).fw("zz", "batch", allocated(vec(2000, 2))).
				excluded("nvidia.com/gpu"),
			want: lines("ml@cpu 7000/7"),
		},
		"excluded resources leave framework shares": {
			snap: newSnap().agent("gpu", vec(1000, 1, 2), func(a *Agent) { a.Allocated = vec(1000, 1, 2) }).agent("cpu", vec(7000, 7)).
				fw("ml", "default", allocated(vec(0, 0, 2)), func(f *Framework) { f.GPU = true }).fw("zz", "default", allocated(vec(2000, 2))).
				excluded("nvidia.com/gpu"),
			want: lines("ml@cpu 7000/7"),
		},
		"role parent loop is cut, not followed forever": {
			snap: newSnap().agent("a1", vec(1000, 1)).
				role("x", "y", 1, nil, nil).role("y", "x", 1, nil, nil).fw("fw", "x"),
			want: lines("fw@a1 1000/1"),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := render(Allocate(tc.snap.Snapshot))
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("offers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAllocateDoesNotMutateSnapshot guards the snapshot's immutability.
func TestAllocateDoesNotMutateSnapshot(t *testing.T) {
	s := newSnap().agent("a", vec(4000, 4)).fw("fw", "default", allocated(vec(1000, 1))).Snapshot
	Allocate(s)
	if diff := cmp.Diff(vec(1000, 1), s.Frameworks[0].Allocated); diff != "" {
		t.Errorf("framework allocation changed:\n%s", diff)
	}
	if diff := cmp.Diff(vec(0, 0), s.Agents[0].Offered); diff != "" {
		t.Errorf("agent offered changed:\n%s", diff)
	}
}
