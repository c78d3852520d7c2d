package allocation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

// verdicts is a role's conditions as "Status Reason" by type.
type verdicts map[string]string

func verdictsOf(cs []metav1.Condition) verdicts {
	v := verdicts{}
	for _, c := range cs {
		v[c.Type] = string(c.Status) + " " + c.Reason
	}
	return v
}

func ok(parentReason, guaranteeReason string) verdicts {
	return verdicts{
		kov1.RoleReadyCondition:                "True " + kov1.RoleReadyAsExpectedReason,
		kov1.RoleParentResolvedCondition:       "True " + parentReason,
		kov1.RoleGuaranteeSatisfiableCondition: "True " + guaranteeReason,
	}
}

func notReady(parent, guarantee, readyReason string) verdicts {
	return verdicts{
		kov1.RoleReadyCondition:                "False " + readyReason,
		kov1.RoleParentResolvedCondition:       parent,
		kov1.RoleGuaranteeSatisfiableCondition: guarantee,
	}
}

// TestRoleConditions checks how roles report their parent and whether the
// offerable agents can hold their guarantee.
func TestRoleConditions(t *testing.T) {
	top, none := kov1.RoleParentResolvedTopLevelReason, kov1.RoleGuaranteeSatisfiableNoGuaranteeReason
	found, fits := kov1.RoleParentResolvedFoundReason, kov1.RoleGuaranteeSatisfiableFitsReason
	loop := "False " + kov1.RoleParentResolvedLoopReason
	exceeds := "False " + kov1.RoleGuaranteeSatisfiableExceedsClusterReason
	over := "False " + kov1.RoleGuaranteeSatisfiableOvercommittedReason
	cpu := func(q string) corev1.ResourceList { return b.Resources("cpu", q) }
	cases := map[string]struct {
		roles    []*kov1.Role
		capacity corev1.ResourceList
		reserved map[string]corev1.ResourceList
		want     map[string]verdicts
		// messages holds, by role and condition type, text the message must contain.
		messages map[string]map[string]string
	}{
		"a top-level role without quota is Ready": {
			roles: []*kov1.Role{b.MakeRole("a").Obj()},
			want:  map[string]verdicts{"a": ok(top, none)},
		},
		"a parent that exists resolves": {
			roles: []*kov1.Role{b.MakeRole("eng").Obj(), b.MakeRole("eng-ci").Parent("eng").Obj()},
			want:  map[string]verdicts{"eng": ok(top, none), "eng-ci": ok(found, none)},
		},
		"a parent with no Role object is not found": {
			roles: []*kov1.Role{b.MakeRole("orphan").Parent("ghost").Obj()},
			want: map[string]verdicts{"orphan": notReady("False "+kov1.RoleParentResolvedNotFoundReason, "True "+none,
				kov1.RoleParentResolvedNotFoundReason)},
			messages: map[string]map[string]string{"orphan": {
				kov1.RoleParentResolvedCondition: `Parent "ghost" has no Role object`,
				kov1.RoleReadyCondition:          `Create Role "ghost" or correct spec.parent`,
			}},
		},
		"a loop of parents marks the roles on it; a role leading into it keeps its parent": {
			roles: []*kov1.Role{b.MakeRole("a").Parent("b").Obj(), b.MakeRole("b").Parent("c").Obj(), b.MakeRole("c").Parent("a").Obj(),
				b.MakeRole("d").Parent("a").Obj()},
			want: map[string]verdicts{
				"a": notReady(loop, "True "+none, kov1.RoleParentResolvedLoopReason),
				"b": notReady(loop, "True "+none, kov1.RoleParentResolvedLoopReason),
				"c": notReady(loop, "True "+none, kov1.RoleParentResolvedLoopReason),
				"d": ok(found, none),
			},
			messages: map[string]map[string]string{
				"a": {kov1.RoleParentResolvedCondition: "a → b → c → a"},
				"c": {kov1.RoleParentResolvedCondition: "c → a → b → c"},
			},
		},
		"a guarantee more than every offerable agent holds exceeds the cluster": {
			roles:    []*kov1.Role{b.MakeRole("greedy").Quota(cpu("1000"), nil).Obj(), b.MakeRole("other").Obj()},
			capacity: b.Resources("cpu", "4", "memory", "4Gi"),
			want: map[string]verdicts{
				"greedy": notReady("True "+top, exceeds, kov1.RoleGuaranteeSatisfiableExceedsClusterReason),
				"other":  ok(top, none),
			},
			messages: map[string]map[string]string{"greedy": {kov1.RoleGuaranteeSatisfiableCondition: "(cpu: need 1k, have 4)"}},
		},
		"a guarantee of a resource no agent has exceeds the cluster": {
			roles:    []*kov1.Role{b.MakeRole("fpga").Quota(b.Resources("example.com/fpga", "1"), nil).Obj()},
			capacity: b.Resources("cpu", "4"),
			want:     map[string]verdicts{"fpga": notReady("True "+top, exceeds, kov1.RoleGuaranteeSatisfiableExceedsClusterReason)},
			messages: map[string]map[string]string{"fpga": {kov1.RoleGuaranteeSatisfiableCondition: "example.com/fpga: need 1, have 0"}},
		},
		"guarantees that fit alone but not together are overcommitted, in the resources they name": {
			roles: []*kov1.Role{b.MakeRole("a").Quota(cpu("3"), nil).Obj(), b.MakeRole("b").Quota(cpu("2"), nil).Obj(),
				b.MakeRole("mem").Quota(b.Resources("memory", "1Gi"), nil).Obj()},
			capacity: b.Resources("cpu", "4", "memory", "4Gi"),
			want: map[string]verdicts{
				"a":   notReady("True "+top, over, kov1.RoleGuaranteeSatisfiableOvercommittedReason),
				"b":   notReady("True "+top, over, kov1.RoleGuaranteeSatisfiableOvercommittedReason),
				"mem": ok(top, fits),
			},
			messages: map[string]map[string]string{"a": {kov1.RoleGuaranteeSatisfiableCondition: "(cpu: need 5, have 4)"}},
		},
		"children's guarantees are contained in their parent's, not counted twice": {
			roles: []*kov1.Role{b.MakeRole("eng").Quota(cpu("4"), nil).Obj(), b.MakeRole("eng-a").Parent("eng").Quota(cpu("2"), nil).Obj(),
				b.MakeRole("eng-b").Parent("eng").Quota(cpu("2"), nil).Obj()},
			capacity: b.Resources("cpu", "4"),
			want:     map[string]verdicts{"eng": ok(top, fits), "eng-a": ok(found, fits), "eng-b": ok(found, fits)},
		},
		"children's guarantees beyond their parent's count in full": {
			roles: []*kov1.Role{b.MakeRole("eng").Quota(cpu("2"), nil).Obj(), b.MakeRole("eng-a").Parent("eng").Quota(cpu("2"), nil).Obj(),
				b.MakeRole("eng-b").Parent("eng").Quota(cpu("2"), nil).Obj()},
			capacity: b.Resources("cpu", "3"),
			want: map[string]verdicts{
				"eng":   notReady("True "+top, over, kov1.RoleGuaranteeSatisfiableOvercommittedReason),
				"eng-a": notReady("True "+found, over, kov1.RoleGuaranteeSatisfiableOvercommittedReason),
				"eng-b": notReady("True "+found, over, kov1.RoleGuaranteeSatisfiableOvercommittedReason),
			},
		},
		"guarantees under a missing parent add up": {
			roles: []*kov1.Role{b.MakeRole("x").Parent("ghost").Quota(cpu("2"), nil).Obj(),
				b.MakeRole("y").Parent("ghost").Quota(cpu("2"), nil).Obj()},
			capacity: b.Resources("cpu", "3"),
			want: map[string]verdicts{
				"x": notReady("False "+kov1.RoleParentResolvedNotFoundReason, over, kov1.RoleParentResolvedNotFoundReason),
				"y": notReady("False "+kov1.RoleParentResolvedNotFoundReason, over, kov1.RoleParentResolvedNotFoundReason),
			},
		},
		"other roles' reservations are not free for a guarantee": {
			roles:    []*kov1.Role{b.MakeRole("a").Quota(cpu("3"), nil).Obj()},
			capacity: b.Resources("cpu", "4"),
			reserved: map[string]corev1.ResourceList{"z": cpu("2")},
			want:     map[string]verdicts{"a": notReady("True "+top, over, kov1.RoleGuaranteeSatisfiableOvercommittedReason)},
		},
		"a role's own reservations meet its guarantee first": {
			roles:    []*kov1.Role{b.MakeRole("a").Quota(cpu("3"), nil).Obj(), b.MakeRole("a-child").Parent("a").Obj()},
			capacity: b.Resources("cpu", "4"),
			reserved: map[string]corev1.ResourceList{"a": cpu("2"), "a-child": cpu("1")},
			want:     map[string]verdicts{"a": ok(top, fits), "a-child": ok(found, none)},
		},
		"sibling subtrees each need their reservations and guarantees": {
			roles: []*kov1.Role{b.MakeRole("eng").Obj(), b.MakeRole("eng-a").Parent("eng").Quota(cpu("2"), nil).Obj(),
				b.MakeRole("eng-b").Parent("eng").Obj()},
			capacity: b.Resources("cpu", "4"),
			reserved: map[string]corev1.ResourceList{"eng-b": cpu("3")},
			want: map[string]verdicts{"eng": ok(top, none), "eng-b": ok(found, none),
				"eng-a": notReady("True "+found, over, kov1.RoleGuaranteeSatisfiableOvercommittedReason)},
		},
		"a zero guarantee is no guarantee": {
			roles:    []*kov1.Role{b.MakeRole("a").Quota(cpu("0"), cpu("2")).Obj()},
			capacity: b.Resources("cpu", "1"),
			want:     map[string]verdicts{"a": ok(top, none)},
		},
		"a parent problem is Ready's reason before a guarantee problem": {
			roles:    []*kov1.Role{b.MakeRole("a").Parent("b").Quota(cpu("8"), nil).Obj(), b.MakeRole("b").Parent("a").Obj()},
			capacity: b.Resources("cpu", "4"),
			want: map[string]verdicts{
				"a": notReady(loop, exceeds, kov1.RoleParentResolvedLoopReason),
				"b": notReady(loop, "True "+none, kov1.RoleParentResolvedLoopReason),
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			roles := map[string]*kov1.Role{}
			for _, r := range tc.roles {
				roles[r.Name] = r
			}
			d := resources.NewDims()
			hold := clusterHold{capacity: d.FromList(tc.capacity), reserved: map[string]resources.Vec{}}
			for role, rl := range tc.reserved {
				hold.reserved[role] = d.FromList(rl)
			}
			conds := roleConditions(d, roles, hold)
			got := map[string]verdicts{}
			for role, cs := range conds {
				got[role] = verdictsOf(cs)
				if cs[0].Type != kov1.RoleReadyCondition {
					t.Errorf("%s: first condition is %s, want Ready", role, cs[0].Type)
				}
				for _, c := range cs {
					if c.Message == "" {
						t.Errorf("%s: %s has no message", role, c.Type)
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			for role, byType := range tc.messages {
				for typ, text := range byType {
					for _, c := range conds[role] {
						if c.Type == typ && !strings.Contains(c.Message, text) {
							t.Errorf("%s: %s message %q does not contain %q", role, typ, c.Message, text)
						}
					}
				}
			}
		})
	}
}

// TestRoleConsumption checks what roles report as reserved and consumed:
// reservations count for the role and its ancestors, and a reservation
// counts against quota whether tasks and offers use it or not (on each
// agent, the larger of what the subtree uses and what is reserved for it).
func TestRoleConsumption(t *testing.T) {
	ready := []metav1.Condition{{Type: kov1.AgentReadyCondition, Status: metav1.ConditionTrue}, {Type: kov1.AgentReachableCondition, Status: metav1.ConditionTrue}}
	a1 := b.MakeAgent("a1").Allocatable(b.Resources("cpu", "4", "memory", "4Gi")).Reserve("team", b.Resources("cpu", "2", "memory", "2Gi")).Obj()
	a2 := b.MakeAgent("a2").Allocatable(b.Resources("cpu", "4", "memory", "4Gi")).Reserve("team-ci", b.Resources("cpu", "1")).Obj()
	a1.Status.Conditions, a2.Status.Conditions = ready, ready
	w := &world{now: time.Unix(0, 0), agents: map[string]*kov1.Agent{"a1": a1, "a2": a2},
		roles: map[string]*kov1.Role{"team": b.MakeRole("team").Obj(), "team-ci": b.MakeRole("team-ci").Parent("team").Obj(),
			"idle": b.MakeRole("idle").Obj()},
		frameworks: map[kov1.FrameworkKey]*kov1.Framework{}, offers: map[types.NamespacedName]*kov1.ResourceOffer{},
		tasks: map[types.NamespacedName]*kov1.Task{}}
	fw := demandFramework("ci", false)
	fw.Spec.Role = "team-ci"
	w.frameworks[fw.Key()] = fw
	// The ci framework runs 1 cpu on a1 (inside team's reservation there)
	// and holds an offer of 3 cpu / 1Gi on a2 (beyond team-ci's 1 cpu).
	task := b.MakeTask("t", "ns", "ci").Offer("o-a1").Resources(b.Resources("cpu", "1")).Bound("a1", kov1.TaskRunning).Obj()
	w.tasks[key(task)] = task
	offer := b.MakeOffer("o-a2", "ns", "ci", "a2").Role("team-ci").Resources(b.Resources("cpu", "3", "memory", "1Gi")).Obj()
	w.offers[key(offer)] = offer
	l := buildLedger(w, options{}, func(string) map[string]time.Time { return nil }, nil)

	reserved, unused := roleReservations(w, l)
	u := map[string]*usageTotals{
		"team":    {allocated: l.dims.FromList(b.Resources("cpu", "1")), offered: l.dims.FromList(b.Resources("cpu", "3", "memory", "1Gi"))},
		"team-ci": {allocated: l.dims.FromList(b.Resources("cpu", "1")), offered: l.dims.FromList(b.Resources("cpu", "3", "memory", "1Gi"))},
		"idle":    {allocated: l.dims.Zero(), offered: l.dims.Zero()},
	}
	got := map[string]map[string]corev1.ResourceList{}
	for name, r := range w.roles {
		p := roleStatusPatch(l, r, roleView{usage: u[name], reserved: reserved[name], unusedReserved: unused[name]}, nil, w.now)
		st := p.next.(*kov1.Role).Status
		got[name] = map[string]corev1.ResourceList{"reserved": st.Reserved, "consumed": st.Consumed}
	}
	want := map[string]map[string]corev1.ResourceList{
		// a1: uses 1 of 2 cpu and none of 2Gi reserved → 2 cpu, 2Gi;
		// a2: uses 3 cpu, 1Gi beyond 1 cpu reserved → 3 cpu, 1Gi.
		"team": {"reserved": b.Resources("cpu", "3", "memory", "2Gi"), "consumed": b.Resources("cpu", "5", "memory", "3Gi")},
		// team's reservation on a1 is not team-ci's: only a2's counts.
		"team-ci": {"reserved": b.Resources("cpu", "1"), "consumed": b.Resources("cpu", "4", "memory", "1Gi")},
		"idle":    {"reserved": nil, "consumed": nil},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y resource.Quantity) bool { return x.Cmp(y) == 0 })); diff != "" {
		t.Errorf("reserved and consumed (-want +got):\n%s", diff)
	}
}

// TestRoleTransitions checks which condition changes make Events.
func TestRoleTransitions(t *testing.T) {
	cond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: "m"}
	}
	parentOK := cond(kov1.RoleParentResolvedCondition, metav1.ConditionTrue, kov1.RoleParentResolvedTopLevelReason)
	parentFound := cond(kov1.RoleParentResolvedCondition, metav1.ConditionTrue, kov1.RoleParentResolvedFoundReason)
	parentMissing := cond(kov1.RoleParentResolvedCondition, metav1.ConditionFalse, kov1.RoleParentResolvedNotFoundReason)
	parentLoop := cond(kov1.RoleParentResolvedCondition, metav1.ConditionFalse, kov1.RoleParentResolvedLoopReason)
	readyFalse := cond(kov1.RoleReadyCondition, metav1.ConditionFalse, kov1.RoleParentResolvedNotFoundReason)
	cases := map[string]struct {
		prev, next []metav1.Condition
		want       []string
	}{
		"a new role that is well is not announced": {next: []metav1.Condition{parentOK}},
		"a new role with a problem is":             {next: []metav1.Condition{readyFalse, parentMissing}, want: []string{"Warning ParentNotFound"}},
		"a problem that goes away is announced":    {prev: []metav1.Condition{parentMissing}, next: []metav1.Condition{parentFound}, want: []string{"Normal ParentFound"}},
		"a problem that changes is announced":      {prev: []metav1.Condition{parentMissing}, next: []metav1.Condition{parentLoop}, want: []string{"Warning ParentLoop"}},
		"a problem that stays is not":              {prev: []metav1.Condition{parentMissing}, next: []metav1.Condition{parentMissing}},
		"a change of reason while well is not":     {prev: []metav1.Condition{parentOK}, next: []metav1.Condition{parentFound}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, e := range roleTransitions(tc.prev, tc.next) {
				got = append(got, e.eventType+" "+e.reason)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRoleEventsOnce: a pass that runs before the cache shows the last
// write decides the same status again, but does not announce it again.
func TestRoleEventsOnce(t *testing.T) {
	rec := events.NewFakeRecorder(10)
	loop := New(nil, nil, rec, nil, Options{}, NewMetrics(prometheus.NewRegistry()))
	loop.Writer = &recordingWriter{}
	w := &world{now: time.Unix(100, 0), roles: map[string]*kov1.Role{"orphan": b.MakeRole("orphan").Parent("ghost").Obj()},
		agents: map[string]*kov1.Agent{}, frameworks: map[kov1.FrameworkKey]*kov1.Framework{},
		offers: map[types.NamespacedName]*kov1.ResourceOffer{}, tasks: map[types.NamespacedName]*kov1.Task{}}
	w.roles["orphan"].UID = "u1"
	l := buildLedger(w, options{}, func(string) map[string]time.Time { return nil }, nil)
	conds := roleConditions(l.dims, w.roles, holdOf(l))
	view := roleView{usage: &usageTotals{allocated: l.dims.Zero(), offered: l.dims.Zero()}, conditions: conds["orphan"]}
	for n := 1; n <= 2; n++ {
		p := roleStatusPatch(l, w.roles["orphan"], view, loop.roleConditions.previous(w.roles["orphan"]), w.now) // the cache still shows the empty status
		if p == nil {
			t.Fatalf("pass %d: no patch for a status the cache does not show", n)
		}
		loop.patchStatuses(context.Background(), &pass{w: newWorld(now)}, []statusPatch{*p})
	}
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "Warning ParentNotFound ParentResolved=False") {
		t.Errorf("events = %q, want one ParentNotFound warning", got)
	}
}

// TestClusterHold: guarantees are judged against offerable agents only —
// not an unreachable one, nor one in maintenance — and their reservations.
func TestClusterHold(t *testing.T) {
	agent := func(name string, reachable bool, m kov1.AgentMaintenance) *kov1.Agent {
		a := b.MakeAgent(name).Allocatable(b.Resources("cpu", "4", "memory", "4Gi")).Reserve("r", b.Resources("cpu", "1")).Maintenance(m).Obj()
		a.Status.Conditions = []metav1.Condition{{Type: kov1.AgentReadyCondition, Status: metav1.ConditionTrue},
			{Type: kov1.AgentReachableCondition, Status: metav1.ConditionFalse}}
		if reachable {
			a.Status.Conditions[1].Status = metav1.ConditionTrue
		}
		return a
	}
	w := &world{now: time.Unix(0, 0), roles: map[string]*kov1.Role{}, agents: map[string]*kov1.Agent{
		"ok": agent("ok", true, kov1.AgentMaintenanceNone), "lost": agent("lost", false, kov1.AgentMaintenanceNone),
		"drained": agent("drained", true, kov1.AgentMaintenanceDrain)},
		frameworks: map[kov1.FrameworkKey]*kov1.Framework{}, offers: map[types.NamespacedName]*kov1.ResourceOffer{},
		tasks: map[types.NamespacedName]*kov1.Task{}}
	l := buildLedger(w, options{}, func(string) map[string]time.Time { return nil }, nil)
	h := holdOf(l)
	got := map[string]corev1.ResourceList{"capacity": l.dims.ToList(h.capacity), "reserved r": l.dims.ToList(h.reserved["r"])}
	want := map[string]corev1.ResourceList{"capacity": b.Resources("cpu", "4", "memory", "4Gi"), "reserved r": b.Resources("cpu", "1")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y resource.Quantity) bool { return x.Cmp(y) == 0 })); diff != "" {
		t.Errorf("what offerable agents hold (-want +got):\n%s", diff)
	}
}
