package controllers

import (
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// The master judges heartbeats by when it saw them, on its own clock, as
// Kubernetes' node lifecycle controller does with node Leases: the renew
// time in a Lease is the writer's clock, so it is only ever compared with
// the renew time seen before (has it changed?), never with the master's
// clock. A framework host or node whose clock is off stays connected as
// long as it keeps renewing.

// leaseRenewal identifies one renewal of a heartbeat Lease: the Lease object
// and the renew (else acquire) time its writer put in it.
type leaseRenewal struct {
	uid     types.UID
	renewed time.Time
}

// renewalOf is l's last renewal; zero when there is no Lease or it was never
// renewed.
func renewalOf(l *coordinationv1.Lease) leaseRenewal {
	if l == nil {
		return leaseRenewal{}
	}
	switch {
	case l.Spec.RenewTime != nil:
		return leaseRenewal{uid: l.UID, renewed: l.Spec.RenewTime.Time}
	case l.Spec.AcquireTime != nil:
		return leaseRenewal{uid: l.UID, renewed: l.Spec.AcquireTime.Time}
	}
	return leaseRenewal{}
}

func (r leaseRenewal) isZero() bool { return r.uid == "" && r.renewed.IsZero() }

func (r leaseRenewal) same(o leaseRenewal) bool { return r.uid == o.uid && r.renewed.Equal(o.renewed) }

// sighting is what the master saw of one heartbeat Lease: its last renewal,
// and when, on the master's clock, the master first saw that renewal (zero:
// never seen renewed).
type sighting struct {
	renewal leaseRenewal
	seenAt  time.Time
}

// nextSighting is what the master knows of a Lease after looking at it (l,
// nil when there is none) at now, having known prev (nil: never looked).
// A changed renewal is seen at now. A Lease seen for the first time is taken
// as renewed at firstSeen (see firstSight); a Lease that disappears keeps
// its last sighting.
func nextSighting(prev *sighting, l *coordinationv1.Lease, now, firstSeen time.Time) sighting {
	r := renewalOf(l)
	switch {
	case prev == nil && r.isZero():
		return sighting{}
	case prev == nil:
		return sighting{renewal: r, seenAt: firstSeen}
	case r.isZero() || r.same(prev.renewal):
		return *prev
	}
	return sighting{renewal: r, seenAt: now}
}

// firstSight is when the master takes a Lease it sees for the first time
// (it has just started, or just become the leader) to have been renewed:
// now, so a master failover never disconnects everyone; but if the
// master's own recorded verdict (cond, a Connected or Reachable condition
// it wrote) already says the heartbeat had stopped, one ttl before that
// verdict, so the Lease stays stale until a renewal is actually seen and
// the deadlines that run from the last renewal carry on where they were.
func firstSight(now time.Time, cond *metav1.Condition, ttl time.Duration) time.Time {
	if cond != nil && cond.Status == metav1.ConditionFalse && !cond.LastTransitionTime.IsZero() {
		return cond.LastTransitionTime.Add(-ttl)
	}
	return now
}

// heartbeatSightings remembers, per heartbeat Lease, the last renewal the
// master saw and when it saw it on its own clock. It owns its lock: the
// reconcilers of different objects reach it concurrently. It lives as long
// as the process, so a new leader starts empty.
type heartbeatSightings struct {
	mu sync.Mutex
	m  map[types.NamespacedName]sighting
	// owners is when the master first saw each Lease's owner.
	owners map[types.NamespacedName]time.Time
}

func newHeartbeatSightings() *heartbeatSightings {
	return &heartbeatSightings{m: map[types.NamespacedName]sighting{}, owners: map[types.NamespacedName]time.Time{}}
}

// observe records what Lease key shows now (l, nil when absent) and returns
// when the master last saw it renewed, on its own clock (zero: never).
// firstSeen is used if the master has not looked at this Lease before.
func (h *heartbeatSightings) observe(key types.NamespacedName, l *coordinationv1.Lease, now, firstSeen time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	var prev *sighting
	if s, ok := h.m[key]; ok {
		prev = &s
	}
	next := nextSighting(prev, l, now, firstSeen)
	h.m[key] = next
	return next.seenAt
}

// seen records a renewal of Lease key at now, when the master sees it
// (the informer delivers the Lease), so a reconciler that gets to the
// Lease later still times the renewal by when it arrived. A Lease not yet
// looked at is left to observe, which decides its first sighting.
func (h *heartbeatSightings) seen(key types.NamespacedName, l *coordinationv1.Lease, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.m[key]; ok {
		h.m[key] = nextSighting(&s, l, now, now)
	}
}

// forget drops what the master knows of Lease key (its owner is gone).
func (h *heartbeatSightings) forget(key types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
	delete(h.owners, key)
}

// ownerSeen returns when the master first saw the owner of Lease key (a
// Framework), on its own clock: first the first time it is asked.
func (h *heartbeatSightings) ownerSeen(key types.NamespacedName, first time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if at, ok := h.owners[key]; ok {
		return at
	}
	h.owners[key] = first
	return first
}

// ownerFirstSight is when the master takes a Framework it sees for the
// first time to have appeared: now; but if the master's own recorded
// verdict (cond, the Connected condition it wrote) already says the
// scheduler was away, when that verdict was made, so a new leader carries
// the failover deadline on instead of starting it again.
func ownerFirstSight(now time.Time, cond *metav1.Condition) time.Time {
	if cond != nil && cond.Status == metav1.ConditionFalse && !cond.LastTransitionTime.IsZero() && cond.LastTransitionTime.Time.Before(now) {
		return cond.LastTransitionTime.Time
	}
	return now
}

// defaultFrameworkLeaseTTL is how long a framework's heartbeat lasts when
// its Lease does not say.
const defaultFrameworkLeaseTTL = 15 * time.Second

// leaseTTL is how long a renewal of l lasts, as its writer declared it.
func leaseTTL(l *coordinationv1.Lease) time.Duration {
	if l != nil && l.Spec.LeaseDurationSeconds != nil {
		return time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return defaultFrameworkLeaseTTL
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

// judgeFramework decides whether a framework's scheduler is connected: the
// master saw its heartbeat Lease renewed (at seenAt, on the master's clock;
// zero: never) less than ttl ago. A framework with a built-in scheduler is
// always connected. Disconnected since the last renewal seen (or, if none
// was ever seen, since the master first saw the Framework, at firstSeen on
// its own clock) for longer than the failover timeout, it is torn down.
// Neither deadline runs from a time another host wrote: not the Lease's
// renewTime, nor the API server's creationTimestamp, which a master that
// is behind (or whose clock is off) may see only after the failover
// timeout of a scheduler that has just subscribed.
func judgeFramework(f *kov1.Framework, seenAt, firstSeen time.Time, ttl time.Duration, now time.Time) frameworkLink {
	if f.Spec.Scheduler != nil {
		return frameworkLink{Connected: true, Reason: kov1.FrameworkConnectedBuiltinSchedulerReason,
			Message: "The master schedules this framework's tasks with the " + string(f.Spec.Scheduler.Policy) + " policy"}
	}
	if !seenAt.IsZero() && now.Before(seenAt.Add(ttl)) {
		return frameworkLink{Connected: true, Reason: kov1.FrameworkConnectedHeartbeatFreshReason,
			Message: "The scheduler renewed its heartbeat Lease " + kov1.HeartbeatLeaseName(f.Name), RecheckAfter: seenAt.Add(ttl).Sub(now)}
	}
	since := seenAt
	if since.IsZero() {
		since = firstSeen
	}
	failover := time.Hour
	if f.Spec.FailoverTimeout != nil {
		failover = f.Spec.FailoverTimeout.Duration
	}
	deadline := since.Add(failover)
	if !now.Before(deadline) {
		return frameworkLink{Reason: kov1.FrameworkTornDownFailoverTimeoutReason, TornDown: true,
			Message: "No heartbeat seen since " + since.UTC().Format(time.RFC3339) + ", longer than the failover timeout " + failover.String()}
	}
	return frameworkLink{Reason: kov1.FrameworkConnectedHeartbeatMissingReason, RecheckAfter: min(deadline.Sub(now), unhealthyResync),
		Message: "No scheduler heartbeat seen on Lease " + kov1.HeartbeatLeaseName(f.Name) + "; torn down at " + deadline.UTC().Format(time.RFC3339) + " unless it reconnects"}
}

// unhealthyResync is how often a disconnected framework or unreachable
// agent is re-checked even without an event, so a missed Lease event can
// never leave one disconnected for long.
const unhealthyResync = 5 * time.Second

// agentLiveness is the master's verdict on an agent's heartbeat.
type agentLiveness string

const (
	// agentReachable: the master saw the heartbeat renewed within the agent
	// timeout.
	agentReachable agentLiveness = "Reachable"
	// agentUnreachable: it did not; the agent may come back.
	agentUnreachable agentLiveness = "Unreachable"
	// agentTimedOut: unreachable for longer than the agent gone timeout too;
	// the agent is removed (its tasks end), and offered again only if its
	// heartbeat comes back.
	agentTimedOut agentLiveness = "TimedOut"
)

// agentVerdict is judgeAgent's answer.
type agentVerdict struct {
	Liveness agentLiveness
	// UnreachableSince is when the master found the agent unreachable; zero
	// while it is reachable.
	UnreachableSince time.Time
	// RecheckAfter is when the verdict may change next.
	RecheckAfter time.Duration
}

// judgeAgent decides whether an agent is reachable: the master saw its
// heartbeat Lease renewed (at seenAt, on the master's clock; zero: never)
// less than timeout ago. An unreachable agent is timed out once it has been
// unreachable for goneTimeout (0: never), counted from the master's own
// recorded verdict (reachable, the Reachable condition it wrote), so a
// master failover does not restart the count.
func judgeAgent(seenAt time.Time, reachable *metav1.Condition, now time.Time, timeout, goneTimeout time.Duration) agentVerdict {
	if !seenAt.IsZero() && now.Before(seenAt.Add(timeout)) {
		return agentVerdict{Liveness: agentReachable, RecheckAfter: seenAt.Add(timeout).Sub(now)}
	}
	since := now
	if reachable != nil && reachable.Status == metav1.ConditionFalse && !reachable.LastTransitionTime.IsZero() {
		since = reachable.LastTransitionTime.Time
	}
	if goneTimeout <= 0 {
		return agentVerdict{Liveness: agentUnreachable, UnreachableSince: since, RecheckAfter: unhealthyResync}
	}
	deadline := since.Add(goneTimeout)
	if !now.Before(deadline) {
		return agentVerdict{Liveness: agentTimedOut, UnreachableSince: since, RecheckAfter: unhealthyResync}
	}
	return agentVerdict{Liveness: agentUnreachable, UnreachableSince: since, RecheckAfter: min(deadline.Sub(now), unhealthyResync)}
}
