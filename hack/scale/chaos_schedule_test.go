package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSchedule(t *testing.T) {
	opts := scheduleOptions{Seed: 1, Faults: 24, Tasks: 10000, AgentTimeout: 20 * time.Second,
		FailoverTimeout: 30 * time.Second, HeartbeatInterval: 2 * time.Second}
	a, b := schedule(opts), schedule(opts)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("one seed, two schedules (-first +second):\n%s", diff)
	}
	other := opts
	other.Seed = 2
	if cmp.Equal(a, schedule(other)) {
		t.Error("seeds 1 and 2 gave the same schedule")
	}
	bounds := map[faultKind][2]time.Duration{
		faultLeaderKill:     {2 * time.Second, 10 * time.Second},
		faultAgentdRestart:  {2 * time.Second, 8 * time.Second},
		faultPartitionShort: {4 * time.Second, 14 * time.Second},
		faultPartitionLong:  {25 * time.Second, 45 * time.Second},
		faultDisconnect:     {7500 * time.Millisecond, 20 * time.Second},
		faultConflicts:      {5 * time.Second, 15 * time.Second},
		faultFailover:       {0, 0},
		faultTeardown:       {0, 0},
	}
	cases := map[string]scheduleOptions{
		"default run": opts,
		"CI run":      {Seed: 7, Faults: 8, Tasks: 1000, AgentTimeout: 20 * time.Second, FailoverTimeout: 30 * time.Second, HeartbeatInterval: 2 * time.Second},
		"few faults":  {Seed: 3, Faults: 3, Tasks: 500, AgentTimeout: 20 * time.Second, FailoverTimeout: 30 * time.Second, HeartbeatInterval: 2 * time.Second},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			fs := schedule(o)
			if len(fs) != o.Faults {
				t.Fatalf("%d faults, want %d", len(fs), o.Faults)
			}
			kinds := map[faultKind]int{}
			for i, f := range fs {
				kinds[f.Kind]++
				if f.AtTask < o.Tasks*5/100 || f.AtTask >= o.Tasks*85/100 {
					t.Errorf("%s fires at task %d, outside 5%%–85%% of %d", f, f.AtTask, o.Tasks)
				}
				if i > 0 && f.AtTask < fs[i-1].AtTask {
					t.Errorf("%s comes after %s", f, fs[i-1])
				}
				b, ok := bounds[f.Kind]
				if !ok {
					t.Fatalf("unknown kind %s", f.Kind)
				}
				if f.Duration < b[0] || (b[1] > 0 && f.Duration > b[1]) || (b[1] == 0 && f.Duration != 0) {
					t.Errorf("%s lasts %s, want %s–%s", f, f.Duration, b[0], b[1])
				}
			}
			if o.Faults >= len(faultKinds) {
				for _, k := range faultKinds {
					if kinds[k.kind] == 0 {
						t.Errorf("no %s among %v", k.kind, kinds)
					}
				}
			}
		})
	}
}
