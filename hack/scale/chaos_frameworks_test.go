package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

func TestTickets(t *testing.T) {
	tk := &tickets{target: 3}
	var got []int
	take := func() {
		if n, ok := tk.take(); ok {
			got = append(got, n)
		}
	}
	take()
	take()
	tk.refund(0) // task 0 was never created: it is handed out again
	take()
	take()
	take() // all out
	if diff := cmp.Diff([]int{0, 1, 0, 2}, got); diff != "" {
		t.Errorf("numbers (-want +got):\n%s", diff)
	}
	if !tk.exhausted() {
		t.Error("not exhausted with every number out")
	}
	tk.refund(2)
	if tk.exhausted() {
		t.Error("exhausted with a number given back")
	}
}

func TestTaskTracker(t *testing.T) {
	tr := newTaskTracker()
	task := func(name, fw string, state kov1.TaskState) *kov1.Task {
		return b.MakeTask(name, "chaos", fw).Bound("a", state).Obj()
	}
	tr.observe(task("t1", "fw", ""))
	tr.observe(task("t2", "fw", kov1.TaskPending))
	tr.observe(task("t3", "other", kov1.TaskRunning))
	if w, l := tr.counts("fw"); w != 2 || l != 2 {
		t.Errorf("fw: %d waiting, %d live; want 2, 2", w, l)
	}
	tr.observe(task("t1", "fw", kov1.TaskStaging))
	tr.observe(task("t2", "fw", kov1.TaskDropped))
	tr.observe(task("t2", "fw", kov1.TaskDropped)) // a second event for an ended task changes nothing
	if w, l := tr.counts("fw"); w != 0 || l != 1 {
		t.Errorf("fw: %d waiting, %d live; want 0, 1", w, l)
	}
	if seen, live := tr.totals(); seen != 3 || live != 2 {
		t.Errorf("%d seen, %d live; want 3, 2", seen, live)
	}
	if diff := cmp.Diff([]string{"t1", "t3"}, names(tr.liveTasks())); diff != "" {
		t.Errorf("live tasks (-want +got):\n%s", diff)
	}
}

func names(keys []types.NamespacedName) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Name
	}
	return out
}
