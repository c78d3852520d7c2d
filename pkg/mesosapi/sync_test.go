package mesosapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

// describe names a plan's events and declines, for comparison.
func describe(p syncPlan) []string {
	var out []string
	for _, e := range p.Events {
		switch e.GetType() {
		case mesospb.Event_OFFERS:
			var ids []string
			for _, o := range e.GetOffers().GetOffers() {
				ids = append(ids, o.GetId().GetValue())
			}
			out = append(out, "OFFERS "+strings.Join(ids, ","))
		case mesospb.Event_RESCIND:
			out = append(out, "RESCIND "+e.GetRescind().GetOfferId().GetValue())
		case mesospb.Event_UPDATE:
			out = append(out, "UPDATE "+e.GetUpdate().GetStatus().GetTaskId().GetValue()+" "+e.GetUpdate().GetStatus().GetState().String())
		case mesospb.Event_FAILURE:
			out = append(out, "FAILURE "+e.GetFailure().GetAgentId().GetValue())
		}
	}
	for _, d := range p.Declines {
		out = append(out, fmt.Sprintf("DECLINE %s %s", d.Offer, d.Refuse))
	}
	return out
}

func offer(name string) kov1.ResourceOffer {
	return *b.MakeOffer(name, "ns", "fw", "node-1").Resources(b.Resources("cpu", "1", "memory", "1Gi")).Obj()
}

func accepted(o kov1.ResourceOffer, n, refuse string) kov1.ResourceOffer {
	o.Annotations = map[string]string{AnnotationAcceptedTasks: n, AnnotationRefuseSeconds: refuse}
	return o
}

func onOffer(tk *kov1.Task, offer string) kov1.Task {
	tk.Spec.OfferName = offer
	return *tk
}

func agent(name string, reachable bool) *kov1.Agent {
	a := b.MakeAgent(name).Obj()
	st := metav1.ConditionTrue
	if !reachable {
		st = metav1.ConditionFalse
	}
	a.Status.Conditions = []metav1.Condition{{Type: kov1.AgentReachableCondition, Status: st}}
	return a
}

func TestPlanSync(t *testing.T) {
	type pass struct {
		offers []kov1.ResourceOffer
		tasks  []kov1.Task
		agents map[string]*kov1.Agent
		at     time.Duration
		answer []string // offers the framework answers after this pass
		want   []string
	}
	declined := offer("d")
	declined.Spec.Decline = &kov1.OfferDecline{}
	running := mesosTask("t1", kov1.TaskPending, kov1.TaskStaging, kov1.TaskRunning)
	cases := map[string][]pass{
		"offers go once; unanswered ones that go are rescinded, answered ones not": {
			{offers: []kov1.ResourceOffer{offer("a"), offer("b"), declined}, want: []string{"OFFERS a,b"}, answer: []string{"b"}},
			{offers: []kov1.ResourceOffer{offer("a"), offer("b")}},
			{offers: nil, want: []string{"RESCIND a"}},
			{offers: nil},
		},
		"an accepted offer is declined with its refuse time once its tasks are bound": {
			{offers: []kov1.ResourceOffer{accepted(offer("a"), "1", "2.5")}},
			{offers: []kov1.ResourceOffer{accepted(offer("a"), "1", "2.5")}, tasks: []kov1.Task{onOffer(mesosTask("t1", kov1.TaskPending), "a")}},
			{offers: []kov1.ResourceOffer{accepted(offer("a"), "1", "2.5")}, tasks: []kov1.Task{onOffer(mesosTask("t1", kov1.TaskPending, kov1.TaskStaging), "a")},
				want: []string{"DECLINE a 2.5s"}},
		},
		"an unacknowledged update is resent after 1s, 2s, 4s, 4s": {
			{tasks: []kov1.Task{*running}, want: []string{"UPDATE t1 TASK_RUNNING"}},
			{tasks: []kov1.Task{*running}, at: 900 * time.Millisecond},
			{tasks: []kov1.Task{*running}, at: time.Second, want: []string{"UPDATE t1 TASK_RUNNING"}},
			{tasks: []kov1.Task{*running}, at: 2900 * time.Millisecond},
			{tasks: []kov1.Task{*running}, at: 3 * time.Second, want: []string{"UPDATE t1 TASK_RUNNING"}},
			{tasks: []kov1.Task{*running}, at: 7 * time.Second, want: []string{"UPDATE t1 TASK_RUNNING"}},
			{tasks: []kov1.Task{*running}, at: 11 * time.Second, want: []string{"UPDATE t1 TASK_RUNNING"}},
		},
		"an agent gone or unreachable is a FAILURE, once": {
			{tasks: []kov1.Task{*running}, agents: map[string]*kov1.Agent{"node-1": agent("node-1", false)}, want: []string{"UPDATE t1 TASK_RUNNING", "FAILURE node-1"}},
			{tasks: []kov1.Task{*running}, agents: map[string]*kov1.Agent{"node-1": nil}, at: 500 * time.Millisecond},
			{tasks: []kov1.Task{*running}, agents: map[string]*kov1.Agent{"node-1": agent("node-1", true)}, at: 600 * time.Millisecond},
			{tasks: []kov1.Task{*running}, agents: map[string]*kov1.Agent{"node-1": agent("node-1", false)}, at: 700 * time.Millisecond, want: []string{"FAILURE node-1"}},
		},
	}
	for name, passes := range cases {
		m := newSyncMemory()
		for i, p := range passes {
			plan := planSync(syncView{FrameworkID: "fw", Role: "*", Offers: p.offers, Tasks: p.tasks, Agents: p.agents,
				Now: t0.Add(p.at), Resend: time.Second, ResendMax: 4 * time.Second}, m)
			if diff := cmp.Diff(p.want, describe(plan)); diff != "" {
				t.Errorf("%s, pass %d (-want +got):\n%s", name, i, diff)
			}
			for _, a := range p.answer {
				m.Offers[a] = true
			}
		}
	}
}

func TestRefuseDuration(t *testing.T) {
	for s, want := range map[float64]time.Duration{5: 5 * time.Second, 0: 0, -1: DefaultRefuse, 1e12: maxRefuse, 0.25: 250 * time.Millisecond} {
		if got := refuseDuration(s); got != want {
			t.Errorf("refuse_seconds %v: got %s, want %s", s, got, want)
		}
	}
	for s, want := range map[float64]time.Duration{0: time.Second, 604800: 7 * 24 * time.Hour, 1e12: maxRefuse} {
		if got := FailoverTimeout(s); got != want {
			t.Errorf("failover_timeout %v: got %s, want %s", s, got, want)
		}
	}
}
