package agent

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Observation is what a task's Pod says about the task.
type Observation struct {
	// State is the task state the Pod shows: Starting, Running, Finished or
	// Failed. Empty when the Pod says nothing new (phase Unknown).
	State   kov1.TaskState
	Reason  string
	Message string
	// ExitCode is set once the Pod is done: 0, or the first failed
	// container's code.
	ExitCode *int32
	// StartTime is when the containers started running, once they have.
	StartTime *metav1.Time
}

// Observe maps a task's Pod to the task state (Mesos's executor status
// updates):
//
//	Pending, or Running with a container not started → Starting
//	Running, every container started                 → Running
//	Succeeded                                        → Finished (ContainersCompleted), exit 0, the
//	  first termination message (the task's result) as the message
//	Failed                                           → Failed, with the first
//	  failed container's exit code and ContainerOOMKilled or ContainerFailed
func Observe(pod *corev1.Pod) Observation {
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return Observation{State: kov1.TaskFinished, Reason: kov1.TaskReasonContainersCompleted, Message: orDefault(output(pod), "All containers exited 0"), ExitCode: ptrInt32(0), StartTime: startTime(pod)}
	case corev1.PodFailed:
		return failed(pod)
	case corev1.PodRunning:
		if waiting := waitingMessage(pod.Status.ContainerStatuses); waiting != "" || len(pod.Status.ContainerStatuses) < len(pod.Spec.Containers) {
			return Observation{State: kov1.TaskStarting, Message: orDefault(waiting, "Containers are starting")}
		}
		return Observation{State: kov1.TaskRunning, Message: "Containers are running", StartTime: startTime(pod)}
	case corev1.PodUnknown:
		return Observation{}
	default: // Pending, or no status yet
		msg := waitingMessage(pod.Status.InitContainerStatuses)
		if msg == "" {
			msg = waitingMessage(pod.Status.ContainerStatuses)
		}
		if msg == "" && pod.Status.Message != "" {
			msg = pod.Status.Message
		}
		return Observation{State: kov1.TaskStarting, Message: orDefault(msg, "Pod "+pod.Name+" created on node "+pod.Spec.NodeName)}
	}
}

// output is the first termination message of the Pod's app containers
// (what a container wrote to its terminationMessagePath): the small result
// a finished task returns, as Mesos's TaskStatus.data.
func output(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil {
			if msg := strings.TrimSpace(term.Message); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// failed describes a Failed Pod by its first container that exited
// non-zero (init containers first), or by the Pod's own reason (e.g.
// Evicted) when no container says why.
func failed(pod *corev1.Pod) Observation {
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			term := cs.State.Terminated
			if term == nil || (term.ExitCode == 0 && term.Reason != "OOMKilled") {
				continue
			}
			reason := kov1.TaskReasonContainerFailed
			if term.Reason == "OOMKilled" {
				reason = kov1.TaskReasonContainerOOMKilled
			}
			msg := fmt.Sprintf("Container %s exited with code %d", cs.Name, term.ExitCode)
			if term.Reason != "" {
				msg += " (" + term.Reason + ")"
			}
			if term.Message != "" {
				msg += ": " + term.Message
			}
			return Observation{State: kov1.TaskFailed, Reason: reason, Message: msg, ExitCode: ptrInt32(term.ExitCode), StartTime: startTime(pod)}
		}
	}
	msg := "The Pod failed"
	if pod.Status.Reason != "" {
		msg += " (" + pod.Status.Reason + ")"
	}
	if pod.Status.Message != "" {
		msg += ": " + pod.Status.Message
	}
	return Observation{State: kov1.TaskFailed, Reason: kov1.TaskReasonContainerFailed, Message: msg, StartTime: startTime(pod)}
}

// waitingMessage names the containers that wait, and why (e.g.
// "container app: ImagePullBackOff: …"), or is empty when none waits.
func waitingMessage(statuses []corev1.ContainerStatus) string {
	var parts []string
	for _, cs := range statuses {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		p := "container " + cs.Name + " waiting"
		if w.Reason != "" {
			p += ": " + w.Reason
		}
		if w.Message != "" {
			p += ": " + w.Message
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// startTime is the earliest start of a container, or the Pod's start time.
func startTime(pod *corev1.Pod) *metav1.Time {
	var first *metav1.Time
	for _, cs := range pod.Status.ContainerStatuses {
		var at metav1.Time
		switch {
		case cs.State.Running != nil:
			at = cs.State.Running.StartedAt
		case cs.State.Terminated != nil:
			at = cs.State.Terminated.StartedAt
		default:
			continue
		}
		if !at.IsZero() && (first == nil || at.Before(first)) {
			first = at.DeepCopy()
		}
	}
	if first == nil && pod.Status.StartTime != nil {
		first = pod.Status.StartTime.DeepCopy()
	}
	return first
}

// podDone reports whether a Pod's containers have all stopped for good.
func podDone(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func ptrInt32(v int32) *int32 { return &v }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
