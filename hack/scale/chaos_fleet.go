package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/kubeoffer/kubeoffer/agentd/agent"
	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/heartbeat"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// annotationRunFor is how long the simulated kubelet runs a task's Pod
// before its containers exit 0 (a Go duration, on the task's template).
const annotationRunFor = "chaos.kubeoffer.io/run-for"

// simAgents are the chaos run's simulated agents. Unlike the benchmark's
// fleet, which moves tasks itself, each agent here runs agentd's own task
// reconciler (agent.TaskReconciler: finalizer, Pod launch, kill with
// grace, status from the Pod) against one shared cache, and a kubelet
// double that starts Pods, ends them after their run time and confirms
// their deletion. So the Pods the invariant checker watches are the ones
// agentd's code made, and a fault can stop an agent's agentd, or cut off
// both agentd and kubelet (a partition), while the others run on.
type simAgents struct {
	c        client.Client
	n        int
	cpu, mem string
	interval time.Duration

	mu sync.Mutex
	// agentdDown and kubeletDown count the faults holding an agent's agentd
	// (heartbeat and task handling) or kubelet down; faults may overlap.
	agentdDown  map[string]int
	kubeletDown map[string]int
}

func newSimAgents(c client.Client, n int, cpu, mem string, interval time.Duration) *simAgents {
	return &simAgents{c: c, n: n, cpu: cpu, mem: mem, interval: interval, agentdDown: map[string]int{}, kubeletDown: map[string]int{}}
}

// publish creates every Agent, Ready with its capacity, and its first
// heartbeat.
func (s *simAgents) publish(ctx context.Context) error {
	return parallel(ctx, s.n, 8, func(i int) error {
		name := agentName(i)
		if err := s.renew(ctx, name); err != nil {
			return err
		}
		a := &kov1.Agent{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := s.c.Create(ctx, a); client.IgnoreAlreadyExists(err) != nil {
			return err
		}
		alloc := corev1.ResourceList{corev1.ResourceCPU: mustQ(s.cpu), corev1.ResourceMemory: mustQ(s.mem)}
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := s.c.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
				return err
			}
			a.Status.Capacity, a.Status.Allocatable = alloc, alloc
			a.Status.Ports = []kov1.PortRange{{Begin: 31000, End: 31099}}
			a.Status.Attributes = map[string]string{corev1.LabelHostname: name, corev1.LabelTopologyZone: "zone-" + strconv.Itoa(i%3)}
			meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kov1.AgentReadyCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentReadyNodeReadyReason})
			return s.c.Status().Update(ctx, a)
		})
	})
}

func (s *simAgents) renew(ctx context.Context, name string) error {
	return heartbeat.Renew(ctx, s.c, heartbeat.Lease{Key: types.NamespacedName{Namespace: leaseNS, Name: name},
		Kind: kov1.HeartbeatAgent, Identity: "sim-" + name, Duration: 3 * s.interval}, time.Now())
}

// heartbeat renews the Lease of every agent whose agentd is up, every
// interval, until ctx ends.
func (s *simAgents) heartbeat(ctx context.Context) {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_ = parallel(ctx, s.n, 4, func(i int) error {
			if name := agentName(i); s.agentdUp(name) {
				_ = s.renew(ctx, name)
			}
			return nil
		})
	}
}

// down takes agent i's agentd down, and its kubelet too when partitioned,
// until the returned function brings them back.
func (s *simAgents) down(i int, partitioned bool) (name string, up func()) {
	name = agentName(i % s.n)
	s.mu.Lock()
	s.agentdDown[name]++
	if partitioned {
		s.kubeletDown[name]++
	}
	s.mu.Unlock()
	return name, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.agentdDown[name]--
		if partitioned {
			s.kubeletDown[name]--
		}
	}
}

func (s *simAgents) agentdUp(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.agentdDown[name] == 0
}

func (s *simAgents) kubeletUp(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kubeletDown[name] == 0
}

// downRetry is how soon a down agent's agentd or kubelet looks at an
// object again.
const downRetry = time.Second

// simAgentd dispatches each task event to agentd's TaskReconciler for the
// agent the task is bound to, unless that agent's agentd is down.
type simAgentd struct {
	agents  *simAgents
	c       client.Client
	reader  client.Reader
	metrics *agent.Metrics
}

func (d *simAgentd) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	t := &kov1.Task{}
	if err := d.c.Get(ctx, req.NamespacedName, t); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	node := t.Status.AgentName
	if node == "" {
		return ctrl.Result{}, nil
	}
	if !d.agents.agentdUp(node) {
		return ctrl.Result{RequeueAfter: downRetry}, nil
	}
	r := &agent.TaskReconciler{Client: d.c, APIReader: d.reader, Recorder: &events.FakeRecorder{}, Clock: clock.RealClock{},
		Node: node, Metrics: d.metrics}
	return r.Reconcile(ctx, req)
}

// simKubelet plays the kubelet of every simulated agent: a new Pod runs at
// once, its containers exit 0 after the template's run-for, and a deleted
// Pod's containers stop at once.
type simKubelet struct {
	agents *simAgents
	c      client.Client
}

func (k *simKubelet) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &corev1.Pod{}
	if err := k.c.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !k.agents.kubeletUp(p.Spec.NodeName) {
		return ctrl.Result{RequeueAfter: downRetry}, nil
	}
	var err error
	switch {
	case p.DeletionTimestamp != nil:
		err = k.c.Delete(ctx, p, client.GracePeriodSeconds(0), client.Preconditions{UID: &p.UID})
	case p.Status.Phase == "" || p.Status.Phase == corev1.PodPending:
		harness.SetRunning(p)
		err = k.c.Status().Update(ctx, p)
		if err == nil {
			return ctrl.Result{RequeueAfter: runFor(p)}, nil
		}
	case p.Status.Phase == corev1.PodRunning:
		left := runFor(p)
		if p.Status.StartTime != nil {
			left = time.Until(p.Status.StartTime.Add(runFor(p)))
		}
		if left > 0 {
			return ctrl.Result{RequeueAfter: left}, nil
		}
		harness.SetExited(p, 0, "Completed", "")
		err = k.c.Status().Update(ctx, p)
	}
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return ctrl.Result{}, err
}

func runFor(p *corev1.Pod) time.Duration {
	d, err := time.ParseDuration(p.Annotations[annotationRunFor])
	if err != nil {
		return time.Second
	}
	return d
}

// setupSimAgents adds the agents' agentd and kubelet to mgr.
func setupSimAgents(mgr ctrl.Manager, agents *simAgents) error {
	d := &simAgentd{agents: agents, c: mgr.GetClient(), reader: mgr.GetAPIReader(), metrics: agent.NewMetrics(prometheus.NewRegistry())}
	if err := ctrl.NewControllerManagedBy(mgr).For(&kov1.Task{}).Owns(&corev1.Pod{}).Named("sim-agentd").
		WithOptions(controller.Options{MaxConcurrentReconciles: 8}).Complete(d); err != nil {
		return fmt.Errorf("setting up the simulated agentd: %w", err)
	}
	k := &simKubelet{agents: agents, c: mgr.GetClient()}
	if err := ctrl.NewControllerManagedBy(mgr).For(&corev1.Pod{}).Named("sim-kubelet").
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).Complete(k); err != nil {
		return fmt.Errorf("setting up the simulated kubelet: %w", err)
	}
	return nil
}
