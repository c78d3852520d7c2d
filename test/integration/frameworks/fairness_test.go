package frameworks

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/sdk"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// greedy is a framework that wants everything: one small long-running task
// per offer, the rest declined at once with no refuse time (so the next
// pass re-offers it by DRF order, not to whoever did not decline). Two of
// them in roles of different weight show what weighted DRF gives each, one
// task at a time.
func greedy(name string, task corev1.ResourceList) sdk.Funcs {
	var n atomic.Int64
	return sdk.Funcs{OnResourceOffers: func(ctx context.Context, d *sdk.Driver, offers []*kov1.ResourceOffer) {
		for _, o := range offers {
			g, ok := sdk.NewBudget(o).Take(sdk.Needs{Resources: task})
			if !ok {
				_ = d.Decline(ctx, o.Name, nil)
				continue
			}
			tk := b.MakeTask(fmt.Sprintf("%s-%d", name, n.Add(1)), "", "").Resources(g.Resources).Obj()
			_ = d.Accept(ctx, o, tk)
		}
	}}
}

// TestWeightedFairness: frameworks in roles weighted 3 and 1 fill a cluster
// of 4 agents × 4 cpu with 250m tasks; once nothing more fits, their
// dominant shares are within 10% of the weighted fair shares (75% and 25%).
func TestWeightedFairness(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	roleName := func(r string) string { return ns + "-" + r } // roles are cluster-scoped
	for r, w := range map[string]int32{"gold": 3, "bronze": 1} {
		role := b.MakeRole(roleName(r)).Weight(w).Obj()
		harness.Must(t, cp.Client.Create(ctx, role))
		t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), role) })
	}
	cluster(t, ns, b.Resources("cpu", "4", "memory", "4Gi"), "a", "b", "c", "d")
	task := sdk.Resources("cpu", "250m", "memory", "256Mi")
	for name, role := range map[string]string{"gold": roleName("gold"), "bronze": roleName("bronze")} {
		d, err := sdk.New(cp.Config, sdk.Config{Namespace: ns, Name: name, HeartbeatInterval: time.Second,
			Spec: kov1.FrameworkSpec{Role: role, RefuseDuration: &metav1.Duration{}}}, greedy(name, task))
		harness.Must(t, err)
		runDriver(t, d)
	}

	// 16 cpu / 250m = 64 tasks fill the cluster.
	shares := map[string]float64{}
	harness.Eventually(t, "the cluster to fill", func() (bool, string) {
		var tasks kov1.TaskList
		harness.Must(t, cp.Client.List(ctx, &tasks, client.InNamespace(ns)))
		count := map[string]int{}
		total := 0
		for _, tk := range tasks.Items {
			if tk.Status.State == kov1.TaskRunning {
				count[tk.Spec.FrameworkName]++
				total++
			}
		}
		shares["gold"], shares["bronze"] = float64(count["gold"])/64, float64(count["bronze"])/64
		return total == 64, fmt.Sprintf("running %v of 64", count)
	})
	for name, fair := range map[string]float64{"gold": 0.75, "bronze": 0.25} {
		if math.Abs(shares[name]-fair) > 0.1*fair {
			t.Errorf("%s's dominant share is %.3f, want %.2f ± 10%%", name, shares[name], fair)
		}
	}
	t.Logf("dominant shares: gold %.3f (fair 0.75), bronze %.3f (fair 0.25)", shares["gold"], shares["bronze"])
}
