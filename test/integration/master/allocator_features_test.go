package master

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

// The allocator's features, proven through the API server: Roles, Agents
// and Frameworks as objects, and the offers the master actually makes.
//
// Some tests must show that an agent is never offered to a framework. They
// add that agent (addAgentWith returns once it is offerable), then a
// second agent, and wait for the second's offer: the pass that made it read
// the first agent too (one informer carries both, in order), so had the
// first been offered, it would have been then. The master's offers_sent
// counter confirms no other offer was made.

// agentSetup is how a test agent differs from addAgent's.
type agentSetup struct {
	// reservations go into the Agent's spec, as an operator writes them.
	reservations []kov1.Reservation
	// attributes are reported on top of the hostname, as agentd reports
	// node labels.
	attributes map[string]string
	// beforeMaster is for an agent made before the test's master starts:
	// Reachable=True is set as the master would set it, so that its first
	// pass sees the agent offerable.
	beforeMaster bool
}

// addAgentWith creates a Ready agent with a fresh heartbeat, as addAgent
// does, set up as s says, and returns once the master has it Reachable
// with Ready intact: as agentd re-asserts its status on every resync, it
// writes Ready again should a write of the master's have replaced the
// conditions list it read before Ready was there.
func addAgentWith(t *testing.T, ns, name string, alloc corev1.ResourceList, s agentSetup) *kov1.Agent {
	t.Helper()
	ctx := context.Background()
	a := &kov1.Agent{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name}, Spec: kov1.AgentSpec{Reservations: s.reservations}}
	heartbeat(t, leaseNS, a.Name, "agent", 40)
	must(t, cp.Client.Create(ctx, a))
	t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), a) })
	report := func() {
		must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
				return err
			}
			a.Status.Capacity, a.Status.Allocatable = alloc, alloc
			a.Status.Attributes = map[string]string{corev1.LabelHostname: a.Name}
			for k, v := range s.attributes {
				a.Status.Attributes[k] = v
			}
			meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kov1.AgentReadyCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentReadyNodeReadyReason})
			if s.beforeMaster {
				meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kov1.AgentReachableCondition, Status: metav1.ConditionTrue,
					Reason: kov1.AgentReachableHeartbeatFreshReason, Message: "agentd renewed its heartbeat Lease"})
			}
			return cp.Client.Status().Update(ctx, a)
		}))
	}
	report()
	if s.beforeMaster {
		return a
	}
	eventually(t, "agent "+a.Name+" to be Ready and Reachable", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a))
		if !meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReadyCondition) {
			t.Logf("Agent %s lost its Ready condition (conditions %v); reporting it again", a.Name, a.Status.Conditions)
			report()
			return false, "Ready lost"
		}
		return meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReachableCondition), fmt.Sprintf("conditions %v", a.Status.Conditions)
	})
	return a
}

// createRoles creates cluster-scoped Roles and removes them when the test ends.
func createRoles(t *testing.T, roles ...*kov1.Role) {
	t.Helper()
	for _, r := range roles {
		must(t, cp.Client.Create(context.Background(), r))
		t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), r) })
	}
}

// waitConnected waits for the master to mark a framework Connected.
func waitConnected(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "framework "+name+" to be Connected", func() (bool, string) {
		f := &kov1.Framework{}
		must(t, cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, f))
		return meta.IsStatusConditionTrue(f.Status.Conditions, kov1.FrameworkConnectedCondition), fmt.Sprintf("conditions %v", f.Status.Conditions)
	})
}

// offersOn lists fw's live offers of agent.
func offersOn(t *testing.T, ns, fw, agent string) []kov1.ResourceOffer {
	t.Helper()
	var out []kov1.ResourceOffer
	for _, o := range offers(t, ns, fw) {
		if o.Spec.AgentName == agent {
			out = append(out, o)
		}
	}
	return out
}

// waitOfferOn waits for an offer of agent to fw.
func waitOfferOn(t *testing.T, ns, fw, agent string) kov1.ResourceOffer {
	t.Helper()
	return waitOffer(t, ns, fw, func(o kov1.ResourceOffer) bool { return o.Spec.AgentName == agent })
}

// checkOffersSent checks the master's count of offers made to framework
// ns/fw. The master counts an offer just after creating it, so the count
// may trail the offers a test has seen by a moment.
func checkOffersSent(t *testing.T, m *master, ns, fw string, want float64) {
	t.Helper()
	sent := func() float64 { return testutil.ToFloat64(m.Metrics.OffersSent.WithLabelValues(ns + "/" + fw)) }
	eventually(t, fmt.Sprintf("offers_sent_total{%s/%s} to reach %v", ns, fw, want), func() (bool, string) {
		return sent() >= want, fmt.Sprint(sent())
	})
	if got := sent(); got != want {
		t.Errorf("offers_sent_total{%s/%s} = %v, want %v", ns, fw, got, want)
	}
}

// hasResources reports whether rl holds exactly want's quantities and no
// other resource.
func hasResources(rl, want corev1.ResourceList) bool {
	if len(rl) != len(want) {
		return false
	}
	for name, q := range want {
		if got, ok := rl[name]; !ok || got.Cmp(q) != 0 {
			return false
		}
	}
	return true
}

// TestQuotaLimit: a role's quota limit cuts what it is offered, per
// resource, and nothing more is offered while its tasks hold the limit;
// raising the limit offers exactly the difference.
func TestQuotaLimit(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	role := b.MakeRole(ns+"-capped").Quota(nil, b.Resources("cpu", "1", "memory", "1Gi")).Obj()
	createRoles(t, role)
	addAgentWith(t, ns, "a", b.Resources("cpu", "2", "memory", "2Gi"), agentSetup{beforeMaster: true})
	addAgentWith(t, ns, "b", b.Resources("cpu", "2", "memory", "2Gi"), agentSetup{beforeMaster: true})
	m := startMaster(t, masterConfig{offerTimeout: time.Hour}) // sees the limit from its first pass
	addFramework(t, b.MakeFramework("fw", ns).Role(role.Name).Obj())

	limit := b.Resources("cpu", "1", "memory", "1Gi")
	first := waitOffer(t, ns, "fw", nil)
	if !hasResources(first.Spec.Resources, limit) || first.Spec.Role != role.Name {
		t.Fatalf("first offer = %s as role %q, want 1 cpu / 1Gi (the limit) as %s", describeOffers([]kov1.ResourceOffer{first}), first.Spec.Role, role.Name)
	}
	must(t, cp.Client.Create(ctx, b.MakeTask("t1", ns, "fw").Offer(first.Name).Resources(limit).Obj()))
	waitTask(t, ns, "t1", kov1.TaskStaging)
	// The task used the whole offer: it is retired, and the role holds its limit.
	eventually(t, "the used-up offer to go", func() (bool, string) { return len(offers(t, ns, "fw")) == 0, describeOffers(offers(t, ns, "fw")) })

	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(role), role))
		role.Spec.Quota.Limit = b.Resources("cpu", "2", "memory", "2Gi")
		return cp.Client.Update(ctx, role)
	}))
	second := waitOffer(t, ns, "fw", nil)
	if !hasResources(second.Spec.Resources, limit) {
		t.Errorf("offer after raising the limit = %s, want 1 cpu / 1Gi (the new limit less t1)", describeOffers([]kov1.ResourceOffer{second}))
	}
	checkOffersSent(t, m, ns, "fw", 2) // none while the role held its limit
}

// TestRoleHierarchy: weighted DRF applies per level of the role tree.
// team and solo (weight 1 each) split 8 equal agents evenly; inside team,
// team-x (weight 3) gets three times team-y's (weight 1). Flat DRF over
// the three frameworks' roles would give team-x about 5 of 8. Frameworks
// hold their offers, which count as allocation, so the allocator's order
// alone decides who is offered each agent, whichever order ties break in.
func TestRoleHierarchy(t *testing.T) {
	ns := cp.Namespace(t)
	role := func(r string) string { return ns + "-" + r }
	createRoles(t, b.MakeRole(role("team")).Weight(1).Obj(), b.MakeRole(role("solo")).Weight(1).Obj(),
		b.MakeRole(role("team-x")).Parent(role("team")).Weight(3).Obj(), b.MakeRole(role("team-y")).Parent(role("team")).Weight(1).Obj())
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	frameworks := map[string]string{"fx": role("team-x"), "fy": role("team-y"), "fs": role("solo")}
	for fw, r := range frameworks {
		addFramework(t, b.MakeFramework(fw, ns).Role(r).Obj())
	}
	for fw := range frameworks {
		waitConnected(t, ns, fw)
	}
	for i := range 8 {
		addAgentWith(t, ns, fmt.Sprintf("n%d", i), b.Resources("cpu", "1", "memory", "1Gi"), agentSetup{})
	}
	want := map[string]int{"fs": 4, "fx": 3, "fy": 1}
	got := map[string]int{}
	eventually(t, "all 8 agents offered", func() (bool, string) {
		clear(got)
		n := 0
		for fw := range frameworks {
			for _, o := range offers(t, ns, fw) {
				if !hasResources(o.Spec.Resources, b.Resources("cpu", "1", "memory", "1Gi")) {
					t.Fatalf("offer %s is not a whole agent", describeOffers([]kov1.ResourceOffer{o}))
				}
				got[fw]++
				n++
			}
		}
		return n == 8, fmt.Sprintf("offers per framework %v", got)
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("agents offered per framework (-want +got):\n%s", diff)
	}
}

// TestReservations: an agent's reservation is offered only to its role; a
// framework of another role is offered the rest of the agent, and the
// reserved part waits for the role's framework.
func TestReservations(t *testing.T) {
	ns := cp.Namespace(t)
	owner := ns + "-owner"
	createRoles(t, b.MakeRole(owner).Obj())
	a := addAgentWith(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"),
		agentSetup{beforeMaster: true, reservations: []kov1.Reservation{{Role: owner, Resources: b.Resources("cpu", "3", "memory", "1Gi")}}})
	m := startMaster(t, masterConfig{offerTimeout: time.Hour})

	addFramework(t, b.MakeFramework("other", ns).Obj())
	o := waitOfferOn(t, ns, "other", a.Name)
	if !hasResources(o.Spec.Resources, b.Resources("cpu", "1", "memory", "3Gi")) {
		t.Fatalf("offer to another role = %s, want the unreserved 1 cpu / 3Gi", describeOffers([]kov1.ResourceOffer{o}))
	}
	addFramework(t, b.MakeFramework("mine", ns).Role(owner).Obj())
	r := waitOfferOn(t, ns, "mine", a.Name)
	if !hasResources(r.Spec.Resources, b.Resources("cpu", "3", "memory", "1Gi")) || r.Spec.Role != owner {
		t.Errorf("offer to the owner = %s as %q, want the reserved 3 cpu / 1Gi as %s", describeOffers([]kov1.ResourceOffer{r}), r.Spec.Role, owner)
	}
	checkOffersSent(t, m, ns, "other", 1)
}

// TestMinAllocatable: the master's minimum allocatable resources
// (--min-allocatable-*, Mesos's --min_allocatable_resources) keep agents
// whose free resources hold none of the alternatives from being offered;
// one alternative in full is enough.
func TestMinAllocatable(t *testing.T) {
	ns := cp.Namespace(t)
	m := startMaster(t, masterConfig{offerTimeout: time.Hour,
		minAllocatable: []corev1.ResourceList{b.Resources("cpu", "1"), b.Resources("memory", "8Gi")}})
	addFramework(t, b.MakeFramework("fw", ns).Obj())
	waitConnected(t, ns, "fw")
	small := addAgentWith(t, ns, "small", b.Resources("cpu", "500m", "memory", "4Gi"), agentSetup{})
	cpuAgent := addAgentWith(t, ns, "cpu", b.Resources("cpu", "1", "memory", "1Gi"), agentSetup{})
	memAgent := addAgentWith(t, ns, "mem", b.Resources("cpu", "100m", "memory", "8Gi"), agentSetup{})
	waitOfferOn(t, ns, "fw", cpuAgent.Name)
	waitOfferOn(t, ns, "fw", memAgent.Name)
	if os := offersOn(t, ns, "fw", small.Name); len(os) != 0 {
		t.Errorf("agent below every minimum was offered: %s", describeOffers(os))
	}
	checkOffersSent(t, m, ns, "fw", 2)
}

// TestAttributeSelector: a framework's offerConstraints.attributeSelector
// keeps agents whose attributes do not match from being offered to it.
func TestAttributeSelector(t *testing.T) {
	ns := cp.Namespace(t)
	m := startMaster(t, masterConfig{offerTimeout: time.Hour})
	addFramework(t, b.MakeFramework("fw", ns).Selector(map[string]string{"disk": "ssd"}).Obj())
	waitConnected(t, ns, "fw")
	hdd := addAgentWith(t, ns, "hdd", b.Resources("cpu", "2", "memory", "2Gi"), agentSetup{attributes: map[string]string{"disk": "hdd"}})
	ssd := addAgentWith(t, ns, "ssd", b.Resources("cpu", "2", "memory", "2Gi"), agentSetup{attributes: map[string]string{"disk": "ssd"}})
	o := waitOfferOn(t, ns, "fw", ssd.Name)
	if o.Spec.Attributes["disk"] != "ssd" {
		t.Errorf("offer attributes = %v, want disk=ssd", o.Spec.Attributes)
	}
	if os := offersOn(t, ns, "fw", hdd.Name); len(os) != 0 {
		t.Errorf("agent not matching the selector was offered: %s", describeOffers(os))
	}
	checkOffersSent(t, m, ns, "fw", 1)
}

// TestMinResources: a framework's offerConstraints.minResources keeps
// agents with less free than that from being offered to it.
func TestMinResources(t *testing.T) {
	ns := cp.Namespace(t)
	m := startMaster(t, masterConfig{offerTimeout: time.Hour})
	addFramework(t, b.MakeFramework("fw", ns).MinResources(b.Resources("cpu", "2", "memory", "1Gi")).Obj())
	waitConnected(t, ns, "fw")
	small := addAgentWith(t, ns, "small", b.Resources("cpu", "1", "memory", "8Gi"), agentSetup{})
	big := addAgentWith(t, ns, "big", b.Resources("cpu", "4", "memory", "4Gi"), agentSetup{})
	o := waitOfferOn(t, ns, "fw", big.Name)
	if !hasResources(o.Spec.Resources, b.Resources("cpu", "4", "memory", "4Gi")) {
		t.Errorf("offer = %s, want the whole big agent", describeOffers([]kov1.ResourceOffer{o}))
	}
	if os := offersOn(t, ns, "fw", small.Name); len(os) != 0 {
		t.Errorf("agent below the framework's minResources was offered: %s", describeOffers(os))
	}
	checkOffersSent(t, m, ns, "fw", 1)
}

// TestGPUResources: an agent with GPUs is offered only to frameworks with
// the GPUResources capability (as in Mesos); such a framework is offered
// the GPUs as an extended resource, and a task taking one binds.
func TestGPUResources(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	m := startMaster(t, masterConfig{offerTimeout: time.Hour})
	addFramework(t, b.MakeFramework("plain", ns).Obj())
	waitConnected(t, ns, "plain")
	gpu := addAgentWith(t, ns, "gpu", b.Resources("cpu", "4", "memory", "4Gi", "nvidia.com/gpu", "2"), agentSetup{})
	cpuOnly := addAgentWith(t, ns, "cpu", b.Resources("cpu", "2", "memory", "2Gi"), agentSetup{})
	waitOfferOn(t, ns, "plain", cpuOnly.Name)
	if os := offersOn(t, ns, "plain", gpu.Name); len(os) != 0 {
		t.Errorf("GPU agent was offered to a framework without GPUResources: %s", describeOffers(os))
	}
	checkOffersSent(t, m, ns, "plain", 1)

	addFramework(t, b.MakeFramework("gpu", ns).Capability(kov1.CapabilityGPUResources).Obj())
	o := waitOfferOn(t, ns, "gpu", gpu.Name)
	if !hasResources(o.Spec.Resources, b.Resources("cpu", "4", "memory", "4Gi", "nvidia.com/gpu", "2")) {
		t.Fatalf("offer = %v, want the whole GPU agent with its 2 GPUs", o.Spec.Resources)
	}
	must(t, cp.Client.Create(ctx, b.MakeTask("train", ns, "gpu").Offer(o.Name).
		Resources(b.Resources("cpu", "1", "memory", "1Gi", "nvidia.com/gpu", "1")).Obj()))
	tk := waitTask(t, ns, "train", kov1.TaskStaging)
	if tk.Status.AgentName != gpu.Name {
		t.Errorf("task bound to %q, want %s", tk.Status.AgentName, gpu.Name)
	}
	eventually(t, "the offer's remainder to hold one GPU", func() (bool, string) {
		cur := &kov1.ResourceOffer{}
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(&o), cur))
		return hasResources(cur.Status.Remaining, b.Resources("cpu", "3", "memory", "3Gi", "nvidia.com/gpu", "1")),
			fmt.Sprintf("remaining %v", cur.Status.Remaining)
	})
}

// TestPlacementPolicies: a built-in BinPack scheduler fills the fullest
// offer first, Spread puts each task where the framework has the fewest;
// nine 1-cpu tasks on three 4-cpu agents land 4/4/1 and 3/3/3. The agents,
// tasks and the framework exist before the master starts, so its first
// pass offers all three agents and the next places all nine tasks.
func TestPlacementPolicies(t *testing.T) {
	cases := map[kov1.SchedulingPolicy][]int{
		kov1.SchedulingPolicyBinPack: {1, 4, 4},
		kov1.SchedulingPolicySpread:  {3, 3, 3},
	}
	for policy, want := range cases {
		t.Run(string(policy), func(t *testing.T) {
			ctx := context.Background()
			ns := cp.Namespace(t)
			agents := map[string]bool{}
			for _, name := range []string{"a", "b", "c"} {
				agents[addAgentWith(t, ns, name, b.Resources("cpu", "4", "memory", "4Gi"), agentSetup{beforeMaster: true}).Name] = true
			}
			for i := range 9 {
				must(t, cp.Client.Create(ctx, b.MakeTask(fmt.Sprintf("t%d", i), ns, "auto").Resources(b.Resources("cpu", "1", "memory", "1Gi")).Obj()))
			}
			f := b.MakeFramework("auto", ns).Policy(policy).Obj()
			must(t, cp.Client.Create(ctx, f))
			meta.SetStatusCondition(&f.Status.Conditions, metav1.Condition{Type: kov1.FrameworkConnectedCondition, Status: metav1.ConditionTrue,
				Reason: kov1.FrameworkConnectedBuiltinSchedulerReason, Message: "The master schedules for the framework"})
			must(t, cp.Client.Status().Update(ctx, f))
			startMaster(t, masterConfig{offerTimeout: time.Hour})

			perAgent := map[string]int{}
			for i := range 9 {
				tk := waitTask(t, ns, fmt.Sprintf("t%d", i), kov1.TaskStaging)
				if !agents[tk.Status.AgentName] {
					t.Fatalf("%s bound to %q, not one of the test's agents", tk.Name, tk.Status.AgentName)
				}
				perAgent[tk.Status.AgentName]++
			}
			var got []int
			for _, n := range perAgent {
				got = append(got, n)
			}
			for len(got) < 3 {
				got = append(got, 0)
			}
			sort.Ints(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tasks per agent, sorted (-want +got):\n%s\nper agent: %v", diff, perAgent)
			}
		})
	}
}
