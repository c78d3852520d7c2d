package master

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

func qty(rl corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := rl[name]
	if !ok {
		return "0"
	}
	return q.String()
}

func sameQty(rl corev1.ResourceList, name corev1.ResourceName, want string) bool {
	q := rl[name]
	return q.Cmp(resource.MustParse(want)) == 0
}

// TestSeedExample is the design's seed: an agent with 4 cpu / 4 GiB; the
// framework accepts task1 (2 cpu / 1 GiB) and task2 (1 cpu / 2 GiB) from
// one offer; once it declines the rest, the remaining 1 cpu / 1 GiB is
// offered again.
func TestSeedExample(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	m := startMaster(t, masterConfig{offerTimeout: time.Hour})
	agent := addAgent(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), kov1.PortRange{Begin: 31000, End: 31009})
	addFramework(t, b.MakeFramework("fw", ns).Obj())

	offer := waitOffer(t, ns, "fw", nil)
	if offer.Spec.AgentName != agent.Name || !sameQty(offer.Spec.Resources, "cpu", "4") || !sameQty(offer.Spec.Resources, "memory", "4Gi") {
		t.Fatalf("first offer = %s of %s, want the whole agent", describeOffers([]kov1.ResourceOffer{offer}), offer.Spec.AgentName)
	}
	if offer.Spec.ExpirationTime == nil || len(offer.Spec.Ports) != 1 || offer.Spec.Role != kov1.DefaultRole {
		t.Errorf("offer spec = %+v, want expiry, ports 31000-31009, role default", offer.Spec)
	}

	must(t, cp.Client.Create(ctx, b.MakeTask("task1", ns, "fw").Offer(offer.Name).Resources(b.Resources("cpu", "2", "memory", "1Gi")).
		Ports(kov1.PortRange{Begin: 31000, End: 31000}).Obj()))
	must(t, cp.Client.Create(ctx, b.MakeTask("task2", ns, "fw").Offer(offer.Name).Resources(b.Resources("cpu", "1", "memory", "2Gi")).Obj()))
	for _, name := range []string{"task1", "task2"} {
		tk := waitTask(t, ns, name, kov1.TaskStaging)
		if tk.Status.AgentName != agent.Name || tk.Status.NodeName != agent.Name {
			t.Errorf("%s bound to %q/%q, want %s", name, tk.Status.AgentName, tk.Status.NodeName, agent.Name)
		}
		if len(tk.Status.History) == 0 || tk.Status.History[len(tk.Status.History)-1].State != kov1.TaskStaging {
			t.Errorf("%s history = %+v, want it to end in Staging", name, tk.Status.History)
		}
	}

	// The offer shrank to what is left.
	eventually(t, "the offer's remainder", func() (bool, string) {
		o := &kov1.ResourceOffer{}
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(&offer), o))
		return sameQty(o.Status.Remaining, "cpu", "1") && sameQty(o.Status.Remaining, "memory", "1Gi") && len(o.Status.AcceptedTasks) == 2,
			"remaining cpu " + qty(o.Status.Remaining, "cpu") + " memory " + qty(o.Status.Remaining, "memory")
	})

	// Declining the rest returns it; with no refuse time it is offered again.
	decline(t, offer, 0)
	again := waitOffer(t, ns, "fw", func(x kov1.ResourceOffer) bool { return x.Name != offer.Name })
	if !sameQty(again.Spec.Resources, "cpu", "1") || !sameQty(again.Spec.Resources, "memory", "1Gi") {
		t.Errorf("re-offer = %s, want 1 cpu / 1Gi", describeOffers([]kov1.ResourceOffer{again}))
	}
	if len(again.Spec.Ports) != 1 || again.Spec.Ports[0].Begin != 31001 {
		t.Errorf("re-offered ports = %v, want 31001-31009 (31000 is task1's)", again.Spec.Ports)
	}

	// Status and metrics tell the same story.
	eventually(t, "framework status", func() (bool, string) {
		f := &kov1.Framework{}
		must(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fw"}, f))
		return sameQty(f.Status.Allocated, "cpu", "3") && sameQty(f.Status.Offered, "cpu", "1") && f.Status.ActiveTasks == 2 &&
				f.Status.DominantShare == "1.000" && f.Status.TaskCounts[kov1.TaskStaging] == 2 && f.Status.FrameworkID == string(f.UID),
			"allocated " + qty(f.Status.Allocated, "cpu") + " offered " + qty(f.Status.Offered, "cpu") + " share " + f.Status.DominantShare
	})
	fk := ns + "/fw"
	if got := testutil.ToFloat64(m.Metrics.OffersSent.WithLabelValues(fk)); got < 2 {
		t.Errorf("offers_sent_total = %v, want ≥ 2", got)
	}
	if got := testutil.ToFloat64(m.Metrics.OffersAccepted.WithLabelValues(fk)); got != 2 {
		t.Errorf("offers_accepted_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Metrics.OffersDeclined.WithLabelValues(fk)); got != 1 {
		t.Errorf("offers_declined_total = %v, want 1", got)
	}
	eventually(t, "the Offered event", func() (bool, string) { return hasEvent(t, ns, offer.Name, "Offered") })
	eventually(t, "the Staging event", func() (bool, string) { return hasEvent(t, ns, "task1", "Staging") })
}
