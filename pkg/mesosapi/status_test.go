package mesosapi

import (
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// mesosTask is a Task of Mesos task ids with the given history (one
// transition a second).
func mesosTask(ids string, states ...kov1.TaskState) *kov1.Task {
	tk := b.MakeTask("fw."+strings.Split(ids, ",")[0], "ns", "fw").Obj()
	tk.UID = types.UID("uid-1")
	list := `["` + strings.Join(strings.Split(ids, ","), `","`) + `"]`
	tk.Annotations = map[string]string{AnnotationTaskIDs: list}
	for i, s := range states {
		tk.Status.History = append(tk.Status.History, kov1.TaskTransition{State: s, Time: metav1.NewTime(t0.Add(time.Duration(i) * time.Second))})
		tk.Status.State = s
	}
	if len(states) > 1 {
		tk.Status.AgentName = "node-1"
	}
	return tk
}

func statesOf(us []Update) []mesospb.TaskState {
	var out []mesospb.TaskState
	for _, u := range us {
		out = append(out, u.Status.GetState())
	}
	return out
}

func TestUpdates(t *testing.T) {
	S := func(s ...mesospb.TaskState) []mesospb.TaskState { return s }
	cases := map[string]struct {
		states []kov1.TaskState
		caps   Capabilities
		want   []mesospb.TaskState
	}{
		"a task that finished": {states: []kov1.TaskState{kov1.TaskPending, kov1.TaskStaging, kov1.TaskStarting, kov1.TaskRunning, kov1.TaskFinished},
			want: S(mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FINISHED)},
		"killed, without TASK_KILLING_STATE": {states: []kov1.TaskState{kov1.TaskPending, kov1.TaskStaging, kov1.TaskRunning, kov1.TaskKilling, kov1.TaskKilled},
			want: S(mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_KILLED)},
		"killed, with TASK_KILLING_STATE": {states: []kov1.TaskState{kov1.TaskRunning, kov1.TaskKilling, kov1.TaskKilled}, caps: Capabilities{TaskKillingState: true},
			want: S(mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_KILLING, mesospb.TaskState_TASK_KILLED)},
		"dropped, not partition-aware: LOST": {states: []kov1.TaskState{kov1.TaskPending, kov1.TaskDropped},
			want: S(mesospb.TaskState_TASK_LOST)},
		"dropped, partition-aware": {states: []kov1.TaskState{kov1.TaskPending, kov1.TaskDropped}, caps: Capabilities{PartitionAware: true},
			want: S(mesospb.TaskState_TASK_DROPPED)},
		"unreachable and back, partition-aware": {states: []kov1.TaskState{kov1.TaskRunning, kov1.TaskUnreachable, kov1.TaskRunning}, caps: Capabilities{PartitionAware: true},
			want: S(mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_UNREACHABLE, mesospb.TaskState_TASK_RUNNING)},
		"nothing reported yet": {states: []kov1.TaskState{kov1.TaskPending, kov1.TaskStaging}},
	}
	for name, c := range cases {
		tk := mesosTask("t1", c.states...)
		got := Updates(tk, c.caps)["t1"]
		if diff := cmp.Diff(c.want, statesOf(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		seen := map[string]bool{}
		for _, u := range got {
			id := hex.EncodeToString(u.Status.GetUuid())
			if len(u.Status.GetUuid()) != 16 || seen[id] {
				t.Errorf("%s: uuid %s is not 16 unique bytes", name, id)
			}
			seen[id] = true
		}
	}
	// Deterministic: another replica computes the same uuids.
	a, c := Updates(mesosTask("t1", kov1.TaskRunning), Capabilities{}), Updates(mesosTask("t1", kov1.TaskRunning), Capabilities{})
	if string(a["t1"][0].Status.GetUuid()) != string(c["t1"][0].Status.GetUuid()) {
		t.Error("uuids differ between two computations")
	}
}

func TestPendingAndAcknowledge(t *testing.T) {
	tk := mesosTask("t1,t2", kov1.TaskPending, kov1.TaskStaging, kov1.TaskStarting, kov1.TaskRunning, kov1.TaskFinished)
	caps := Capabilities{}
	var sent []string
	for range 10 {
		p := Pending(tk, caps)
		if len(p) == 0 {
			break
		}
		for _, u := range p {
			sent = append(sent, u.TaskID+":"+u.Status.GetState().String())
			v, ok := Acknowledge(tk, caps, u.TaskID, u.Status.GetUuid())
			if !ok {
				t.Fatalf("acknowledging %s's %s failed", u.TaskID, u.Status.GetState())
			}
			tk.Annotations[AnnotationAcknowledged] = v
			if _, again := Acknowledge(tk, caps, u.TaskID, u.Status.GetUuid()); again {
				t.Errorf("a second acknowledgement of %s's %s changed something", u.TaskID, u.Status.GetState())
			}
		}
	}
	want := []string{"t1:TASK_STARTING", "t2:TASK_STARTING", "t1:TASK_RUNNING", "t2:TASK_RUNNING", "t1:TASK_FINISHED", "t2:TASK_FINISHED"}
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("updates of a task group, oldest first, one at a time per task (-want +got):\n%s", diff)
	}
	if _, ok := Acknowledge(tk, caps, "t1", make([]byte, 16)); ok {
		t.Error("an unknown uuid was acknowledged")
	}
	// An acknowledged key that fell out of the bounded history: the first
	// update after its time is next.
	old := mesosTask("t1", kov1.TaskStarting, kov1.TaskRunning, kov1.TaskFinished)
	old.Annotations[AnnotationAcknowledged] = `{"t1":"` + strconv.FormatInt(t0.Unix(), 10) + `/Gone"}`
	if p := Pending(old, caps); len(p) != 1 || p[0].Status.GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Errorf("after an acknowledgement out of history: %v", statesOf(p))
	}
}

func TestReconciliationStatuses(t *testing.T) {
	tk := mesosTask("t1", kov1.TaskPending)
	tk.Status.Reason, tk.Status.Message = kov1.TaskReasonWaitingForOffer, "waiting"
	st := Latest(tk, Capabilities{}, "t1")
	if st.GetState() != mesospb.TaskState_TASK_STAGING || st.GetReason() != mesospb.TaskStatus_REASON_RECONCILIATION || st.Uuid != nil ||
		st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER {
		t.Errorf("a pending task reconciles as %v", st)
	}
	for caps, want := range map[Capabilities]mesospb.TaskState{{}: mesospb.TaskState_TASK_LOST, {PartitionAware: true}: mesospb.TaskState_TASK_UNKNOWN} {
		if got := Unknown("x", "", caps, t0); got.GetState() != want || got.Uuid != nil {
			t.Errorf("an unknown task for %+v: %v", caps, got)
		}
	}
	if got := Refused("x", mesospb.TaskState_TASK_DROPPED, mesospb.TaskStatus_REASON_INVALID_OFFERS, "m", Capabilities{}, t0); got.GetState() != mesospb.TaskState_TASK_LOST {
		t.Errorf("a refused launch of a framework that is not partition-aware: %v", got)
	}
	failed := mesosTask("t1", kov1.TaskRunning, kov1.TaskFailed)
	failed.Status.History[1].Reason = kov1.TaskReasonContainerOOMKilled
	u := Updates(failed, Capabilities{})["t1"][1]
	if u.Status.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY || u.Status.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR ||
		u.Status.GetAgentId().GetValue() != "node-1" {
		t.Errorf("an OOM-killed task's update: %v", u.Status)
	}
}
