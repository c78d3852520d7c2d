// Command kubeoffer-master is the kubeoffer master: a controller-runtime
// manager that runs the Framework and Agent controllers on every replica
// (caches warm) and the allocation loop on the elected leader only.
package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/controllers"
	"github.com/kubeoffer/kubeoffer/controllers/allocation"
	"github.com/kubeoffer/kubeoffer/pkg/memlimit"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi"
)

func main() {
	var (
		metricsAddr, probeAddr, pprofAddr   string
		leaderElect                         bool
		leaseName, leaseNamespace           string
		leaseDuration, renewDeadline, retry time.Duration
		opts                                controllers.MasterOptions
		minCPU, minMemory                   string
		fairShareExcluded                   string
		qps                                 float64
		burst                               int
		mesosAddr, mesosConfig              string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint (0 disables it).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "Address of Go's /debug/pprof endpoints, for profiling (0 disables them).")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader through a Lease, so only one replica allocates. Required with 2+ replicas.")
	flag.StringVar(&leaseName, "leader-election-id", "kubeoffer-master", "Name of the leader election Lease.")
	flag.StringVar(&leaseNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the namespace the master runs in).")
	flag.DurationVar(&leaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long followers wait before taking over a lease that is not renewed.")
	flag.DurationVar(&renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew before giving up leadership.")
	flag.DurationVar(&retry, "leader-elect-retry-period", 2*time.Second, "How often candidates try to take or renew the lease.")
	flag.DurationVar(&opts.Allocation.AllocationInterval, "allocation-interval", time.Second, "How often the allocator runs when nothing changes (Mesos: 1s).")
	flag.DurationVar(&opts.Allocation.OfferTimeout, "offer-timeout", time.Minute, "How long an offer lives before it is rescinded (0: never, as Mesos by default).")
	flag.DurationVar(&opts.AgentTimeout, "agent-timeout", controllers.DefaultAgentTimeout, "How long the master may go without seeing an agent's heartbeat Lease renewed before the agent is unreachable (Mesos: 75s).")
	flag.DurationVar(&opts.AgentGoneTimeout, "agent-gone-timeout", controllers.DefaultAgentGoneTimeout,
		"How long an agent may stay unreachable before it is removed: its tasks end Gone (partition-aware frameworks) or Lost and can be deleted (Mesos's --registry_max_agent_age, 2 weeks; 0: never).")
	flag.StringVar(&opts.AgentLeaseNamespace, "agent-lease-namespace", "kubeoffer-system", "Namespace of the agents' heartbeat Leases.")
	flag.StringVar(&minCPU, "min-allocatable-cpu", "10m", "An offer must hold at least this much CPU, or the minimum memory.")
	flag.StringVar(&minMemory, "min-allocatable-memory", "32Mi", "An offer must hold at least this much memory, or the minimum CPU.")
	flag.StringVar(&fairShareExcluded, "fair-sharing-excluded-resource-names", "", "Comma-separated resource names (e.g. nvidia.com/gpu) left out of dominant shares, of roles and frameworks (Mesos's --fair_sharing_excluded_resource_names).")
	flag.DurationVar(&opts.Allocation.StatusUpdateInterval, "status-update-interval", time.Second,
		"The least time between two rewrites of a Framework's or Role's usage in status (allocated, offered, share, task counts); a role's conditions are written at once (0: every pass).")
	flag.IntVar(&opts.Allocation.ConcurrentWrites, "concurrent-writes", allocation.DefaultConcurrentWrites, "How many API writes (bindings, offers) an allocation pass has in flight at once.")
	flag.Float64Var(&qps, "kube-api-qps", 1000, "Requests per second the master may make to the API server: a fence against a runaway client, set above what a task burst needs (the API server's own priority and fairness protects it).")
	flag.IntVar(&burst, "kube-api-burst", 2000, "Burst of requests the master may make to the API server above --kube-api-qps.")
	flag.StringVar(&mesosAddr, "mesos-api-bind-address", "0", "Address of the Mesos scheduler HTTP API (POST /api/v1/scheduler), e.g. :5050; every replica serves it (0 disables it).")
	flag.StringVar(&mesosConfig, "mesos-api-config", "", "The Mesos API's config file: principals and the namespace and roles each maps to, the credentials folder, the default task image (docs/mesos-api.md).")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	// The garbage collector keeps the heap under 90 % of the container's
	// memory limit (the runtime reads GOMEMLIMIT, not the cgroup).
	if soft, err := memlimit.Set(); err != nil {
		log.Error(err, "Failed to read the cgroup's memory limit; running without a soft memory limit")
	} else if soft > 0 {
		log.Info("Set the Go runtime's soft memory limit from the cgroup's", "bytes", soft)
	}

	cpu, err := resource.ParseQuantity(minCPU)
	if err != nil {
		log.Error(err, "Invalid --min-allocatable-cpu")
		os.Exit(2)
	}
	mem, err := resource.ParseQuantity(minMemory)
	if err != nil {
		log.Error(err, "Invalid --min-allocatable-memory")
		os.Exit(2)
	}
	opts.Allocation.MinAllocatable = []corev1.ResourceList{{corev1.ResourceCPU: cpu}, {corev1.ResourceMemory: mem}}
	if opts.Allocation.FairShareExcluded, err = controllers.ParseResourceNames(fairShareExcluded); err != nil {
		log.Error(err, "Invalid --fair-sharing-excluded-resource-names")
		os.Exit(2)
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kov1.AddToScheme} {
		if err := add(scheme); err != nil {
			log.Error(err, "Failed to build the scheme")
			os.Exit(1)
		}
	}
	heartbeats, _ := labels.NewRequirement(kov1.LabelHeartbeat, selection.Exists, nil)
	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(qps), burst
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              leaseName,
		LeaderElectionNamespace:       leaseNamespace,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retry,
		LeaderElectionReleaseOnCancel: true,
		// Only kubeoffer's heartbeat Leases are cached, not every node's.
		// No cached object keeps its managedFields: the master never
		// reads them, and they are about a third of a Task (updates
		// without them leave the stored ones as they are).
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{
				&coordinationv1.Lease{}: {Label: labels.NewSelector().Add(*heartbeats)},
			},
			DefaultTransform: cache.TransformStripManagedFields(),
		},
	})
	if err != nil {
		log.Error(err, "Failed to create the manager")
		os.Exit(1)
	}
	ctx := ctrl.SetupSignalHandler()
	if _, err := controllers.SetupMaster(ctx, mgr, opts); err != nil {
		log.Error(err, "Failed to set up the master")
		os.Exit(1)
	}
	if mesosAddr != "0" && mesosAddr != "" {
		if err := mesosapi.SetupFromFile(ctx, mgr, mesosAddr, mesosConfig); err != nil {
			log.Error(err, "Failed to set up the Mesos API")
			os.Exit(1)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Failed to add the health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", cacheSynced(mgr)); err != nil {
		log.Error(err, "Failed to add the readiness check")
		os.Exit(1)
	}
	log.Info("Starting the master", "leaderElection", leaderElect, "allocationInterval", opts.Allocation.AllocationInterval)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "The manager stopped with an error")
		os.Exit(1)
	}
}

// cacheSynced is ready once the informer caches have synced, so a replica
// that would lead knows the world first.
func cacheSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errNotSynced
		}
		return nil
	}
}

var errNotSynced = errors.New("informer caches not synced yet")
