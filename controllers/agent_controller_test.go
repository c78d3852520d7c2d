package controllers

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

// TestAgentTaskEnd: what becomes of an agent's tasks, from the Agent and
// the verdict on its heartbeat.
func TestAgentTaskEnd(t *testing.T) {
	deleted := b.MakeAgent("a").Obj()
	deleted.DeletionTimestamp = &metav1.Time{Time: now}
	type want struct {
		state   kov1.TaskState // what a Running task of a framework that is not partition-aware becomes; "" for nothing
		reason  string
		release bool
	}
	cases := map[string]struct {
		agent    *kov1.Agent
		liveness agentLiveness
		want     want
	}{
		"reachable":                         {agent: b.MakeAgent("a").Obj(), liveness: agentReachable},
		"drained":                           {agent: b.MakeAgent("a").Maintenance(kov1.AgentMaintenanceDrain).Obj(), liveness: agentReachable},
		"down":                              {agent: b.MakeAgent("a").Maintenance(kov1.AgentMaintenanceDown).Obj(), liveness: agentReachable, want: want{state: kov1.TaskKilling, reason: kov1.TaskReasonAgentMaintenance}},
		"unreachable":                       {agent: b.MakeAgent("a").Obj(), liveness: agentUnreachable, want: want{state: kov1.TaskLost, reason: kov1.TaskReasonAgentUnreachable}},
		"unreachable and down":              {agent: b.MakeAgent("a").Maintenance(kov1.AgentMaintenanceDown).Obj(), liveness: agentUnreachable, want: want{state: kov1.TaskLost, reason: kov1.TaskReasonAgentUnreachable}},
		"unreachable past the gone timeout": {agent: b.MakeAgent("a").Obj(), liveness: agentTimedOut, want: want{state: kov1.TaskLost, reason: kov1.TaskReasonAgentRemoved, release: true}},
		"marked Gone, still reachable":      {agent: b.MakeAgent("a").Maintenance(kov1.AgentMaintenanceGone).Obj(), liveness: agentReachable, want: want{state: kov1.TaskLost, reason: kov1.TaskReasonAgentRemovedByOperator, release: true}},
		"marked Gone, timed out too":        {agent: b.MakeAgent("a").Maintenance(kov1.AgentMaintenanceGone).Obj(), liveness: agentTimedOut, want: want{state: kov1.TaskLost, reason: kov1.TaskReasonAgentRemovedByOperator, release: true}},
		"deleted":                           {agent: deleted, want: want{state: kov1.TaskLost, reason: kov1.TaskReasonAgentRemovedByOperator, release: true}},
		"no longer exists":                  {want: want{state: kov1.TaskLost, reason: kov1.TaskReasonAgentRemovedByOperator, release: true}},
	}
	running := b.MakeTask("t", "ns", "fw").Bound("a", kov1.TaskRunning).Obj()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			end := agentTaskEnd(tc.agent, tc.liveness)
			var got want
			got.release = end.releaseFinalizer
			if end.fate != nil {
				if state, reason, _, ok := end.fate(running, false); ok {
					got.state, got.reason = state, reason
				}
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("agentTaskEnd (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTaskFates: each fate on tasks in each live state, for frameworks
// that are partition-aware and not.
func TestTaskFates(t *testing.T) {
	task := func(state kov1.TaskState) *kov1.Task { return b.MakeTask("t", "ns", "fw").Bound("a", state).Obj() }
	type want struct {
		state  kov1.TaskState // "": left alone
		reason string
	}
	gone := removed(kov1.TaskReasonAgentRemovedByOperator, "was marked Gone by the operator")
	cases := map[string]struct {
		fate  taskFate
		task  *kov1.Task
		aware bool
		want  want
	}{
		"partitioned, aware: Unreachable":        {fate: partitioned, task: task(kov1.TaskRunning), aware: true, want: want{kov1.TaskUnreachable, kov1.TaskReasonAgentUnreachable}},
		"partitioned, plain: Lost":               {fate: partitioned, task: task(kov1.TaskStaging), want: want{kov1.TaskLost, kov1.TaskReasonAgentUnreachable}},
		"partitioned, already Unreachable":       {fate: partitioned, task: task(kov1.TaskUnreachable), aware: true},
		"down: Killing":                          {fate: maintenanceDown, task: task(kov1.TaskRunning), want: want{kov1.TaskKilling, kov1.TaskReasonAgentMaintenance}},
		"down, already Killing":                  {fate: maintenanceDown, task: task(kov1.TaskKilling)},
		"removed, aware: Gone":                   {fate: gone, task: task(kov1.TaskRunning), aware: true, want: want{kov1.TaskGone, kov1.TaskReasonAgentRemovedByOperator}},
		"removed, plain: Lost":                   {fate: gone, task: task(kov1.TaskStarting), want: want{kov1.TaskLost, kov1.TaskReasonAgentRemovedByOperator}},
		"removed, aware, was Unreachable: Gone":  {fate: gone, task: task(kov1.TaskUnreachable), aware: true, want: want{kov1.TaskGone, kov1.TaskReasonAgentRemovedByOperator}},
		"removed, plain, was Killing: Lost":      {fate: gone, task: task(kov1.TaskKilling), want: want{kov1.TaskLost, kov1.TaskReasonAgentRemovedByOperator}},
		"removed after the timeout, aware: Gone": {fate: removed(kov1.TaskReasonAgentRemoved, "stayed unreachable"), task: task(kov1.TaskUnreachable), aware: true, want: want{kov1.TaskGone, kov1.TaskReasonAgentRemoved}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			state, reason, msg, ok := tc.fate(tc.task, tc.aware)
			var got want
			if ok {
				got = want{state, reason}
				if msg == "" {
					t.Error("no message")
				}
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("fate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKilledFate: a torn-down framework's tasks are killed: bound ones go
// Killing for their agent to stop, unbound ones Killed at once; a task
// already Killing or being deleted is left to its agent.
func TestKilledFate(t *testing.T) {
	deleting := b.MakeTask("t", "ns", "fw").Bound("a", kov1.TaskRunning).Obj()
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	cases := map[string]struct {
		task *kov1.Task
		want kov1.TaskState // "": left alone
	}{
		"running: Killing":         {task: b.MakeTask("t", "ns", "fw").Bound("a", kov1.TaskRunning).Obj(), want: kov1.TaskKilling},
		"staging: Killing":         {task: b.MakeTask("t", "ns", "fw").Bound("a", kov1.TaskStaging).Obj(), want: kov1.TaskKilling},
		"pending: Killed":          {task: b.MakeTask("t", "ns", "fw").Obj(), want: kov1.TaskKilled},
		"already Killing":          {task: b.MakeTask("t", "ns", "fw").Bound("a", kov1.TaskKilling).Obj()},
		"being deleted":            {task: deleting},
		"unreachable: Killing too": {task: b.MakeTask("t", "ns", "fw").Bound("a", kov1.TaskUnreachable).Obj(), want: kov1.TaskKilling},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			state, reason, msg, ok := killed(kov1.TaskReasonFrameworkTornDown, "framework deleted")(tc.task, true)
			if !ok {
				state = ""
			} else if reason != kov1.TaskReasonFrameworkTornDown || msg != "framework deleted" {
				t.Errorf("reason %q, message %q: want the teardown's", reason, msg)
			}
			if state != tc.want {
				t.Errorf("state %q, want %q", state, tc.want)
			}
		})
	}
}
