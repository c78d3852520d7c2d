package agent

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/heartbeat"
)

// Heartbeat renews the agent's heartbeat Lease (named after the node, in
// the lease namespace, labelled kubeoffer.io/heartbeat=agent) every
// interval. The master judges the agent reachable while it has seen the
// Lease renewed within its agent timeout, on its own clock (the renew time
// written here is only compared with the previous one). It runs on every
// agentd (no leader election): each agentd is the only writer of its own
// Lease.
type Heartbeat struct {
	// Client must read Leases from the API server, not a cache.
	Client  client.Client
	Clock   clock.WithTicker
	Options Options
}

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=kubeoffer-system

// NeedLeaderElection is false: every agentd heartbeats.
func (h *Heartbeat) NeedLeaderElection() bool { return false }

// Start renews the Lease now and every interval until ctx ends.
func (h *Heartbeat) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("heartbeat")
	tick := h.Clock.NewTicker(h.Options.HeartbeatInterval)
	defer tick.Stop()
	for {
		if err := h.Renew(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "Failed to renew the heartbeat Lease; retrying", "interval", h.Options.HeartbeatInterval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C():
		}
	}
}

// Renew creates or renews the heartbeat Lease once. The Lease says it lasts
// five intervals, Mesos's agent timeout in pings.
func (h *Heartbeat) Renew(ctx context.Context) error {
	return heartbeat.Renew(ctx, h.Client, heartbeat.Lease{
		Key:  types.NamespacedName{Namespace: h.Options.LeaseNamespace, Name: h.Options.NodeName},
		Kind: kov1.HeartbeatAgent, Identity: h.Options.Identity, Duration: 5 * h.Options.HeartbeatInterval,
	}, h.Clock.Now())
}
