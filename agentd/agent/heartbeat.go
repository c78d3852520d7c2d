package agent

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Heartbeat renews the agent's heartbeat Lease (named after the node, in
// the lease namespace, labelled kubeoffer.io/heartbeat=agent) every
// interval. The master judges the agent reachable while the Lease is
// younger than its agent timeout. It runs on every agentd (no leader
// election): each agentd is the only writer of its own Lease. When it
// stops, it marks the Agent not Ready.
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
			stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := markNotReady(stopCtx, h.Client, h.Options.NodeName, h.Clock.Now()); err != nil {
				logger.Error(err, "Failed to mark the Agent not Ready on stop")
			}
			return nil
		case <-tick.C():
		}
	}
}

// Renew creates or renews the heartbeat Lease once.
func (h *Heartbeat) Renew(ctx context.Context) error {
	now := metav1.NewMicroTime(h.Clock.Now())
	// Mesos's agent timeout is five pings; the Lease says the same.
	duration := ptr.To(int32(max(1, (5*h.Options.HeartbeatInterval).Round(time.Second)/time.Second)))
	key := types.NamespacedName{Namespace: h.Options.LeaseNamespace, Name: h.Options.NodeName}
	l := &coordinationv1.Lease{}
	err := h.Client.Get(ctx, key, l)
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: heartbeatLabels()},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(h.Options.Identity), LeaseDurationSeconds: duration,
				AcquireTime: &now, RenewTime: &now},
		}
		if err := h.Client.Create(ctx, l); err != nil {
			return fmt.Errorf("creating heartbeat lease %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading heartbeat lease %s: %w", key, err)
	}
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	for k, v := range heartbeatLabels() {
		l.Labels[k] = v
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != h.Options.Identity {
		l.Spec.HolderIdentity, l.Spec.AcquireTime = ptr.To(h.Options.Identity), &now
		l.Spec.LeaseTransitions = ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)
	}
	l.Spec.RenewTime, l.Spec.LeaseDurationSeconds = &now, duration
	if err := h.Client.Update(ctx, l); err != nil {
		return fmt.Errorf("renewing heartbeat lease %s: %w", key, err)
	}
	return nil
}
