package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// appendHistory records a transition in the task's bounded history.
func appendHistory(st *kov1.TaskStatus, state kov1.TaskState, reason, msg string, now time.Time) {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	st.History = append(st.History, kov1.TaskTransition{State: state, Reason: reason, Message: msg, Time: metav1.Time{Time: now}})
	if n := len(st.History); n > kov1.MaxTaskHistory {
		st.History = append([]kov1.TaskTransition(nil), st.History[n-kov1.MaxTaskHistory:]...)
	}
}

// setTerminal moves a task into a terminal state (or Killing/Unreachable)
// with its reason, message and history entry.
func setTerminal(st *kov1.TaskStatus, state kov1.TaskState, reason, msg string, now time.Time) {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	st.State, st.Reason, st.Message = state, reason, msg
	if state.IsTerminal() && st.CompletionTime == nil {
		st.CompletionTime = &metav1.Time{Time: now}
	}
	appendHistory(st, state, reason, msg, now)
}

func statusEqual(a, b kov1.TaskStatus) bool { return equality.Semantic.DeepEqual(a, b) }

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
