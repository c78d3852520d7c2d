package allocation

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

func TestStatusPaceDue(t *testing.T) {
	cases := map[string]struct {
		interval time.Duration
		written  map[types.UID]time.Time
		urgent   bool
		want     bool
	}{
		"no interval: every change":        {written: map[types.UID]time.Time{"u": now}, want: true},
		"never written by this master":     {interval: time.Second, want: true},
		"written half an interval ago":     {interval: time.Second, written: map[types.UID]time.Time{"u": now.Add(-500 * time.Millisecond)}},
		"written an interval ago":          {interval: time.Second, written: map[types.UID]time.Time{"u": now.Add(-time.Second)}, want: true},
		"urgent, written just now":         {interval: time.Second, written: map[types.UID]time.Time{"u": now}, urgent: true, want: true},
		"the clock went back past a write": {interval: time.Second, written: map[types.UID]time.Time{"u": now.Add(time.Minute)}, want: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newStatusPace(tc.interval)
			for uid, at := range tc.written {
				s.wrote(uid, at)
			}
			if got := s.due("u", tc.urgent, now); got != tc.want {
				t.Errorf("due = %v, want %v", got, tc.want)
			}
		})
	}
	var none *statusPace
	if !none.due("u", false, now) {
		t.Errorf("a nil pace held a write back")
	}
}

// TestPlanStatusPaced: once a framework's and a role's status are written,
// a change of their usage alone waits out the interval; a change of a
// role's conditions or observed generation does not.
func TestPlanStatusPaced(t *testing.T) {
	fw := sdkFramework("fw")
	fw.UID = "uid-fw"
	role := b.MakeRole(kov1.DefaultRole).Obj()
	role.UID = "uid-role"
	objs := []client.Object{agent("a1", "4", "8Gi"), fw, role, task("t1", "fw", "1", "1Gi", time.Minute).Bound("a1", kov1.TaskRunning).Obj()}
	cases := map[string]struct {
		sinceWrite time.Duration
		// bump raises the role's generation, which its observed generation
		// then follows.
		bump bool
		want []string
	}{
		"usage written half an interval ago is held back": {sinceWrite: 500 * time.Millisecond},
		"usage written an interval ago is written":        {sinceWrite: time.Second, want: []string{"patch status Framework fw", "patch status Role default"}},
		"a role's new generation is written at once":      {sinceWrite: 0, bump: true, want: []string{"patch status Role default"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := testPass(newTestLoop(&recordingWriter{}, &eventLog{}, Options{}), objs...)
			for _, x := range planStatus(p, conditionMemo{}, nil).patches {
				p.w.add(x.next)
			}
			// A second task starts: both usages change.
			p.w.add(task("t2", "fw", "1", "1Gi", time.Minute).Bound("a1", kov1.TaskRunning).Obj())
			if tc.bump {
				r := p.w.roles[kov1.DefaultRole].DeepCopy()
				r.Generation++
				p.w.add(r)
			}
			p.l = buildLedger(p.w, options{}, func(string) map[string]time.Time { return nil }, nil)
			pace := newStatusPace(time.Second)
			pace.wrote(fw.UID, now.Add(-tc.sinceWrite))
			pace.wrote(role.UID, now.Add(-tc.sinceWrite))
			if diff := cmp.Diff(tc.want, renderPlan(planStatus(p, conditionMemo{}, pace))); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPassPacesStatus: the loop remembers when it wrote a status, and
// forgets the objects that are gone.
func TestPassPacesStatus(t *testing.T) {
	fw := sdkFramework("fw")
	fw.UID = "uid-fw"
	w := &recordingWriter{}
	l := newTestLoop(w, &eventLog{}, Options{StatusUpdateInterval: time.Second, AllocationInterval: time.Second})
	p := testPass(l, agent("a1", "4", "8Gi"), fw, task("t1", "fw", "1", "1Gi", time.Minute).Bound("a1", kov1.TaskRunning).Obj())
	l.apply(context.Background(), p, l.planStatus(p))
	if got, wrote := l.pace.written[fw.UID]; !wrote || !got.Equal(now) {
		t.Fatalf("pace after the write: %v, %v; want %v", got, wrote, now)
	}
	delete(p.w.frameworks, fw.Key())
	l.planStatus(p)
	if _, kept := l.pace.written[fw.UID]; kept {
		t.Errorf("pace still holds a framework that is gone")
	}
}
