//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/test/invariants"
)

// chaosTasks is how many short tasks TestChaos runs.
const chaosTasks = 300

// TestChaos: a few hundred short tasks (real containers, about a second
// each) through a built-in framework while the leading master's Pod is
// deleted twice and agentd's Pod once, with the invariant checker
// (test/invariants) watching the namespace from its own watches. Nothing
// is double-booked, no task is launched twice, and none is lost: the
// faults stay within the agent timeout and the framework lives on, so
// every task must end Finished. The hack/scale chaos run does the same at
// scale on simulated agents, with partitions, teardowns and conflicts.
func TestChaos(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := namespace(t, nil)
	checker, err := invariants.Start(ctx, cfg, invariants.Options{Namespaces: []string{ns}})
	must(t, err)
	builtin(t, ns, "chaos")

	// The tasks go in from the side, a few at a time, while the faults
	// happen: the built-in scheduler places each as capacity frees up. (A
	// client of its own: the shared one's default rate limit would take a
	// minute for the creations alone.)
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 50, 100
	creator, err := client.New(fast, client.Options{Scheme: c.Scheme()})
	must(t, err)
	created := make(chan error, 1)
	go func() {
		var mu sync.Mutex
		var first error
		workqueue.ParallelizeUntil(ctx, 4, chaosTasks, func(i int) {
			tk := task(fmt.Sprintf("c-%03d", i), ns, "chaos", "20m", "16Mi", "sleep 1")
			if err := creator.Create(ctx, tk); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("creating %s: %w", tk.Name, err)
				}
				mu.Unlock()
			}
		})
		created <- first
	}()

	finished := func() int {
		_, byState := checker.Counts()
		return byState[kov1.TaskFinished]
	}
	waitFinished := func(n int) {
		eventually(t, fmt.Sprintf("%d tasks finished", n), 10*time.Minute, func() (bool, string) {
			return finished() >= n, fmt.Sprintf("%d finished", finished())
		})
	}
	faults := []struct {
		after int
		name  string
		do    func()
	}{
		{after: chaosTasks / 6, name: "delete the leader's Pod", do: func() { deleteLeader(t) }},
		{after: chaosTasks / 2, name: "delete agentd's Pod", do: func() { restartAgentd(t) }},
		{after: chaosTasks * 3 / 4, name: "delete the leader's Pod again", do: func() { deleteLeader(t) }},
	}
	for _, f := range faults {
		waitFinished(f.after)
		t.Logf("%d tasks finished: %s", finished(), f.name)
		f.do()
	}
	must(t, <-created)

	// Drain: every task ends, and ends Finished.
	eventually(t, "every task to end", 10*time.Minute, func() (bool, string) {
		var l kov1.TaskList
		if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		left := 0
		for _, tk := range l.Items {
			if !tk.Status.State.IsTerminal() {
				left++
			}
		}
		return len(l.Items) == chaosTasks && left == 0, fmt.Sprintf("%d of %d tasks, %d not ended", len(l.Items), chaosTasks, left)
	})
	var l kov1.TaskList
	must(t, c.List(ctx, &l, client.InNamespace(ns)))
	byEnding := map[string]int{}
	for _, tk := range l.Items {
		byEnding[string(tk.Status.State)+"/"+tk.Status.Reason]++
		if tk.Status.State != kov1.TaskFinished {
			t.Errorf("task %s ended %s (%s): %s", tk.Name, tk.Status.State, tk.Status.Reason, tk.Status.Message)
		}
	}
	t.Logf("tasks by final state: %v", byEnding)

	// The framework goes and leaves no offer behind; then the checker, caught
	// up with every task, judges the whole run.
	must(t, c.Delete(ctx, &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chaos"}}))
	eventually(t, "the framework and its offers to go", 2*time.Minute, func() (bool, string) {
		var fws kov1.FrameworkList
		var offers kov1.ResourceOfferList
		if err := c.List(ctx, &fws, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		if err := c.List(ctx, &offers, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		return len(fws.Items) == 0 && len(offers.Items) == 0, fmt.Sprintf("%d frameworks, %d offers", len(fws.Items), len(offers.Items))
	})
	eventually(t, "the checker to see every task end", time.Minute, func() (bool, string) {
		n, byState := checker.Counts()
		return n == chaosTasks && byState[kov1.TaskFinished] == chaosTasks, fmt.Sprint(byState)
	})
	time.Sleep(3 * time.Second) // past the checker's confirmation window
	for _, v := range checker.Finish() {
		t.Errorf("violation: %s", v)
	}
	st := checker.Stats()
	t.Logf("checker: %d events, %d tasks, %d launched, %d offers, %d booking checks", st.Events, st.Tasks, st.Launched, st.Offers, st.BookingChecks)
	if st.Launched != chaosTasks {
		t.Errorf("the checker saw %d tasks launched, want %d", st.Launched, chaosTasks)
	}
}

// deleteLeader deletes the leading master's Pod (its Deployment makes a
// new one) and waits for another replica to take the Lease.
func deleteLeader(t *testing.T) {
	t.Helper()
	old := leaderPod(t)
	must(t, cs.CoreV1().Pods(releaseNS).Delete(context.Background(), old, metav1.DeleteOptions{}))
	eventually(t, "another replica to lead", 2*time.Minute, func() (bool, string) {
		p := leaderPod(t)
		return p != "" && p != old, "leader " + p
	})
}

// restartAgentd deletes agentd's Pods (the DaemonSet makes new ones) and
// waits for a new one to be Ready.
func restartAgentd(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agentd"}
	old, err := cs.CoreV1().Pods(releaseNS).List(ctx, sel)
	must(t, err)
	gone := map[string]bool{}
	for _, p := range old.Items {
		gone[string(p.UID)] = true
		must(t, cs.CoreV1().Pods(releaseNS).Delete(ctx, p.Name, metav1.DeleteOptions{}))
	}
	eventually(t, "a new agentd to be Ready", 2*time.Minute, func() (bool, string) {
		l, err := cs.CoreV1().Pods(releaseNS).List(ctx, sel)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range l.Items {
			if p.DeletionTimestamp != nil || gone[string(p.UID)] {
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
}
