package master

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// TestHeartbeatClockSkew: a framework's scheduler and an agent whose clocks
// are far from the master's stay Connected and Reachable while they renew
// their Leases, and stop being so when the renewals stop: the master times
// renewals by when it sees them, not by the renew time in the Lease.
func TestHeartbeatClockSkew(t *testing.T) {
	for name, skew := range map[string]struct{ framework, agent time.Duration }{
		"behind": {framework: -15 * time.Second, agent: -75 * time.Second},
		"ahead":  {framework: 75 * time.Second, agent: 75 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ns := cp.Namespace(t)
			startMaster(t, masterConfig{offerTimeout: time.Hour, agentTimeout: 3 * time.Second})
			a := createAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"))
			harness.HeartbeatSkewed(t, cp.Client, leaseNS, a.Name, kov1.HeartbeatAgent, 15, skew.agent)
			cutAgent, agentRenewals := harness.KeepBeatingSkewed(cp.Client, leaseNS, a.Name, skew.agent)
			f := b.MakeFramework("fw", ns).Obj()
			must(t, cp.Client.Create(ctx, f))
			harness.HeartbeatSkewed(t, cp.Client, ns, kov1.HeartbeatLeaseName("fw"), kov1.HeartbeatFramework, 2, skew.framework)
			cutFramework, fwRenewals := harness.KeepBeatingSkewed(cp.Client, ns, kov1.HeartbeatLeaseName("fw"), skew.framework)
			defer cutAgent()
			defer cutFramework()

			var reachableSince, connectedSince metav1.Time
			eventually(t, "Reachable=True and Connected=True", func() (bool, string) {
				must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a))
				must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(f), f))
				r := meta.FindStatusCondition(a.Status.Conditions, kov1.AgentReachableCondition)
				c := meta.FindStatusCondition(f.Status.Conditions, kov1.FrameworkConnectedCondition)
				if r == nil || c == nil || r.Status != metav1.ConditionTrue || c.Status != metav1.ConditionTrue {
					return false, fmt.Sprintf("Reachable %+v, Connected %+v", r, c)
				}
				reachableSince, connectedSince = r.LastTransitionTime, c.LastTransitionTime
				return true, ""
			})
			waitOffer(t, ns, "fw", func(o kov1.ResourceOffer) bool { return o.Spec.AgentName == a.Name })

			// Renewals for three agent timeouts (and many more lease
			// durations): neither flips, whatever the renew times say.
			eventually(t, "renewals for three agent timeouts", func() (bool, string) {
				return agentRenewals() >= 18 && fwRenewals() >= 18, fmt.Sprintf("%d agent and %d framework renewals", agentRenewals(), fwRenewals())
			})
			must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a))
			must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(f), f))
			if r := meta.FindStatusCondition(a.Status.Conditions, kov1.AgentReachableCondition); r.Status != metav1.ConditionTrue || !r.LastTransitionTime.Equal(&reachableSince) {
				t.Errorf("Reachable = %+v, want True since %s without a break", r, reachableSince)
			}
			if c := meta.FindStatusCondition(f.Status.Conditions, kov1.FrameworkConnectedCondition); c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Equal(&connectedSince) {
				t.Errorf("Connected = %+v, want True since %s without a break", c, connectedSince)
			}

			// The renewals stop: one timeout later, neither is so any more.
			cutAgent()
			cutFramework()
			eventually(t, "Reachable=False and Connected=False", func() (bool, string) {
				must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a))
				must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(f), f))
				r := meta.FindStatusCondition(a.Status.Conditions, kov1.AgentReachableCondition)
				c := meta.FindStatusCondition(f.Status.Conditions, kov1.FrameworkConnectedCondition)
				return r.Status == metav1.ConditionFalse && c.Status == metav1.ConditionFalse, fmt.Sprintf("Reachable %s, Connected %s", r.Status, c.Status)
			})
		})
	}
}

// agentWithTasks sets up an agent (with a renewed heartbeat, until cut)
// running one task of a partition-aware framework ("aware") and one of a
// framework that is not ("plain"), each holding 1 cpu and agentd's kill
// finalizer, as agentd puts it there before launching. The framework
// offered the agent second keeps an outstanding offer on it, returned.
func agentWithTasks(t *testing.T, ns string) (a *kov1.Agent, open kov1.ResourceOffer, cut func()) {
	t.Helper()
	ctx := context.Background()
	a = addAgent(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"))
	cut = keepBeating(leaseNS, a.Name)
	t.Cleanup(cut)
	addFramework(t, b.MakeFramework("aware", ns).Capability(kov1.CapabilityPartitionAware).Obj())
	addFramework(t, b.MakeFramework("plain", ns).Obj())
	first := waitAnyOffer(t, ns, "aware", "plain")
	second := map[string]string{"aware": "plain", "plain": "aware"}[first.Spec.FrameworkName]
	must(t, cp.Client.Create(ctx, b.MakeTask("t-"+first.Spec.FrameworkName, ns, first.Spec.FrameworkName).Offer(first.Name).Resources(b.Resources("cpu", "1", "memory", "64Mi")).Obj()))
	waitTask(t, ns, "t-"+first.Spec.FrameworkName, kov1.TaskStaging)
	decline(t, first, time.Hour)
	open = waitOffer(t, ns, second, nil)
	must(t, cp.Client.Create(ctx, b.MakeTask("t-"+second, ns, second).Offer(open.Name).Resources(b.Resources("cpu", "1", "memory", "64Mi")).Obj()))
	waitTask(t, ns, "t-"+second, kov1.TaskStaging)
	for _, name := range []string{"t-aware", "t-plain"} {
		must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			tk := &kov1.Task{}
			if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tk); err != nil {
				return err
			}
			controllerutil.AddFinalizer(tk, kov1.TaskKillFinalizer)
			return cp.Client.Update(ctx, tk)
		}))
	}
	for _, fw := range []string{"aware", "plain"} {
		waitAllocatedCPU(t, ns, fw, "1")
	}
	return a, open, cut
}

// waitAllocatedCPU waits for a framework's status.allocated cpu to be want.
func waitAllocatedCPU(t *testing.T, ns, fw, want string) {
	t.Helper()
	eventually(t, fw+"'s allocated cpu to be "+want, func() (bool, string) {
		f := &kov1.Framework{}
		must(t, cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: fw}, f))
		return sameQty(f.Status.Allocated, "cpu", want), "allocated cpu " + qty(f.Status.Allocated, "cpu")
	})
}

// waitEnded waits for task name to reach state with reason, and for its
// kill finalizer to be released.
func waitEnded(t *testing.T, ns, name string, state kov1.TaskState, reason string) *kov1.Task {
	t.Helper()
	tk := waitTask(t, ns, name, state)
	if tk.Status.Reason != reason || tk.Status.Message == "" || tk.Status.CompletionTime == nil {
		t.Errorf("%s: reason %q message %q completion %v, want reason %s, a message, a completion time", name, tk.Status.Reason, tk.Status.Message, tk.Status.CompletionTime, reason)
	}
	eventually(t, name+"'s kill finalizer to be released", func() (bool, string) {
		must(t, cp.Client.Get(context.Background(), client.ObjectKeyFromObject(tk), tk))
		return !controllerutil.ContainsFinalizer(tk, kov1.TaskKillFinalizer), fmt.Sprintf("finalizers %v", tk.Finalizers)
	})
	return tk
}

// waitDeleted deletes a task and waits for it to go: nothing holds it.
func waitDeleted(t *testing.T, ns, name string) {
	t.Helper()
	tk := &kov1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	must(t, client.IgnoreNotFound(cp.Client.Delete(context.Background(), tk)))
	eventually(t, name+" to be deleted", func() (bool, string) {
		err := cp.Client.Get(context.Background(), client.ObjectKeyFromObject(tk), tk)
		return apierrors.IsNotFound(err), fmt.Sprintf("finalizers %v", tk.Finalizers)
	})
}

// TestAgentGoneTimeout: an agent unreachable for longer than the agent gone
// timeout is removed: its partition-aware framework's task goes from
// Unreachable to Gone, the other's stays Lost, both are released by
// agentd's finalizer (they can be deleted), and their share is freed.
// When its heartbeat comes back it is offered again.
func TestAgentGoneTimeout(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour, agentTimeout: 2 * time.Second, agentGoneTimeout: 3 * time.Second})
	a, _, cut := agentWithTasks(t, ns)

	cut()
	waitTask(t, ns, "t-aware", kov1.TaskUnreachable)
	waitEnded(t, ns, "t-aware", kov1.TaskGone, kov1.TaskReasonAgentRemoved)
	waitEnded(t, ns, "t-plain", kov1.TaskLost, kov1.TaskReasonAgentUnreachable)
	waitAllocatedCPU(t, ns, "aware", "0")
	waitAllocatedCPU(t, ns, "plain", "0")
	eventually(t, "Reachable=False, reason AgentRemoved", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a))
		c := meta.FindStatusCondition(a.Status.Conditions, kov1.AgentReachableCondition)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == kov1.AgentReachableRemovedReason, fmt.Sprintf("%+v", c)
	})
	eventually(t, "the AgentRemoved event", func() (bool, string) { return hasEvent(t, "", a.Name, kov1.AgentReachableRemovedReason) })
	waitDeleted(t, ns, "t-plain")

	// Back again: offered again; its ended tasks stay ended.
	heartbeat(t, leaseNS, a.Name, "agent", 40)
	waitAnyOffer(t, ns, "aware", "plain")
	if tk := waitTask(t, ns, "t-aware", kov1.TaskGone); tk.Status.Reason != kov1.TaskReasonAgentRemoved {
		t.Errorf("t-aware reason = %q after the agent came back", tk.Status.Reason)
	}
}

// TestMarkAgentGone: an operator marks a live agent Gone (Mesos's
// MARK_AGENT_GONE): at once its offers are rescinded, its tasks end Gone
// (partition-aware) or Lost with agentd's finalizer released, their share
// is freed, and it is never offered again; Gone cannot be undone.
func TestMarkAgentGone(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	a, open, _ := agentWithTasks(t, ns)

	setMaintenance(t, a.Name, kov1.AgentMaintenanceGone)
	waitEnded(t, ns, "t-aware", kov1.TaskGone, kov1.TaskReasonAgentRemovedByOperator)
	waitEnded(t, ns, "t-plain", kov1.TaskLost, kov1.TaskReasonAgentRemovedByOperator)
	waitAllocatedCPU(t, ns, "aware", "0")
	waitAllocatedCPU(t, ns, "plain", "0")
	eventually(t, "the offer on the gone agent to be rescinded", func() (bool, string) {
		return hasEvent(t, ns, open.Name, "AgentRemoved")
	})
	waitDeleted(t, ns, "t-aware")

	// Undoing it is refused, saying how to bring the node back.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &kov1.Agent{}
		if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(a), cur); err != nil {
			return err
		}
		cur.Spec.Maintenance = kov1.AgentMaintenanceNone
		return cp.Client.Update(ctx, cur)
	})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "delete the Agent") {
		t.Errorf("setting maintenance back to None: %v, want Invalid saying to delete the Agent", err)
	}

	// Never offered again: a new agent is, the gone one not.
	other := addAgent(t, ns, "other", b.Resources("cpu", "4", "memory", "4Gi"))
	waitAnyOffer(t, ns, "aware", "plain")
	eventually(t, "offers on the new agent only", func() (bool, string) {
		all := append(offers(t, ns, "aware"), offers(t, ns, "plain")...)
		onOther := false
		for _, o := range all {
			if o.Spec.AgentName == a.Name {
				return false, "the gone agent was offered: " + describeOffers(all)
			}
			onOther = onOther || o.Spec.AgentName == other.Name
		}
		return onOther, describeOffers(all)
	})
}

// TestAgentDeletion: deleting an Agent removes it as marking it Gone does:
// its tasks end Gone or Lost with agentd's finalizer released, its offers
// are rescinded, and the Agent goes once that is done.
func TestAgentDeletion(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	a, open, _ := agentWithTasks(t, ns)
	eventually(t, "the master's finalizer on the Agent", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a))
		return controllerutil.ContainsFinalizer(a, kov1.AgentFinalizer), fmt.Sprintf("finalizers %v", a.Finalizers)
	})

	must(t, cp.Client.Delete(ctx, a))
	waitEnded(t, ns, "t-aware", kov1.TaskGone, kov1.TaskReasonAgentRemovedByOperator)
	waitEnded(t, ns, "t-plain", kov1.TaskLost, kov1.TaskReasonAgentRemovedByOperator)
	waitAllocatedCPU(t, ns, "aware", "0")
	waitAllocatedCPU(t, ns, "plain", "0")
	eventually(t, "the Agent to go", func() (bool, string) {
		err := cp.Client.Get(ctx, client.ObjectKeyFromObject(a), &kov1.Agent{})
		return apierrors.IsNotFound(err), fmt.Sprintf("%v", err)
	})
	eventually(t, "the offer on the deleted agent to be rescinded", func() (bool, string) {
		return hasEvent(t, ns, open.Name, "AgentRemoved")
	})
	waitDeleted(t, ns, "t-plain")
}

// TestTasksOfMissingAgent: tasks bound to an agent that does not exist (its
// finalizer was removed by hand, or it went while no master ran) end when
// the master finds them, released by agentd's finalizer.
func TestTasksOfMissingAgent(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	addFramework(t, b.MakeFramework("aware", ns).Capability(kov1.CapabilityPartitionAware).Obj())
	addFramework(t, b.MakeFramework("plain", ns).Obj())
	ghost := ns + "-ghost"
	for _, fw := range []string{"aware", "plain"} {
		tk := b.MakeTask("t-"+fw, ns, fw).Offer("gone-offer").Finalizers(kov1.TaskKillFinalizer).Obj()
		must(t, cp.Client.Create(ctx, tk))
		tk.Status.State, tk.Status.AgentName, tk.Status.NodeName = kov1.TaskRunning, ghost, ghost
		must(t, cp.Client.Status().Update(ctx, tk))
	}

	startMaster(t, masterConfig{offerTimeout: time.Hour})
	waitEnded(t, ns, "t-aware", kov1.TaskGone, kov1.TaskReasonAgentRemovedByOperator)
	waitEnded(t, ns, "t-plain", kov1.TaskLost, kov1.TaskReasonAgentRemovedByOperator)
	waitDeleted(t, ns, "t-aware")
}

// setMaintenance sets an agent's spec.maintenance, retrying on conflicts
// with status writes.
func setMaintenance(t *testing.T, name string, m kov1.AgentMaintenance) {
	t.Helper()
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		a := &kov1.Agent{}
		if err := cp.Client.Get(context.Background(), client.ObjectKey{Name: name}, a); err != nil {
			return err
		}
		a.Spec.Maintenance = m
		return cp.Client.Update(context.Background(), a)
	}))
}
