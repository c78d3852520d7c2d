package agent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

func TestNext(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	task := func(state kov1.TaskState) *b.TaskWrapper {
		return b.MakeTask("t", "ns", "fw").UID("u1").Bound("node", state).Finalizers(kov1.TaskKillFinalizer)
	}
	pod := func(phase corev1.PodPhase, statuses ...corev1.ContainerStatus) *corev1.Pod {
		p := podWith(phase, statuses...)
		p.Name, p.Labels = "t", map[string]string{kov1.LabelTask: "t", kov1.LabelTaskUID: "u1"}
		return p
	}
	deleted := func(p *corev1.Pod) *corev1.Pod { p.DeletionTimestamp = &metav1.Time{Time: now}; return p }
	stale := pod(corev1.PodRunning, running("main", now))
	stale.Labels[kov1.LabelTaskUID] = "u0"
	foreign := pod(corev1.PodRunning, running("main", now))
	foreign.Labels = map[string]string{"app": "mine"}
	// launched: agentd created the task's Pod and said so (status.podName).
	launched := func(t *kov1.Task) *kov1.Task { t.Status.PodName = "t"; return t }
	runningTask := task(kov1.TaskRunning).Obj()
	runningTask.Status.PodName, runningTask.Status.Message = "t", "Containers are running"

	cases := map[string]struct {
		task  *kov1.Task
		pod   *corev1.Pod
		verb  Verb
		state kov1.TaskState
	}{
		"staging without finalizer: finalizer first": {task: task(kov1.TaskStaging).Finalizers().Obj(), verb: AddFinalizer},
		"staging: launch":                               {task: task(kov1.TaskStaging).Obj(), verb: Launch},
		"pending: not ours yet":                         {task: task(kov1.TaskPending).Obj(), verb: Wait},
		"staging, Pod exists (launched before restart)": {task: task(kov1.TaskStaging).Obj(), pod: pod(corev1.PodPending), verb: Report, state: kov1.TaskStarting},
		"starting, containers run":                      {task: task(kov1.TaskStarting).Obj(), pod: pod(corev1.PodRunning, running("main", now)), verb: Report, state: kov1.TaskRunning},
		"running, nothing new":                          {task: runningTask, pod: pod(corev1.PodRunning, running("main", now)), verb: Wait},
		"running, exited 0":                             {task: task(kov1.TaskRunning).Obj(), pod: pod(corev1.PodSucceeded, exited("main", 0, "")), verb: Report, state: kov1.TaskFinished},
		"running, OOM":                                  {task: task(kov1.TaskRunning).Obj(), pod: pod(corev1.PodFailed, exited("main", 137, "OOMKilled")), verb: Report, state: kov1.TaskFailed},
		"running, Pod vanished":                         {task: task(kov1.TaskRunning).Obj(), verb: Report, state: kov1.TaskLost},
		"running, Pod deleted by someone":               {task: task(kov1.TaskRunning).Obj(), pod: deleted(pod(corev1.PodRunning, running("main", now))), verb: Wait},
		"unreachable, agent back, Pod runs":             {task: task(kov1.TaskUnreachable).Obj(), pod: pod(corev1.PodRunning, running("main", now)), verb: Report, state: kov1.TaskRunning},
		"unreachable, agent back, Pod gone":             {task: launched(task(kov1.TaskUnreachable).Obj()), verb: Report, state: kov1.TaskLost},
		"unreachable, agent back, never launched":       {task: task(kov1.TaskUnreachable).Obj(), verb: Report, state: kov1.TaskDropped},
		"lost, agent back, Pod still runs: stop it":     {task: task(kov1.TaskLost).Obj(), pod: pod(corev1.PodRunning, running("main", now)), verb: StopPod},
		"finished: finalizer released":                  {task: task(kov1.TaskFinished).Obj(), pod: pod(corev1.PodSucceeded), verb: ReleaseFinalizer},
		"finished, no finalizer":                        {task: task(kov1.TaskFinished).Finalizers().Obj(), pod: pod(corev1.PodSucceeded), verb: Wait},
		"deleted while running: Killing first":          {task: task(kov1.TaskRunning).Deleting(now).Obj(), pod: pod(corev1.PodRunning, running("main", now)), verb: Report, state: kov1.TaskKilling},
		"killing: stop the Pod":                         {task: task(kov1.TaskKilling).Obj(), pod: pod(corev1.PodRunning, running("main", now)), verb: StopPod},
		"killing: Pod terminating":                      {task: task(kov1.TaskKilling).Obj(), pod: deleted(pod(corev1.PodRunning)), verb: Wait},
		"killing: Pod gone → Killed":                    {task: task(kov1.TaskKilling).Obj(), verb: Report, state: kov1.TaskKilled},
		"killed and deleted: finalizer released":        {task: task(kov1.TaskKilled).Deleting(now).Obj(), verb: ReleaseFinalizer},
		"deleted while staging, never launched":         {task: task(kov1.TaskKilling).Deleting(now).Obj(), verb: Report, state: kov1.TaskKilled},
		"Pod of an earlier Task of the same name":       {task: task(kov1.TaskStaging).Obj(), pod: stale, verb: StopPod},
		"earlier Pod terminating":                       {task: task(kov1.TaskStaging).Obj(), pod: deleted(stale.DeepCopy()), verb: Wait},
		"name taken by a foreign Pod":                   {task: task(kov1.TaskStaging).Obj(), pod: foreign, verb: Report, state: kov1.TaskError},
		"running, Pod replaced by a foreign one":        {task: task(kov1.TaskRunning).Obj(), pod: foreign, verb: Report, state: kov1.TaskLost},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Next(tc.task, tc.pod)
			if got.Verb != tc.verb || got.State != tc.state {
				t.Errorf("Next = %s %s; want %s %s", got.Verb, got.State, tc.verb, tc.state)
			}
		})
	}
}

// TestNextNeverLaunched: a task bound while its agent was already cut off
// (Staging, then Unreachable) was never launched; when the agent is back it
// is Dropped, reason NotLaunched, as a Mesos agent answers TASK_DROPPED for
// a partition-aware framework's task it never received — not Lost with a
// Pod that "vanished". Found by the chaos run (hack/scale chaos).
func TestNextNeverLaunched(t *testing.T) {
	tk := b.MakeTask("t", "ns", "fw").UID("u1").Bound("node", kov1.TaskUnreachable).Finalizers(kov1.TaskKillFinalizer).Obj()
	got := Next(tk, nil)
	if got.Verb != Report || got.State != kov1.TaskDropped || got.Reason != kov1.TaskReasonNotLaunched {
		t.Errorf("Next = %s %s (%s); want Report Dropped (NotLaunched)", got.Verb, got.State, got.Reason)
	}
}

// TestNextKillKeepsReason: a task killed by its framework's teardown or by
// maintenance stays Killed with that reason, not KilledByRequest.
func TestNextKillKeepsReason(t *testing.T) {
	tk := b.MakeTask("t", "ns", "fw").UID("u1").Bound("node", kov1.TaskKilling).Finalizers(kov1.TaskKillFinalizer).Obj()
	tk.Status.Reason = kov1.TaskReasonFrameworkTornDown
	if got := Next(tk, nil); got.State != kov1.TaskKilled || got.Reason != kov1.TaskReasonFrameworkTornDown {
		t.Errorf("Next = %s %s; want Killed FrameworkTornDown", got.State, got.Reason)
	}
}
