package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Metrics are agentd's Prometheus metrics.
type Metrics struct {
	// Launches counts Pod launches by result: created, or rejected by the
	// API server (admission, quota, invalid template).
	Launches *prometheus.CounterVec
	// LaunchLatency is the time from a task's binding (Staging) to agentd
	// seeing its containers run.
	LaunchLatency prometheus.Histogram
	// Tasks is the number of tasks bound to this agent, by state.
	Tasks *prometheus.GaugeVec
	// Resources are the agent's reported figures, by kind
	// (capacity/allocatable/allocated) and resource.
	Resources *prometheus.GaugeVec
}

// NewMetrics creates agentd's metrics in reg (controller-runtime's registry
// when nil, which the manager serves on its metrics endpoint).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = crmetrics.Registry
	}
	m := &Metrics{
		Launches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kubeoffer", Subsystem: "agentd", Name: "task_launches_total",
			Help: "Task Pods launched, by result (created, rejected)."}, []string{"result"}),
		LaunchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "kubeoffer", Subsystem: "agentd", Name: "task_launch_latency_seconds",
			Help:    "Time from a task's binding to an agent (Staging) until its containers run.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
		Tasks: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "kubeoffer", Subsystem: "agentd", Name: "tasks",
			Help: "Tasks bound to this agent, by state."}, []string{"state"}),
		Resources: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "kubeoffer", Subsystem: "agentd", Name: "resources",
			Help: "The agent's reported resources, by kind (capacity, allocatable, allocated) and resource name."}, []string{"kind", "resource"}),
	}
	reg.MustRegister(m.Launches, m.LaunchLatency, m.Tasks, m.Resources)
	return m
}

// allTaskStates lists every state so a state with no task reads 0.
var allTaskStates = []kov1.TaskState{kov1.TaskStaging, kov1.TaskStarting, kov1.TaskRunning, kov1.TaskKilling,
	kov1.TaskFinished, kov1.TaskFailed, kov1.TaskKilled, kov1.TaskError, kov1.TaskLost, kov1.TaskDropped, kov1.TaskUnreachable, kov1.TaskGone}
