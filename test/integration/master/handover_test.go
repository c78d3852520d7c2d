package master

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

// TestLeaderHandover runs two masters with leader election. Only the
// leader offers; when it stops, the other takes the Lease, rebuilds its
// ledger from the API and goes on — and at no point is a resource offered
// twice or beyond the agent.
func TestLeaderHandover(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	first := startMaster(t, masterConfig{offerTimeout: time.Hour, leaderElection: ns})
	var leader string
	eventually(t, "the first master to lead", func() (bool, string) { leader = leaseHolder(t, ns); return leader != "", "no holder" })
	startMaster(t, masterConfig{offerTimeout: time.Hour, leaderElection: ns}) // the follower, caches warm
	addAgent(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"))
	addFramework(t, b.MakeFramework("fw", ns).Obj())

	// Watch offers throughout: never two at once for the agent, never more
	// than it has.
	stop := make(chan struct{})
	violations := make(chan string, 10)
	go func() {
		for {
			select {
			case <-stop:
				close(violations)
				return
			case <-time.After(50 * time.Millisecond):
			}
			var l kov1.ResourceOfferList
			if err := cp.Client.List(ctx, &l, client.InNamespace(ns)); err != nil {
				continue
			}
			live := 0
			total := resource.Quantity{}
			for _, o := range l.Items {
				if o.DeletionTimestamp == nil && o.Spec.Decline == nil {
					live++
					total.Add(o.Spec.Resources["cpu"])
				}
			}
			if live > 1 || total.Cmp(resource.MustParse("4")) > 0 {
				select {
				case violations <- describeOffers(l.Items):
				default:
				}
			}
		}
	}()

	o := waitOffer(t, ns, "fw", nil)
	must(t, cp.Client.Create(ctx, b.MakeTask("before", ns, "fw").Offer(o.Name).Resources(b.Resources("cpu", "1", "memory", "1Gi")).Obj()))
	waitTask(t, ns, "before", kov1.TaskStaging)

	// The leader stops (releasing the Lease); the follower takes over.
	first.Stop()
	eventually(t, "the follower to lead", func() (bool, string) {
		h := leaseHolder(t, ns)
		return h != "" && h != leader, "holder " + h
	})

	// The new leader knows the offer is outstanding and the task bound: it
	// makes no second offer, admits the next task against the remainder, and
	// after a decline offers exactly what is left.
	must(t, cp.Client.Create(ctx, b.MakeTask("after", ns, "fw").Offer(o.Name).Resources(b.Resources("cpu", "2", "memory", "1Gi")).Obj()))
	waitTask(t, ns, "after", kov1.TaskStaging)
	decline(t, o, 0)
	again := waitOffer(t, ns, "fw", func(x kov1.ResourceOffer) bool { return x.Name != o.Name })
	if !sameQty(again.Spec.Resources, "cpu", "1") || !sameQty(again.Spec.Resources, "memory", "2Gi") {
		t.Errorf("offer after handover = %s, want the 1 cpu / 2Gi left", describeOffers([]kov1.ResourceOffer{again}))
	}
	close(stop)
	for v := range violations {
		t.Errorf("double or over-offer seen: %s", v)
	}
}

func leaseHolder(t *testing.T, ns string) string {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "kubeoffer-master"}, l); err != nil {
		return ""
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}
