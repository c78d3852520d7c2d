package harness

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/controllers"
	"github.com/kubeoffer/kubeoffer/controllers/allocation"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// Master is one master running in a test.
type Master struct {
	Metrics *allocation.Metrics
	cancel  context.CancelFunc
	done    chan struct{}
}

// MasterConfig tunes a test master; zero fields take fast test defaults.
type MasterConfig struct {
	OfferTimeout time.Duration
	// AgentTimeout defaults to an hour: agents never time out unless a test
	// asks for it.
	AgentTimeout time.Duration
	// AgentGoneTimeout is how long an agent may stay unreachable before it
	// is removed; zero: never.
	AgentGoneTimeout time.Duration
	// AgentLeaseNamespace holds the agents' heartbeat Leases.
	AgentLeaseNamespace string
	// LeaderElection is the leader Lease's namespace; empty for none.
	LeaderElection string
	// MinAllocatable is the master's --min-allocatable-* setting; nil for
	// the default (10m CPU or 32Mi memory).
	MinAllocatable []corev1.ResourceList
	// FairShareExcluded are resources left out of dominant shares.
	FairShareExcluded []corev1.ResourceName
}

// StartMaster runs a master (controllers.SetupMaster, as main.go does)
// until the test ends or Stop is called. It allocates every 200ms and
// rewrites usage in status at most every 500ms, as the master's shipped
// settings (1s and 1s) do at a test's pace.
func StartMaster(t testing.TB, cp *controlplane.ControlPlane, c MasterConfig) *Master {
	t.Helper()
	heartbeats, _ := labels.NewRequirement(kov1.LabelHeartbeat, selection.Exists, nil)
	opts := ctrl.Options{
		Scheme:                 cp.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {Label: labels.NewSelector().Add(*heartbeats)},
		}},
		Controller: ControllerConfig(),
	}
	if c.LeaderElection != "" {
		opts.LeaderElection = true
		opts.LeaderElectionID = "kubeoffer-master"
		opts.LeaderElectionNamespace = c.LeaderElection
		// Short enough for a quick handover (a stopping leader releases the
		// Lease), long enough that a loaded CI machine running several test
		// packages at once does not make a healthy leader miss its renewal.
		opts.LeaseDuration = ptr.To(8 * time.Second)
		opts.RenewDeadline = ptr.To(6 * time.Second)
		opts.RetryPeriod = ptr.To(500 * time.Millisecond)
		opts.LeaderElectionReleaseOnCancel = true
	}
	mgr, err := ctrl.NewManager(cp.Config, opts)
	if err != nil {
		t.Fatalf("creating manager: %v", err)
	}
	if c.AgentTimeout == 0 {
		c.AgentTimeout = time.Hour
	}
	if c.MinAllocatable == nil {
		c.MinAllocatable = controllers.DefaultMinAllocatable()
	}
	m := &Master{Metrics: allocation.NewMetrics(prometheus.NewRegistry()), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	if _, err := controllers.SetupMaster(ctx, mgr, controllers.MasterOptions{
		Allocation: allocation.Options{AllocationInterval: 200 * time.Millisecond, StatusUpdateInterval: 500 * time.Millisecond, OfferTimeout: c.OfferTimeout,
			MinAllocatable: c.MinAllocatable, FairShareExcluded: c.FairShareExcluded},
		AgentTimeout: c.AgentTimeout, AgentGoneTimeout: c.AgentGoneTimeout, AgentLeaseNamespace: c.AgentLeaseNamespace, Metrics: m.Metrics,
	}); err != nil {
		t.Fatalf("setting up master: %v", err)
	}
	go func() {
		defer close(m.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("master stopped: %v", err)
		}
	}()
	t.Cleanup(m.Stop)
	return m
}

// Stop stops the master and waits for it; safe to call twice.
func (m *Master) Stop() {
	m.cancel()
	<-m.done
}
