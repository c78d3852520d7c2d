package harness

import (
	"context"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Annotations that script what the Kubelet double does with a Pod (put them
// in a Task's Pod template).
const (
	// AnnotationExit makes the Pod's containers exit after they ran: "0",
	// a non-zero code, or "OOMKilled" (code 137). Without it they run until
	// the Pod is deleted.
	AnnotationExit = "kubelet.test.kubeoffer.io/exit"
	// AnnotationOutput is the termination message the containers leave.
	AnnotationOutput = "kubelet.test.kubeoffer.io/output"
)

// StartKubelet plays the kubelet of nodes until the test ends: every 100ms
// it starts the Pods bound to them (Running), ends those annotated with
// AnnotationExit, and confirms graceful deletions once asked. envtest has
// no kubelet; the end-to-end tests run the real one.
func StartKubelet(t testing.TB, c client.Client, nodes ...string) {
	StartKubeletWith(t, c, KubeletOptions{}, nodes...)
}

// KubeletOptions tune the kubelet double.
type KubeletOptions struct {
	// RunCommands ends a running Pod whose containers all run commands the
	// double can decide without running anything (see CommandExit) with
	// the exit codes sh would give them. Other Pods run until deleted (or
	// AnnotationExit says otherwise), as without it.
	RunCommands bool
}

// StartKubeletWith is StartKubelet with options.
func StartKubeletWith(t testing.TB, c client.Client, opts KubeletOptions, nodes ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for _, n := range nodes {
				syncNode(ctx, c, n, opts)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func syncNode(ctx context.Context, c client.Client, node string, opts KubeletOptions) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.MatchingFields{"spec.nodeName": node}); err != nil {
		return
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		switch {
		case p.DeletionTimestamp != nil:
			_ = c.Delete(ctx, p, client.GracePeriodSeconds(0)) // containers stopped
		case p.Status.Phase == "" || p.Status.Phase == corev1.PodPending:
			SetRunning(p)
			_ = c.Status().Update(ctx, p)
		case p.Status.Phase == corev1.PodRunning && p.Annotations[AnnotationExit] != "":
			code, reason := int32(137), "OOMKilled"
			if v := p.Annotations[AnnotationExit]; v != "OOMKilled" {
				n, _ := strconv.Atoi(v)
				code, reason = int32(n), "Completed"
				if n != 0 {
					reason = "Error"
				}
			}
			SetExited(p, code, reason, p.Annotations[AnnotationOutput])
			_ = c.Status().Update(ctx, p)
		case p.Status.Phase == corev1.PodRunning && opts.RunCommands:
			codes := make([]int32, len(p.Spec.Containers))
			decided := len(codes) > 0
			for i, ct := range p.Spec.Containers {
				code, ok := CommandExit(append(append([]string(nil), ct.Command...), ct.Args...))
				codes[i], decided = code, decided && ok
			}
			if decided {
				setExitedCodes(p, codes)
				_ = c.Status().Update(ctx, p)
			}
		}
	}
}

// SetRunning writes a Pod status with every container running.
func SetRunning(p *corev1.Pod) {
	now := metav1.Now()
	p.Status.Phase, p.Status.StartTime = corev1.PodRunning, &now
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}})
	}
}

// SetExited writes a Pod status with every container exited with code
// (and reason, e.g. OOMKilled) and output as termination message.
func SetExited(p *corev1.Pod, code int32, reason, output string) {
	p.Status.Phase = corev1.PodSucceeded
	if code != 0 || reason == "OOMKilled" {
		p.Status.Phase = corev1.PodFailed
	}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: output, FinishedAt: metav1.Now()}}})
	}
}

// CommandExit is the exit code of a container's argv when it can be told
// without running anything: true (0), false (1), echo (0), and sh -c (or
// bash -c) scripts of those and exit N separated by ';', which end with the
// code of their last command or their exit. ok is false for anything else
// (the container is then left running). It is the kubelet double's whole
// idea of running a command: enough for Mesos frameworks whose tasks are
// `true`, `false` or `exit 3`, and honest about it.
func CommandExit(argv []string) (code int32, ok bool) {
	if len(argv) == 0 {
		return 0, false
	}
	switch path.Base(argv[0]) {
	case "true", "echo":
		return 0, true
	case "false":
		return 1, true
	case "sh", "bash":
		if len(argv) == 3 && argv[1] == "-c" {
			return scriptExit(argv[2])
		}
	}
	return 0, false
}

// scriptExit runs a script of true, false, echo and exit N statements.
func scriptExit(script string) (int32, bool) {
	code, any := int32(0), false
	for _, stmt := range strings.Split(script, ";") {
		f := strings.Fields(stmt)
		if len(f) == 0 {
			continue
		}
		any = true
		switch f[0] {
		case "true", "echo", ":":
			code = 0
		case "false":
			code = 1
		case "exit":
			if len(f) == 1 {
				return code, true
			}
			n, err := strconv.Atoi(f[1])
			if err != nil || len(f) > 2 {
				return 0, false
			}
			return int32(n & 0xff), true
		default:
			return 0, false
		}
	}
	return code, any
}

// setExitedCodes ends each container with its own exit code; the Pod
// failed if any did.
func setExitedCodes(p *corev1.Pod, codes []int32) {
	p.Status.Phase = corev1.PodSucceeded
	p.Status.ContainerStatuses = nil
	for i, c := range p.Spec.Containers {
		reason := "Completed"
		if codes[i] != 0 {
			p.Status.Phase, reason = corev1.PodFailed, "Error"
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: codes[i], Reason: reason, FinishedAt: metav1.Now()}}})
	}
}
