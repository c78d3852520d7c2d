package v1alpha1

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTaskStateIsTerminal(t *testing.T) {
	terminal := map[TaskState]bool{
		TaskPending: false, TaskStaging: false, TaskStarting: false, TaskRunning: false,
		TaskKilling: false, TaskUnreachable: false,
		TaskFinished: true, TaskFailed: true, TaskKilled: true, TaskError: true,
		TaskLost: true, TaskDropped: true, TaskGone: true,
	}
	for state, want := range terminal {
		if got := state.IsTerminal(); got != want {
			t.Errorf("%s.IsTerminal() = %v, want %v", state, got, want)
		}
	}
}

func TestPortRangeSize(t *testing.T) {
	cases := map[string]struct {
		r    PortRange
		want int64
	}{
		"one port":      {PortRange{Begin: 80, End: 80}, 1},
		"mesos default": {PortRange{Begin: 31000, End: 32000}, 1001},
		"backwards":     {PortRange{Begin: 10, End: 9}, 0},
	}
	for name, tc := range cases {
		if got := tc.r.Size(); got != tc.want {
			t.Errorf("%s: Size() = %d, want %d", name, got, tc.want)
		}
	}
}

func TestTaskCharged(t *testing.T) {
	q := resource.MustParse
	task := &Task{Spec: TaskSpec{Resources: corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi")}}}
	if got := task.Charged(); got.Cpu().Cmp(q("1")) != 0 || got.Memory().Cmp(q("1Gi")) != 0 {
		t.Errorf("without overhead: Charged() = %v, want the resources", got)
	}
	task.Status.Overhead = corev1.ResourceList{"cpu": q("250m"), "memory": q("64Mi")}
	got := task.Charged()
	if got.Cpu().Cmp(q("1250m")) != 0 || got.Memory().Cmp(q("1088Mi")) != 0 {
		t.Errorf("with overhead: Charged() = %v, want 1250m cpu and 1088Mi", got)
	}
	if task.Spec.Resources.Cpu().Cmp(q("1")) != 0 {
		t.Errorf("Charged() changed spec.resources to %v", task.Spec.Resources)
	}
}

// TestFrameworkKey: a framework, its tasks and its offers agree on its key,
// and a framework of the same name in another namespace is another key.
func TestFrameworkKey(t *testing.T) {
	f := &Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "spark"}}
	task := &Task{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "t1"}, Spec: TaskSpec{FrameworkName: "spark"}}
	offer := &ResourceOffer{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "o1"}, Spec: ResourceOfferSpec{FrameworkName: "spark"}}
	other := &Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "spark"}}
	if task.FrameworkKey() != f.Key() || offer.FrameworkKey() != f.Key() {
		t.Errorf("task key %v and offer key %v, want the framework's %v", task.FrameworkKey(), offer.FrameworkKey(), f.Key())
	}
	if other.Key() == f.Key() {
		t.Errorf("frameworks in two namespaces share the key %v", f.Key())
	}
	if got, want := f.Key().String(), "team-a/spark"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := f.Key().NamespacedName().String(), "team-a/spark"; got != want {
		t.Errorf("NamespacedName() = %q, want %q", got, want)
	}
}
