package frameworks

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
	"github.com/kubeoffer/kubeoffer/test/invariants"
)

// TestInvariantsHold runs two built-in frameworks' short tasks through the
// master, agentd and the kubelet double with the invariant checker
// watching: nothing double-booked, launched twice or left behind, and
// every terminal task says why.
func TestInvariantsHold(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := cp.Namespace(t)
	checker, err := invariants.Start(ctx, cp.Config, invariants.Options{Namespaces: []string{ns}})
	harness.Must(t, err)
	cluster(t, ns, b.Resources("cpu", "2", "memory", "2Gi"), "a", "b")
	for _, p := range []kov1.SchedulingPolicy{kov1.SchedulingPolicyFirstFit, kov1.SchedulingPolicyBinPack} {
		fw := "fw-" + strings.ToLower(string(p))
		harness.Must(t, cp.Client.Create(ctx, b.MakeFramework(fw, ns).Policy(p).Obj()))
		for i := range 12 {
			tk := b.MakeTask(fmt.Sprintf("%s-%d", fw, i), ns, fw).Resources(b.Resources("cpu", "500m", "memory", "256Mi")).Obj()
			tk.Spec.Template.Annotations = map[string]string{harness.AnnotationExit: "0"}
			harness.Must(t, cp.Client.Create(ctx, tk))
		}
	}
	harness.Eventually(t, "every task finished", func() (bool, string) {
		var l kov1.TaskList
		harness.Must(t, cp.Client.List(ctx, &l, client.InNamespace(ns)))
		left := 0
		for _, tk := range l.Items {
			if tk.Status.State != kov1.TaskFinished {
				left++
			}
		}
		return left == 0 && len(l.Items) == 24, fmt.Sprintf("%d of %d not finished", left, len(l.Items))
	})
	// Tear both frameworks down so no offer is left, then let the checker see it.
	for _, p := range []kov1.SchedulingPolicy{kov1.SchedulingPolicyFirstFit, kov1.SchedulingPolicyBinPack} {
		harness.Must(t, client.IgnoreNotFound(cp.Client.Delete(ctx, b.MakeFramework("fw-"+strings.ToLower(string(p)), ns).Obj())))
	}
	harness.Eventually(t, "no offer left", func() (bool, string) {
		var l kov1.ResourceOfferList
		harness.Must(t, cp.Client.List(ctx, &l, client.InNamespace(ns)))
		return len(l.Items) == 0, fmt.Sprintf("%d offers", len(l.Items))
	})
	harness.Eventually(t, "the checker saw every task finish", func() (bool, string) {
		n, byState := checker.Counts()
		return n == 24 && byState[kov1.TaskFinished] == 24, fmt.Sprint(byState)
	})
	if vs := checker.Finish(); len(vs) > 0 {
		for _, v := range vs {
			t.Errorf("violation: %s", v)
		}
	}
	// Built-in schedulers' offers live in the master only: the checker
	// judges the agents' booking by the tasks alone.
	if st := checker.Stats(); st.Tasks != 24 || st.Launched != 24 || st.Offers != 0 || st.BookingChecks == 0 {
		t.Errorf("the checker saw %+v; want 24 tasks, 24 launched, no offer object and some booking checks", st)
	}
}

// TestCheckerSeesOverbooking: the checker is not a check that cannot fail.
// Two offers of the same agent's only cpu, made by hand (no master runs in
// this test), are reported as AgentOverbooked once they outlast the
// confirmation window; a third, declined, offer is not counted.
func TestCheckerSeesOverbooking(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := cp.Namespace(t)
	checker, err := invariants.Start(ctx, cp.Config, invariants.Options{Namespaces: []string{ns}, Confirm: 500 * time.Millisecond})
	harness.Must(t, err)
	a := b.MakeAgent(ns + "-node").Obj()
	harness.Must(t, cp.Client.Create(ctx, a))
	t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), a) })
	harness.Must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
			return err
		}
		a.Status.Allocatable = b.Resources("cpu", "1", "memory", "1Gi")
		return cp.Client.Status().Update(ctx, a)
	}))
	for _, fw := range []string{"one", "two"} {
		harness.Must(t, cp.Client.Create(ctx, b.MakeOffer("o-"+fw, ns, fw, a.Name).Resources(b.Resources("cpu", "1", "memory", "512Mi")).Obj()))
	}
	want := fmt.Sprintf("agent %s: cpu allocated + offered is 2, allocatable 1", a.Name)
	harness.Eventually(t, "the checker reports the overbooking", func() (bool, string) {
		for _, v := range checker.Violations() {
			if v.Rule == invariants.AgentOverbooked && v.Message == want {
				return true, ""
			}
		}
		return false, fmt.Sprint(checker.Violations())
	})
	for _, v := range checker.Violations() {
		if v.Rule == invariants.AgentOverbooked && v.Message != want {
			t.Errorf("unexpected violation %s", v)
		}
	}
}
