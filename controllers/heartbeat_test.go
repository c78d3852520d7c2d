package controllers

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func lease(renewedAgo time.Duration, seconds int32) *coordinationv1.Lease {
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{
		RenewTime: &metav1.MicroTime{Time: now.Add(-renewedAgo)}, LeaseDurationSeconds: ptr.To(seconds)}}
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
	cases := map[string]struct {
		f         *kov1.Framework
		lease     *coordinationv1.Lease
		connected bool
		tornDown  bool
		reason    string
		recheck   time.Duration
	}{
		"fresh heartbeat":                         {f: fw(), lease: lease(5*time.Second, 15), connected: true, reason: kov1.FrameworkHeartbeatFreshReason, recheck: 10 * time.Second},
		"lapsed, within failover":                 {f: fw(), lease: lease(30*time.Second, 15), reason: kov1.FrameworkHeartbeatMissingReason, recheck: unhealthyResync},
		"lapsed, deadline sooner than the resync": {f: fw(), lease: lease(57*time.Second, 15), reason: kov1.FrameworkHeartbeatMissingReason, recheck: 3 * time.Second},
		"lapsed past failover":                    {f: fw(), lease: lease(61*time.Second, 15), tornDown: true, reason: kov1.FrameworkFailoverTimeoutReason},
		"never connected, young": {f: fw(func(f *kov1.Framework) { f.CreationTimestamp = metav1.Time{Time: now.Add(-10 * time.Second)} }),
			reason: kov1.FrameworkHeartbeatMissingReason, recheck: unhealthyResync},
		"never connected, old": {f: fw(), tornDown: true, reason: kov1.FrameworkFailoverTimeoutReason},
		"built-in scheduler never disconnects": {f: fw(func(f *kov1.Framework) {
			f.Spec.Scheduler = &kov1.BuiltinScheduler{Policy: kov1.SchedulingPolicyFirstFit}
		}), connected: true, reason: kov1.FrameworkBuiltinSchedulerReason},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := judgeFramework(tc.f, tc.lease, now)
			if got.Connected != tc.connected || got.TornDown != tc.tornDown || got.Reason != tc.reason || got.RecheckAfter != tc.recheck {
				t.Errorf("judgeFramework = %+v, want connected=%v tornDown=%v reason=%s recheck=%s", got, tc.connected, tc.tornDown, tc.reason, tc.recheck)
			}
			if got.Message == "" {
				t.Error("no message")
			}
		})
	}
}

func TestAgentReachable(t *testing.T) {
	cases := map[string]struct {
		lease   *coordinationv1.Lease
		want    bool
		recheck time.Duration
	}{
		"no lease":      {lease: nil, want: false, recheck: unhealthyResync},
		"fresh":         {lease: lease(10*time.Second, 40), want: true, recheck: 65 * time.Second},
		"exactly stale": {lease: lease(75*time.Second, 40), want: false, recheck: unhealthyResync},
	}
	for name, tc := range cases {
		got, recheck := agentReachable(tc.lease, now, 75*time.Second)
		if got != tc.want || recheck != tc.recheck {
			t.Errorf("%s: agentReachable = %v, %s; want %v, %s", name, got, recheck, tc.want, tc.recheck)
		}
	}
}
