package main

import (
	"fmt"
	"sort"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// runFacts are the faults that may explain how a task ended.
type runFacts struct {
	// TornDown are the frameworks the run deleted or abandoned.
	TornDown map[string]bool
	// LongOutages are the agents cut off for longer than the agent timeout.
	LongOutages map[string]bool
}

// ending is how one task ended: its state and reason.
type ending struct {
	State  kov1.TaskState
	Reason string
}

func (e ending) String() string {
	if e.Reason == "" {
		return string(e.State)
	}
	return string(e.State) + "/" + e.Reason
}

// explain says whether the run's faults account for how task t ended, and
// if not, why not. "Nothing lost" means every task ends, and ends either by
// finishing or for a reason a fault explains:
//
//   - Finished: it ran to the end.
//   - Killed (FrameworkTornDown): its framework was deleted or abandoned.
//   - Lost (AgentUnreachable), or Gone: its agent was cut off past the
//     agent timeout.
//   - Dropped (NotLaunched): bound to an agent while it was cut off past
//     the agent timeout, so never launched.
//   - Dropped (OfferNotFound, OfferExpired): a task whose offer was
//     rescinded (disconnection, agent loss, teardown) before the master
//     admitted it — Mesos's TASK_DROPPED.
//   - Error (FrameworkNotFound): a task that reached admission after its
//     framework was deleted or abandoned.
//
// Anything else — a Failed task (the simulated containers always exit 0),
// a Pod that vanished without a kill, a kill no teardown asked for, a lost
// task on an agent that never went away — is a task the system lost.
func explain(t *kov1.Task, facts runFacts) (bool, string) {
	st, reason := t.Status.State, t.Status.Reason
	switch {
	case !st.IsTerminal():
		return false, fmt.Sprintf("still %s at the end", orPending(st))
	case st == kov1.TaskFinished:
		return true, ""
	case st == kov1.TaskKilled && reason == kov1.TaskReasonFrameworkTornDown:
		if facts.TornDown[t.Spec.FrameworkName] {
			return true, ""
		}
		return false, fmt.Sprintf("killed as torn down, but the run never tore framework %s down", t.Spec.FrameworkName)
	case (st == kov1.TaskLost && reason == kov1.TaskReasonAgentUnreachable) || st == kov1.TaskGone:
		if facts.LongOutages[t.Status.AgentName] {
			return true, ""
		}
		return false, fmt.Sprintf("%s as unreachable, but agent %q was never cut off past the agent timeout", st, t.Status.AgentName)
	case st == kov1.TaskDropped && reason == kov1.TaskReasonNotLaunched:
		if facts.LongOutages[t.Status.AgentName] {
			return true, ""
		}
		return false, fmt.Sprintf("dropped as never launched, but agent %q was never cut off past the agent timeout", t.Status.AgentName)
	case st == kov1.TaskDropped && t.Spec.OfferName != "" && (reason == kov1.TaskReasonOfferNotFound || reason == kov1.TaskReasonOfferExpired):
		return true, ""
	case st == kov1.TaskError && reason == kov1.TaskReasonFrameworkNotFound && facts.TornDown[t.Spec.FrameworkName]:
		return true, ""
	}
	return false, fmt.Sprintf("ended %s: %s", ending{st, reason}, t.Status.Message)
}

func orPending(s kov1.TaskState) kov1.TaskState {
	if s == "" {
		return kov1.TaskPending
	}
	return s
}

// accounting is the tasks of a run by how they ended, and those no fault
// explains.
type accounting struct {
	Total       int
	ByEnding    map[ending]int
	Unexplained []string
	// CameBack are the tasks that went Unreachable and then Finished once
	// their agent was back (partition-aware frameworks).
	CameBack int
}

func account(tasks []kov1.Task, facts runFacts) accounting {
	a := accounting{Total: len(tasks), ByEnding: map[ending]int{}}
	for i := range tasks {
		t := &tasks[i]
		a.ByEnding[ending{orPending(t.Status.State), t.Status.Reason}]++
		if t.Status.State == kov1.TaskFinished && wentThrough(t, kov1.TaskUnreachable) {
			a.CameBack++
		}
		if ok, why := explain(t, facts); !ok {
			a.Unexplained = append(a.Unexplained, fmt.Sprintf("task %s/%s (framework %s, agent %q): %s", t.Namespace, t.Name,
				t.Spec.FrameworkName, t.Status.AgentName, why))
		}
	}
	sort.Strings(a.Unexplained)
	return a
}

// byState sums the endings per state.
func (a accounting) byState() map[kov1.TaskState]int {
	out := map[kov1.TaskState]int{}
	for e, n := range a.ByEnding {
		out[e.State] += n
	}
	return out
}

// wentThrough reports whether the task's history shows state.
func wentThrough(t *kov1.Task, state kov1.TaskState) bool {
	for _, h := range t.Status.History {
		if h.State == state {
			return true
		}
	}
	return false
}
