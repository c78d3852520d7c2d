package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// ErrTaken is RenewHeld's answer when another holder has taken the Lease
// (or it is gone).
var ErrTaken = errors.New("the heartbeat lease is held by another holder")

// RenewHeld renews the Lease at now only while l.Identity still holds it,
// and returns ErrTaken once another holder took it over (with Renew). The
// update carries the resourceVersion it read, so a take-over that comes in
// between makes it fail with a conflict instead of taking the Lease back:
// read with a client that reads the API server, not a cache, and retry on
// conflict. Mesos API subscriptions use it: the newest subscription of a
// framework holds the Lease, an older one learns it failed over.
func RenewHeld(ctx context.Context, c client.Client, l Lease, now time.Time) error {
	lease := &coordinationv1.Lease{}
	if err := c.Get(ctx, l.Key, lease); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return ErrTaken
		}
		return fmt.Errorf("reading heartbeat lease %s: %w", l.Key, err)
	}
	if ptr.Deref(lease.Spec.HolderIdentity, "") != l.Identity {
		return ErrTaken
	}
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	maps.Copy(lease.Labels, map[string]string{kov1.LabelHeartbeat: l.Kind})
	at := metav1.NewMicroTime(now)
	lease.Spec.RenewTime = &at
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(max(1, l.Duration.Round(time.Second)/time.Second)))
	if err := c.Update(ctx, lease); err != nil {
		return fmt.Errorf("renewing heartbeat lease %s: %w", l.Key, err)
	}
	return nil
}
