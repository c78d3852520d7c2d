// Package controllers is the kubeoffer master: the allocation loop
// (Scheduler, leader-only) and the reconcilers for Frameworks and Agents.
// SetupMaster wires them into a controller-runtime manager; main.go and
// the integration tests both use it.
package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// MasterOptions configure the master.
type MasterOptions struct {
	Scheduler SchedulerOptions
	// AgentTimeout is how long the master may go without seeing an agent's
	// heartbeat renewed before the agent is unreachable (Mesos: 75s).
	AgentTimeout time.Duration
	// AgentGoneTimeout is how long an agent may stay unreachable before it
	// is removed: its tasks end Gone or Lost and agentd's finalizers on them
	// are released (0: never; main.go defaults to DefaultAgentGoneTimeout).
	AgentGoneTimeout time.Duration
	// AgentLeaseNamespace holds the agents' heartbeat Leases.
	AgentLeaseNamespace string
	// Clock is real time unless a test injects another.
	Clock clock.WithTicker
	// Metrics, when nil, are created in controller-runtime's registry.
	Metrics *Metrics
}

// DefaultMinAllocatable is Mesos's default --min_allocatable_resources,
// "cpus:0.01|mem:32": an offer must hold 10m of CPU or 32Mi of memory.
func DefaultMinAllocatable() []corev1.ResourceList {
	return []corev1.ResourceList{
		{corev1.ResourceCPU: mustQuantity("10m")},
		{corev1.ResourceMemory: mustQuantity("32Mi")},
	}
}

// SetupMaster adds the master's controllers and allocation loop to mgr.
func SetupMaster(ctx context.Context, mgr ctrl.Manager, opts MasterOptions) (*Scheduler, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.AgentTimeout == 0 {
		opts.AgentTimeout = DefaultAgentTimeout
	}
	if opts.Scheduler.AllocationInterval == 0 {
		opts.Scheduler.AllocationInterval = time.Second
	}
	if opts.Scheduler.ConcurrentWrites == 0 {
		opts.Scheduler.ConcurrentWrites = DefaultConcurrentWrites
	}
	if err := SetupIndexes(ctx, mgr); err != nil {
		return nil, err
	}
	if err := (&FrameworkReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("kubeoffer-master"), Clock: opts.Clock}).
		SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the framework controller: %w", err)
	}
	if err := (&AgentReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("kubeoffer-master"),
		Clock: opts.Clock, LeaseNamespace: opts.AgentLeaseNamespace, Timeout: opts.AgentTimeout, GoneTimeout: opts.AgentGoneTimeout}).
		SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the agent controller: %w", err)
	}
	s := NewScheduler(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorder("kubeoffer-master"), opts.Clock, opts.Scheduler, opts.Metrics)
	if err := s.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the scheduler: %w", err)
	}
	return s, nil
}
