package taskstatus

import (
	"strings"
	"testing"
	"time"

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
