package allocation

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestPass runs whole passes, Kueue-style: objects in; the writes the pass
// sent, in order (one write in flight at a time), and the Events it
// recorded out. Every case also checks that the ledger the pass kept in
// place equals one built afresh from the objects the pass left.
func TestPass(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: kov1.GroupVersion.Group, Resource: "tasks"}, "old", nil)
	cases := map[string]struct {
		objs    []client.Object
		deleted []decline
		// waited are the tasks the loop has seen waiting for an hour.
		waited     []string
		fail       map[string]error
		wantWrites []string
		wantEvents []string
	}{
		"a built-in framework alone: its tasks are placed on its offer and bound in one write each, and the offer returned once no task waits": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "4", "8Gi"),
				task("t1", "fw", "1", "1Gi", time.Hour).Obj(), task("t2", "fw", "1", "1Gi", time.Minute).Obj()},
			wantWrites: []string{
				"status task ns/t1 Staging on a1 from o1",
				"status task ns/t2 Staging on a1 from o1",
				"delete offer ns/o1",
				"patch status Framework ns/fw",
			},
			wantEvents: []string{
				"Normal TasksBound ResourceOffer o1: Bound 2 task(s) of the built-in scheduler to agent a1: t1, t2",
				"Normal Unused ResourceOffer o1: Returned: the framework's built-in scheduler has no task to place",
			},
		},
		"a built-in framework alone keeps the rest of a used offer while tasks still wait; one that fits no offer says so": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "8Gi"),
				task("t1", "fw", "1", "1Gi", time.Hour).Obj(), task("t2", "fw", "1", "1Gi", time.Minute).Obj()},
			waited: []string{"t1", "t2"},
			wantWrites: []string{
				"status task ns/t1 Staging on a1 from o1",
				"status task ns/t2 Pending",
				"patch status ResourceOffer ns/o1",
				"patch status Framework ns/fw",
			},
			wantEvents: []string{"Normal TasksBound ResourceOffer o1: Bound 1 task(s) of the built-in scheduler to agent a1: t1"},
		},
		"a built-in framework is allocated the agent its task fits and binds it in the same pass, with no offer written": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), task("t1", "fw", "1", "1Gi", time.Hour).Obj()},
			wantWrites: []string{
				"status task ns/t1 Staging on a1",
				"patch status Framework ns/fw",
			},
			wantEvents: []string{"Normal TasksBound Framework fw: Bound 1 task(s) of the built-in scheduler to agent a1: t1"},
		},
		"built-in frameworks competing take one task per agent each per pass, by weighted DRF": {
			objs: []client.Object{agent("a1", "4", "8Gi"), agent("a2", "4", "8Gi"), builtinFramework("x"), builtinFramework("y"),
				task("x1", "x", "1", "1Gi", time.Hour).Obj(), task("x2", "x", "1", "1Gi", time.Hour).Obj(), task("x3", "x", "1", "1Gi", time.Hour).Obj(),
				task("y1", "y", "1", "1Gi", time.Minute).Obj(), task("y2", "y", "1", "1Gi", time.Minute).Obj()},
			wantWrites: []string{
				"status task ns/x1 Staging on a1",
				"status task ns/y1 Staging on a2",
				"patch status Framework ns/x",
				"patch status Framework ns/y",
			},
			wantEvents: []string{
				"Normal TasksBound Framework x: Bound 1 task(s) of the built-in scheduler to agent a1: x1",
				"Normal TasksBound Framework y: Bound 1 task(s) of the built-in scheduler to agent a2: y1",
			},
		},
		"a built-in framework the cluster has no room for: its task says it waits": {
			objs:   []client.Object{agent("a1", "1", "1Gi"), builtinFramework("fw"), task("big", "fw", "2", "1Gi", time.Hour).Obj()},
			waited: []string{"big"},
			wantWrites: []string{
				"status task ns/big Pending",
				"patch status Framework ns/fw",
			},
		},
		"a declined offer is deleted; its agent goes to the other framework, not back to the one that refused it": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("a"), sdkFramework("b"),
				b.MakeOffer("o1", "ns", "a", "a1").Resources(b.Resources("cpu", "4", "memory", "8Gi")).UID("uid-o1").Decline(time.Minute).Obj()},
			wantWrites: []string{
				"delete offer ns/o1",
				"create offer ns/b-a1-1 for b: cpu 4, memory 8Gi",
				"patch status Framework ns/a",
				"patch status Framework ns/b",
			},
			wantEvents: []string{
				"Normal Declined ResourceOffer o1: Declined by framework a; agent a1 refused for 1m0s",
				"Normal Offered ResourceOffer b-a1-1: Offered cpu 4, memory 8Gi of agent a1 to framework b as role default",
			},
		},
		"an offer the framework deleted itself refuses its agent to it": {
			objs:       []client.Object{agent("a1", "4", "8Gi"), sdkFramework("a")},
			deleted:    []decline{{framework: kov1.FrameworkKey{Namespace: "ns", Name: "a"}, agent: "a1", offer: "o1"}},
			wantWrites: []string{"patch status Framework ns/a"},
		},
		"an SDK framework's bind records an Event on its task": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), offer("o1", "fw", "a1", "4", "8Gi"),
				task("t1", "fw", "1", "1Gi", time.Minute).Offer("o1").Obj()},
			wantWrites: []string{
				"status task ns/t1 Staging on a1 from o1",
				"patch status ResourceOffer ns/o1",
				"patch status Framework ns/fw",
			},
			wantEvents: []string{"Normal Staging Task t1: Bound to agent a1 from offer o1"},
		},
		"a built-in bind that fails is left out of its offer's Event": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "4", "8Gi"),
				task("t1", "fw", "1", "1Gi", time.Hour).Obj(), task("t2", "fw", "1", "1Gi", time.Minute).Obj(), task("t3", "fw", "1", "1Gi", 0).Obj()},
			fail: map[string]error{"status task ns/t2 Staging on a1 from o1": conflict},
			wantWrites: []string{
				"status task ns/t1 Staging on a1 from o1",
				"status task ns/t2 Staging on a1 from o1",
				"status task ns/t3 Staging on a1 from o1",
				"patch status ResourceOffer ns/o1",
				"patch status Framework ns/fw",
			},
			wantEvents: []string{"Normal TasksBound ResourceOffer o1: Bound 2 task(s) of the built-in scheduler to agent a1: t1, t3"},
		},
		"a bind that fails holds back the refusals decided after it, and the framework holding an offer of the agent gets no other": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("young", "fw", "1", "512Mi", time.Minute).Offer("o1").Obj(), task("old", "fw", "1", "512Mi", time.Hour).Offer("o1").Obj()},
			fail: map[string]error{"status task ns/old Staging on a1 from o1": conflict},
			wantWrites: []string{
				"status task ns/old Staging on a1 from o1",
				"patch status Framework ns/fw",
			},
		},
		"the offers of an unreachable agent are rescinded, and it is offered to no one": {
			objs: []client.Object{b.MakeAgent("a1").Allocatable(b.Resources("cpu", "4", "memory", "8Gi")).Unreachable().Obj(),
				sdkFramework("fw"), offer("o1", "fw", "a1", "4", "8Gi")},
			wantWrites: []string{"delete offer ns/o1", "patch status Framework ns/fw"},
			wantEvents: []string{"Warning AgentUnreachable ResourceOffer o1: Rescinded: agent a1 missed its heartbeat"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			wr := &recordingWriter{fail: tc.fail}
			ev := &eventLog{}
			loop := newTestLoop(wr, ev, Options{ConcurrentWrites: 1})
			for _, d := range tc.deleted {
				loop.declines.push(d)
			}
			for _, name := range tc.waited {
				loop.waitingSince[types.NamespacedName{Namespace: "ns", Name: name}] = now.Add(-time.Hour)
			}
			w := newWorld(now)
			w.add(tc.objs...)
			p := loop.runPass(context.Background(), w)
			if diff := cmp.Diff(tc.wantWrites, wr.writes); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantEvents, ev.events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			for _, d := range tc.deleted {
				if until, refused := p.l.fws[d.framework.String()].Filters[d.agent]; !refused || !until.Equal(now.Add(DefaultRefuseDuration)) {
					t.Errorf("agent %s not refused to %s for the default refuse time: %v", d.agent, d.framework, p.l.fws[d.framework.String()].Filters)
				}
			}
			assertLedgerKeptInPlace(t, loop, p)
		})
	}
}

// TestLedgerKeptInPlace: a pass that binds, retires and makes offers, on a
// cluster with ports, reservations, roles and several frameworks, leaves a
// ledger equal to one built afresh from the objects it left.
func TestLedgerKeptInPlace(t *testing.T) {
	ports := kov1.PortRange{Begin: 31000, End: 31010}
	a1 := b.MakeAgent("a1").Allocatable(b.Resources("cpu", "8", "memory", "16Gi")).Ports(ports).Reserve("team", b.Resources("cpu", "2")).Ready().Obj()
	a2 := agent("a2", "4", "8Gi")
	a3 := agent("a3", "4", "8Gi")
	team := b.MakeRole("team").Weight(2).Obj()
	ci := b.MakeFramework("ci", "ns").Role("team").Policy(kov1.SchedulingPolicySpread).Connected().UID("uid-ci").Obj()
	objs := []client.Object{a1, a2, a3, team, ci, sdkFramework("sdk"), builtinFramework("batch"),
		// sdk accepts part of an offer on a1, with a port; another offer of
		// it is declined; a third task of it names an offer that is gone.
		b.MakeOffer("o-sdk", "ns", "sdk", "a1").Resources(b.Resources("cpu", "4", "memory", "8Gi")).Ports(ports).UID("uid-o-sdk").Obj(),
		b.MakeOffer("o-sdk-2", "ns", "sdk", "a2").Resources(b.Resources("cpu", "2", "memory", "2Gi")).UID("uid-o-sdk-2").Decline(time.Minute).Obj(),
		task("s1", "sdk", "1", "1Gi", time.Hour).Offer("o-sdk").Ports(kov1.PortRange{Begin: 31000, End: 31000}).Obj(),
		task("s2", "sdk", "1", "1Gi", time.Minute).Offer("gone").Obj(),
		// ci (built-in, in role team) has an offer on a3 and two tasks.
		offer("o-ci", "ci", "a3", "4", "8Gi"),
		task("c1", "ci", "1", "1Gi", time.Hour).Obj(), task("c2", "ci", "1", "1Gi", time.Minute).Obj(),
		// batch runs a task on a2 from an offer used up, and waits for more.
		task("b0", "batch", "1", "1Gi", 2*time.Hour).Offer("o-old").Bound("a2", kov1.TaskRunning).Obj(),
		task("b1", "batch", "500m", "256Mi", time.Minute).Obj(),
	}
	wr := &recordingWriter{}
	loop := newTestLoop(wr, &eventLog{}, Options{ConcurrentWrites: 1, MinAllocatable: []corev1.ResourceList{b.Resources("cpu", "10m")}})
	w := newWorld(now)
	w.add(objs...)
	p := loop.runPass(context.Background(), w)
	if len(wr.writes) < 6 {
		t.Fatalf("the pass wrote too little to test anything: %q", wr.writes)
	}
	assertLedgerKeptInPlace(t, loop, p)
	// A second pass over what the first left keeps it in place too.
	p2 := loop.runPass(context.Background(), p.w)
	assertLedgerKeptInPlace(t, loop, p2)
}

// assertLedgerKeptInPlace compares the ledger pass p kept in place with
// one built afresh from the world it left, as the next pass would build
// it.
func assertLedgerKeptInPlace(t *testing.T, loop *Loop, p *pass) {
	t.Helper()
	rebuilt := buildLedger(p.w, options{MinAllocatable: loop.Options.MinAllocatable, AllocationCounts: p.l.snapshot.AllocationCounts},
		loop.filters.active, idleBuiltins(p.w))
	// The built-in frameworks' demand is decided just before the offers
	// step, from the offers then held: decide it again on both.
	p.l.setBuiltinDemand(p.w, p.l.dims.Len())
	if diff := cmp.Diff(viewOf(rebuilt), viewOf(p.l), cmp.Comparer(func(x, y resource.Quantity) bool { return x.Cmp(y) == 0 })); diff != "" {
		t.Errorf("ledger kept in place differs from one rebuilt (-rebuilt +kept):\n%s", diff)
	}
}

// ledgerView is a ledger in terms that do not depend on the order its
// resource names were met in.
type ledgerView struct {
	Agents     map[string]agentView
	Frameworks map[string]frameworkView
	Offers     map[string]offerView
	OfferOrder []string
	Usage      map[string]usageView
	Away       map[string]bool
}

type agentView struct {
	Allocatable, Allocated, Offered corev1.ResourceList
	FreePorts                       string
	UsedByRole                      map[string]corev1.ResourceList
	Offerable                       bool
}

type frameworkView struct {
	Allocated, Demand, Floor corev1.ResourceList
	Suppressed               bool
	MaxOffers                int
	OfferedAgents            []string
	Filters                  map[string]time.Time
}

type offerView struct {
	Framework, Agent, Role string
	Resources              corev1.ResourceList
	Ports                  string
}

type usageView struct {
	Resources corev1.ResourceList
	Ports     string
	Tasks     []string
}

func viewOf(l *ledger) ledgerView {
	v := ledgerView{Agents: map[string]agentView{}, Frameworks: map[string]frameworkView{}, Offers: map[string]offerView{},
		Usage: map[string]usageView{}, Away: l.away}
	list := func(x []int64) corev1.ResourceList {
		if x == nil {
			return nil
		}
		return l.dims.ToList(x)
	}
	for name, a := range l.agents {
		av := agentView{Allocatable: list(a.Allocatable), Allocated: list(a.Allocated), Offered: list(a.Offered),
			FreePorts: a.FreePorts.String(), UsedByRole: map[string]corev1.ResourceList{}, Offerable: a.Offerable}
		for role, u := range a.UsedByRole {
			if !u.IsZero() {
				av.UsedByRole[role] = list(u)
			}
		}
		v.Agents[name] = av
	}
	for k, f := range l.fws {
		fv := frameworkView{Allocated: list(f.Allocated), Demand: list(f.Demand), Floor: list(f.Floor), Suppressed: f.Suppressed,
			MaxOffers: f.MaxOffers, Filters: f.Filters}
		for agent, offered := range f.OfferedAgents {
			if offered {
				fv.OfferedAgents = append(fv.OfferedAgents, agent)
			}
		}
		sort.Strings(fv.OfferedAgents)
		if len(fv.Filters) == 0 {
			fv.Filters = nil
		}
		v.Frameworks[k] = fv
	}
	for k, o := range l.offers {
		v.Offers[k.String()] = offerView{Framework: o.Framework, Agent: o.Agent, Role: o.Role, Resources: list(o.Resources), Ports: o.Ports.String()}
	}
	for _, o := range l.snapshot.Offers {
		v.OfferOrder = append(v.OfferOrder, o.Namespace+"/"+o.Name)
	}
	for k, u := range l.usage {
		v.Usage[k.String()] = usageView{Resources: list(u.resources), Ports: u.ports.String(), Tasks: u.tasks}
	}
	return v
}

// TestWaitingMarkedAfterAnInterval: a built-in task that nothing can hold is
// marked waiting only once the master has seen it wait an allocation
// interval, by the master's own clock; one placed meanwhile is never
// marked, and the loop forgets it.
func TestWaitingMarkedAfterAnInterval(t *testing.T) {
	wr := &recordingWriter{}
	loop := newTestLoop(wr, &eventLog{}, Options{ConcurrentWrites: 1, AllocationInterval: time.Second})
	clk := loop.Clock.(*clocktesting.FakeClock)
	w := newWorld(clk.Now())
	w.add(agent("a1", "1", "1Gi"), builtinFramework("fw"), task("big", "fw", "2", "1Gi", 0).Obj())
	p := loop.runPass(context.Background(), w)
	if diff := cmp.Diff([]string{"patch status Framework ns/fw"}, wr.writes); diff != "" {
		t.Errorf("first pass (-want +got):\n%s", diff)
	}
	wr.writes = nil
	clk.Step(500 * time.Millisecond)
	p.w.now = clk.Now()
	p = loop.runPass(context.Background(), p.w)
	if len(wr.writes) != 0 {
		t.Errorf("half an interval later: writes %q, want none", wr.writes)
	}
	wr.writes = nil
	clk.Step(500 * time.Millisecond)
	p.w.now = clk.Now()
	p = loop.runPass(context.Background(), p.w)
	if diff := cmp.Diff([]string{"status task ns/big Pending"}, wr.writes); diff != "" {
		t.Errorf("an interval later (-want +got):\n%s", diff)
	}
	delete(p.w.tasks, types.NamespacedName{Namespace: "ns", Name: "big"})
	loop.runPass(context.Background(), p.w)
	if len(loop.waitingSince) != 0 {
		t.Errorf("a task gone is still remembered: %v", loop.waitingSince)
	}
}

// TestInMasterOffers: a built-in scheduler's offers live in the master for
// one pass. One that no waiting task fits (here: the task needs a port the
// agent lacks) refuses its agent to the framework for the refuse time, as
// a declined offer does, and none is left in the world or the ledger.
func TestInMasterOffers(t *testing.T) {
	wr := &recordingWriter{}
	loop := newTestLoop(wr, &eventLog{}, Options{ConcurrentWrites: 1})
	w := newWorld(now)
	w.add(agent("a1", "4", "8Gi"), builtinFramework("fw"),
		task("t1", "fw", "1", "1Gi", time.Hour).Ports(kov1.PortRange{Begin: 31000, End: 31000}).Obj())
	p := loop.runPass(context.Background(), w)
	if until, refused := p.l.fws["ns/fw"].Filters["a1"]; !refused || !until.Equal(now.Add(DefaultRefuseDuration)) {
		t.Errorf("agent a1 not refused to ns/fw for the default refuse time: %v", p.l.fws["ns/fw"].Filters)
	}
	if len(p.w.offers) != 0 || len(p.l.offers) != 0 || len(p.inMaster) != 0 {
		t.Errorf("in-master offers left behind: world %v, ledger %v, pass %v", p.w.offers, p.l.offers, p.inMaster)
	}
	for _, line := range wr.writes {
		if strings.Contains(line, "offer") {
			t.Errorf("an offer to a built-in scheduler was written: %q", line)
		}
	}
	if got := testutil.ToFloat64(loop.Metrics.OffersSent.WithLabelValues("ns/fw")); got != 1 {
		t.Errorf("offers_sent_total = %v, want 1: an in-master offer counts, for the metrics and for weighted DRF's ties", got)
	}
	if got := loop.counts.get()["ns/fw"]; got != 1 {
		t.Errorf("allocation count = %d, want 1", got)
	}
	assertLedgerKeptInPlace(t, loop, p)
}
