package v1alpha1

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
