// Command kubeoffer-agentd is kubeoffer's node agent, run as a DaemonSet:
// it publishes its node as an Agent, heartbeats through a Lease, launches
// the Tasks bound to its node as Pods and reports their state. Out of
// cluster (tests, demos) it runs with --kubeconfig and --node-name.
package main

import (
	"context"
	"flag"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubeoffer/kubeoffer/agentd/agent"
	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/memlimit"
)

func main() {
	var (
		opts                                               agent.Options
		metricsAddr, probeAddr                             string
		attributeLabels, attributes, ports, systemReserved string
	)
	flag.StringVar(&opts.NodeName, "node-name", os.Getenv("NODE_NAME"), "The node this agent runs on (default $NODE_NAME, set from the downward API).")
	flag.StringVar(&opts.Identity, "identity", os.Getenv("POD_NAME"), "Holder identity written to the heartbeat Lease (default $POD_NAME, else the node name).")
	flag.StringVar(&opts.LeaseNamespace, "lease-namespace", agent.DefaultLeaseNamespace, "Namespace of the heartbeat Lease; must match the master's --agent-lease-namespace.")
	flag.DurationVar(&opts.HeartbeatInterval, "heartbeat-interval", agent.DefaultHeartbeatInterval, "How often the heartbeat Lease is renewed; keep it well under the master's --agent-timeout.")
	flag.DurationVar(&opts.StatusResync, "status-resync", agent.DefaultStatusResync, "How often the Agent status is recomputed when nothing changes.")
	flag.StringVar(&attributeLabels, "attribute-labels", strings.Join(agent.DefaultAttributeLabels, ","), "Comma-separated node label keys published as the Agent's attributes.")
	flag.StringVar(&attributes, "attributes", "", "Static attributes added to the Agent's, as key=value,key=value.")
	flag.StringVar(&ports, "ports", "31000-32000", "Host port ranges this agent offers, as 31000-32000,8080.")
	flag.StringVar(&systemReserved, "system-reserved", "", "Resources held back from offers, as cpu=100m,memory=256Mi.")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint (0 disables it).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints (0 disables them).")
	qps := flag.Float64("kube-api-qps", 50, "Requests per second agentd may make to the API server.")
	burst := flag.Int("kube-api-burst", 100, "Burst of requests agentd may make to the API server.")
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

	var err error
	if opts.Ports, err = agent.ParsePorts(ports); err != nil {
		fail(log, err, "Invalid --ports")
	}
	if opts.Attributes, err = agent.ParseAttributes(attributes); err != nil {
		fail(log, err, "Invalid --attributes")
	}
	if opts.SystemReserved, err = agent.ParseResourceList(systemReserved); err != nil {
		fail(log, err, "Invalid --system-reserved")
	}
	opts.AttributeLabels = []string{}
	for k := range strings.SplitSeq(attributeLabels, ",") {
		if k = strings.TrimSpace(k); k != "" {
			opts.AttributeLabels = append(opts.AttributeLabels, k)
		}
	}
	if opts.NodeName == "" {
		log.Info("No node name: set NODE_NAME from the downward API (fieldRef spec.nodeName) or pass --node-name")
		os.Exit(2)
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kov1.AddToScheme} {
		if err := add(scheme); err != nil {
			fail(log, err, "Failed to build the scheme")
		}
	}
	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = float32(*qps), *burst
	mgr, err := ctrl.NewManager(restConfig, agent.ManagerOptions(ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
	}, opts.NodeName))
	if err != nil {
		fail(log, err, "Failed to create the manager")
	}
	if err := agent.Setup(mgr, opts); err != nil {
		fail(log, err, "Failed to set up agentd")
	}
	log.Info("Starting agentd", "node", opts.NodeName, "leaseNamespace", opts.LeaseNamespace, "heartbeatInterval", opts.HeartbeatInterval)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fail(log, err, "The manager stopped with an error")
	}
	// Stopped: nothing else writes the Agent now. Tell the master at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := agent.MarkNotReady(ctx, mgr.GetAPIReader(), mgr.GetClient(), opts.NodeName, time.Now()); err != nil {
		log.Error(err, "Failed to mark the Agent not Ready")
	}
}

func fail(log interface{ Error(error, string, ...any) }, err error, msg string) {
	log.Error(err, msg)
	os.Exit(1)
}
