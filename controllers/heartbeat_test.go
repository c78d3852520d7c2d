package controllers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// renewedLease is a heartbeat Lease whose writer put renewTime in it.
func renewedLease(uid string, renewTime time.Time, seconds int32) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}, Spec: coordinationv1.LeaseSpec{
		RenewTime: &metav1.MicroTime{Time: renewTime}, LeaseDurationSeconds: ptr.To(seconds)}}
}

func condition(status metav1.ConditionStatus, at time.Time) *metav1.Condition {
	return &metav1.Condition{Type: kov1.AgentReachableCondition, Status: status, LastTransitionTime: metav1.NewTime(at)}
}

func TestJudgeFramework(t *testing.T) {
	fw := func(mut ...func(*kov1.Framework)) *kov1.Framework {
		f := &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Name: "fw", CreationTimestamp: metav1.Time{Time: now.Add(-time.Hour * 2)}},
			Spec: kov1.FrameworkSpec{FailoverTimeout: &metav1.Duration{Duration: time.Minute}}}
		for _, m := range mut {
			m(f)
		}
		return f
	}
	seen := func(ago time.Duration) time.Time { return now.Add(-ago) }
	cases := map[string]struct {
		f         *kov1.Framework
		seenAt    time.Time // zero: never seen renewed
		firstSeen time.Time // when the master first saw the Framework
		connected bool
		tornDown  bool
		reason    string
		recheck   time.Duration
	}{
		"fresh heartbeat":                         {f: fw(), seenAt: seen(5 * time.Second), connected: true, reason: kov1.FrameworkConnectedHeartbeatFreshReason, recheck: 10 * time.Second},
		"lapsed, within failover":                 {f: fw(), seenAt: seen(30 * time.Second), reason: kov1.FrameworkConnectedHeartbeatMissingReason, recheck: unhealthyResync},
		"lapsed, deadline sooner than the resync": {f: fw(), seenAt: seen(57 * time.Second), reason: kov1.FrameworkConnectedHeartbeatMissingReason, recheck: 3 * time.Second},
		"lapsed past failover":                    {f: fw(), seenAt: seen(61 * time.Second), tornDown: true, reason: kov1.FrameworkTornDownFailoverTimeoutReason},
		"never connected, young": {f: fw(func(f *kov1.Framework) { f.CreationTimestamp = metav1.Time{Time: now.Add(-10 * time.Second)} }),
			firstSeen: seen(10 * time.Second), reason: kov1.FrameworkConnectedHeartbeatMissingReason, recheck: unhealthyResync},
		"never connected, old": {f: fw(), firstSeen: seen(2 * time.Hour), tornDown: true, reason: kov1.FrameworkTornDownFailoverTimeoutReason},
		// The master, behind or with its clock off, first sees a Framework
		// the API server stamped created two hours ago: its failover
		// deadline runs from that sighting, not the stamp.
		"never connected, created long ago by another clock, first seen now": {f: fw(), firstSeen: now,
			reason: kov1.FrameworkConnectedHeartbeatMissingReason, recheck: unhealthyResync},
		"built-in scheduler never disconnects": {f: fw(func(f *kov1.Framework) {
			f.Spec.Scheduler = &kov1.BuiltinScheduler{Policy: kov1.SchedulingPolicyFirstFit}
		}), connected: true, reason: kov1.FrameworkConnectedBuiltinSchedulerReason},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := judgeFramework(tc.f, tc.seenAt, tc.firstSeen, 15*time.Second, now)
			if got.Connected != tc.connected || got.TornDown != tc.tornDown || got.Reason != tc.reason || got.RecheckAfter != tc.recheck {
				t.Errorf("judgeFramework = %+v, want connected=%v tornDown=%v reason=%s recheck=%s", got, tc.connected, tc.tornDown, tc.reason, tc.recheck)
			}
			if got.Message == "" {
				t.Error("no message")
			}
		})
	}
}

// TestOwnerFirstSight: a Framework first seen counts from now, unless the
// master's own recorded verdict already said its scheduler was away; and a
// sighting is kept until forgotten.
func TestOwnerFirstSight(t *testing.T) {
	away := &metav1.Condition{Type: kov1.FrameworkConnectedCondition, Status: metav1.ConditionFalse, LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}
	here := &metav1.Condition{Type: kov1.FrameworkConnectedCondition, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}
	if got := ownerFirstSight(now, nil); !got.Equal(now) {
		t.Errorf("no verdict: %v, want now", got)
	}
	if got := ownerFirstSight(now, here); !got.Equal(now) {
		t.Errorf("connected verdict: %v, want now", got)
	}
	if got := ownerFirstSight(now, away); !got.Equal(now.Add(-time.Minute)) {
		t.Errorf("away verdict: %v, want its time", got)
	}
	h := newHeartbeatSightings()
	k := types.NamespacedName{Namespace: "ns", Name: "fw-heartbeat"}
	h.ownerSeen(k, now)
	if got := h.ownerSeen(k, now.Add(time.Hour)); !got.Equal(now) {
		t.Errorf("second sighting = %v, want the first kept", got)
	}
	h.forget(k)
	if got := h.ownerSeen(k, now.Add(time.Hour)); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("after forget = %v, want a new first sighting", got)
	}
}

func TestJudgeAgent(t *testing.T) {
	const timeout, gone = 75 * time.Second, time.Hour
	cases := map[string]struct {
		seenAt      time.Time // zero: never seen renewed
		reachable   *metav1.Condition
		goneTimeout time.Duration
		want        agentVerdict
	}{
		"never seen renewed": {goneTimeout: gone,
			want: agentVerdict{Liveness: agentUnreachable, UnreachableSince: now, RecheckAfter: unhealthyResync}},
		"fresh": {seenAt: now.Add(-10 * time.Second), reachable: condition(metav1.ConditionTrue, now.Add(-time.Hour)), goneTimeout: gone,
			want: agentVerdict{Liveness: agentReachable, RecheckAfter: 65 * time.Second}},
		"exactly stale: unreachable from now": {seenAt: now.Add(-timeout), reachable: condition(metav1.ConditionTrue, now.Add(-time.Hour)), goneTimeout: gone,
			want: agentVerdict{Liveness: agentUnreachable, UnreachableSince: now, RecheckAfter: unhealthyResync}},
		"unreachable since the recorded verdict": {seenAt: now.Add(-10 * time.Minute), reachable: condition(metav1.ConditionFalse, now.Add(-20*time.Minute)), goneTimeout: gone,
			want: agentVerdict{Liveness: agentUnreachable, UnreachableSince: now.Add(-20 * time.Minute), RecheckAfter: unhealthyResync}},
		"gone deadline sooner than the resync": {seenAt: now.Add(-2 * time.Hour), reachable: condition(metav1.ConditionFalse, now.Add(-gone+2*time.Second)), goneTimeout: gone,
			want: agentVerdict{Liveness: agentUnreachable, UnreachableSince: now.Add(-gone + 2*time.Second), RecheckAfter: 2 * time.Second}},
		"unreachable past the gone timeout": {seenAt: now.Add(-2 * time.Hour), reachable: condition(metav1.ConditionFalse, now.Add(-gone)), goneTimeout: gone,
			want: agentVerdict{Liveness: agentTimedOut, UnreachableSince: now.Add(-gone), RecheckAfter: unhealthyResync}},
		"no gone timeout: unreachable for ever": {seenAt: now.Add(-2 * time.Hour), reachable: condition(metav1.ConditionFalse, now.Add(-100*gone)),
			want: agentVerdict{Liveness: agentUnreachable, UnreachableSince: now.Add(-100 * gone), RecheckAfter: unhealthyResync}},
		"renewed again after timing out": {seenAt: now.Add(-time.Second), reachable: condition(metav1.ConditionFalse, now.Add(-2*gone)), goneTimeout: gone,
			want: agentVerdict{Liveness: agentReachable, RecheckAfter: timeout - time.Second}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := judgeAgent(tc.seenAt, tc.reachable, now, timeout, tc.goneTimeout)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("judgeAgent (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNextSighting: the master times a renewal by when it sees the Lease
// change, never by the renew time in it.
func TestNextSighting(t *testing.T) {
	earlier := now.Add(-time.Minute)
	seenEarlier := &sighting{renewal: leaseRenewal{uid: "u", renewed: now.Add(-time.Hour)}, seenAt: earlier}
	cases := map[string]struct {
		prev      *sighting
		lease     *coordinationv1.Lease
		firstSeen time.Time
		want      sighting
	}{
		"first sight of a Lease: taken as renewed at firstSeen": {lease: renewedLease("u", now.Add(-time.Hour), 40), firstSeen: earlier.Add(-time.Hour),
			want: sighting{renewal: leaseRenewal{uid: "u", renewed: now.Add(-time.Hour)}, seenAt: earlier.Add(-time.Hour)}},
		"no Lease, never seen":              {firstSeen: now, want: sighting{}},
		"unchanged: still seen when it was": {prev: seenEarlier, lease: renewedLease("u", now.Add(-time.Hour), 40), want: *seenEarlier},
		"renew time moved, even backwards: renewed now": {prev: seenEarlier, lease: renewedLease("u", now.Add(-2*time.Hour), 40),
			want: sighting{renewal: leaseRenewal{uid: "u", renewed: now.Add(-2 * time.Hour)}, seenAt: now}},
		"Lease recreated with the same renew time: renewed now": {prev: seenEarlier, lease: renewedLease("v", now.Add(-time.Hour), 40),
			want: sighting{renewal: leaseRenewal{uid: "v", renewed: now.Add(-time.Hour)}, seenAt: now}},
		"Lease deleted: the last sighting stays": {prev: seenEarlier, want: *seenEarlier},
		"Lease created after a look at none: renewed now": {prev: &sighting{}, lease: renewedLease("u", now.Add(time.Hour), 40),
			want: sighting{renewal: leaseRenewal{uid: "u", renewed: now.Add(time.Hour)}, seenAt: now}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := nextSighting(tc.prev, tc.lease, now, tc.firstSeen)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(sighting{}, leaseRenewal{})); diff != "" {
				t.Errorf("nextSighting (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFirstSight(t *testing.T) {
	cases := map[string]struct {
		cond *metav1.Condition
		want time.Time
	}{
		"no verdict yet: now":                     {want: now},
		"last verdict live: now":                  {cond: condition(metav1.ConditionTrue, now.Add(-time.Hour)), want: now},
		"last verdict stale: a ttl before it":     {cond: condition(metav1.ConditionFalse, now.Add(-time.Hour)), want: now.Add(-time.Hour - 15*time.Second)},
		"stale verdict without a time: now":       {cond: &metav1.Condition{Status: metav1.ConditionFalse}, want: now},
		"unknown verdict: now (benefit of doubt)": {cond: condition(metav1.ConditionUnknown, now.Add(-time.Hour)), want: now},
	}
	for name, tc := range cases {
		if got := firstSight(now, tc.cond, 15*time.Second); !got.Equal(tc.want) {
			t.Errorf("%s: firstSight = %s, want %s", name, got, tc.want)
		}
	}
}

// TestHeartbeatWriterClockSkew: a scheduler host or node whose clock is off
// stays Connected/Reachable while it renews its Lease every 5s, and stops
// being so one lease duration (framework) or agent timeout (agent) after
// its last renewal, however far its clock is from the master's.
func TestHeartbeatWriterClockSkew(t *testing.T) {
	const agentTimeout = 75 * time.Second
	cases := map[string]struct {
		agent     bool
		skew      time.Duration // writer's clock minus the master's
		afterLast time.Duration // master time from the last renewal to the verdict
		want      bool
	}{
		"framework 15s behind, renewing": {skew: -15 * time.Second, afterLast: 14 * time.Second, want: true},
		"framework 15s ahead, renewing":  {skew: 15 * time.Second, afterLast: 14 * time.Second, want: true},
		"framework 15s behind, stopped":  {skew: -15 * time.Second, afterLast: 15 * time.Second, want: false},
		"framework 15s ahead, stopped":   {skew: 15 * time.Second, afterLast: 15 * time.Second, want: false},
		"agent 75s behind, renewing":     {agent: true, skew: -75 * time.Second, afterLast: 74 * time.Second, want: true},
		"agent 75s ahead, renewing":      {agent: true, skew: 75 * time.Second, afterLast: 74 * time.Second, want: true},
		"agent 75s behind, stopped":      {agent: true, skew: -75 * time.Second, afterLast: 75 * time.Second, want: false},
		"agent 75s ahead, stopped":       {agent: true, skew: 75 * time.Second, afterLast: 75 * time.Second, want: false},
	}
	f := &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Name: "fw", CreationTimestamp: metav1.Time{Time: now.Add(-time.Hour)}}}
	key := types.NamespacedName{Namespace: "ns", Name: "lease"}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHeartbeatSightings()
			var l *coordinationv1.Lease
			var masterNow time.Time
			for i := range 4 { // renewals every 5s of the master's clock, stamped with the writer's
				masterNow = now.Add(time.Duration(i) * 5 * time.Second)
				l = renewedLease("u", masterNow.Add(tc.skew), 15)
				h.observe(key, l, masterNow, firstSight(masterNow, nil, 15*time.Second))
			}
			at := masterNow.Add(tc.afterLast)
			seenAt := h.observe(key, l, at, at)
			var got bool
			if tc.agent {
				got = judgeAgent(seenAt, condition(metav1.ConditionTrue, now), at, agentTimeout, 0).Liveness == agentReachable
			} else {
				got = judgeFramework(f, seenAt, now, leaseTTL(l), at).Connected
			}
			if got != tc.want {
				t.Errorf("connected/reachable = %v, want %v (renewal seen at %s, verdict at %s)", got, tc.want, seenAt, at)
			}
		})
	}
}

// TestSightingsForget: a forgotten Lease is seen afresh.
func TestSightingsForget(t *testing.T) {
	h := newHeartbeatSightings()
	key := types.NamespacedName{Namespace: "ns", Name: "lease"}
	l := renewedLease("u", now, 15)
	h.observe(key, l, now, now)
	if got := h.observe(key, l, now.Add(time.Minute), now.Add(time.Minute)); !got.Equal(now) {
		t.Fatalf("unchanged Lease seen at %s, want %s", got, now)
	}
	h.forget(key)
	if got := h.observe(key, l, now.Add(time.Minute), now.Add(time.Minute)); !got.Equal(now.Add(time.Minute)) {
		t.Errorf("forgotten Lease seen at %s, want the new first sight %s", got, now.Add(time.Minute))
	}
}

// TestSightingsSeenOnArrival: a renewal is timed when the informer delivers
// it. A reconciler that reaches the Lease 97 s later (the queue's delay at
// 10,000 agents with one worker) used to time it at its own late look,
// which stretched a stopped agent's life by the queue's delay.
func TestSightingsSeenOnArrival(t *testing.T) {
	const agentTimeout = 75 * time.Second
	key := types.NamespacedName{Namespace: "ns", Name: "lease"}
	h := newHeartbeatSightings()
	// Before the reconciler's first look, an arrival decides nothing: the
	// first sighting is observe's (firstSight).
	h.seen(key, renewedLease("u", now, 15), now)
	if got := h.observe(key, renewedLease("u", now, 15), now.Add(time.Second), now.Add(time.Second)); !got.Equal(now.Add(time.Second)) {
		t.Fatalf("first sighting at %s, want observe's first sight %s", got, now.Add(time.Second))
	}
	// Renewals arrive every 15 s; the reconciler only looks 97 s after the
	// last of them.
	var last time.Time
	var l *coordinationv1.Lease
	for i := 1; i <= 6; i++ {
		last = now.Add(time.Duration(i) * 15 * time.Second)
		l = renewedLease("u", last, 15)
		h.seen(key, l, last)
	}
	at := last.Add(97 * time.Second)
	seenAt := h.observe(key, l, at, at)
	if !seenAt.Equal(last) {
		t.Errorf("renewal seen at %s, want when it arrived, %s", seenAt, last)
	}
	// The renewal arrived 97 s before the verdict: the agent did stop.
	if got := judgeAgent(seenAt, condition(metav1.ConditionTrue, now), at, agentTimeout, 0).Liveness; got == agentReachable {
		t.Errorf("an agent whose last renewal arrived 97 s ago is %v", got)
	}
	// One that kept renewing, delivered 1 s before a late reconcile, is
	// reachable whatever the queue's delay.
	l = renewedLease("u", at.Add(-time.Second), 15)
	h.seen(key, l, at.Add(-time.Second))
	if got := judgeAgent(h.observe(key, l, at, at), condition(metav1.ConditionTrue, now), at, agentTimeout, 0).Liveness; got != agentReachable {
		t.Errorf("an agent renewing 1 s before the verdict is %v, want reachable", got)
	}
}
