// Package taskstatus holds the rules both the master and agentd follow when
// they move a Task from one state to another: every transition is recorded
// in the task's bounded history, and terminal states stamp a completion
// time. Keeping them in one place keeps the two writers consistent.
package taskstatus

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// maxMessage is the API's bound on status.message and history messages.
const maxMessage = 1024

func clip(msg string) string {
	if len(msg) > maxMessage {
		return msg[:maxMessage]
	}
	return msg
}

// AppendHistory records a transition in the task's history, dropping the
// oldest entries beyond kov1.MaxTaskHistory.
func AppendHistory(st *kov1.TaskStatus, state kov1.TaskState, reason, msg string, now time.Time) {
	st.History = append(st.History, kov1.TaskTransition{State: state, Reason: reason, Message: clip(msg), Time: metav1.Time{Time: now}})
	if n := len(st.History); n > kov1.MaxTaskHistory {
		st.History = append([]kov1.TaskTransition(nil), st.History[n-kov1.MaxTaskHistory:]...)
	}
}

// Transition moves a task into state with its reason and message, records
// it in the history and, for a terminal state, sets the completion time.
func Transition(st *kov1.TaskStatus, state kov1.TaskState, reason, msg string, now time.Time) {
	st.State, st.Reason, st.Message = state, reason, clip(msg)
	if state.IsTerminal() && st.CompletionTime == nil {
		st.CompletionTime = &metav1.Time{Time: now}
	}
	AppendHistory(st, state, reason, msg, now)
}
