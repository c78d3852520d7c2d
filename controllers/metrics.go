package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
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
