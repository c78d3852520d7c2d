// Package controllers is the kubeoffer master's reconcilers, for Frameworks
// (registration, heartbeats, teardown) and Agents (reachability, removal),
// and its wiring: SetupMaster adds them and the allocation loop (package
// allocation, leader-only) to a controller-runtime manager; main.go and the
// integration tests both use it.
package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kubeoffer/kubeoffer/controllers/allocation"
)

// MasterOptions configure the master.
type MasterOptions struct {
	// Allocation are the allocation loop's settings.
	Allocation allocation.Options
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
	Metrics *allocation.Metrics
}

// DefaultMinAllocatable is Mesos's default --min_allocatable_resources,
// "cpus:0.01|mem:32": an offer must hold 10m of CPU or 32Mi of memory.
func DefaultMinAllocatable() []corev1.ResourceList {
	return []corev1.ResourceList{
		{corev1.ResourceCPU: resource.MustParse("10m")},
		{corev1.ResourceMemory: resource.MustParse("32Mi")},
	}
}

// ParseResourceNames parses a comma-separated list of resource names, as
// --fair-sharing-excluded-resource-names takes them ("nvidia.com/gpu,
// example.com/fpga"). Blanks around names are ignored; an empty list is none.
func ParseResourceNames(list string) ([]corev1.ResourceName, error) {
	var out []corev1.ResourceName
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if errs := validation.IsQualifiedName(name); len(errs) > 0 {
			return nil, fmt.Errorf("invalid resource name %q: %s; give names such as cpu, memory or nvidia.com/gpu, separated by commas",
				name, strings.Join(errs, "; "))
		}
		out = append(out, corev1.ResourceName(name))
	}
	return out, nil
}

// SetupMaster adds the master's controllers and allocation loop to mgr.
func SetupMaster(ctx context.Context, mgr ctrl.Manager, opts MasterOptions) (*allocation.Loop, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Metrics == nil {
		opts.Metrics = allocation.NewMetrics(nil)
	}
	if opts.AgentTimeout == 0 {
		opts.AgentTimeout = DefaultAgentTimeout
	}
	if opts.Allocation.AllocationInterval == 0 {
		opts.Allocation.AllocationInterval = time.Second
	}
	if opts.Allocation.ConcurrentWrites == 0 {
		opts.Allocation.ConcurrentWrites = allocation.DefaultConcurrentWrites
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
	loop := allocation.New(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorder("kubeoffer-master"), opts.Clock, opts.Allocation, opts.Metrics)
	if err := loop.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the allocation loop: %w", err)
	}
	return loop, nil
}
