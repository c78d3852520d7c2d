// Package master tests the kubeoffer master against a real kube-apiserver:
// the offer cycle, declines, expiry, rescinds, task admission, framework
// and agent failure handling, and leader handover. Each test runs its own
// master (or two) and its own namespace; agents are named per test and
// removed afterwards.
package master

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(harness.LogLevel())))
	os.Exit(controlplane.Run(m, &cp))
}

// master is one running master in a test.
type master = harness.Master

// masterConfig tunes a test master; zero fields take fast test defaults.
type masterConfig struct {
	offerTimeout     time.Duration
	agentTimeout     time.Duration
	agentGoneTimeout time.Duration
	leaderElection   string // lease namespace; empty for none
	minAllocatable   []corev1.ResourceList
}

const leaseNS = "kube-system"

// startMaster runs a master until the test ends (or Stop is called).
func startMaster(t *testing.T, c masterConfig) *master {
	t.Helper()
	return harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: c.offerTimeout, AgentTimeout: c.agentTimeout,
		AgentGoneTimeout: c.agentGoneTimeout, AgentLeaseNamespace: leaseNS, LeaderElection: c.leaderElection, MinAllocatable: c.minAllocatable})
}

// addAgent creates a Ready agent with a fresh heartbeat, named uniquely
// for the test, and removes it when the test ends.
func addAgent(t *testing.T, ns, name string, alloc corev1.ResourceList, ports ...kov1.PortRange) *kov1.Agent {
	t.Helper()
	heartbeat(t, leaseNS, ns+"-"+name, "agent", 40)
	return createAgent(t, ns, name, alloc, ports...)
}

// createAgent creates a Ready agent named uniquely for the test, without a
// heartbeat, and removes it when the test ends.
func createAgent(t *testing.T, ns, name string, alloc corev1.ResourceList, ports ...kov1.PortRange) *kov1.Agent {
	t.Helper()
	ctx := context.Background()
	a := &kov1.Agent{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name}}
	must(t, cp.Client.Create(ctx, a))
	t.Cleanup(func() { harness.RemoveAgent(cp.Client, a.Name) })
	// As agentd does: re-read and retry, the master writes Reachable too.
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
			return err
		}
		a.Status.Capacity, a.Status.Allocatable, a.Status.Ports = alloc, alloc, ports
		a.Status.Attributes = map[string]string{corev1.LabelHostname: a.Name}
		meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kov1.AgentReadyCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentReadyNodeReadyReason})
		return cp.Client.Status().Update(ctx, a)
	}))
	return a
}

// heartbeat creates or renews a heartbeat Lease as agentd or the SDK would.
func heartbeat(t *testing.T, ns, name, kind string, seconds int32) {
	t.Helper()
	harness.Heartbeat(t, cp.Client, ns, name, kind, seconds)
}

// addFramework creates a framework with a connected scheduler.
func addFramework(t *testing.T, f *kov1.Framework) *kov1.Framework {
	t.Helper()
	must(t, cp.Client.Create(context.Background(), f))
	if f.Spec.Scheduler == nil {
		heartbeat(t, f.Namespace, kov1.HeartbeatLeaseName(f.Name), "framework", 3600)
	}
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	harness.Must(t, err)
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	harness.Eventually(t, what, cond)
}

// offers lists the namespace's offers for framework fw.
func offers(t *testing.T, ns, fw string) []kov1.ResourceOffer {
	t.Helper()
	return harness.Offers(t, cp.Client, ns, fw)
}

// waitOffer waits for an offer to fw matching ok and returns it.
func waitOffer(t *testing.T, ns, fw string, ok func(kov1.ResourceOffer) bool) kov1.ResourceOffer {
	t.Helper()
	return harness.WaitOffer(t, cp.Client, ns, fw, ok)
}

// waitAnyOffer waits for an offer to any of the frameworks fws.
func waitAnyOffer(t *testing.T, ns string, fws ...string) kov1.ResourceOffer {
	t.Helper()
	var got kov1.ResourceOffer
	eventually(t, "an offer to one of "+strings.Join(fws, ", "), func() (bool, string) {
		var all []kov1.ResourceOffer
		for _, fw := range fws {
			os := offers(t, ns, fw)
			if len(os) > 0 {
				got = os[0]
				return true, ""
			}
			all = append(all, os...)
		}
		return false, describeOffers(all)
	})
	return got
}

func describeOffers(os []kov1.ResourceOffer) string { return harness.DescribeOffers(os) }

// waitTask waits for task ns/name to reach state and returns it.
func waitTask(t *testing.T, ns, name string, state kov1.TaskState) *kov1.Task {
	t.Helper()
	return harness.WaitTask(t, cp.Client, ns, name, state)
}

// hasEvent reports whether an event with reason regards object name in ns.
func hasEvent(t *testing.T, ns, name, reason string) (bool, string) {
	t.Helper()
	return harness.HasEvent(t, cp.Client, ns, name, reason)
}
