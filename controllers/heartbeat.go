package controllers

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// lastRenew is when a lease was last renewed (or acquired), or zero.
func lastRenew(l *coordinationv1.Lease) time.Time {
	if l == nil {
		return time.Time{}
	}
	if l.Spec.RenewTime != nil {
		return l.Spec.RenewTime.Time
	}
	if l.Spec.AcquireTime != nil {
		return l.Spec.AcquireTime.Time
	}
	return time.Time{}
}

// frameworkLink is the verdict on a framework's connection to its scheduler.
type frameworkLink struct {
	Connected bool
	Reason    string
	Message   string
	// TornDown is true once the framework stayed disconnected past its
	// failover timeout.
	TornDown bool
	// RecheckAfter is when the verdict may change next (0: only on events).
	RecheckAfter time.Duration
}

// judgeFramework decides whether a framework's scheduler is connected: its
// heartbeat Lease is younger than the lease's duration. A framework with a
// built-in scheduler is always connected. Disconnected since the last
// renewal (or since creation, if it never connected) for longer than the
// failover timeout, it is torn down.
func judgeFramework(f *kov1.Framework, lease *coordinationv1.Lease, now time.Time) frameworkLink {
	if f.Spec.Scheduler != nil {
		return frameworkLink{Connected: true, Reason: kov1.FrameworkBuiltinSchedulerReason,
			Message: "The master schedules this framework's tasks with the " + string(f.Spec.Scheduler.Policy) + " policy"}
	}
	renewed := lastRenew(lease)
	ttl := 15 * time.Second
	if lease != nil && lease.Spec.LeaseDurationSeconds != nil {
		ttl = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	if !renewed.IsZero() && now.Before(renewed.Add(ttl)) {
		return frameworkLink{Connected: true, Reason: kov1.FrameworkHeartbeatFreshReason,
			Message: "The scheduler renewed its heartbeat Lease " + kov1.HeartbeatLeaseName(f.Name), RecheckAfter: renewed.Add(ttl).Sub(now)}
	}
	since := renewed
	if since.IsZero() {
		since = f.CreationTimestamp.Time
	}
	failover := time.Hour
	if f.Spec.FailoverTimeout != nil {
		failover = f.Spec.FailoverTimeout.Duration
	}
	deadline := since.Add(failover)
	if !now.Before(deadline) {
		return frameworkLink{Reason: kov1.FrameworkFailoverTimeoutReason, TornDown: true,
			Message: "No heartbeat since " + since.UTC().Format(time.RFC3339) + ", longer than the failover timeout " + failover.String()}
	}
	return frameworkLink{Reason: kov1.FrameworkHeartbeatMissingReason, RecheckAfter: min(deadline.Sub(now), unhealthyResync),
		Message: "No scheduler heartbeat on Lease " + kov1.HeartbeatLeaseName(f.Name) + "; torn down at " + deadline.UTC().Format(time.RFC3339) + " unless it reconnects"}
}

// unhealthyResync is how often a disconnected framework or unreachable
// agent is re-checked even without an event, so a missed Lease event can
// never leave one disconnected for long.
const unhealthyResync = 5 * time.Second

// agentReachable decides whether an agent's heartbeat Lease is younger than
// the agent timeout, and when that may change.
func agentReachable(lease *coordinationv1.Lease, now time.Time, timeout time.Duration) (bool, time.Duration) {
	renewed := lastRenew(lease)
	if renewed.IsZero() {
		return false, unhealthyResync
	}
	deadline := renewed.Add(timeout)
	if now.Before(deadline) {
		return true, deadline.Sub(now)
	}
	return false, unhealthyResync
}
