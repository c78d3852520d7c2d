package agent

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Verb is the one thing agentd does next for a task.
type Verb string

const (
	// Wait: nothing to do until the task or its Pod changes.
	Wait Verb = "Wait"
	// AddFinalizer: hold the Task's deletion until its Pod is stopped.
	// Always done before the Pod is launched.
	AddFinalizer Verb = "AddFinalizer"
	// Launch: create the task's Pod and report Starting (or Error if the
	// API server refuses it).
	Launch Verb = "Launch"
	// StopPod: delete the Pod with the task's kill grace period.
	StopPod Verb = "StopPod"
	// Report: move the task to Action.State.
	Report Verb = "Report"
	// ReleaseFinalizer: the task has nothing running; let its deletion go.
	ReleaseFinalizer Verb = "ReleaseFinalizer"
)

// Action is Next's decision: a verb and, for Report, the new status.
type Action struct {
	Verb    Verb
	State   kov1.TaskState
	Reason  string
	Message string
	// Observation carries exit code and start time for a Report from the Pod.
	Observation *Observation
}

func (a Action) String() string {
	if a.Verb == Report {
		return fmt.Sprintf("Report %s (%s)", a.State, a.Reason)
	}
	return string(a.Verb)
}

// Next decides agentd's next step for task t bound to this agent, given its
// Pod as the API server has it (nil when there is none). Each step is one
// write; the reconciler applies it and calls Next again on the next event,
// so agentd can stop between any two steps and resume where it was.
//
// The rules, in order:
//
//  1. A Pod named after the task but launched for an earlier Task of the
//     same name (another UID) is deleted first.
//  2. A task being deleted, or Killing, is reported Killing, its Pod is
//     stopped with the kill grace period, and once the Pod is gone it is
//     Killed and (if deleted) its finalizer released.
//  3. A terminal task keeps nothing running: a Pod still running (a Lost
//     task whose agent came back) is stopped; then the finalizer goes.
//  4. A live task gets the finalizer before anything is launched.
//  5. Staging without a Pod → Launch. Unreachable and never launched (no
//     status.podName: bound while the agent was cut off) → Dropped
//     (NotLaunched). Starting, Running or Unreachable without a Pod → Lost
//     (PodVanished).
//  6. With a Pod, the Pod's state (Observe) is reported when it differs.
func Next(t *kov1.Task, pod *corev1.Pod) Action {
	if pod != nil && !launchedFor(pod, t) {
		if pod.Labels[kov1.LabelTask] == kov1.LabelValue(t.Name) && pod.Labels[kov1.LabelTaskUID] != "" {
			if pod.DeletionTimestamp == nil {
				return Action{Verb: StopPod, Message: "Pod " + pod.Name + " belongs to an earlier Task of the same name"}
			}
			return Action{Verb: Wait}
		}
		return nextForeign(t, pod)
	}
	state := t.Status.State
	live := !state.IsTerminal()
	deleting := t.DeletionTimestamp != nil
	hasFinalizer := controllerutil.ContainsFinalizer(t, kov1.TaskKillFinalizer)

	if deleting || state == kov1.TaskKilling {
		switch {
		case live && state != kov1.TaskKilling:
			return Action{Verb: Report, State: kov1.TaskKilling, Reason: kov1.TaskReasonKilledByRequest, Message: "The Task was deleted; stopping its Pod"}
		case pod != nil && pod.DeletionTimestamp == nil:
			return Action{Verb: StopPod, Message: "Stopping the task's Pod"}
		case pod != nil:
			return Action{Verb: Wait} // the kubelet is stopping the containers
		case live:
			reason := t.Status.Reason
			if reason == "" {
				reason = kov1.TaskReasonKilledByRequest
			}
			return Action{Verb: Report, State: kov1.TaskKilled, Reason: reason, Message: "The task's Pod was stopped"}
		case deleting && hasFinalizer:
			return Action{Verb: ReleaseFinalizer}
		}
		return Action{Verb: Wait}
	}

	if !live {
		if pod != nil && !podDone(pod) {
			if pod.DeletionTimestamp == nil {
				return Action{Verb: StopPod, Message: fmt.Sprintf("The task is %s; its Pod must not run", state)}
			}
			return Action{Verb: Wait}
		}
		if hasFinalizer {
			return Action{Verb: ReleaseFinalizer}
		}
		return Action{Verb: Wait}
	}

	if !hasFinalizer {
		return Action{Verb: AddFinalizer}
	}
	if pod == nil {
		switch {
		case state == kov1.TaskStaging:
			return Action{Verb: Launch}
		case state == kov1.TaskUnreachable && t.Status.PodName == "":
			// Bound while this agent was already cut off: it never saw the
			// task, and nothing ran. A partition-aware framework may have
			// replaced it meanwhile, so it is not launched late; Mesos's
			// agent answers TASK_DROPPED for a task it never received.
			return Action{Verb: Report, State: kov1.TaskDropped, Reason: kov1.TaskReasonNotLaunched,
				Message: "The agent was unreachable before it launched the task's Pod; the task never ran and may be launched again"}
		case state == kov1.TaskStarting || state == kov1.TaskRunning || state == kov1.TaskUnreachable:
			return Action{Verb: Report, State: kov1.TaskLost, Reason: kov1.TaskReasonPodVanished,
				Message: "Pod " + PodName(t) + " vanished without a kill"}
		}
		return Action{Verb: Wait} // Pending: not bound yet
	}
	obs := Observe(pod)
	if obs.State == "" {
		return Action{Verb: Wait}
	}
	if pod.DeletionTimestamp != nil && !obs.State.IsTerminal() {
		return Action{Verb: Wait} // deleted by someone else: Lost once it is gone
	}
	if obs.State == state && obs.Reason == t.Status.Reason && obs.Message == t.Status.Message &&
		ptr.Equal(obs.ExitCode, t.Status.ExitCode) && t.Status.PodName == pod.Name {
		return Action{Verb: Wait}
	}
	return Action{Verb: Report, State: obs.State, Reason: obs.Reason, Message: obs.Message, Observation: &obs}
}

// nextForeign handles a Pod that has the task's name but was not launched by
// agentd for any Task of that name: the task cannot take the name.
func nextForeign(t *kov1.Task, pod *corev1.Pod) Action {
	state := t.Status.State
	switch {
	case state.IsTerminal():
		if t.DeletionTimestamp != nil && controllerutil.ContainsFinalizer(t, kov1.TaskKillFinalizer) {
			return Action{Verb: ReleaseFinalizer}
		}
		return Action{Verb: Wait}
	case t.DeletionTimestamp != nil || state == kov1.TaskKilling:
		return Action{Verb: Report, State: kov1.TaskKilled, Reason: orDefault(t.Status.Reason, kov1.TaskReasonKilledByRequest), Message: "The task had no Pod to stop"}
	case state == kov1.TaskStaging:
		return Action{Verb: Report, State: kov1.TaskError, Reason: kov1.TaskReasonPodRejected,
			Message: fmt.Sprintf("A Pod named %s already exists in namespace %s and was not launched for this task; rename the Task", pod.Name, pod.Namespace)}
	case state == kov1.TaskStarting || state == kov1.TaskRunning || state == kov1.TaskUnreachable:
		return Action{Verb: Report, State: kov1.TaskLost, Reason: kov1.TaskReasonPodVanished,
			Message: "Pod " + pod.Name + " was replaced by a Pod not launched for this task"}
	}
	return Action{Verb: Wait}
}

// launchedFor reports whether agentd launched pod for this very Task.
func launchedFor(pod *corev1.Pod, t *kov1.Task) bool {
	return pod.Labels[kov1.LabelTaskUID] == string(t.UID)
}
