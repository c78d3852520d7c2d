package v1alpha1

import "testing"

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
