package agentd

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// TestWithMaster is the agentd issue's "done when": the master and agentd,
// against one API server with the test playing the kubelet, carry tasks
// from one offer to Finished, Failed and Killed, and the Agent's figures
// move as the tasks start and end.
func TestWithMaster(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: time.Hour, AgentLeaseNamespace: leaseNS, AgentTimeout: time.Minute})
	startAgentd(t, node, nil)
	harness.Must(t, cp.Client.Create(ctx, b.MakeFramework("fw", ns).Obj()))
	harness.Heartbeat(t, cp.Client, ns, kov1.HeartbeatLeaseName("fw"), kov1.HeartbeatFramework, 3600)

	// agentd's Agent is offered whole.
	offer := harness.WaitOffer(t, cp.Client, ns, "fw", nil)
	if offer.Spec.AgentName != node || !sameQty(offer.Spec.Resources, "cpu", "4") || !sameQty(offer.Spec.Resources, "memory", "4Gi") {
		t.Fatalf("first offer %s, want all of agent %s", harness.DescribeOffers([]kov1.ResourceOffer{offer}), node)
	}
	for _, name := range []string{"ok", "bad", "victim"} {
		harness.Must(t, cp.Client.Create(ctx, b.MakeTask(name, ns, "fw").Offer(offer.Name).Resources(b.Resources("cpu", "1", "memory", "1Gi")).Obj()))
	}
	for _, name := range []string{"ok", "bad", "victim"} {
		waitPod(t, ns, name)
		runPod(t, ns, name)
		harness.WaitTask(t, cp.Client, ns, name, kov1.TaskRunning)
	}
	harness.Eventually(t, "3 cpu allocated", func() (bool, string) {
		st := agentOf(t, node).Status
		return sameQty(st.Allocated, "cpu", "3") && sameQty(st.Allocated, "memory", "3Gi"), describe(st)
	})
	harness.Decline(t, cp.Client, offer, 0)
	harness.WaitOffer(t, cp.Client, ns, "fw", func(o kov1.ResourceOffer) bool {
		return o.Name != offer.Name && sameQty(o.Spec.Resources, "cpu", "1")
	})

	exitPod(t, ns, "ok", 0, "Completed")
	exitPod(t, ns, "bad", 1, "Error")
	victim := &kov1.Task{}
	harness.Must(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "victim"}, victim))
	harness.Must(t, cp.Client.Delete(ctx, victim))
	reap(t, ns, "victim")
	harness.WaitTask(t, cp.Client, ns, "ok", kov1.TaskFinished)
	if tk := harness.WaitTask(t, cp.Client, ns, "bad", kov1.TaskFailed); tk.Status.ExitCode == nil || *tk.Status.ExitCode != 1 {
		t.Errorf("bad: exit code %v, want 1", tk.Status.ExitCode)
	}
	harness.Eventually(t, "the killed task to be gone", func() (bool, string) {
		err := cp.Client.Get(ctx, client.ObjectKeyFromObject(victim), victim)
		return client.IgnoreNotFound(err) == nil && err != nil, "state " + string(victim.Status.State)
	})

	harness.Eventually(t, "nothing allocated", func() (bool, string) {
		st := agentOf(t, node).Status
		return st.Allocated.Cpu().IsZero() && st.Allocated.Memory().IsZero(), describe(st)
	})
	// Everything comes back to the framework once it declines what it holds.
	for _, o := range harness.Offers(t, cp.Client, ns, "fw") {
		harness.Decline(t, cp.Client, o, 0)
	}
	harness.WaitOffer(t, cp.Client, ns, "fw", func(o kov1.ResourceOffer) bool {
		return sameQty(o.Spec.Resources, corev1.ResourceCPU, "4") && sameQty(o.Spec.Resources, corev1.ResourceMemory, "4Gi")
	})
}

// TestAgentDeletedWhileAgentdRuns: deleting the Agent of a live node ends
// its tasks (Lost, reason AgentRemovedByOperator, for a framework that is
// not partition-aware) before the Agent goes; agentd then registers the
// node anew, stops the ended task's Pod as a Mesos agent shut down by its
// master does, and the new Agent is offered (the old offer was rescinded).
func TestAgentDeletedWhileAgentdRuns(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: time.Hour, AgentLeaseNamespace: leaseNS, AgentTimeout: time.Minute})
	startAgentd(t, node, nil)
	harness.Must(t, cp.Client.Create(ctx, b.MakeFramework("fw", ns).Obj()))
	harness.Heartbeat(t, cp.Client, ns, kov1.HeartbeatLeaseName("fw"), kov1.HeartbeatFramework, 3600)
	offer := harness.WaitOffer(t, cp.Client, ns, "fw", nil)
	harness.Must(t, cp.Client.Create(ctx, b.MakeTask("t", ns, "fw").Offer(offer.Name).Resources(b.Resources("cpu", "1", "memory", "1Gi")).Obj()))
	waitPod(t, ns, "t")
	runPod(t, ns, "t")
	harness.WaitTask(t, cp.Client, ns, "t", kov1.TaskRunning)
	old := agentOf(t, node)

	harness.Must(t, cp.Client.Delete(ctx, old))
	if tk := harness.WaitTask(t, cp.Client, ns, "t", kov1.TaskLost); tk.Status.Reason != kov1.TaskReasonAgentRemovedByOperator {
		t.Errorf("reason = %q, want %s", tk.Status.Reason, kov1.TaskReasonAgentRemovedByOperator)
	}
	harness.Eventually(t, "agentd to register the node anew", func() (bool, string) {
		a := &kov1.Agent{}
		err := cp.Client.Get(ctx, clientKey(node), a)
		return err == nil && a.UID != old.UID, errString(err)
	})
	harness.Eventually(t, "the old Agent's offer to be rescinded", func() (bool, string) {
		err := cp.Client.Get(ctx, client.ObjectKeyFromObject(&offer), &kov1.ResourceOffer{})
		return apierrors.IsNotFound(err), errString(err)
	})
	reap(t, ns, "t") // agentd stopped the Pod of the ended task
	harness.WaitOffer(t, cp.Client, ns, "fw", func(o kov1.ResourceOffer) bool {
		return o.Name != offer.Name && o.Spec.AgentName == node
	})
}
