package frameworks

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// TestBuiltinWeightedFairness: three built-in frameworks in roles weighted
// 1, 2 and 3, each wanting the whole cluster, end with shares 1:2:3.
//
// As in Mesos, nothing is taken back from a framework that was offered
// resources while it was alone, so shares are only 1:2:3 if all three want
// offers before any agent can be offered: the test waits until the master
// has marked every task WaitingForOffer before it adds the agents.
func TestBuiltinWeightedFairness(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	weights := map[string]int32{"w1": 1, "w2": 2, "w3": 3}
	for r, w := range weights {
		role := b.MakeRole(ns + "-" + r).Weight(w).Obj()
		harness.Must(t, cp.Client.Create(ctx, role))
		t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), role) })
	}
	startMaster(t)
	// 12 cpu in 1-cpu slots; each framework asks for all 12.
	for r := range weights {
		harness.Must(t, cp.Client.Create(ctx, b.MakeFramework(r, ns).Role(ns+"-"+r).Policy(kov1.SchedulingPolicyFirstFit).Obj()))
	}
	for i := range 12 {
		for r := range weights {
			harness.Must(t, cp.Client.Create(ctx, b.MakeTask(fmt.Sprintf("%s-%02d", r, i), ns, r).Resources(b.Resources("cpu", "1", "memory", "256Mi")).Obj()))
		}
	}
	harness.Eventually(t, "the master to see every task wait", func() (bool, string) {
		var tasks kov1.TaskList
		harness.Must(t, cp.Client.List(ctx, &tasks, client.InNamespace(ns)))
		waiting := 0
		for _, tk := range tasks.Items {
			if c := meta.FindStatusCondition(tk.Status.Conditions, kov1.TaskBoundCondition); c != nil && c.Reason == kov1.TaskReasonWaitingForOffer {
				waiting++
			}
		}
		return waiting == 36, fmt.Sprintf("%d of 36 tasks marked %s", waiting, kov1.TaskReasonWaitingForOffer)
	})
	addAgents(t, ns, b.Resources("cpu", "4", "memory", "4Gi"), "a", "b", "c")
	var counts map[string]int
	harness.Eventually(t, "the cluster to fill", func() (bool, string) {
		var tasks kov1.TaskList
		harness.Must(t, cp.Client.List(ctx, &tasks, client.InNamespace(ns)))
		counts = map[string]int{}
		total := 0
		for _, tk := range tasks.Items {
			if tk.Status.State == kov1.TaskRunning {
				counts[tk.Spec.FrameworkName]++
				total++
			}
		}
		return total == 12, fmt.Sprintf("running %v", counts)
	})
	t.Logf("running tasks per framework: %v (fair 2:4:6)", counts)
	for r, want := range map[string]int{"w1": 2, "w2": 4, "w3": 6} {
		if d := counts[r] - want; d < -1 || d > 1 {
			t.Errorf("%s runs %d tasks, want %d ± 1 (weighted DRF 1:2:3 of 12)", r, counts[r], want)
		}
	}
}
