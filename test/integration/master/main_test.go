// Package master tests the kubeoffer master against a real kube-apiserver:
// the offer cycle, declines, expiry, rescinds, task admission, framework
// and agent failure handling, and leader handover. Each test runs its own
// master (or two) and its own namespace; agents are named per test and
// removed afterwards.
package master

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/controllers"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevel())))
	os.Exit(controlplane.Run(m, &cp))
}

// zapLevel is quiet unless KUBEOFFER_TEST_VERBOSE is set.
func zapLevel() zapLevelT {
	if os.Getenv("KUBEOFFER_TEST_VERBOSE") != "" {
		return -2
	}
	return 2
}

// master is one running master in a test.
type master struct {
	metrics *controllers.Metrics
	cancel  context.CancelFunc
	done    chan struct{}
}

// masterConfig tunes a test master; zero fields take fast test defaults.
type masterConfig struct {
	offerTimeout   time.Duration
	agentTimeout   time.Duration
	leaderElection string // lease namespace; empty for none
}

const leaseNS = "kube-system"

// startMaster runs a master until the test ends (or stop is called).
func startMaster(t *testing.T, c masterConfig) *master {
	t.Helper()
	heartbeats, _ := labels.NewRequirement(kov1.LabelHeartbeat, selection.Exists, nil)
	opts := ctrl.Options{
		Scheme:                 cp.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {Label: labels.NewSelector().Add(*heartbeats)},
		}},
		Controller: ctrlConfig(),
	}
	if c.leaderElection != "" {
		opts.LeaderElection = true
		opts.LeaderElectionID = "kubeoffer-master"
		opts.LeaderElectionNamespace = c.leaderElection
		opts.LeaseDuration = ptr.To(2 * time.Second)
		opts.RenewDeadline = ptr.To(1500 * time.Millisecond)
		opts.RetryPeriod = ptr.To(200 * time.Millisecond)
		opts.LeaderElectionReleaseOnCancel = true
	}
	mgr, err := ctrl.NewManager(cp.Config, opts)
	if err != nil {
		t.Fatalf("creating manager: %v", err)
	}
	if c.agentTimeout == 0 {
		c.agentTimeout = time.Hour
	}
	m := &master{metrics: controllers.NewMetrics(prometheus.NewRegistry()), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	if _, err := controllers.SetupMaster(ctx, mgr, controllers.MasterOptions{
		Scheduler: controllers.SchedulerOptions{AllocationInterval: 200 * time.Millisecond, OfferTimeout: c.offerTimeout,
			MinAllocatable: controllers.DefaultMinAllocatable()},
		AgentTimeout: c.agentTimeout, AgentLeaseNamespace: leaseNS, Metrics: m.metrics,
	}); err != nil {
		t.Fatalf("setting up master: %v", err)
	}
	go func() {
		defer close(m.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("master stopped: %v", err)
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop stops the master and waits for it; safe to call twice.
func (m *master) stop() {
	m.cancel()
	<-m.done
}

// addAgent creates a Ready agent with a fresh heartbeat, named uniquely
// for the test, and removes it when the test ends.
func addAgent(t *testing.T, ns, name string, alloc corev1.ResourceList, ports ...kov1.PortRange) *kov1.Agent {
	t.Helper()
	ctx := context.Background()
	a := &kov1.Agent{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name}}
	heartbeat(t, leaseNS, a.Name, "agent", 40)
	must(t, cp.Client.Create(ctx, a))
	t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), a) })
	// As agentd does: re-read and retry, the master writes Reachable too.
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
			return err
		}
		a.Status.Capacity, a.Status.Allocatable, a.Status.Ports = alloc, alloc, ports
		a.Status.Attributes = map[string]string{corev1.LabelHostname: a.Name}
		meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kov1.AgentReadyCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentNodeReadyReason})
		return cp.Client.Status().Update(ctx, a)
	}))
	return a
}

// heartbeat creates or renews a heartbeat Lease as agentd or the SDK would.
func heartbeat(t *testing.T, ns, name, kind string, seconds int32) {
	t.Helper()
	ctx := context.Background()
	now := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{}
	err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, l)
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{kov1.LabelHeartbeat: kind}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("test"), LeaseDurationSeconds: ptr.To(seconds), RenewTime: &now, AcquireTime: &now}}
		must(t, cp.Client.Create(ctx, l))
		t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), l) })
		return
	}
	must(t, err)
	l.Spec.RenewTime = &now
	must(t, cp.Client.Update(ctx, l))
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
	if err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// offers lists the namespace's offers for framework fw.
func offers(t *testing.T, ns, fw string) []kov1.ResourceOffer {
	t.Helper()
	var l kov1.ResourceOfferList
	must(t, cp.Client.List(context.Background(), &l, client.InNamespace(ns)))
	var out []kov1.ResourceOffer
	for _, o := range l.Items {
		if o.Spec.FrameworkName == fw && o.DeletionTimestamp == nil {
			out = append(out, o)
		}
	}
	return out
}

// waitOffer waits for exactly one offer to fw matching ok and returns it.
func waitOffer(t *testing.T, ns, fw string, ok func(kov1.ResourceOffer) bool) kov1.ResourceOffer {
	t.Helper()
	var got kov1.ResourceOffer
	eventually(t, "an offer to "+fw, func() (bool, string) {
		os := offers(t, ns, fw)
		for _, o := range os {
			if ok == nil || ok(o) {
				got = o
				return true, ""
			}
		}
		return false, describeOffers(os)
	})
	return got
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

func describeOffers(os []kov1.ResourceOffer) string {
	var parts []string
	for _, o := range os {
		cpu, mem := o.Spec.Resources[corev1.ResourceCPU], o.Spec.Resources[corev1.ResourceMemory]
		parts = append(parts, fmt.Sprintf("%s(%s cpu %s mem %s)", o.Name, o.Spec.AgentName, cpu.String(), mem.String()))
	}
	return "offers: [" + strings.Join(parts, ", ") + "]"
}

// waitTask waits for task ns/name to reach state and returns it.
func waitTask(t *testing.T, ns, name string, state kov1.TaskState) *kov1.Task {
	t.Helper()
	tk := &kov1.Task{}
	eventually(t, fmt.Sprintf("task %s to be %s", name, state), func() (bool, string) {
		if err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, tk); err != nil {
			return false, err.Error()
		}
		return tk.Status.State == state, fmt.Sprintf("state %q reason %q message %q", tk.Status.State, tk.Status.Reason, tk.Status.Message)
	})
	return tk
}

// hasEvent reports whether an event with reason regards object name in ns.
func hasEvent(t *testing.T, ns, name, reason string) (bool, string) {
	t.Helper()
	var l eventsList
	must(t, cp.Client.List(context.Background(), &l, client.InNamespace(ns)))
	var seen []string
	for _, e := range l.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			return true, ""
		}
		seen = append(seen, e.Regarding.Name+":"+e.Reason)
	}
	return false, "events: " + strings.Join(seen, ", ")
}
