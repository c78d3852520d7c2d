// Package taskstatus holds the rules every writer and reader of a Task's
// status follows: the master, agentd and the SDK. Every transition is
// recorded in the task's bounded history, terminal states stamp a completion
// time, and whether a task is pending, settled or holding resources is
// decided here once.
//
// The Task state machine (Mesos's, plus Pending before binding):
//
//	            master binds            agentd: Pod created     containers up
//	Pending ─────────────────► Staging ───────────────► Starting ──────────► Running
//	   │ master refuses            │                         │                   │
//	   ▼                           └──────────┬──────────────┴───────────────────┘
//	Dropped, Error                            │ kill asked      │ agent unreachable
//	                                          ▼                 ▼
//	                                       Killing ──► Killed   Unreachable ──► Gone
//	                                                   (partition-aware frameworks, or
//	                                                    back when the agent is; others
//	                                                    go straight to Lost)
//
//	Staging, Starting, Running end in Finished, Failed, Error or Lost as the
//	containers exit or the Pod vanishes; the agent's removal ends them Gone
//	(partition-aware) or Lost. Terminal: Finished, Failed, Killed, Error,
//	Lost, Dropped, Gone (kov1.TaskState.IsTerminal).
//
// A task is pending while its state is empty or Pending (IsPending also
// requires that it is not being deleted); settled once the master has bound
// or refused it (IsSettled); and holds its agent's resources from binding
// until it ends (HoldsResources).
package taskstatus

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// IsPending reports whether a task waits for the master: to be admitted, or
// placed by its framework's built-in scheduler. A task being deleted no
// longer waits.
func IsPending(t *kov1.Task) bool {
	return t.DeletionTimestamp == nil && !IsSettled(t)
}

// IsSettled reports whether the master has decided a task: bound it to an
// agent (Staging and later) or refused it (a terminal state).
func IsSettled(t *kov1.Task) bool {
	return t.Status.State != "" && t.Status.State != kov1.TaskPending
}

// HoldsResources reports whether a task holds its agent's resources: bound
// and not ended. The master's ledger and agentd's allocated count the same
// tasks.
func HoldsResources(t *kov1.Task) bool {
	return t.Status.AgentName != "" && IsSettled(t) && !t.Status.State.IsTerminal()
}

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
