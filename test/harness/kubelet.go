package harness

import (
	"context"
	"strconv"
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for _, n := range nodes {
				syncNode(ctx, c, n)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func syncNode(ctx context.Context, c client.Client, node string) {
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
