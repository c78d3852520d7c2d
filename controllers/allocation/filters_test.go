package allocation

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFilterSetRevive: REVIVE drops the filters installed before it, and a
// revivedAt in the future counts from when the master first saw it, so
// later declines still hide their agents (before, every filter was dropped
// until that future time).
func TestFilterSetRevive(t *testing.T) {
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(d)} }
	type step struct {
		// add installs a filter on agent at now+addAt for 10s.
		agent string
		addAt time.Duration
		// then active is read at now+readAt with revivedAt.
		readAt  time.Duration
		revived *metav1.Time
		want    []string
	}
	cases := map[string][]step{
		"no revive keeps filters": {
			{agent: "a", addAt: 0, readAt: time.Second, want: []string{"a"}},
		},
		"revive drops older filters": {
			{agent: "a", addAt: 0, readAt: 2 * time.Second, revived: at(time.Second), want: nil},
		},
		"filters after the revive stay": {
			{agent: "a", addAt: 0, readAt: 2 * time.Second, revived: at(time.Second), want: nil},
			{agent: "b", addAt: 3 * time.Second, readAt: 4 * time.Second, revived: at(time.Second), want: []string{"b"}},
		},
		"future revive counts from when it was seen": {
			{agent: "a", addAt: 0, readAt: time.Second, revived: at(time.Hour), want: nil},
			{agent: "b", addAt: 2 * time.Second, readAt: 3 * time.Second, revived: at(time.Hour), want: []string{"b"}},
		},
		"a new future revive drops filters again": {
			{agent: "a", addAt: 0, readAt: time.Second, revived: at(time.Hour), want: nil},
			{agent: "b", addAt: 2 * time.Second, readAt: 3 * time.Second, revived: at(2 * time.Hour), want: nil},
		},
		"expired filters go": {
			{agent: "a", addAt: 0, readAt: 11 * time.Second, want: nil},
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFilterSet()
			for i, s := range steps {
				f.add("ns/fw", s.agent, now.Add(s.addAt+10*time.Second), now.Add(s.addAt))
				var got []string
				f.prune("ns/fw", s.revived, now.Add(s.readAt))
				for agent := range f.active("ns/fw") {
					got = append(got, agent)
				}
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Errorf("step %d: active agents (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// TestFilterSetActiveOnlyReads: active answers without forgetting; only
// prune drops a filter, here one that expired.
func TestFilterSetActiveOnlyReads(t *testing.T) {
	f := newFilterSet()
	f.add("ns/fw", "a", now.Add(10*time.Second), now)
	want := map[string]time.Time{"a": now.Add(10 * time.Second)}
	for i := range 2 {
		if diff := cmp.Diff(want, f.active("ns/fw")); diff != "" {
			t.Fatalf("read %d: active filters (-want +got):\n%s", i, diff)
		}
	}
	f.prune("ns/fw", nil, now.Add(11*time.Second))
	if got := f.active("ns/fw"); len(got) != 0 {
		t.Errorf("after prune past expiry, active = %v, want none", got)
	}
}
