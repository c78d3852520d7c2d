package master

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

// TestRuntimeClassOverhead: a task whose Pod runs under a RuntimeClass with
// a Pod overhead is charged its resources plus the overhead (the kubelet
// reserves both), recorded in status.overhead; an offer that holds the
// resources but not the overhead is too small; a RuntimeClass that does not
// exist ends the task in Error before anything runs.
func TestRuntimeClassOverhead(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: ns + "-sandboxed"}, Handler: "runc",
		Overhead: &nodev1.Overhead{PodFixed: b.Resources("cpu", "250m", "memory", "64Mi")}}
	must(t, cp.Client.Create(ctx, rc))
	t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), rc) })
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	addAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"))
	addFramework(t, b.MakeFramework("fw", ns).Obj())
	o := waitOffer(t, ns, "fw", func(kov1.ResourceOffer) bool { return true })
	sandboxed := func(s *corev1.PodSpec) { s.RuntimeClassName = ptr.To(rc.Name) }

	// 2 cpu offered: 1750m + 250m overhead fits exactly; 2 cpu + overhead does not.
	tooBig := b.MakeTask("too-big", ns, "fw").Offer(o.Name).Resources(b.Resources("cpu", "2", "memory", "64Mi")).PodSpec(sandboxed).Obj()
	must(t, cp.Client.Create(ctx, tooBig))
	got := waitTask(t, ns, tooBig.Name, kov1.TaskDropped)
	if got.Status.Reason != kov1.TaskReasonInsufficientResources || !strings.Contains(got.Status.Message, "Pod overhead of RuntimeClass") {
		t.Errorf("too-big: reason %q message %q; want InsufficientResources naming the overhead", got.Status.Reason, got.Status.Message)
	}
	fits := b.MakeTask("fits", ns, "fw").Offer(o.Name).Resources(b.Resources("cpu", "1750m", "memory", "64Mi")).PodSpec(sandboxed).Obj()
	must(t, cp.Client.Create(ctx, fits))
	got = waitTask(t, ns, fits.Name, kov1.TaskStaging)
	if !sameQty(got.Status.Overhead, "cpu", "250m") || !sameQty(got.Status.Overhead, "memory", "64Mi") {
		t.Errorf("status.overhead = %v, want the RuntimeClass's 250m cpu / 64Mi", got.Status.Overhead)
	}
	eventually(t, "the framework charged resources + overhead", func() (bool, string) {
		var f kov1.Framework
		must(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fw"}, &f))
		return sameQty(f.Status.Allocated, "cpu", "2") && sameQty(f.Status.Allocated, "memory", "128Mi"), qty(f.Status.Allocated, "cpu") + " " + qty(f.Status.Allocated, "memory")
	})

	missing := b.MakeTask("missing-class", ns, "fw").Offer(o.Name).PodSpec(func(s *corev1.PodSpec) { s.RuntimeClassName = ptr.To("no-such-class") }).Obj()
	must(t, cp.Client.Create(ctx, missing))
	got = waitTask(t, ns, missing.Name, kov1.TaskError)
	if got.Status.Reason != kov1.TaskReasonInvalid || !strings.Contains(got.Status.Message, `RuntimeClass "no-such-class"`) {
		t.Errorf("missing-class: reason %q message %q; want TaskInvalid naming the RuntimeClass", got.Status.Reason, got.Status.Message)
	}
}
