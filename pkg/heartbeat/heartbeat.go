// Package heartbeat renews the coordination.k8s.io Leases kubeoffer's
// parts heartbeat through: agentd's (one per agent, in the agent lease
// namespace) and each framework scheduler's (the SDK's, in the framework's
// namespace). The master judges an agent reachable, or a framework
// connected, from when it last saw the Lease renewed, on its own clock: a
// renewal is any change of the renew time written here, so the writer's
// clock may be off.
package heartbeat

import (
	"context"
	"fmt"
	"maps"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Lease says which Lease to renew and how.
type Lease struct {
	Key types.NamespacedName
	// Kind is kov1.HeartbeatAgent or kov1.HeartbeatFramework, written as the
	// kubeoffer.io/heartbeat label the master selects Leases by.
	Kind string
	// Identity is written as the holder.
	Identity string
	// Duration is how long the Lease stays valid after a renewal.
	Duration time.Duration
}

// Renew creates the Lease, or renews it, once at now. A new holder (a
// restarted process with another identity) counts as a transition.
func Renew(ctx context.Context, c client.Client, l Lease, now time.Time) error {
	at := metav1.NewMicroTime(now)
	seconds := ptr.To(int32(max(1, l.Duration.Round(time.Second)/time.Second)))
	labels := map[string]string{kov1.LabelHeartbeat: l.Kind}
	lease := &coordinationv1.Lease{}
	err := c.Get(ctx, l.Key, lease)
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: l.Key.Namespace, Name: l.Key.Name, Labels: labels},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(l.Identity), LeaseDurationSeconds: seconds,
				AcquireTime: &at, RenewTime: &at},
		}
		if err := c.Create(ctx, lease); err != nil {
			return fmt.Errorf("creating heartbeat lease %s: %w", l.Key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading heartbeat lease %s: %w", l.Key, err)
	}
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	maps.Copy(lease.Labels, labels)
	if ptr.Deref(lease.Spec.HolderIdentity, "") != l.Identity {
		lease.Spec.HolderIdentity, lease.Spec.AcquireTime = ptr.To(l.Identity), &at
		lease.Spec.LeaseTransitions = ptr.To(ptr.Deref(lease.Spec.LeaseTransitions, 0) + 1)
	}
	lease.Spec.RenewTime, lease.Spec.LeaseDurationSeconds = &at, seconds
	if err := c.Update(ctx, lease); err != nil {
		return fmt.Errorf("renewing heartbeat lease %s: %w", l.Key, err)
	}
	return nil
}
