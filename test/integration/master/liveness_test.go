package master

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
