package master

// Issue #13: quota guarantees, reservations, ties and minimum allocatable
// mean what Apache Mesos's hierarchical allocator means by them. Each test
// sets up agents, roles and frameworks as objects, then starts a master and
// asserts the offers it makes. Roles and agents are cluster-scoped, so they
// are named after the test's namespace and removed when it ends.

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// addRole creates a Role and removes it when the test ends.
func addRole(t *testing.T, r *kov1.Role) {
	t.Helper()
	must(t, cp.Client.Create(context.Background(), r))
	t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), r) })
}

// addReservedAgent is addAgent for an agent whose spec reserves resources
// for roles (Mesos's static reservations).
func addReservedAgent(t *testing.T, ns, name string, alloc corev1.ResourceList, reservations map[string]corev1.ResourceList) *kov1.Agent {
	t.Helper()
	ctx := context.Background()
	w := b.MakeAgent(ns + "-" + name)
	for role, rl := range reservations {
		w.Reserve(role, rl)
	}
	a := w.Obj()
	heartbeat(t, leaseNS, a.Name, "agent", 40)
	must(t, cp.Client.Create(ctx, a))
	t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), a) })
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
			return err
		}
		a.Status.Capacity, a.Status.Allocatable = alloc, alloc
		a.Status.Attributes = map[string]string{corev1.LabelHostname: a.Name}
		meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kov1.AgentReadyCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentReadyNodeReadyReason})
		return cp.Client.Status().Update(ctx, a)
	}))
	return a
}

// waitReachable waits for the master to mark agent a Reachable.
func waitReachable(t *testing.T, a *kov1.Agent) {
	t.Helper()
	eventually(t, a.Name+" to be reachable", func() (bool, string) {
		cur := &kov1.Agent{}
		must(t, cp.Client.Get(context.Background(), client.ObjectKeyFromObject(a), cur))
		return meta.IsStatusConditionTrue(cur.Status.Conditions, kov1.AgentReachableCondition), "not yet"
	})
}

// onAgent selects offers of agent a.
func onAgent(a *kov1.Agent) func(kov1.ResourceOffer) bool {
	return func(o kov1.ResourceOffer) bool { return o.Spec.AgentName == a.Name }
}

// wantResources fails t unless offer o holds exactly cpu and memory ("0":
// none of it).
func wantResources(t *testing.T, o kov1.ResourceOffer, cpu, memory string) {
	t.Helper()
	if !sameQty(o.Spec.Resources, corev1.ResourceCPU, cpu) || !sameQty(o.Spec.Resources, corev1.ResourceMemory, memory) {
		t.Errorf("offer to %s of %s = %s, want cpu %s, memory %s", o.Spec.FrameworkName, o.Spec.AgentName,
			describeOffers([]kov1.ResourceOffer{o}), cpu, memory)
	}
}

// TestIdleReservationCountsTowardQuota: a role's quota consumption includes
// its reservations, used or not, and its children's. Role a may hold 2 cpu;
// its child a.b holds an idle 1-cpu reservation (the framework's selector
// keeps it off that agent), so a.b's framework is offered only 1 more cpu.
func TestIdleReservationCountsTowardQuota(t *testing.T) {
	ns := cp.Namespace(t)
	parent, child := ns+"-a", ns+"-a.b"
	addRole(t, b.MakeRole(parent).Quota(nil, b.Resources("cpu", "2", "memory", "2Gi")).Obj())
	addRole(t, b.MakeRole(child).Parent(parent).Obj())
	addReservedAgent(t, ns, "reserved", b.Resources("cpu", "4", "memory", "4Gi"),
		map[string]corev1.ResourceList{child: b.Resources("cpu", "1", "memory", "1Gi")})
	free := addAgent(t, ns, "free", b.Resources("cpu", "4", "memory", "4Gi"))
	addFramework(t, b.MakeFramework("fw", ns).Role(child).Selector(map[string]string{corev1.LabelHostname: free.Name}).Obj())
	startMaster(t, masterConfig{offerTimeout: time.Hour})

	wantResources(t, waitOffer(t, ns, "fw", onAgent(free)), "1", "1Gi")
}

// TestGuaranteeBeforeHeadroom: a role is given its unmet guarantee before
// the headroom for other roles' guarantees is held back. The only agent is
// guaranteed both to g (with a framework) and to idle (without one); g's
// framework is offered all of it rather than the cluster idling.
func TestGuaranteeBeforeHeadroom(t *testing.T) {
	ns := cp.Namespace(t)
	g, idle := ns+"-g", ns+"-idle"
	addRole(t, b.MakeRole(g).Quota(b.Resources("cpu", "1"), nil).Obj())
	addRole(t, b.MakeRole(idle).Quota(b.Resources("cpu", "1"), nil).Obj())
	node := addAgent(t, ns, "node", b.Resources("cpu", "1", "memory", "1Gi"))
	addFramework(t, b.MakeFramework("fw", ns).Role(g).Obj())
	startMaster(t, masterConfig{offerTimeout: time.Hour})

	wantResources(t, waitOffer(t, ns, "fw", onAgent(node)), "1", "1Gi")
}

// TestOvercommittedGuarantees: two roles, each with a framework, are each
// guaranteed the cluster's only agent. One is offered it whole (Mesos gives
// guarantees even when they overcommit the cluster); declined, the other is.
func TestOvercommittedGuarantees(t *testing.T) {
	ns := cp.Namespace(t)
	x, y := ns+"-x", ns+"-y"
	addRole(t, b.MakeRole(x).Quota(b.Resources("cpu", "1"), nil).Obj())
	addRole(t, b.MakeRole(y).Quota(b.Resources("cpu", "1"), nil).Obj())
	node := addAgent(t, ns, "node", b.Resources("cpu", "1", "memory", "1Gi"))
	addFramework(t, b.MakeFramework("x-fw", ns).Role(x).Obj())
	addFramework(t, b.MakeFramework("y-fw", ns).Role(y).Obj())
	startMaster(t, masterConfig{offerTimeout: time.Hour})

	first := waitAnyOffer(t, ns, "x-fw", "y-fw")
	wantResources(t, first, "1", "1Gi")
	decline(t, first, time.Hour)
	second := map[string]string{"x-fw": "y-fw", "y-fw": "x-fw"}[first.Spec.FrameworkName]
	wantResources(t, waitOffer(t, ns, second, onAgent(node)), "1", "1Gi")
}

// TestReservationNotHeldForGuarantees: a reservation is always offered to
// its role; only unreserved resources are held back as headroom. The only
// agent is reserved for r, while g's 2-cpu guarantee is unmet.
func TestReservationNotHeldForGuarantees(t *testing.T) {
	ns := cp.Namespace(t)
	r, g := ns+"-r", ns+"-g"
	addRole(t, b.MakeRole(r).Obj())
	addRole(t, b.MakeRole(g).Quota(b.Resources("cpu", "2"), nil).Obj())
	node := addReservedAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"),
		map[string]corev1.ResourceList{r: b.Resources("cpu", "2", "memory", "2Gi")})
	addFramework(t, b.MakeFramework("r-fw", ns).Role(r).Obj())
	startMaster(t, masterConfig{offerTimeout: time.Hour})

	wantResources(t, waitOffer(t, ns, "r-fw", onAgent(node)), "2", "2Gi")
}

// TestReservationsDoNotCoverGuarantees: headroom is unallocated unreserved
// resources. g's unmet 2-cpu guarantee can only be met from the unreserved
// agent (the other is r's), so its cpu is not offered to other; its memory,
// which nobody is guaranteed, is.
func TestReservationsDoNotCoverGuarantees(t *testing.T) {
	ns := cp.Namespace(t)
	r, g := ns+"-r", ns+"-g"
	addRole(t, b.MakeRole(g).Quota(b.Resources("cpu", "2"), nil).Obj())
	reserved := addReservedAgent(t, ns, "reserved", b.Resources("cpu", "2", "memory", "2Gi"),
		map[string]corev1.ResourceList{r: b.Resources("cpu", "2", "memory", "2Gi")})
	free := addAgent(t, ns, "free", b.Resources("cpu", "2", "memory", "2Gi"))
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	// Both agents offerable before anyone wants them, so the reserved one's
	// free cpu is there to be (wrongly) counted as headroom.
	waitReachable(t, reserved)
	waitReachable(t, free)
	addFramework(t, b.MakeFramework("other", ns).Obj())

	o := waitOffer(t, ns, "other", nil)
	if o.Spec.AgentName != free.Name {
		t.Fatalf("other was offered %s, which is reserved for %s", o.Spec.AgentName, r)
	}
	wantResources(t, o, "0", "2Gi")
}

// TestChildUsesParentReservation: what a child role's task uses of its
// parent's reservation is charged to that reservation, so the reservation
// is not held back a second time: the rest of the agent is offered to a
// framework of another role.
func TestChildUsesParentReservation(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	parent, child := ns+"-p", ns+"-p.c"
	addRole(t, b.MakeRole(parent).Obj())
	addRole(t, b.MakeRole(child).Parent(parent).Obj())
	node := addReservedAgent(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"),
		map[string]corev1.ResourceList{parent: b.Resources("cpu", "2", "memory", "2Gi")})
	addFramework(t, b.MakeFramework("child-fw", ns).Role(child).Obj())
	startMaster(t, masterConfig{offerTimeout: time.Hour})

	// The child's framework is offered the whole agent (its parent's
	// reservation with it), runs a task the size of the reservation and
	// declines the rest for good.
	o := waitOffer(t, ns, "child-fw", onAgent(node))
	wantResources(t, o, "4", "4Gi")
	must(t, cp.Client.Create(ctx, b.MakeTask("t", ns, "child-fw").Offer(o.Name).Resources(b.Resources("cpu", "2", "memory", "2Gi")).Obj()))
	waitTask(t, ns, "t", kov1.TaskStaging)
	decline(t, o, time.Hour)

	addFramework(t, b.MakeFramework("other", ns).Obj())
	wantResources(t, waitOffer(t, ns, "other", onAgent(node)), "2", "2Gi")
}

// TestEqualSharesTakeTurns: two identical frameworks that return every
// offer at once without a refuse filter have equal shares each time; the
// one offered fewer times goes first, so they take turns at the agent.
func TestEqualSharesTakeTurns(t *testing.T) {
	ns := cp.Namespace(t)
	addAgent(t, ns, "node", b.Resources("cpu", "1", "memory", "1Gi"))
	addFramework(t, b.MakeFramework("fw-a", ns).Obj())
	addFramework(t, b.MakeFramework("fw-b", ns).Obj())
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	for _, name := range []string{"fw-a", "fw-b"} {
		eventually(t, name+" to be connected", func() (bool, string) {
			f := &kov1.Framework{}
			must(t, cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, f))
			return meta.IsStatusConditionTrue(f.Status.Conditions, kov1.FrameworkConnectedCondition), "not yet"
		})
	}

	var turns []string
	got := map[string]int{}
	last := ""
	for range 4 {
		var o kov1.ResourceOffer
		eventually(t, "the next offer", func() (bool, string) {
			all := append(offers(t, ns, "fw-a"), offers(t, ns, "fw-b")...)
			for _, x := range all {
				if x.Name != last && x.Spec.Decline == nil {
					o = x
					return true, ""
				}
			}
			return false, describeOffers(all)
		})
		turns = append(turns, o.Spec.FrameworkName)
		got[o.Spec.FrameworkName]++
		last = o.Name
		decline(t, o, 0)
	}
	// Strict alternation, except that the very first offer may go to
	// fw-b if fw-a connected a moment later: then the counts tie at one
	// each and the name decides once.
	if got["fw-a"] != 2 || got["fw-b"] != 2 {
		t.Fatalf("offers went to %v; want the frameworks to take turns", turns)
	}
}

// TestFrameworkMinimumReplacesMasters: a framework's own minimum allocatable
// (minAllocatable alternatives, or minResources) replaces the master's
// (10m cpu or 32Mi memory), so an agent with less than that is offered to
// frameworks whose own minimum it meets.
func TestFrameworkMinimumReplacesMasters(t *testing.T) {
	ns := cp.Namespace(t)
	node := addAgent(t, ns, "tiny", b.Resources("cpu", "5m", "memory", "16Mi"))
	addFramework(t, b.MakeFramework("alternatives", ns).MinAllocatable(b.Resources("cpu", "1"), b.Resources("cpu", "5m")).Obj())
	addFramework(t, b.MakeFramework("legacy", ns).MinResources(b.Resources("memory", "16Mi")).Obj())
	startMaster(t, masterConfig{offerTimeout: time.Hour})

	first := waitAnyOffer(t, ns, "alternatives", "legacy")
	wantResources(t, first, "5m", "16Mi")
	decline(t, first, time.Hour)
	second := map[string]string{"alternatives": "legacy", "legacy": "alternatives"}[first.Spec.FrameworkName]
	wantResources(t, waitOffer(t, ns, second, onAgent(node)), "5m", "16Mi")
}

// TestFairSharingExclusions: with GPUs left out of fair sharing, a framework
// holding every GPU but little else goes before one holding most of the
// CPU (counting GPUs, its share would be 1 and it would go last).
func TestFairSharingExclusions(t *testing.T) {
	ns := cp.Namespace(t)
	// Every agent exists before the master starts (so its Ready condition
	// is in place); all but the first wait in Drain until their turn.
	cpuNode := addAgent(t, ns, "cpu", b.Resources("cpu", "4", "memory", "4Gi"))
	gpuNode := addAgent(t, ns, "gpu", b.Resources("cpu", "100m", "memory", "128Mi", "nvidia.com/gpu", "2"))
	extra := addAgent(t, ns, "extra", b.Resources("cpu", "2", "memory", "2Gi"))
	setMaintenance(t, gpuNode.Name, kov1.AgentMaintenanceDrain)
	setMaintenance(t, extra.Name, kov1.AgentMaintenanceDrain)
	addFramework(t, b.MakeFramework("batch", ns).Obj())
	harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: time.Hour, AgentLeaseNamespace: leaseNS,
		FairShareExcluded: []corev1.ResourceName{"nvidia.com/gpu"}})

	// batch holds an offer of 4 of the cluster's 6.1 cpu, then ml one of all
	// the GPUs and 0.1 cpu.
	waitOffer(t, ns, "batch", onAgent(cpuNode))
	addFramework(t, b.MakeFramework("ml", ns).Capability(kov1.CapabilityGPUResources).Obj())
	setMaintenance(t, gpuNode.Name, kov1.AgentMaintenanceNone)
	waitOffer(t, ns, "ml", onAgent(gpuNode))

	setMaintenance(t, extra.Name, kov1.AgentMaintenanceNone)
	var got kov1.ResourceOffer
	eventually(t, "an offer of the new agent", func() (bool, string) {
		all := append(offers(t, ns, "ml"), offers(t, ns, "batch")...)
		for _, o := range all {
			if o.Spec.AgentName == extra.Name {
				got = o
				return true, ""
			}
		}
		return false, describeOffers(all)
	})
	if got.Spec.FrameworkName != "ml" {
		t.Errorf("the new agent was offered to %s; want ml, whose share without GPUs is the lower", got.Spec.FrameworkName)
	}
}
