package taskstatus

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

func TestTransition(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var st kov1.TaskStatus
	Transition(&st, kov1.TaskRunning, "", "up", now)
	if st.State != kov1.TaskRunning || st.CompletionTime != nil || len(st.History) != 1 {
		t.Fatalf("after Running: %+v", st)
	}
	Transition(&st, kov1.TaskFailed, kov1.TaskReasonContainerFailed, strings.Repeat("x", 5000), now.Add(time.Second))
	if st.CompletionTime == nil || !st.CompletionTime.Time.Equal(now.Add(time.Second)) {
		t.Fatalf("terminal state must stamp the completion time, got %v", st.CompletionTime)
	}
	if len(st.Message) != maxMessage || len(st.History[1].Message) != maxMessage {
		t.Fatalf("messages must be clipped to %d, got %d and %d", maxMessage, len(st.Message), len(st.History[1].Message))
	}
}

func TestHistoryIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var st kov1.TaskStatus
	for i := range kov1.MaxTaskHistory + 5 {
		AppendHistory(&st, kov1.TaskRunning, "", string(rune('a'+i)), now.Add(time.Duration(i)*time.Second))
	}
	if len(st.History) != kov1.MaxTaskHistory {
		t.Fatalf("history has %d entries, want %d", len(st.History), kov1.MaxTaskHistory)
	}
	if got, want := st.History[0].Message, string(rune('a'+5)); got != want {
		t.Fatalf("oldest kept entry is %q, want %q: the oldest must be dropped first", got, want)
	}
}

func TestPredicates(t *testing.T) {
	now := metav1.Now()
	task := func(state kov1.TaskState, agent string, deleting bool) *kov1.Task {
		t := &kov1.Task{Status: kov1.TaskStatus{State: state, AgentName: agent}}
		if deleting {
			t.DeletionTimestamp = &now
		}
		return t
	}
	type want struct{ pending, settled, holds bool }
	cases := map[string]struct {
		task *kov1.Task
		want want
	}{
		"new, no state":           {task: task("", "", false), want: want{pending: true}},
		"pending":                 {task: task(kov1.TaskPending, "", false), want: want{pending: true}},
		"pending, being deleted":  {task: task(kov1.TaskPending, "", true), want: want{}},
		"staging on an agent":     {task: task(kov1.TaskStaging, "a1", false), want: want{settled: true, holds: true}},
		"running, being deleted":  {task: task(kov1.TaskRunning, "a1", true), want: want{settled: true, holds: true}},
		"unreachable still holds": {task: task(kov1.TaskUnreachable, "a1", false), want: want{settled: true, holds: true}},
		"killing still holds":     {task: task(kov1.TaskKilling, "a1", false), want: want{settled: true, holds: true}},
		"finished frees":          {task: task(kov1.TaskFinished, "a1", false), want: want{settled: true}},
		"dropped before binding":  {task: task(kov1.TaskDropped, "", false), want: want{settled: true}},
		"agent named, not bound":  {task: task(kov1.TaskPending, "a1", false), want: want{pending: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := want{pending: IsPending(tc.task), settled: IsSettled(tc.task), holds: HoldsResources(tc.task)}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
