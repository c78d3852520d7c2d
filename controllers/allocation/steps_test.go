package allocation

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

// The steps' table tests: objects in, the step's plan out, rendered one
// line per write (renderPlan). No step has a client, so none is needed.

// testPass is a pass over objs at now, its ledger built as a Loop builds it.
func testPass(l *Loop, objs ...client.Object) *pass {
	w := newWorld(now)
	w.add(objs...)
	return &pass{w: w, l: l.buildLedger(w), placed: map[types.NamespacedName]bool{}, inMaster: map[types.NamespacedName]bool{},
		tried: map[types.NamespacedName]bool{}, waitingSince: map[types.NamespacedName]time.Time{},
		markAfter: time.Second, maxTasks: maxTasksPerPass}
}

// waited records that tasks (of namespace ns) have waited to be placed
// for an hour.
func waited(p *pass, tasks ...string) {
	for _, name := range tasks {
		p.waitingSince[types.NamespacedName{Namespace: "ns", Name: name}] = now.Add(-time.Hour)
	}
}

// renderPlan is a plan as lines, in the order apply performs them.
func renderPlan(pl plan) []string {
	var out []string
	for _, f := range pl.filters {
		out = append(out, fmt.Sprintf("refuse agent %s to %s for %s", f.agent, f.framework, f.until.Sub(now)))
	}
	for _, fk := range pl.declines {
		out = append(out, fmt.Sprintf("count a decline by %s", fk))
	}
	for _, x := range pl.binds {
		out = append(out, fmt.Sprintf("bind %s/%s to %s from %s", x.cur.Namespace, x.cur.Name, x.next.Status.AgentName, x.next.Status.OfferName))
	}
	for _, x := range pl.refusals {
		out = append(out, fmt.Sprintf("end %s/%s %s %s", x.cur.Namespace, x.cur.Name, x.next.Status.State, x.next.Status.Reason))
	}
	for _, x := range pl.marks {
		c := meta.FindStatusCondition(x.next.Status.Conditions, kov1.TaskBoundCondition)
		out = append(out, fmt.Sprintf("mark %s/%s %s", x.cur.Namespace, x.cur.Name, c.Reason))
	}
	for _, d := range pl.deletions {
		out = append(out, fmt.Sprintf("delete offer %s/%s %s", d.offer.Namespace, d.offer.Name, d.reason))
	}
	for _, c := range pl.creations {
		out = append(out, fmt.Sprintf("offer %s to %s/%s: %s", c.offer.Spec.AgentName, c.offer.Namespace, c.offer.Spec.FrameworkName,
			describe(c.offer.Spec.Resources)))
	}
	for _, p := range pl.patches {
		kind := strings.TrimPrefix(fmt.Sprintf("%T", p.next), "*v1alpha1.")
		out = append(out, fmt.Sprintf("patch status %s %s", kind, p.next.GetName()))
	}
	return out
}

func agent(name, cpu, mem string) *kov1.Agent {
	return b.MakeAgent(name).Allocatable(b.Resources("cpu", cpu, "memory", mem)).Ready().Obj()
}

func builtinFramework(name string) *kov1.Framework {
	return b.MakeFramework(name, "ns").Policy(kov1.SchedulingPolicyFirstFit).Connected().UID("uid-" + name).Obj()
}

func sdkFramework(name string) *kov1.Framework {
	return b.MakeFramework(name, "ns").Connected().UID("uid-" + name).Obj()
}

func offer(name, fw, agent, cpu, mem string) *kov1.ResourceOffer {
	return b.MakeOffer(name, "ns", fw, agent).Resources(b.Resources("cpu", cpu, "memory", mem)).UID("uid-" + name).Obj()
}

// task is a pending task of fw, created age before now.
func task(name, fw, cpu, mem string, age time.Duration) *b.TaskWrapper {
	return b.MakeTask(name, "ns", fw).Resources(b.Resources("cpu", cpu, "memory", mem)).Created(now.Add(-age))
}

func TestPlanDeclines(t *testing.T) {
	undecided := offer("o2", "fw", "a1", "1", "1Gi")
	noRefuse := offer("o3", "fw", "a2", "1", "1Gi")
	noRefuse.Spec.Decline = &kov1.OfferDecline{}
	cases := map[string]struct {
		objs    []client.Object
		deleted []decline
		want    []string
	}{
		"a declined offer is deleted and its agent refused for the time it gave": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), b.MakeOffer("o1", "ns", "fw", "a1").Decline(30 * time.Second).Obj(), undecided},
			want: []string{"refuse agent a1 to ns/fw for 30s", "delete offer ns/o1 Declined"},
		},
		"a decline without a refuse time refuses for the framework's": {
			objs: []client.Object{agent("a2", "4", "8Gi"), b.MakeFramework("fw", "ns").Connected().RefuseDuration(10 * time.Second).Obj(), noRefuse},
			want: []string{"refuse agent a2 to ns/fw for 10s", "delete offer ns/o3 Declined"},
		},
		"an offer the framework deleted refuses its agent for Mesos's default": {
			objs:    []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw")},
			deleted: []decline{{framework: kov1.FrameworkKey{Namespace: "ns", Name: "fw"}, agent: "a1", offer: "gone"}},
			want:    []string{"refuse agent a1 to ns/fw for 5s", "count a decline by ns/fw"},
		},
		"offers not declined are left alone": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), undecided},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), tc.objs...)
			if diff := cmp.Diff(tc.want, renderPlan(planDeclines(p, tc.deleted))); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanPlacements(t *testing.T) {
	placedEarlier := task("earlier", "fw", "200m", "128Mi", time.Hour).Offer("o1").Obj()
	cases := map[string]struct {
		objs []client.Object
		// waited are the tasks that have waited an hour to be placed.
		waited        []string
		want          []string
		wantContended bool
	}{
		"alone, a built-in scheduler packs one offer with its tasks, oldest first": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("t2", "fw", "500m", "512Mi", time.Minute).Obj(), task("t1", "fw", "500m", "512Mi", time.Hour).Obj()},
			want: []string{"bind ns/t1 to a1 from o1", "bind ns/t2 to a1 from o1"},
		},
		"contended, it takes one task per offer per pass, and a task that fits a taken offer waits quietly": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), builtinFramework("other"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("t1", "fw", "100m", "64Mi", time.Hour).Obj(), task("t2", "fw", "100m", "64Mi", time.Minute).Obj(),
				task("x1", "other", "100m", "64Mi", time.Minute).Obj()},
			want:          []string{"bind ns/t1 to a1 from o1"},
			wantContended: true,
		},
		"a task none of the framework's offers fits is marked waiting": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "100m", "1Gi"),
				task("big", "fw", "1", "64Mi", time.Hour).Obj()},
			waited: []string{"big"},
			want:   []string{"mark ns/big WaitingForOffer"},
		},
		"a task seen waiting for less than an allocation interval is not marked yet": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "100m", "1Gi"),
				task("big", "fw", "1", "64Mi", time.Hour).Obj()},
		},
		"a task placed by an earlier pass but not bound still claims its share of the offer": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "300m", "1Gi"), placedEarlier,
				task("t1", "fw", "200m", "128Mi", time.Minute).Obj()},
			waited: []string{"t1"},
			want:   []string{"mark ns/t1 WaitingForOffer"},
		},
		"an expired offer is not placed on, nor counted as one the task does not fit": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"),
				b.MakeOffer("o1", "ns", "fw", "a1").Resources(b.Resources("cpu", "1", "memory", "1Gi")).Expires(now).Obj(),
				task("t1", "fw", "100m", "64Mi", time.Minute).Obj()},
		},
		"without any offer nothing is decided yet (the marks wait for the offers step)": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), task("t1", "fw", "100m", "64Mi", time.Minute).Obj()},
		},
		"a placed task is admitted against its offer: one asking for a host port it did not declare ends in Error": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("t1", "fw", "100m", "64Mi", time.Minute).PodSpec(func(ps *corev1.PodSpec) {
					ps.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
				}).Obj()},
			want: []string{"end ns/t1 Error TaskInvalid"},
		},
		"tasks of frameworks without a built-in scheduler are not placed": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("t1", "fw", "100m", "64Mi", time.Minute).Obj()},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), tc.objs...)
			waited(p, tc.waited...)
			placing, pl := planPlacements(p)
			if diff := cmp.Diff(tc.want, renderPlan(pl)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if placing.contended != tc.wantContended {
				t.Errorf("contended = %v, want %v", placing.contended, tc.wantContended)
			}
		})
	}
}

// generation is t at generation g.
func generation(t *kov1.Task, g int64) *kov1.Task {
	t.Generation = g
	return t
}

func TestPlanAdmission(t *testing.T) {
	deleting := offer("o-deleting", "fw", "a1", "1", "1Gi")
	deleting.DeletionTimestamp = &metaNow
	cases := map[string]struct {
		objs   []client.Object
		unseen []string
		want   []string
	}{
		"a task naming an offer with room is bound to its agent": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("t1", "fw", "500m", "512Mi", time.Minute).Offer("o1").Obj()},
			want: []string{"bind ns/t1 to a1 from o1"},
		},
		"two tasks and room for one: the older is bound, the younger dropped (it may be sent again)": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("young", "fw", "1", "512Mi", time.Minute).Offer("o1").Obj(), task("old", "fw", "1", "512Mi", time.Hour).Offer("o1").Obj()},
			want: []string{"bind ns/old to a1 from o1", "end ns/young Dropped InsufficientResources"},
		},
		"a task that accepted an offer before it expired is bound after the expiry": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"),
				b.MakeOffer("o1", "ns", "fw", "a1").Resources(b.Resources("cpu", "1", "memory", "1Gi")).Expires(now.Add(-time.Second)).Obj(),
				task("t1", "fw", "500m", "512Mi", time.Minute).Offer("o1").Obj()},
			want: []string{"bind ns/t1 to a1 from o1"},
		},
		"a task created after its offer expired is dropped": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"),
				b.MakeOffer("o1", "ns", "fw", "a1").Resources(b.Resources("cpu", "1", "memory", "1Gi")).Expires(now.Add(-time.Minute)).Obj(),
				task("t1", "fw", "500m", "512Mi", time.Second).Offer("o1").Obj()},
			want: []string{"end ns/t1 Dropped OfferExpired"},
		},
		"a task whose spec changed since its creation is judged as accepting now": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"),
				b.MakeOffer("o1", "ns", "fw", "a1").Resources(b.Resources("cpu", "1", "memory", "1Gi")).Expires(now.Add(-time.Second)).Obj(),
				generation(task("t1", "fw", "500m", "512Mi", time.Minute).Offer("o1").Obj(), 2)},
			want: []string{"end ns/t1 Dropped OfferExpired"},
		},
		"a task naming an offer that is gone is dropped": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), deleting,
				task("t1", "fw", "100m", "64Mi", time.Minute).Offer("o-deleting").Obj(), task("t2", "fw", "100m", "64Mi", time.Minute).Offer("never").Obj()},
			want: []string{"end ns/t1 Dropped OfferNotFound", "end ns/t2 Dropped OfferNotFound"},
		},
		"a task naming another framework's offer is dropped": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), sdkFramework("thief"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("t1", "thief", "100m", "64Mi", time.Minute).Offer("o1").Obj()},
			want: []string{"end ns/t1 Dropped OfferNotOwnedByFramework"},
		},
		"a task naming an offer the cache has not shown yet waits for the cache": {
			objs:   []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), task("t1", "fw", "100m", "64Mi", time.Minute).Offer("fresh").Obj()},
			unseen: []string{"fresh"},
		},
		"a task of a torn-down framework is an error": {
			objs: []client.Object{agent("a1", "4", "8Gi"), tornDown(sdkFramework("fw")), offer("o1", "fw", "a1", "1", "1Gi"),
				task("t1", "fw", "100m", "64Mi", time.Minute).Offer("o1").Obj()},
			want: []string{"end ns/t1 Error FrameworkNotFound"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), tc.objs...)
			for _, o := range tc.unseen {
				p.w.unseenOffers[types.NamespacedName{Namespace: "ns", Name: o}] = true
			}
			if diff := cmp.Diff(tc.want, renderPlan(planAdmission(p))); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanBuiltinReturns(t *testing.T) {
	k := func(name string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: name} }
	cases := map[string]struct {
		objs      []client.Object
		contended bool
		placed    []string
		want      []string
	}{
		"alone, an offer that took a task is kept for the next ones": {
			objs:   []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi")},
			placed: []string{"o1"},
		},
		"contended, the rest of an offer that took a task is returned": {
			objs:      []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi")},
			contended: true, placed: []string{"o1"},
			want: []string{"delete offer ns/o1 Used"},
		},
		"an offer no waiting task fits is declined for the refuse time": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "100m", "1Gi"),
				task("big", "fw", "2", "64Mi", time.Minute).Obj()},
			want: []string{"refuse agent a1 to ns/fw for 5s", "delete offer ns/o1 Unused"},
		},
		"an offer left when no task waits is returned without a refuse time": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi")},
			want: []string{"delete offer ns/o1 Unused"},
		},
		"an offer a still unbound task names is kept": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("t1", "fw", "100m", "64Mi", time.Minute).Offer("o1").Obj()},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), tc.objs...)
			p.placing = builtinPlacing{frameworks: map[string]bool{"ns/fw": true}, contended: tc.contended}
			for _, o := range tc.placed {
				p.placed[k(o)] = true
			}
			if diff := cmp.Diff(tc.want, renderPlan(planBuiltinReturns(p))); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanRescinds(t *testing.T) {
	unreachable := b.MakeAgent("gone-quiet").Allocatable(b.Resources("cpu", "4", "memory", "8Gi")).Unreachable().Obj()
	cases := map[string]struct {
		objs []client.Object
		idle map[string]bool
		want []string
	}{
		"an expired offer is rescinded": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"),
				b.MakeOffer("o1", "ns", "fw", "a1").Resources(b.Resources("cpu", "1", "memory", "1Gi")).Expires(now.Add(-time.Second)).Obj()},
			want: []string{"delete offer ns/o1 OfferExpired"},
		},
		"an expired offer a task accepted in time, not yet bound, is kept": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"),
				b.MakeOffer("o1", "ns", "fw", "a1").Resources(b.Resources("cpu", "1", "memory", "1Gi")).Expires(now.Add(-time.Second)).Obj(),
				task("t1", "fw", "100m", "64Mi", time.Minute).Offer("o1").Obj()},
		},
		"an expired offer a task accepted only after it expired is rescinded": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"),
				b.MakeOffer("o1", "ns", "fw", "a1").Resources(b.Resources("cpu", "1", "memory", "1Gi")).Expires(now.Add(-time.Minute)).Obj(),
				task("t1", "fw", "100m", "64Mi", time.Second).Offer("o1").Obj()},
			want: []string{"delete offer ns/o1 OfferExpired"},
		},
		"the offer of an unreachable agent is rescinded": {
			objs: []client.Object{unreachable, sdkFramework("fw"), offer("o1", "fw", "gone-quiet", "1", "1Gi")},
			want: []string{"delete offer ns/o1 AgentUnreachable"},
		},
		"an idle built-in framework's offer is returned": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi")},
			idle: map[string]bool{"ns/fw": true},
			want: []string{"delete offer ns/o1 Unused"},
		},
		"an idle built-in framework's offer that a task placed on it but not yet bound names is kept": {
			objs: []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi"),
				task("t1", "fw", "100m", "64Mi", time.Minute).Offer("o1").Obj()},
			idle: map[string]bool{"ns/fw": true},
		},
		"an offer in force is kept": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi")},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), tc.objs...)
			p.l.setIdle(tc.idle)
			if diff := cmp.Diff(tc.want, renderPlan(planRescinds(p, tc.idle))); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanOffers(t *testing.T) {
	cases := map[string]struct {
		objs []client.Object
		want []string
	}{
		"every free agent goes to the one framework that wants offers": {
			objs: []client.Object{agent("a1", "4", "8Gi"), agent("a2", "2", "4Gi"), sdkFramework("fw")},
			want: []string{"offer a1 to ns/fw: cpu 4, memory 8Gi", "offer a2 to ns/fw: cpu 2, memory 4Gi"},
		},
		"an agent is offered what its tasks and offers leave": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), sdkFramework("other"), offer("o1", "other", "a1", "1", "1Gi"),
				task("t1", "other", "1", "1Gi", time.Minute).Offer("o9").Bound("a1", kov1.TaskRunning).Obj()},
			want: []string{"offer a1 to ns/fw: cpu 2, memory 6Gi"},
		},
		"a suppressed framework is offered nothing": {
			objs: []client.Object{agent("a1", "4", "8Gi"), b.MakeFramework("fw", "ns").Connected().Offers(kov1.OfferModeSuppressed).Obj()},
		},
		"a disconnected framework is offered nothing": {
			objs: []client.Object{agent("a1", "4", "8Gi"), b.MakeFramework("fw", "ns").Obj()},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), tc.objs...)
			if diff := cmp.Diff(tc.want, renderPlan(planOffers(p, 0))); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanUnofferedMarks(t *testing.T) {
	cases := map[string]struct {
		objs   []client.Object
		waited []string
		want   []string
	}{
		"a built-in framework with no offer: its tasks that have waited say so": {
			objs: []client.Object{builtinFramework("fw"), task("t1", "fw", "1", "1Gi", time.Hour).Obj(), task("t2", "fw", "1", "1Gi", time.Minute).Obj(),
				task("new", "fw", "1", "1Gi", time.Second).Obj()},
			waited: []string{"t1", "t2"},
			want:   []string{"mark ns/t1 WaitingForOffer", "mark ns/t2 WaitingForOffer"},
		},
		"one holding an offer is not marked": {
			objs:   []client.Object{agent("a1", "4", "8Gi"), builtinFramework("fw"), offer("o1", "fw", "a1", "1", "1Gi"), task("t1", "fw", "1", "1Gi", time.Hour).Obj()},
			waited: []string{"t1"},
		},
		"a task already marked is not written again": {
			objs:   []client.Object{builtinFramework("fw"), markedWaiting(task("t1", "fw", "1", "1Gi", time.Hour).Obj())},
			waited: []string{"t1"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), tc.objs...)
			waited(p, tc.waited...)
			if diff := cmp.Diff(tc.want, renderPlan(planUnofferedMarks(p))); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanStatus(t *testing.T) {
	used := offer("o1", "fw", "a1", "2", "2Gi")
	bound := task("t1", "fw", "1", "1Gi", time.Minute).Offer("o1").Bound("a1", kov1.TaskRunning).Obj()
	cases := map[string]struct {
		objs []client.Object
		want []string
	}{
		"an offer a task accepted records what remains; the framework and its role their use": {
			objs: []client.Object{agent("a1", "4", "8Gi"), sdkFramework("fw"), b.MakeRole(kov1.DefaultRole).Obj(), used, bound},
			want: []string{"patch status ResourceOffer o1", "patch status Framework fw", "patch status Role default"},
		},
		"an untouched offer keeps an empty status": {
			objs: []client.Object{agent("a1", "4", "8Gi"), offer("o2", "fw", "a1", "2", "2Gi")},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), tc.objs...)
			pl := planStatus(p, conditionMemo{}, nil)
			if diff := cmp.Diff(tc.want, renderPlan(pl)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if pl.gauges == nil {
				t.Errorf("no gauges planned")
			}
		})
	}
	// What was written is not written again.
	p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), agent("a1", "4", "8Gi"), sdkFramework("fw"), used, bound)
	for _, x := range planStatus(p, conditionMemo{}, nil).patches {
		p.w.add(x.next)
	}
	p.l = buildLedger(p.w, options{}, func(string) map[string]time.Time { return nil }, nil)
	if again := renderPlan(planStatus(p, conditionMemo{}, nil)); len(again) != 0 {
		t.Errorf("status written again: %q", again)
	}
}

// TestPlansBounded: a pass places, and admits, at most maxTasks tasks,
// oldest first, and says there is more; the offers of a framework whose
// tasks it had no room for are kept for the next pass, not declined.
func TestPlansBounded(t *testing.T) {
	// sdk is suppressed, so fw is alone and packs its offers.
	objs := []client.Object{agent("a1", "4", "8Gi"), agent("a2", "4", "8Gi"), builtinFramework("fw"),
		b.MakeFramework("sdk", "ns").Connected().Offers(kov1.OfferModeSuppressed).Obj(),
		offer("o1", "fw", "a1", "4", "8Gi"), offer("o2", "fw", "a2", "100m", "8Gi"), offer("s1", "sdk", "a2", "1", "1Gi"),
		task("t1", "fw", "1", "1Gi", 3*time.Hour).Obj(), task("t2", "fw", "1", "1Gi", 2*time.Hour).Obj(), task("t3", "fw", "1", "1Gi", time.Hour).Obj(),
		task("s1", "sdk", "100m", "64Mi", 3*time.Hour).Offer("s1").Obj(), task("s2", "sdk", "100m", "64Mi", 2*time.Hour).Offer("s1").Obj(),
		task("s3", "sdk", "100m", "64Mi", time.Hour).Offer("s1").Obj()}
	p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), objs...)
	p.maxTasks = 2
	waited(p, "t1", "t2", "t3")
	placing, placements := planPlacements(p)
	if diff := cmp.Diff([]string{"bind ns/t1 to a1 from o1", "bind ns/t2 to a1 from o1"}, renderPlan(placements)); diff != "" || !placements.more {
		t.Errorf("placements (-want +got):\n%s\nmore = %v, want true", diff, placements.more)
	}
	p.placing = placing
	p.placed[types.NamespacedName{Namespace: "ns", Name: "o1"}] = true
	if got := renderPlan(planBuiltinReturns(p)); len(got) != 0 {
		t.Errorf("returns of a framework with tasks left for the next pass: %q, want none (o2 is kept for t3)", got)
	}
	admission := planAdmission(p)
	if diff := cmp.Diff([]string{"bind ns/s1 to a2 from s1", "bind ns/s2 to a2 from s1"}, renderPlan(admission)); diff != "" || !admission.more {
		t.Errorf("admission (-want +got):\n%s\nmore = %v, want true", diff, admission.more)
	}
}
