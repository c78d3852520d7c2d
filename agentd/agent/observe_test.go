package agent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

func podWith(phase corev1.PodPhase, statuses ...corev1.ContainerStatus) *corev1.Pod {
	p := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{Phase: phase, ContainerStatuses: statuses}}
	p.Name = "p"
	for _, s := range statuses {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: s.Name})
	}
	if len(statuses) == 0 {
		p.Spec.Containers = []corev1.Container{{Name: "main"}}
	}
	return p
}

func running(name string, at time.Time) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Time{Time: at}}}}
}

func exited(name string, code int32, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}}
}

func waiting(name, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func TestObserve(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	evicted := podWith(corev1.PodFailed)
	evicted.Status.Reason, evicted.Status.Message = "Evicted", "The node was low on memory."
	cases := map[string]struct {
		pod       *corev1.Pod
		state     kov1.TaskState
		reason    string
		message   string
		exitCode  *int32
		startTime bool
	}{
		"no status yet":     {pod: podWith(""), state: kov1.TaskStarting, message: "Pod p created on node n"},
		"pulling the image": {pod: podWith(corev1.PodPending, waiting("main", "ImagePullBackOff")), state: kov1.TaskStarting, message: "container main waiting: ImagePullBackOff"},
		"one of two running": {pod: podWith(corev1.PodRunning, running("a", t0), waiting("b", "ContainerCreating")),
			state: kov1.TaskStarting, message: "container b waiting: ContainerCreating"},
		"all running": {pod: podWith(corev1.PodRunning, running("a", t0.Add(time.Second)), running("b", t0)), state: kov1.TaskRunning, message: "Containers are running", startTime: true},
		"succeeded":   {pod: podWith(corev1.PodSucceeded, exited("a", 0, "Completed")), state: kov1.TaskFinished, reason: kov1.TaskReasonContainersCompleted, message: "All containers exited 0", exitCode: ptrInt32(0)},
		"succeeded with a result": {pod: func() *corev1.Pod {
			p := podWith(corev1.PodSucceeded, exited("a", 0, "Completed"))
			p.Status.ContainerStatuses[0].State.Terminated.Message = "hits=78540\n"
			return p
		}(), state: kov1.TaskFinished, reason: kov1.TaskReasonContainersCompleted, message: "hits=78540", exitCode: ptrInt32(0)},
		"failed with code": {pod: podWith(corev1.PodFailed, exited("a", 0, "Completed"), exited("b", 3, "Error")), state: kov1.TaskFailed, reason: kov1.TaskReasonContainerFailed, message: "Container b exited with code 3 (Error)", exitCode: ptrInt32(3)},
		"OOM killed":       {pod: podWith(corev1.PodFailed, exited("a", 137, "OOMKilled")), state: kov1.TaskFailed, reason: kov1.TaskReasonContainerOOMKilled, message: "Container a exited with code 137 (OOMKilled)", exitCode: ptrInt32(137)},
		"evicted":          {pod: evicted, state: kov1.TaskFailed, reason: kov1.TaskReasonContainerFailed, message: "The Pod failed (Evicted): The node was low on memory."},
		"unknown":          {pod: podWith(corev1.PodUnknown)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Observe(tc.pod)
			if got.State != tc.state || got.Reason != tc.reason || got.Message != tc.message {
				t.Errorf("got %s/%s %q; want %s/%s %q", got.State, got.Reason, got.Message, tc.state, tc.reason, tc.message)
			}
			if (got.ExitCode == nil) != (tc.exitCode == nil) || (got.ExitCode != nil && *got.ExitCode != *tc.exitCode) {
				t.Errorf("exit code %v, want %v", got.ExitCode, tc.exitCode)
			}
			if tc.startTime && (got.StartTime == nil || !got.StartTime.Time.Equal(t0)) {
				t.Errorf("start time %v, want the earliest container start %v", got.StartTime, t0)
			}
		})
	}
}
