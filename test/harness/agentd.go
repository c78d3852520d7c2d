package harness

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubeoffer/kubeoffer/agentd/agent"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// AgentLeaseNamespace is where test agentds heartbeat, as in a real install.
const AgentLeaseNamespace = agent.DefaultLeaseNamespace

// Agentd is one agentd running in a test.
type Agentd struct {
	Metrics *agent.Metrics
	cancel  context.CancelFunc
	done    chan struct{}
}

// EnsureLeaseNamespace creates the agents' Lease namespace, as the chart does.
func EnsureLeaseNamespace(t testing.TB, cp *controlplane.ControlPlane) {
	t.Helper()
	err := cp.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: AgentLeaseNamespace}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// StartAgentd runs agentd for node (agent.Setup on a manager made with
// agent.ManagerOptions, as agentd's main.go does) until the test ends or
// Stop is called. It heartbeats every 500ms; mutate may change its options.
func StartAgentd(t testing.TB, cp *controlplane.ControlPlane, node string, mutate func(*agent.Options)) *Agentd {
	t.Helper()
	return StartAgentdWithConfig(t, cp, cp.Config, node, mutate)
}

// StartAgentdWithConfig is StartAgentd with agentd's own client config, for
// a test that watches the requests agentd makes (rest.Config.Wrap).
func StartAgentdWithConfig(t testing.TB, cp *controlplane.ControlPlane, cfg *rest.Config, node string, mutate func(*agent.Options)) *Agentd {
	t.Helper()
	EnsureLeaseNamespace(t, cp)
	opts := agent.Options{NodeName: node, Identity: "test-" + node, LeaseNamespace: AgentLeaseNamespace, HeartbeatInterval: 500 * time.Millisecond,
		StatusResync: 2 * time.Second, Metrics: agent.NewMetrics(prometheus.NewRegistry())}
	if mutate != nil {
		mutate(&opts)
	}
	mgr, err := ctrl.NewManager(cfg, agent.ManagerOptions(ctrl.Options{
		Scheme:                 cp.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ControllerConfig(),
	}, node))
	Must(t, err)
	Must(t, agent.Setup(mgr, opts))
	a := &Agentd{Metrics: opts.Metrics, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() {
		defer close(a.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("agentd stopped: %v", err)
		}
	}()
	t.Cleanup(a.Stop)
	return a
}

// Stop stops agentd and waits for it; safe to call twice.
func (a *Agentd) Stop() {
	a.cancel()
	<-a.done
}

// AddNode registers a Ready Node named <ns>-<name> (as a kubelet would) and
// removes it, its Agent and its Lease when the test ends.
func AddNode(t testing.TB, cp *controlplane.ControlPlane, ns, name string, allocatable corev1.ResourceList, labels map[string]string) string {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name, Labels: labels}}
	Must(t, cp.Client.Create(ctx, n))
	t.Cleanup(func() {
		ctx := context.Background()
		_ = cp.Client.Delete(ctx, n)
		RemoveAgent(cp.Client, n.Name)
		_ = cp.Client.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: AgentLeaseNamespace, Name: n.Name}})
	})
	n.Status.Allocatable, n.Status.Capacity = allocatable, allocatable
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}}
	Must(t, cp.Client.Status().Update(ctx, n))
	return n.Name
}
