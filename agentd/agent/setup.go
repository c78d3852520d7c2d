package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// ManagerOptions narrows a manager's caches to this node's objects — its
// Node and Agent, the Pods on the node, the Tasks bound to it (a field
// selector on status.agentName, so agentd never lists the cluster's tasks)
// — and reads Leases past the cache. base carries the rest (scheme,
// metrics and probe addresses).
func ManagerOptions(base ctrl.Options, node string) ctrl.Options {
	base.Cache.ByObject = map[client.Object]cache.ByObject{
		&corev1.Node{}: {Field: fields.OneTermEqualSelector("metadata.name", node)},
		&kov1.Agent{}:  {Field: fields.OneTermEqualSelector("metadata.name", node)},
		&corev1.Pod{}:  {Field: fields.OneTermEqualSelector("spec.nodeName", node)},
		&kov1.Task{}:   {Field: fields.OneTermEqualSelector("status.agentName", node)},
	}
	base.Client.Cache = &client.CacheOptions{DisableFor: []client.Object{&coordinationv1.Lease{}}}
	return base
}

// Setup adds agentd's controllers, heartbeat and health checks to mgr,
// which must have been made with ManagerOptions.
func Setup(mgr ctrl.Manager, opts Options) error {
	if opts.NodeName == "" {
		return errors.New("the node name is empty: set NODE_NAME from the downward API (spec.nodeName) or pass --node-name")
	}
	opts = opts.defaulted()
	if err := (&TaskReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("kubeoffer-agentd"),
		Clock: opts.Clock, Node: opts.NodeName, Metrics: opts.Metrics}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the task controller: %w", err)
	}
	if err := (&StatusReconciler{Client: mgr.GetClient(), Clock: opts.Clock, Options: opts}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the agent status controller: %w", err)
	}
	if err := mgr.Add(&Heartbeat{Client: mgr.GetClient(), Clock: opts.Clock, Options: opts}); err != nil {
		return fmt.Errorf("adding the heartbeat: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches not synced yet")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}
	return nil
}
