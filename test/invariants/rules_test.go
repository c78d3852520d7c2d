package invariants

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

func agent(name string, alloc corev1.ResourceList, ports ...kov1.PortRange) *kov1.Agent {
	a := b.MakeAgent(name).Obj()
	a.Status.Allocatable, a.Status.Ports = alloc, ports
	return a
}

func world(objs ...any) *World {
	w := NewWorld()
	for _, o := range objs {
		switch x := o.(type) {
		case *kov1.Agent:
			w.Agents[x.Name] = x
		case *kov1.ResourceOffer:
			w.Offers[types.NamespacedName{Namespace: x.Namespace, Name: x.Name}] = x
		case *kov1.Task:
			w.Tasks[types.NamespacedName{Namespace: x.Namespace, Name: x.Name}] = x
		case *kov1.Framework:
			w.Frameworks[types.NamespacedName{Namespace: x.Namespace, Name: x.Name}] = x
		case *corev1.Pod:
			w.Pods[types.NamespacedName{Namespace: x.Namespace, Name: x.Name}] = x
		}
	}
	return w
}

func rules(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Rule+": "+v.Message)
	}
	return out
}

func TestBooking(t *testing.T) {
	cpu2 := b.Resources("cpu", "2", "memory", "2Gi")
	ports := kov1.PortRange{Begin: 31000, End: 31009}
	offer := func(name, fw string, rl corev1.ResourceList, p ...kov1.PortRange) *kov1.ResourceOffer {
		return b.MakeOffer(name, "ns", fw, "a").Resources(rl).Ports(p...).Obj()
	}
	task := func(name, off string, rl corev1.ResourceList, state kov1.TaskState, p ...kov1.PortRange) *kov1.Task {
		return b.MakeTask(name, "ns", "fw").Offer(off).Resources(rl).Ports(p...).Bound("a", state).Obj()
	}
	declined := offer("o2", "other", b.Resources("cpu", "2", "memory", "2Gi"))
	declined.Spec.Decline = &kov1.OfferDecline{}
	withOverhead := task("t1", "o1", b.Resources("cpu", "1800m", "memory", "1Gi"), kov1.TaskRunning)
	withOverhead.Status.Overhead = b.Resources("cpu", "250m")
	cases := map[string]struct {
		world *World
		want  []string
	}{
		"offer within allocatable": {world: world(agent("a", cpu2), offer("o1", "fw", cpu2))},
		"task took part of its offer": {world: world(agent("a", cpu2), offer("o1", "fw", cpu2),
			task("t1", "o1", b.Resources("cpu", "1", "memory", "1Gi"), kov1.TaskRunning))},
		"ended task does not free its offer's share": {world: world(agent("a", cpu2), offer("o1", "fw", cpu2),
			task("t1", "o1", b.Resources("cpu", "1", "memory", "1Gi"), kov1.TaskFinished),
			offer("o2", "other", b.Resources("cpu", "1", "memory", "1Gi")))},
		"two frameworks offered the same cpu": {world: world(agent("a", cpu2), offer("o1", "fw", cpu2), offer("o2", "other", b.Resources("cpu", "1"))),
			want: []string{"AgentOverbooked: agent a: cpu allocated + offered is 3, allocatable 2"}},
		"a declined offer no longer counts": {world: world(agent("a", cpu2), offer("o1", "fw", cpu2), declined)},
		"tasks past allocatable": {world: world(agent("a", cpu2),
			task("t1", "o1", b.Resources("cpu", "1500m", "memory", "1Gi"), kov1.TaskRunning),
			task("t2", "o9", b.Resources("cpu", "1", "memory", "1Gi"), kov1.TaskStaging)),
			want: []string{"AgentOverbooked: agent a: cpu allocated + offered is 2500m, allocatable 2"}},
		"overhead is charged": {world: world(agent("a", cpu2), withOverhead),
			want: []string{"AgentOverbooked: agent a: cpu allocated + offered is 2050m, allocatable 2"}},
		"ports apart": {world: world(agent("a", cpu2, ports), offer("o1", "fw", b.Resources("cpu", "1"), kov1.PortRange{Begin: 31000, End: 31004}),
			offer("o2", "other", b.Resources("cpu", "1"), kov1.PortRange{Begin: 31005, End: 31009}))},
		"a task's port leaves its offer": {world: world(agent("a", cpu2, ports), offer("o1", "fw", b.Resources("cpu", "1"), ports),
			task("t1", "o1", b.Resources("cpu", "100m", "memory", "1Mi"), kov1.TaskRunning, kov1.PortRange{Begin: 31003, End: 31003}))},
		"a port in two offers": {world: world(agent("a", cpu2, ports), offer("o1", "fw", b.Resources("cpu", "1"), kov1.PortRange{Begin: 31000, End: 31005}),
			offer("o2", "other", b.Resources("cpu", "1"), kov1.PortRange{Begin: 31005, End: 31006})),
			want: []string{"PortDoubleBooked: agent a: port 31005 held twice"}},
		"a port the agent lacks": {world: world(agent("a", cpu2, ports), offer("o1", "fw", b.Resources("cpu", "1"), kov1.PortRange{Begin: 8080, End: 8080})),
			want: []string{"PortDoubleBooked: agent a: port 8080 is not one of the agent's ports"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, rules(Booking(tc.world))); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTransition(t *testing.T) {
	task := func(agent string, state kov1.TaskState, reason string) *kov1.Task {
		tk := b.MakeTask("t", "ns", "fw").UID("u1").Obj()
		tk.Status.AgentName, tk.Status.State, tk.Status.Reason = agent, state, reason
		return tk
	}
	cases := map[string]struct {
		old, cur *kov1.Task
		want     []string
	}{
		"first sight":           {cur: task("", kov1.TaskPending, "")},
		"bound":                 {old: task("", kov1.TaskPending, ""), cur: task("a", kov1.TaskStaging, "")},
		"running to finished":   {old: task("a", kov1.TaskRunning, ""), cur: task("a", kov1.TaskFinished, "Completed")},
		"unreachable back":      {old: task("a", kov1.TaskUnreachable, "AgentUnreachable"), cur: task("a", kov1.TaskRunning, "")},
		"terminal without why":  {old: task("a", kov1.TaskRunning, ""), cur: task("a", kov1.TaskFinished, ""), want: []string{"TerminalWithoutReason: task ns/t is Finished without a reason"}},
		"rebound":               {old: task("a", kov1.TaskStaging, ""), cur: task("b", kov1.TaskStaging, ""), want: []string{`TaskRebound: task ns/t was bound to a, now to "b"`}},
		"unbound":               {old: task("a", kov1.TaskStaging, ""), cur: task("", kov1.TaskPending, ""), want: []string{`TaskRebound: task ns/t was bound to a, now to ""`}},
		"revived after the end": {old: task("a", kov1.TaskLost, "AgentUnreachable"), cur: task("a", kov1.TaskRunning, ""), want: []string{"TaskChangedAfterTerminal: task ns/t went from Lost (AgentUnreachable) to Running ()"}},
		"another terminal state": {old: task("a", kov1.TaskKilled, "KilledByRequest"), cur: task("a", kov1.TaskFailed, "ContainerFailed"),
			want: []string{"TaskChangedAfterTerminal: task ns/t went from Killed (KilledByRequest) to Failed (ContainerFailed)"}},
		"a new task of the same name": {old: task("a", kov1.TaskFinished, "Completed"), cur: func() *kov1.Task {
			tk := task("b", kov1.TaskStaging, "")
			tk.UID = "u2"
			return tk
		}()},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, rules(Transition(tc.old, tc.cur))); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLaunchAndFinal(t *testing.T) {
	pod := func(name, uid string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(uid),
			Labels: map[string]string{kov1.LabelTask: "t", kov1.LabelTaskUID: "task-1"}}, Status: corev1.PodStatus{Phase: phase}}
	}
	if got := rules(Launch(pod("t", "p1", corev1.PodRunning), pod("t", "p1", corev1.PodSucceeded))); got != nil {
		t.Errorf("same Pod updated: %v", got)
	}
	if diff := cmp.Diff([]string{"TaskLaunchedTwice: task ns/t (uid task-1) ran in two Pods"},
		rules(Launch(pod("t", "p1", corev1.PodFailed), pod("t", "p2", corev1.PodRunning)))); diff != "" {
		t.Errorf("second Pod (-want +got):\n%s", diff)
	}

	torn := b.MakeFramework("torn", "ns").Obj()
	torn.Status.Conditions = []metav1.Condition{{Type: kov1.FrameworkTornDownCondition, Status: metav1.ConditionTrue, Reason: "x", LastTransitionTime: metav1.Now()}}
	done := b.MakeTask("done", "ns", "fw").UID("task-1").Bound("a", kov1.TaskFinished).Obj()
	running := b.MakeTask("running", "ns", "fw").UID("task-2").Bound("a", kov1.TaskRunning).Obj()
	w := world(b.MakeFramework("fw", "ns").Obj(), torn, done, running,
		b.MakeOffer("o1", "ns", "fw", "a").Obj(), b.MakeOffer("o2", "ns", "torn", "a").Obj(), b.MakeOffer("o4", "ns", "ghost", "a").Obj(),
		pod("done", "p1", corev1.PodRunning), pod("done-ended", "p3", corev1.PodSucceeded))
	want := []string{
		`TaskNotTerminal: task ns/running is still "Running" at the end of the run`,
		"OfferOfTornDownFramework: offer ns/o2 is left for framework torn, which is gone or torn down",
		"OfferOfTornDownFramework: offer ns/o4 is left for framework ghost, which is gone or torn down",
		"OrphanedPod: pod ns/done (Running) runs for no live task",
	}
	if diff := cmp.Diff(want, rules(Final(w))); diff != "" {
		t.Errorf("final (-want +got):\n%s", diff)
	}
}

// BenchmarkBooking is the checker's booking pass at a chaos run's size:
// 10,000 tasks (most of them ended) on 20 agents with 40 outstanding
// offers. The checker runs it up to ten times a second.
func BenchmarkBooking(bm *testing.B) {
	objs := []any{}
	for a := range 20 {
		objs = append(objs, agent(fmt.Sprintf("a%d", a), b.Resources("cpu", "64", "memory", "256Gi")))
	}
	for i := range 10000 {
		state := kov1.TaskFinished
		if i%50 == 0 {
			state = kov1.TaskRunning
		}
		a := fmt.Sprintf("a%d", i%20)
		objs = append(objs, b.MakeTask(fmt.Sprintf("t%d", i), "ns", "fw").Offer(fmt.Sprintf("o%d", i%40)).
			Resources(b.Resources("cpu", "100m", "memory", "128Mi")).Bound(a, state).Obj())
	}
	for o := range 40 {
		objs = append(objs, b.MakeOffer(fmt.Sprintf("o%d", o), "ns", "fw", fmt.Sprintf("a%d", o%20)).Resources(b.Resources("cpu", "1", "memory", "1Gi")).Obj())
	}
	w := world(objs...)
	bm.ResetTimer()
	for bm.Loop() {
		if vs := Booking(w); len(vs) > 0 {
			bm.Fatal(vs)
		}
	}
}
