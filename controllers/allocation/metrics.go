package allocation

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Metrics are the master's Prometheus metrics, named after Mesos's master
// metrics. They are served on the manager's metrics endpoint.
type Metrics struct {
	OffersSent       *prometheus.CounterVec
	OffersAccepted   *prometheus.CounterVec
	OffersDeclined   *prometheus.CounterVec
	OffersRescinded  *prometheus.CounterVec
	AllocationRun    prometheus.Histogram
	ResourcesTotal   *prometheus.GaugeVec
	ResourcesOffered *prometheus.GaugeVec
	ResourcesUsed    *prometheus.GaugeVec
	OutstandingOffer prometheus.Gauge
	Tasks            *prometheus.GaugeVec
	FrameworkShare   *prometheus.GaugeVec
	RoleShare        *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg (the
// controller-runtime registry when nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = metrics.Registry
	}
	m := &Metrics{
		OffersSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubeoffer_offers_sent_total",
			Help: "Resource offers made, by framework (namespace/name)."}, []string{"framework"}),
		OffersAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubeoffer_offers_accepted_total",
			Help: "Tasks bound from offers, by framework."}, []string{"framework"}),
		OffersDeclined: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubeoffer_offers_declined_total",
			Help: "Offers declined (spec.decline set or offer deleted), by framework."}, []string{"framework"}),
		OffersRescinded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubeoffer_offers_rescinded_total",
			Help: "Offers withdrawn by the master, by framework and reason."}, []string{"framework", "reason"}),
		AllocationRun: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kubeoffer_allocation_run_seconds",
			Help:    "Duration of one allocation pass (read, admit, rescind, allocate, write).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		ResourcesTotal: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubeoffer_resources_total",
			Help: "Allocatable resources over all agents (cpu in cores, others in base units)."}, []string{"resource"}),
		ResourcesOffered: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubeoffer_resources_offered",
			Help: "Resources in outstanding offers."}, []string{"resource"}),
		ResourcesUsed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubeoffer_resources_allocated",
			Help: "Resources held by bound, non-terminal tasks."}, []string{"resource"}),
		OutstandingOffer: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubeoffer_outstanding_offers",
			Help: "Offers made and not yet declined, used up or rescinded."}),
		Tasks: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubeoffer_tasks",
			Help: "Tasks by state."}, []string{"state"}),
		FrameworkShare: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubeoffer_framework_dominant_share",
			Help: "Dominant resource share of each framework (tasks and offers)."}, []string{"framework", "role"}),
		RoleShare: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kubeoffer_role_dominant_share",
			Help: "Dominant resource share of each role's subtree."}, []string{"role"}),
	}
	reg.MustRegister(m.OffersSent, m.OffersAccepted, m.OffersDeclined, m.OffersRescinded, m.AllocationRun,
		m.ResourcesTotal, m.ResourcesOffered, m.ResourcesUsed, m.OutstandingOffer, m.Tasks, m.FrameworkShare, m.RoleShare)
	return m
}

// gauges are the values of the allocation gauges at the end of a pass, as
// the status step computes them: per resource (cpu in cores, others in
// base units) and per task state; shares by framework and role.
type gauges struct {
	total, offered, used map[string]float64
	outstandingOffers    int
	tasks                map[kov1.TaskState]int
	frameworkShares      []frameworkShare
	roleShares           map[string]float64
}

// frameworkShare is one framework's dominant share, for its gauge.
type frameworkShare struct {
	framework, role string
	share           float64
}

// taskStates are the states the tasks gauge reports, every one of them each
// pass (zero included).
var taskStates = []kov1.TaskState{kov1.TaskPending, kov1.TaskStaging, kov1.TaskStarting, kov1.TaskRunning, kov1.TaskKilling,
	kov1.TaskFinished, kov1.TaskFailed, kov1.TaskKilled, kov1.TaskError, kov1.TaskLost, kov1.TaskDropped, kov1.TaskUnreachable, kov1.TaskGone}

// setGauges sets the allocation gauges to g.
func (m *Metrics) setGauges(g gauges) {
	for name, v := range g.total {
		m.ResourcesTotal.WithLabelValues(name).Set(v)
	}
	for name, v := range g.offered {
		m.ResourcesOffered.WithLabelValues(name).Set(v)
	}
	for name, v := range g.used {
		m.ResourcesUsed.WithLabelValues(name).Set(v)
	}
	m.OutstandingOffer.Set(float64(g.outstandingOffers))
	for _, st := range taskStates {
		m.Tasks.WithLabelValues(string(st)).Set(float64(g.tasks[st]))
	}
	for _, f := range g.frameworkShares {
		m.FrameworkShare.WithLabelValues(f.framework, f.role).Set(f.share)
	}
	for role, share := range g.roleShares {
		m.RoleShare.WithLabelValues(role).Set(share)
	}
}
