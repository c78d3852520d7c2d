package mesosapi

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
)

// MesosState is the Mesos task state a framework sees for a kubeoffer
// task state, and whether a status update is sent when a task enters it.
// Pending and Staging are TASK_STAGING, which Mesos never sends as an
// update; Killing is TASK_KILLING for frameworks with the
// TASK_KILLING_STATE capability and unreported (still TASK_RUNNING) for
// others; a framework that is not PARTITION_AWARE sees Dropped, Unreachable
// and Gone as TASK_LOST, as in Mesos.
func MesosState(s kov1.TaskState, caps Capabilities) (mesospb.TaskState, bool) {
	switch s {
	case kov1.TaskPending, kov1.TaskStaging, "":
		return mesospb.TaskState_TASK_STAGING, false
	case kov1.TaskStarting:
		return mesospb.TaskState_TASK_STARTING, true
	case kov1.TaskRunning:
		return mesospb.TaskState_TASK_RUNNING, true
	case kov1.TaskKilling:
		if caps.TaskKillingState {
			return mesospb.TaskState_TASK_KILLING, true
		}
		return mesospb.TaskState_TASK_RUNNING, false
	case kov1.TaskFinished:
		return mesospb.TaskState_TASK_FINISHED, true
	case kov1.TaskFailed:
		return mesospb.TaskState_TASK_FAILED, true
	case kov1.TaskKilled:
		return mesospb.TaskState_TASK_KILLED, true
	case kov1.TaskError:
		return mesospb.TaskState_TASK_ERROR, true
	case kov1.TaskLost:
		return mesospb.TaskState_TASK_LOST, true
	case kov1.TaskDropped:
		return partitioned(mesospb.TaskState_TASK_DROPPED, caps), true
	case kov1.TaskUnreachable:
		return partitioned(mesospb.TaskState_TASK_UNREACHABLE, caps), true
	case kov1.TaskGone:
		return partitioned(mesospb.TaskState_TASK_GONE, caps), true
	}
	return mesospb.TaskState_TASK_LOST, true
}

func partitioned(s mesospb.TaskState, caps Capabilities) mesospb.TaskState {
	if caps.PartitionAware {
		return s
	}
	return mesospb.TaskState_TASK_LOST
}

// IsTerminal reports whether a Mesos task state is terminal.
func IsTerminal(s mesospb.TaskState) bool {
	switch s {
	case mesospb.TaskState_TASK_FINISHED, mesospb.TaskState_TASK_FAILED, mesospb.TaskState_TASK_KILLED,
		mesospb.TaskState_TASK_ERROR, mesospb.TaskState_TASK_LOST, mesospb.TaskState_TASK_DROPPED,
		mesospb.TaskState_TASK_GONE, mesospb.TaskState_TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// mesosReasons maps kubeoffer's task reasons to Mesos's.
var mesosReasons = map[string]mesospb.TaskStatus_Reason{
	kov1.TaskReasonOfferNotFound:         mesospb.TaskStatus_REASON_INVALID_OFFERS,
	kov1.TaskReasonOfferExpired:          mesospb.TaskStatus_REASON_INVALID_OFFERS,
	kov1.TaskReasonOfferNotOwned:         mesospb.TaskStatus_REASON_INVALID_OFFERS,
	kov1.TaskReasonInsufficientResources: mesospb.TaskStatus_REASON_TASK_INVALID,
	kov1.TaskReasonFrameworkNotFound:     mesospb.TaskStatus_REASON_INVALID_FRAMEWORKID,
	kov1.TaskReasonFrameworkTornDown:     mesospb.TaskStatus_REASON_FRAMEWORK_REMOVED,
	kov1.TaskReasonInvalid:               mesospb.TaskStatus_REASON_TASK_INVALID,
	kov1.TaskReasonPodRejected:           mesospb.TaskStatus_REASON_TASK_UNAUTHORIZED,
	kov1.TaskReasonContainerOOMKilled:    mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY,
	kov1.TaskReasonContainerFailed:       mesospb.TaskStatus_REASON_COMMAND_EXECUTOR_FAILED,
	kov1.TaskReasonAgentUnreachable:      mesospb.TaskStatus_REASON_AGENT_REMOVED,
	kov1.TaskReasonAgentMaintenance:      mesospb.TaskStatus_REASON_AGENT_DRAINING,
	kov1.TaskReasonPodVanished:           mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED,
}

// masterReasons are the reasons the master (not the task's agent) decides.
var masterReasons = map[string]bool{
	kov1.TaskReasonOfferNotFound: true, kov1.TaskReasonOfferExpired: true, kov1.TaskReasonOfferNotOwned: true,
	kov1.TaskReasonInsufficientResources: true, kov1.TaskReasonFrameworkNotFound: true, kov1.TaskReasonInvalid: true,
	kov1.TaskReasonAgentUnreachable: true,
}

// source says who produced a state, as Mesos's TaskStatus.source does.
func source(state kov1.TaskState, reason string) mesospb.TaskStatus_Source {
	switch {
	case masterReasons[reason], state == kov1.TaskDropped, state == kov1.TaskLost, state == kov1.TaskUnreachable, state == kov1.TaskGone,
		state == kov1.TaskPending:
		return mesospb.TaskStatus_SOURCE_MASTER
	case state == kov1.TaskError, state == kov1.TaskStaging:
		return mesospb.TaskStatus_SOURCE_AGENT
	}
	return mesospb.TaskStatus_SOURCE_EXECUTOR
}

// Update is one status update of one Mesos task, made from one transition
// of its Task's history.
type Update struct {
	// TaskID is the Mesos task id.
	TaskID string
	// Key names the transition: "<unix seconds>/<kubeoffer state>". It is
	// what AnnotationAcknowledged records.
	Key string
	// Status is the update, with its uuid.
	Status *mesospb.TaskStatus
}

// UpdateKey is the key of a history entry.
func UpdateKey(tr kov1.TaskTransition) string {
	return strconv.FormatInt(tr.Time.Unix(), 10) + "/" + string(tr.State)
}

// UUID is the status update uuid of a task's transition: derived from the
// Task's UID, the Mesos task id and the transition, so that every replica,
// and a restarted one, gives an update the same uuid, and the framework's
// acknowledgement finds it.
func UUID(t *kov1.Task, taskID, key string) []byte {
	sum := sha256.Sum256([]byte(string(t.UID) + "/" + taskID + "/" + key))
	u := sum[:16]
	u[6] = (u[6] & 0x0f) | 0x50 // a name-based (version 5 layout) UUID
	u[8] = (u[8] & 0x3f) | 0x80
	return u
}

// Updates lists the status updates of every Mesos task of t, oldest first
// per task: one for each transition of t's history into a state Mesos
// reports (see MesosState), skipping repeats of the same Mesos state and
// stopping at the first terminal one. The tasks of a group share their
// Task's states.
func Updates(t *kov1.Task, caps Capabilities) map[string][]Update {
	ids := TaskIDs(t)
	out := map[string][]Update{}
	executor := t.Annotations[AnnotationExecutorID]
	for _, id := range ids {
		var list []Update
		last := mesospb.TaskState(-1)
		for _, tr := range t.Status.History {
			ms, reported := MesosState(tr.State, caps)
			if !reported || ms == last {
				continue
			}
			last = ms
			key := UpdateKey(tr)
			st := status(t, id, executor, ms, tr.State, tr.Reason, tr.Message, tr.Time.Time)
			st.Uuid = UUID(t, id, key)
			list = append(list, Update{TaskID: id, Key: key, Status: st})
			if IsTerminal(ms) {
				break
			}
		}
		out[id] = list
	}
	return out
}

// status builds a TaskStatus.
func status(t *kov1.Task, id, executor string, ms mesospb.TaskState, state kov1.TaskState, reason, msg string, at time.Time) *mesospb.TaskStatus {
	st := &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String(id)}, State: ms.Enum(),
		Source: source(state, reason).Enum()}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	if r, ok := mesosReasons[reason]; ok {
		st.Reason = r.Enum()
	}
	if a := t.Status.AgentName; a != "" {
		st.AgentId = &mesospb.AgentID{Value: proto.String(a)}
	}
	if executor != "" {
		st.ExecutorId = &mesospb.ExecutorID{Value: proto.String(executor)}
	}
	if !at.IsZero() {
		st.Timestamp = proto.Float64(float64(at.UnixNano()) / 1e9)
	}
	return st
}

// Acknowledged reads a Task's AnnotationAcknowledged.
func Acknowledged(t *kov1.Task) map[string]string {
	m := map[string]string{}
	if v, ok := t.Annotations[AnnotationAcknowledged]; ok {
		_ = json.Unmarshal([]byte(v), &m) // malformed: nothing acknowledged, updates are resent
	}
	return m
}

// Pending returns, per Mesos task of t, the oldest status update the
// framework has not acknowledged (Mesos sends a task's next update only
// once the one before is acknowledged).
func Pending(t *kov1.Task, caps Capabilities) []Update {
	acked := Acknowledged(t)
	all := Updates(t, caps)
	var out []Update
	for _, id := range TaskIDs(t) {
		if u, ok := nextUnacked(all[id], acked[id]); ok {
			out = append(out, u)
		}
	}
	return out
}

// nextUnacked is the update after the acknowledged one (by key; when the
// key fell out of the bounded history, the first update after its time).
func nextUnacked(list []Update, acked string) (Update, bool) {
	if acked == "" {
		if len(list) == 0 {
			return Update{}, false
		}
		return list[0], true
	}
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Key == acked {
			if i+1 < len(list) {
				return list[i+1], true
			}
			return Update{}, false
		}
	}
	ackedAt, _, _ := strings.Cut(acked, "/")
	at, err := strconv.ParseInt(ackedAt, 10, 64)
	if err != nil {
		return Update{}, false
	}
	for _, u := range list {
		if k, _, _ := strings.Cut(u.Key, "/"); mustInt(k) > at {
			return u, true
		}
	}
	return Update{}, false
}

func mustInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64) // keys are written by UpdateKey
	return n
}

// Acknowledge finds the update of Mesos task id with uuid and returns the
// new AnnotationAcknowledged value, or false when the uuid names no update
// of the task, or one already acknowledged.
func Acknowledge(t *kov1.Task, caps Capabilities, id string, uuid []byte) (string, bool) {
	list := Updates(t, caps)[id]
	acked := Acknowledged(t)
	cur := -1
	for i, u := range list {
		if u.Key == acked[id] {
			cur = i
		}
	}
	for i, u := range list {
		if string(u.Status.GetUuid()) == string(uuid) {
			if i <= cur {
				return "", false
			}
			acked[id] = u.Key
			b, _ := json.Marshal(acked) // a map of strings always marshals
			return string(b), true
		}
	}
	return "", false
}

// Latest is the current status of Mesos task id of t, as reconciliation
// answers it: no uuid (it needs no acknowledgement), reason
// REASON_RECONCILIATION.
func Latest(t *kov1.Task, caps Capabilities, id string) *mesospb.TaskStatus {
	ms, _ := MesosState(t.Status.State, caps)
	var at time.Time
	if n := len(t.Status.History); n > 0 {
		at = t.Status.History[n-1].Time.Time
	}
	st := status(t, id, t.Annotations[AnnotationExecutorID], ms, t.Status.State, t.Status.Reason, t.Status.Message, at)
	st.Reason = mesospb.TaskStatus_REASON_RECONCILIATION.Enum()
	return st
}

// Unknown is the reconciliation answer for a task kubeoffer does not know:
// TASK_UNKNOWN for a partition-aware framework, TASK_LOST for others, as
// in Mesos.
func Unknown(id, agent string, caps Capabilities, now time.Time) *mesospb.TaskStatus {
	state := mesospb.TaskState_TASK_LOST
	if caps.PartitionAware {
		state = mesospb.TaskState_TASK_UNKNOWN
	}
	st := &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String(id)}, State: state.Enum(),
		Source: mesospb.TaskStatus_SOURCE_MASTER.Enum(), Reason: mesospb.TaskStatus_REASON_RECONCILIATION.Enum(),
		Message: proto.String(fmt.Sprintf("task %s is unknown to kubeoffer", id)), Timestamp: proto.Float64(float64(now.UnixNano()) / 1e9)}
	if agent != "" {
		st.AgentId = &mesospb.AgentID{Value: proto.String(agent)}
	}
	return st
}

// Refused is the status update for a task kubeoffer refused before making
// it a Task (an invalid TaskInfo, a used or unknown offer): state
// (TASK_ERROR, or TASK_DROPPED/TASK_LOST), reason, and a message saying
// why. It carries no uuid: like Mesos's master-generated updates, it is
// sent once.
func Refused(id string, state mesospb.TaskState, reason mesospb.TaskStatus_Reason, msg string, caps Capabilities, now time.Time) *mesospb.TaskStatus {
	if state == mesospb.TaskState_TASK_DROPPED && !caps.PartitionAware {
		state = mesospb.TaskState_TASK_LOST
	}
	return &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String(id)}, State: state.Enum(),
		Source: mesospb.TaskStatus_SOURCE_MASTER.Enum(), Reason: reason.Enum(), Message: proto.String(msg),
		Timestamp: proto.Float64(float64(now.UnixNano()) / 1e9)}
}
