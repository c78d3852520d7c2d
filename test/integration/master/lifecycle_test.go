package master

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

func decline(t *testing.T, o kov1.ResourceOffer, refuse time.Duration) time.Time {
	t.Helper()
	return harness.Decline(t, cp.Client, o, refuse)
}

// updateFramework changes a framework's spec, retrying on conflicts with the
// master's status writes.
func updateFramework(t *testing.T, ns, name string, mutate func(*kov1.Framework)) {
	t.Helper()
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		f := &kov1.Framework{}
		if err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, f); err != nil {
			return err
		}
		mutate(f)
		return cp.Client.Update(context.Background(), f)
	}))
}

// TestDeclineAndRefuse: a decline (by field or by deleting the offer) hides
// the agent from the framework for the refuse time; revive lifts it.
func TestDeclineAndRefuse(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	addAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"))
	addFramework(t, b.MakeFramework("fw", ns).RefuseDuration(2*time.Second).Obj())

	first := waitOffer(t, ns, "fw", nil)
	declinedAt := decline(t, first, 3*time.Second)
	second := waitOffer(t, ns, "fw", func(o kov1.ResourceOffer) bool { return o.Name != first.Name })
	// Creation timestamps have second granularity.
	if gap := second.CreationTimestamp.Sub(declinedAt.Truncate(time.Second)); gap < 2*time.Second {
		t.Errorf("re-offered %s after the decline, want no sooner than the 3s refuse time", gap)
	}
	eventually(t, "the Declined event", func() (bool, string) { return hasEvent(t, ns, first.Name, "Declined") })

	// Deleting the offer declines it with the framework's refuse time (2s).
	deletedAt := time.Now()
	must(t, cp.Client.Delete(ctx, &second))
	third := waitOffer(t, ns, "fw", func(o kov1.ResourceOffer) bool { return o.Name != second.Name })
	if gap := third.CreationTimestamp.Sub(deletedAt.Truncate(time.Second)); gap < time.Second {
		t.Errorf("re-offered %s after deletion, want no sooner than the 2s default refuse time", gap)
	}

	// A long refuse, lifted by revive.
	decline(t, third, time.Hour)
	eventually(t, "the declined offer to go", func() (bool, string) { return len(offers(t, ns, "fw")) == 0, describeOffers(offers(t, ns, "fw")) })
	updateFramework(t, ns, "fw", func(f *kov1.Framework) { f.Spec.RevivedAt = &metav1.Time{Time: time.Now().Add(time.Second)} })
	waitOffer(t, ns, "fw", func(o kov1.ResourceOffer) bool { return o.Name != third.Name })
}

// TestSuppress: a suppressed framework is offered nothing; active again, it is.
func TestSuppress(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	addAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"))
	addFramework(t, b.MakeFramework("quiet", ns).Offers(kov1.OfferModeSuppressed).Obj())
	addFramework(t, b.MakeFramework("other", ns).Obj())
	o := waitOffer(t, ns, "other", nil)
	if len(offers(t, ns, "quiet")) != 0 {
		t.Fatal("suppressed framework got an offer")
	}
	decline(t, o, time.Hour) // the agent's resources are free again, and only quiet may have them
	f := &kov1.Framework{}
	must(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "quiet"}, f))
	eventually(t, "Suppressed condition", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "quiet"}, f))
		return meta.IsStatusConditionTrue(f.Status.Conditions, kov1.FrameworkSuppressedCondition), "not yet"
	})
	if len(offers(t, ns, "quiet")) != 0 {
		t.Fatal("suppressed framework got an offer")
	}
	updateFramework(t, ns, "quiet", func(f *kov1.Framework) { f.Spec.Offers = kov1.OfferModeActive })
	waitOffer(t, ns, "quiet", nil)
}

// TestOfferExpiry: an unanswered offer is rescinded at its expiry, with an
// Event, and offered again.
func TestOfferExpiry(t *testing.T) {
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: 2 * time.Second})
	addAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"))
	addFramework(t, b.MakeFramework("fw", ns).Obj())
	first := waitOffer(t, ns, "fw", nil)
	eventually(t, "the OfferExpired event", func() (bool, string) { return hasEvent(t, ns, first.Name, "OfferExpired") })
	waitOffer(t, ns, "fw", func(o kov1.ResourceOffer) bool { return o.Name != first.Name })
}

// TestBadOffers: tasks naming an offer that is gone, another framework's, or
// too small never run; they end Dropped (or Error) saying why.
func TestBadOffers(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	addAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"))
	addFramework(t, b.MakeFramework("fw", ns).Obj())
	addFramework(t, b.MakeFramework("other", ns).Obj())
	// Either framework may be offered the agent first (the master may see
	// either scheduler connect first): it owns the offer, the other is the
	// foreigner.
	o := waitAnyOffer(t, ns, "fw", "other")
	owner := o.Spec.FrameworkName
	foreigner := map[string]string{"fw": "other", "other": "fw"}[owner]

	cases := map[string]struct {
		task   *kov1.Task
		state  kov1.TaskState
		reason string
		msg    string
	}{
		"stale": {task: b.MakeTask("stale", ns, owner).Offer("no-such-offer").Obj(),
			state: kov1.TaskDropped, reason: kov1.TaskReasonOfferNotFound, msg: "does not exist"},
		"foreign": {task: b.MakeTask("foreign", ns, foreigner).Offer(o.Name).Obj(),
			state: kov1.TaskDropped, reason: kov1.TaskReasonOfferNotOwned, msg: "a framework can accept only its own offers"},
		"too-small": {task: b.MakeTask("too-small", ns, owner).Offer(o.Name).Resources(b.Resources("cpu", "3", "memory", "64Mi")).Obj(),
			state: kov1.TaskDropped, reason: kov1.TaskReasonInsufficientResources, msg: "cpu: need 3, have 2"},
		"undeclared-host-port": {task: b.MakeTask("undeclared-host-port", ns, owner).Offer(o.Name).PodSpec(func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		}).Obj(), state: kov1.TaskError, reason: kov1.TaskReasonInvalid, msg: "host port 80, which is not in the task's spec.ports"},
		"no-framework": {task: b.MakeTask("no-framework", ns, "ghost").Offer(o.Name).Obj(),
			state: kov1.TaskError, reason: kov1.TaskReasonFrameworkNotFound, msg: "does not exist"},
	}
	for _, tc := range cases {
		must(t, cp.Client.Create(ctx, tc.task))
	}
	for name, tc := range cases {
		tk := waitTask(t, ns, tc.task.Name, tc.state)
		if tk.Status.Reason != tc.reason || !strings.Contains(tk.Status.Message, tc.msg) || tk.Status.AgentName != "" {
			t.Errorf("%s: reason %q message %q agent %q; want %s containing %q, unbound", name, tk.Status.Reason, tk.Status.Message, tk.Status.AgentName, tc.reason, tc.msg)
		}
		if tk.Status.CompletionTime == nil {
			t.Errorf("%s: no completion time", name)
		}
	}
	eventually(t, "a warning event", func() (bool, string) { return hasEvent(t, ns, "foreign", kov1.TaskReasonOfferNotOwned) })
}

// TestAgentLoss: an agent that stops heartbeating becomes unreachable; its
// offers are rescinded and its tasks go Unreachable (partition-aware
// framework) or Lost.
func TestAgentLoss(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour, agentTimeout: 3 * time.Second})
	a := addAgent(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"))
	cutAgentHeartbeat := keepBeating(leaseNS, a.Name) // agentd's heartbeat, until the test cuts it
	addFramework(t, b.MakeFramework("aware", ns).Capability(kov1.CapabilityPartitionAware).Obj())
	addFramework(t, b.MakeFramework("plain", ns).Obj())

	// Each framework gets a turn at the agent: whichever is offered first
	// (the master may see either scheduler connect first) takes 1 cpu and
	// declines the rest, then the other does.
	first := waitAnyOffer(t, ns, "aware", "plain")
	second := map[string]string{"aware": "plain", "plain": "aware"}[first.Spec.FrameworkName]
	must(t, cp.Client.Create(ctx, b.MakeTask("t-"+first.Spec.FrameworkName, ns, first.Spec.FrameworkName).Offer(first.Name).Resources(b.Resources("cpu", "1", "memory", "64Mi")).Obj()))
	waitTask(t, ns, "t-"+first.Spec.FrameworkName, kov1.TaskStaging)
	decline(t, first, time.Hour)
	o := waitOffer(t, ns, second, nil)
	must(t, cp.Client.Create(ctx, b.MakeTask("t-"+second, ns, second).Offer(o.Name).Resources(b.Resources("cpu", "1", "memory", "64Mi")).Obj()))
	waitTask(t, ns, "t-"+second, kov1.TaskStaging)

	// No heartbeat renewals from here on: after 3s the agent is lost.
	cutAgentHeartbeat()
	eventually(t, "Reachable=False", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a))
		return meta.IsStatusConditionFalse(a.Status.Conditions, kov1.AgentReachableCondition), "still reachable"
	})
	unreachable := waitTask(t, ns, "t-aware", kov1.TaskUnreachable)
	lost := waitTask(t, ns, "t-plain", kov1.TaskLost)
	for _, tk := range []*kov1.Task{unreachable, lost} {
		if tk.Status.Reason != kov1.TaskReasonAgentUnreachable {
			t.Errorf("%s reason = %q", tk.Name, tk.Status.Reason)
		}
	}
	eventually(t, "the offer to be rescinded", func() (bool, string) {
		return len(offers(t, ns, second)) == 0, describeOffers(offers(t, ns, second))
	})
	eventually(t, "the AgentUnreachable rescind event", func() (bool, string) { return hasEvent(t, ns, o.Name, "AgentUnreachable") })

	// Back again: offered again.
	heartbeat(t, leaseNS, a.Name, "agent", 40)
	waitAnyOffer(t, ns, "aware", "plain")
}

// TestFrameworkFailover: a framework whose scheduler stops heartbeating is
// disconnected (its offers rescinded), then, past its failover timeout,
// torn down: tasks killed.
func TestFrameworkFailover(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	addAgent(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"))
	f := b.MakeFramework("fw", ns).FailoverTimeout(4 * time.Second).Obj()
	must(t, cp.Client.Create(ctx, f))
	heartbeat(t, ns, kov1.HeartbeatLeaseName("fw"), "framework", 2)
	cutSchedulerHeartbeat := keepBeating(ns, kov1.HeartbeatLeaseName("fw")) // the SDK's heartbeat
	o := waitOffer(t, ns, "fw", nil)
	must(t, cp.Client.Create(ctx, b.MakeTask("t", ns, "fw").Offer(o.Name).Obj()))
	waitTask(t, ns, "t", kov1.TaskStaging)
	cutSchedulerHeartbeat()

	eventually(t, "Connected=False and the offer rescinded", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(f), f))
		return meta.IsStatusConditionFalse(f.Status.Conditions, kov1.FrameworkConnectedCondition) && len(offers(t, ns, "fw")) == 0,
			describeOffers(offers(t, ns, "fw"))
	})
	eventually(t, "TornDown=True", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(f), f))
		return meta.IsStatusConditionTrue(f.Status.Conditions, kov1.FrameworkTornDownCondition), "not torn down"
	})
	tk := waitTask(t, ns, "t", kov1.TaskKilling)
	if tk.Status.Reason != kov1.TaskReasonFrameworkTornDown {
		t.Errorf("reason = %q", tk.Status.Reason)
	}
	// A torn-down framework stays down even if its scheduler comes back.
	heartbeat(t, ns, kov1.HeartbeatLeaseName("fw"), "framework", 2)
	if len(offers(t, ns, "fw")) != 0 {
		t.Error("torn-down framework was offered")
	}
}

// TestFrameworkDeletion: deleting a Framework kills its tasks and rescinds
// its offers, then the object goes.
func TestFrameworkDeletion(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	addAgent(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"))
	f := addFramework(t, b.MakeFramework("fw", ns).Obj())
	o := waitOffer(t, ns, "fw", nil)
	must(t, cp.Client.Create(ctx, b.MakeTask("bound", ns, "fw").Offer(o.Name).Obj()))
	waitTask(t, ns, "bound", kov1.TaskStaging)
	eventually(t, "the finalizer", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(f), f))
		return len(f.Finalizers) == 1, "none yet"
	})
	must(t, cp.Client.Delete(ctx, f))
	eventually(t, "the framework to go", func() (bool, string) {
		err := cp.Client.Get(ctx, client.ObjectKeyFromObject(f), &kov1.Framework{})
		return apierrors.IsNotFound(err), "still there"
	})
	waitTask(t, ns, "bound", kov1.TaskKilling)
	eventually(t, "its offers to go", func() (bool, string) { return len(offers(t, ns, "fw")) == 0, describeOffers(offers(t, ns, "fw")) })
}

// TestBuiltinScheduler: a Framework with a built-in policy runs plain Tasks
// with no scheduler of its own; tasks that do not fit wait, saying why.
func TestBuiltinScheduler(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	node := addAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"))
	addFramework(t, b.MakeFramework("auto", ns).Policy(kov1.SchedulingPolicyFirstFit).Obj())
	for _, name := range []string{"a", "b"} {
		must(t, cp.Client.Create(ctx, b.MakeTask(name, ns, "auto").Resources(b.Resources("cpu", "1", "memory", "512Mi")).Obj()))
	}
	must(t, cp.Client.Create(ctx, b.MakeTask("huge", ns, "auto").Resources(b.Resources("cpu", "8", "memory", "64Mi")).Obj()))
	for _, name := range []string{"a", "b"} {
		tk := waitTask(t, ns, name, kov1.TaskStaging)
		if tk.Spec.OfferName != "" || tk.Status.OfferName != "" || tk.Status.AgentName != node.Name {
			t.Errorf("%s: spec.offerName %q, status.offerName %q, agent %q; want it bound to %s in one write from an offer that lived in the master only",
				name, tk.Spec.OfferName, tk.Status.OfferName, tk.Status.AgentName, node.Name)
		}
	}
	huge := waitTask(t, ns, "huge", kov1.TaskPending)
	eventually(t, "huge to say it waits", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(huge), huge))
		c := meta.FindStatusCondition(huge.Status.Conditions, kov1.TaskBoundCondition)
		return c != nil && c.Reason == kov1.TaskReasonWaitingForOffer, "no Bound condition yet"
	})
}

// TestBuiltinPlacementKeepsEarlierClaims: a task a built-in scheduler put
// on an offer in an earlier pass but that is not bound yet (its bind met a
// conflict, or the leader that placed it died) still claims its share of
// that offer: the next task is not put on the same offer past what is
// left — which admission would then drop, losing a task the master itself
// placed — but waits. Found by the chaos run.
func TestBuiltinPlacementKeepsEarlierClaims(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	a := addAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"))
	addFramework(t, b.MakeFramework("auto", ns).Policy(kov1.SchedulingPolicyFirstFit).Obj())
	// What a master left behind before this one started: the agent judged
	// reachable, its offer of the whole agent, and a task it placed there
	// but did not bind.
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a))
		meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kov1.AgentReachableCondition, Status: metav1.ConditionTrue,
			Reason: kov1.AgentReachableHeartbeatFreshReason})
		return cp.Client.Status().Update(ctx, a)
	}))
	must(t, cp.Client.Create(ctx, b.MakeOffer("earlier", ns, "auto", a.Name).Resources(b.Resources("cpu", "2", "memory", "2Gi")).Obj()))
	must(t, cp.Client.Create(ctx, b.MakeTask("placed", ns, "auto").Offer("earlier").Resources(b.Resources("cpu", "1500m", "memory", "512Mi")).Obj()))
	must(t, cp.Client.Create(ctx, b.MakeTask("next", ns, "auto").Resources(b.Resources("cpu", "1", "memory", "512Mi")).Obj()))
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	waitTask(t, ns, "placed", kov1.TaskStaging)
	next := waitTask(t, ns, "next", kov1.TaskPending)
	if c := meta.FindStatusCondition(next.Status.Conditions, kov1.TaskBoundCondition); c == nil || c.Reason != kov1.TaskReasonWaitingForOffer {
		t.Errorf("next: Bound condition %+v, want reason %s", c, kov1.TaskReasonWaitingForOffer)
	}
}

// keepBeating renews a heartbeat Lease every 500ms, as agentd or the SDK
// would, until the returned function is called.
func keepBeating(ns, name string) (cut func()) { return harness.KeepBeating(cp.Client, ns, name) }
