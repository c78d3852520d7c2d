// Package agentd tests agentd against a real kube-apiserver. envtest has no
// kubelet, so the tests play the kubelet: they move Pod status through
// Pending → Running → Succeeded/Failed and confirm graceful deletions, and
// assert the task states, history, Events and Agent status that result.
// The real kubelet and its cgroups are exercised by the end-to-end tests.
package agentd

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubeoffer/kubeoffer/agentd/agent"
	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

var cp *controlplane.ControlPlane

// leaseNS is where agentd heartbeats, as in a real install.
const leaseNS = harness.AgentLeaseNamespace

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(harness.LogLevel())))
	os.Exit(controlplane.Run(m, &cp))
}

type agentd = harness.Agentd

// startAgentd runs agentd for node until the test ends or Stop is called.
func startAgentd(t *testing.T, node string, mutate func(*agent.Options)) *agentd {
	t.Helper()
	return harness.StartAgentd(t, cp, node, mutate)
}

func ensureLeaseNamespace(t *testing.T) { harness.EnsureLeaseNamespace(t, cp) }

// addNode registers a Ready node named uniquely for the test.
func addNode(t *testing.T, ns, name string, allocatable corev1.ResourceList, labels map[string]string) string {
	t.Helper()
	return harness.AddNode(t, cp, ns, name, allocatable, labels)
}

// bind creates task and binds it to node in state Staging, as the master
// does when it admits the task against an offer.
func bind(t *testing.T, task *kov1.Task, node string) {
	t.Helper()
	ctx := context.Background()
	harness.Must(t, cp.Client.Create(ctx, task))
	harness.Must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(task), task); err != nil {
			return err
		}
		task.Status.AgentName, task.Status.NodeName = node, node
		taskstatus.Transition(&task.Status, kov1.TaskStaging, "", "Bound to agent "+node, time.Now())
		return cp.Client.Status().Update(ctx, task)
	}))
}

// setTaskState moves a task as the master would (e.g. Unreachable, Lost).
func setTaskState(t *testing.T, ns, name string, state kov1.TaskState, reason string) {
	t.Helper()
	ctx := context.Background()
	harness.Must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		tk := &kov1.Task{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tk); err != nil {
			return err
		}
		taskstatus.Transition(&tk.Status, state, reason, "set by the test as the master would", time.Now())
		return cp.Client.Status().Update(ctx, tk)
	}))
}

// waitPod waits for the Pod ns/name to exist and returns it.
func waitPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{}
	harness.Eventually(t, "pod "+name, func() (bool, string) {
		err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, p)
		return err == nil, errString(err)
	})
	return p
}

// kubelet plays the node's kubelet for a Pod: it writes the Pod's status.
func kubelet(t *testing.T, ns, name string, mutate func(p *corev1.Pod)) {
	t.Helper()
	ctx := context.Background()
	harness.Must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := &corev1.Pod{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
			return err
		}
		mutate(p)
		return cp.Client.Status().Update(ctx, p)
	}))
}

// runPod: every container of the Pod is running.
func runPod(t *testing.T, ns, name string) {
	t.Helper()
	kubelet(t, ns, name, harness.SetRunning)
}

// exitPod: the Pod's containers exited with code (and reason, e.g. OOMKilled).
func exitPod(t *testing.T, ns, name string, code int32, reason string) {
	t.Helper()
	kubelet(t, ns, name, func(p *corev1.Pod) { harness.SetExited(p, code, reason, "") })
}

// reap waits for the Pod to be deleted gracefully and confirms the
// deletion as the kubelet does once the containers stopped; it returns the
// grace period the Pod was given.
func reap(t *testing.T, ns, name string) int64 {
	t.Helper()
	p := &corev1.Pod{}
	harness.Eventually(t, "pod "+name+" to be deleted", func() (bool, string) {
		if err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
			return false, err.Error()
		}
		return p.DeletionTimestamp != nil, "no deletionTimestamp"
	})
	grace := int64(-1)
	if p.DeletionGracePeriodSeconds != nil {
		grace = *p.DeletionGracePeriodSeconds
	}
	harness.Must(t, client.IgnoreNotFound(cp.Client.Delete(context.Background(), p, client.GracePeriodSeconds(0))))
	return grace
}

// pods lists the Pods of a task by its label.
func pods(t *testing.T, ns, task string) []corev1.Pod {
	t.Helper()
	var l corev1.PodList
	harness.Must(t, cp.Client.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels{kov1.LabelTask: task}))
	return l.Items
}

func agentOf(t *testing.T, node string) *kov1.Agent {
	t.Helper()
	a := &kov1.Agent{}
	harness.Must(t, cp.Client.Get(context.Background(), client.ObjectKey{Name: node}, a))
	return a
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// describe prints an Agent status for failure messages.
func describe(st kov1.AgentStatus) string {
	return fmt.Sprintf("capacity %v allocatable %v allocated %v conditions %v", st.Capacity, st.Allocatable, st.Allocated, st.Conditions)
}

func clientKey(name string) client.ObjectKey { return client.ObjectKey{Name: name} }
