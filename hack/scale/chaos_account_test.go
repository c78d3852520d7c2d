package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

func TestExplain(t *testing.T) {
	facts := runFacts{TornDown: map[string]bool{"gone": true}, LongOutages: map[string]bool{"far": true}}
	ended := func(fw, agent string, state kov1.TaskState, reason string) *kov1.Task {
		tk := b.MakeTask("t", "chaos", fw).Bound(agent, state).Obj()
		tk.Status.Reason, tk.Status.Message = reason, "why"
		return tk
	}
	withOffer := func(tk *kov1.Task) *kov1.Task { tk.Spec.OfferName = "o1"; return tk }
	cases := map[string]struct {
		task *kov1.Task
		want string // "" when explained
	}{
		"finished":                          {task: ended("fw", "a", kov1.TaskFinished, kov1.TaskReasonContainersCompleted)},
		"killed by a teardown":              {task: ended("gone", "a", kov1.TaskKilled, kov1.TaskReasonFrameworkTornDown)},
		"killed, framework never torn down": {task: ended("fw", "a", kov1.TaskKilled, kov1.TaskReasonFrameworkTornDown), want: "killed as torn down, but the run never tore framework fw down"},
		"killed by request":                 {task: ended("gone", "a", kov1.TaskKilled, kov1.TaskReasonKilledByRequest), want: "ended Killed/KilledByRequest: why"},
		"lost on a long outage":             {task: ended("fw", "far", kov1.TaskLost, kov1.TaskReasonAgentUnreachable)},
		"gone on a long outage":             {task: ended("fw", "far", kov1.TaskGone, "AgentGone")},
		"gone without an outage":            {task: ended("fw", "near", kov1.TaskGone, "AgentGone"), want: `Gone as unreachable, but agent "near" was never cut off past the agent timeout`},
		"lost on a short outage":            {task: ended("fw", "near", kov1.TaskLost, kov1.TaskReasonAgentUnreachable), want: `Lost as unreachable, but agent "near" was never cut off past the agent timeout`},
		"pod vanished":                      {task: ended("fw", "far", kov1.TaskLost, kov1.TaskReasonPodVanished), want: "ended Lost/PodVanished: why"},
		"failed":                            {task: ended("fw", "a", kov1.TaskFailed, kov1.TaskReasonContainerFailed), want: "ended Failed/ContainerFailed: why"},
		"never launched, long outage":       {task: ended("fw", "far", kov1.TaskDropped, kov1.TaskReasonNotLaunched)},
		"never launched, no outage":         {task: ended("fw", "near", kov1.TaskDropped, kov1.TaskReasonNotLaunched), want: `dropped as never launched, but agent "near" was never cut off past the agent timeout`},
		"dropped, offer gone":               {task: withOffer(ended("fw", "", kov1.TaskDropped, kov1.TaskReasonOfferNotFound))},
		"dropped, offer expired":            {task: withOffer(ended("fw", "", kov1.TaskDropped, kov1.TaskReasonOfferExpired))},
		"dropped without an offer":          {task: ended("fw", "", kov1.TaskDropped, kov1.TaskReasonOfferNotFound), want: "ended Dropped/OfferNotFound: why"},
		"error, framework torn down":        {task: withOffer(ended("gone", "", kov1.TaskError, kov1.TaskReasonFrameworkNotFound))},
		"error, framework never torn down":  {task: withOffer(ended("fw", "", kov1.TaskError, kov1.TaskReasonFrameworkNotFound)), want: "ended Error/FrameworkNotFound: why"},
		"still running":                     {task: ended("fw", "a", kov1.TaskRunning, ""), want: "still Running at the end"},
		"still unreachable":                 {task: ended("fw", "far", kov1.TaskUnreachable, kov1.TaskReasonAgentUnreachable), want: "still Unreachable at the end"},
		"never bound":                       {task: ended("fw", "", "", ""), want: "still Pending at the end"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ok, why := explain(tc.task, facts)
			if ok != (tc.want == "") {
				t.Errorf("explained = %v (%q), want %v", ok, why, tc.want == "")
			}
			if diff := cmp.Diff(tc.want, why); diff != "" {
				t.Errorf("why (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccount(t *testing.T) {
	facts := runFacts{TornDown: map[string]bool{}, LongOutages: map[string]bool{}}
	fin := *b.MakeTask("a", "chaos", "fw").Bound("n", kov1.TaskFinished).Obj()
	fin.Status.Reason = kov1.TaskReasonContainersCompleted
	run := *b.MakeTask("b", "chaos", "fw").Bound("n", kov1.TaskRunning).Obj()
	back := *fin.DeepCopy()
	back.Status.History = []kov1.TaskTransition{{State: kov1.TaskRunning}, {State: kov1.TaskUnreachable}, {State: kov1.TaskRunning}, {State: kov1.TaskFinished}}
	got := account([]kov1.Task{fin, back, run}, facts)
	want := accounting{Total: 3, ByEnding: map[ending]int{{kov1.TaskFinished, kov1.TaskReasonContainersCompleted}: 2, {kov1.TaskRunning, ""}: 1},
		Unexplained: []string{`task chaos/b (framework fw, agent "n"): still Running at the end`}, CameBack: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accounting (-want +got):\n%s", diff)
	}
}
