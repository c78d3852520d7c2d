//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// launches counts, per task, the Pods ever created for it (by UID), from a
// watch: a task launched twice shows two.
type launches struct {
	seen   map[string]map[string]bool
	cancel context.CancelFunc
	done   chan struct{}
}

func watchLaunches(t *testing.T, ns string) *launches {
	ctx, cancel := context.WithCancel(context.Background())
	l := &launches{seen: map[string]map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: kov1.LabelTask})
	must(t, err)
	go func() {
		defer close(l.done)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				task := p.Labels[kov1.LabelTask]
				if l.seen[task] == nil {
					l.seen[task] = map[string]bool{}
				}
				l.seen[task][string(p.UID)] = true
			}
		}
	}()
	return l
}

// stop ends the watch; after it, seen is safe to read.
func (l *launches) stop() { l.cancel(); <-l.done }

func (l *launches) twice() []string {
	var out []string
	for task, uids := range l.seen {
		if len(uids) > 1 {
			out = append(out, fmt.Sprintf("%s (%d Pods)", task, len(uids)))
		}
	}
	return out
}

func leaderPod(t *testing.T) string {
	l := &coordinationv1.Lease{}
	must(t, c.Get(context.Background(), client.ObjectKey{Namespace: releaseNS, Name: "kubeoffer-master"}, l))
	holder := ptr.Deref(l.Spec.HolderIdentity, "")
	name, _, _ := strings.Cut(holder, "_")
	return name
}

// TestMasterFailover: the leader is deleted mid-run; the other replica takes
// the Lease, offers continue, no task is launched twice and none is lost.
func TestMasterFailover(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	watch := watchLaunches(t, ns)
	builtin(t, ns, "fo")
	for i := range 3 {
		must(t, c.Create(ctx, task(fmt.Sprintf("before-%d", i), ns, "fo", "50m", "16Mi", "sleep 600")))
	}
	for i := range 3 {
		waitTask(t, ns, fmt.Sprintf("before-%d", i), 2*time.Minute, kov1.TaskRunning)
	}
	old := leaderPod(t)
	must(t, cs.CoreV1().Pods(releaseNS).Delete(ctx, old, metav1.DeleteOptions{}))
	eventually(t, "another replica to lead", 2*time.Minute, func() (bool, string) {
		p := leaderPod(t)
		return p != "" && p != old, "leader " + p
	})
	for i := range 3 {
		must(t, c.Create(ctx, task(fmt.Sprintf("after-%d", i), ns, "fo", "50m", "16Mi", "sleep 600")))
	}
	for i := range 3 {
		waitTask(t, ns, fmt.Sprintf("after-%d", i), 2*time.Minute, kov1.TaskRunning)
	}
	for i := range 3 {
		tk := &kov1.Task{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("before-%d", i)}, tk))
		if tk.Status.State != kov1.TaskRunning {
			t.Errorf("%s is %s after the failover, want Running", tk.Name, tk.Status.State)
		}
	}
	watch.stop()
	if twice := watch.twice(); len(twice) > 0 {
		t.Errorf("launched twice: %v", twice)
	}
}

// TestAgentdRestart: agentd's Pod is deleted mid-run; the tasks keep
// running (same Pods, containers not restarted), the new agentd adopts them
// and launches nothing twice; new tasks still run.
func TestAgentdRestart(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	watch := watchLaunches(t, ns)
	builtin(t, ns, "ar")
	for i := range 2 {
		must(t, c.Create(ctx, task(fmt.Sprintf("keep-%d", i), ns, "ar", "50m", "16Mi", "sleep 600")))
	}
	before := map[string]string{}
	for i := range 2 {
		name := fmt.Sprintf("keep-%d", i)
		waitTask(t, ns, name, 2*time.Minute, kov1.TaskRunning)
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		must(t, err)
		before[name] = string(p.UID)
	}
	agentds, err := cs.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agentd"})
	must(t, err)
	for _, p := range agentds.Items {
		must(t, cs.CoreV1().Pods(releaseNS).Delete(ctx, p.Name, metav1.DeleteOptions{}))
	}
	eventually(t, "a new agentd to be Ready", 2*time.Minute, func() (bool, string) {
		l, err := cs.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agentd"})
		if err != nil {
			return false, err.Error()
		}
		for _, p := range l.Items {
			if p.DeletionTimestamp != nil || p.UID == agentds.Items[0].UID {
				continue
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					return true, ""
				}
			}
		}
		return false, "not yet"
	})
	must(t, c.Create(ctx, task("new", ns, "ar", "50m", "16Mi", "true")))
	waitTask(t, ns, "new", 2*time.Minute, kov1.TaskFinished)
	for name, uid := range before {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		must(t, err)
		if string(p.UID) != uid || p.Status.Phase != corev1.PodRunning || p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("%s: pod %s phase %s restarts %d; want the same Pod still running", name, p.UID, p.Status.Phase, p.Status.ContainerStatuses[0].RestartCount)
		}
		tk := waitTask(t, ns, name, time.Minute, kov1.TaskRunning)
		_ = tk
	}
	watch.stop()
	if twice := watch.twice(); len(twice) > 0 {
		t.Errorf("launched twice: %v", twice)
	}
}

// TestKubectlGet: `kubectl get kubeoffer` shows every kind with its columns.
func TestKubectlGet(t *testing.T) {
	ns := namespace(t, nil)
	builtin(t, ns, "show")
	must(t, c.Create(context.Background(), task("shown", ns, "show", "50m", "16Mi", "true")))
	waitTask(t, ns, "shown", 2*time.Minute, kov1.TaskFinished)
	out, err := kubectl("get", "kubeoffer", "-A")
	if err != nil {
		t.Fatalf("kubectl get kubeoffer: %v\n%s", err, out)
	}
	for _, want := range []string{"agent.kubeoffer.io/", "framework.kubeoffer.io/", "task.kubeoffer.io/", "READY", "REACHABLE", "STATE"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get kubeoffer -A lacks %q:\n%s", want, out)
		}
	}
	t.Logf("kubectl get kubeoffer -A:\n%s", out)
}
