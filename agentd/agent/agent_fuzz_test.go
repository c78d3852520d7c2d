package agent

import (
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// FuzzBuildPod builds the Pod of a decoded task and checks that it is
// refused exactly when the template has no containers, pins another node
// or asks for what escapes the offer (escapesOffer), and otherwise that the Pod is the task's: named and owned by it,
// labelled with it, pinned to the node, restartPolicy Never, the kill
// grace period, every container Guaranteed (requests = limits), the
// task's resources split so that the app containers and sidecars add up
// to them (CPU in millicores, the rest in base units) with every other
// resource whole on the first container, plain init containers given the
// CPU and memory, PORT variables first in every container's environment;
// and that the task is not modified.
func FuzzBuildPod(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 100, 1, 2, 2, 2, 0, 0, 0, 2, 0, 2, 1, 0, 1, 0, 0, 1}, false)
	f.Add([]byte{2, 9, 9, 1, 3, 2, 5, 2, 1, 7, 1, 0, 2, 3, 7, 2, 2, 2, 3, 3, 0, 2, 0, 2, 2, 1, 1}, true)
	f.Fuzz(func(t *testing.T, data []byte, otherNode bool) {
		task := (&fuzzInput{b: data}).task()
		before := task.DeepCopy()
		node := "node-0"
		if otherNode {
			node = "node-1"
		}
		pod, err := BuildPod(task, node)
		if !equality.Semantic.DeepEqual(before, task) {
			t.Fatal("BuildPod modified the task")
		}
		tpl := task.Spec.Template.Spec
		refuse := len(tpl.Containers) == 0 || (tpl.NodeName != "" && tpl.NodeName != node) || escapesOffer(&tpl) != ""
		if (err != nil) != refuse {
			t.Fatalf("BuildPod on %s of a template with %d containers pinned to %q: error %v", node, len(tpl.Containers), tpl.NodeName, err)
		}
		if err != nil {
			return
		}
		checkPod(t, task, node, pod)
	})
}

func checkPod(t *testing.T, task *kov1.Task, node string, pod *corev1.Pod) {
	t.Helper()
	spec := pod.Spec
	switch {
	case pod.Name != task.Name || pod.Namespace != task.Namespace:
		t.Fatalf("pod %s/%s for task %s/%s", pod.Namespace, pod.Name, task.Namespace, task.Name)
	case spec.NodeName != node || spec.RestartPolicy != corev1.RestartPolicyNever:
		t.Fatalf("pod on %q with restartPolicy %q; want %s and Never", spec.NodeName, spec.RestartPolicy, node)
	case ptr.Deref(spec.TerminationGracePeriodSeconds, -1) != ptr.Deref(task.Spec.KillGracePeriodSeconds, 30):
		t.Fatalf("grace period %v for a kill grace period of %v", spec.TerminationGracePeriodSeconds, task.Spec.KillGracePeriodSeconds)
	case len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].UID != task.UID || !ptr.Deref(pod.OwnerReferences[0].Controller, false):
		t.Fatalf("owner references %+v; want the task as controller", pod.OwnerReferences)
	case pod.Labels[kov1.LabelTask] != task.Name || pod.Labels[kov1.LabelTaskUID] != string(task.UID) ||
		pod.Labels[kov1.LabelFramework] != task.Spec.FrameworkName || pod.Labels[kov1.LabelAgent] != task.Status.AgentName:
		t.Fatalf("labels %v do not name the task, its UID, framework and agent", pod.Labels)
	case len(spec.Containers) != len(task.Spec.Template.Spec.Containers) || len(spec.InitContainers) != len(task.Spec.Template.Spec.InitContainers):
		t.Fatalf("pod has %d containers and %d init containers; the template %d and %d", len(spec.Containers), len(spec.InitContainers),
			len(task.Spec.Template.Spec.Containers), len(task.Spec.Template.Spec.InitContainers))
	}
	for k, v := range task.Spec.Template.Labels {
		if k != kov1.LabelTask && k != kov1.LabelTaskUID && k != kov1.LabelFramework && k != kov1.LabelAgent && pod.Labels[k] != v {
			t.Fatalf("template label %s=%s lost: %v", k, v, pod.Labels)
		}
	}

	var ports []string
	for _, r := range task.Spec.Ports {
		for p := r.Begin; p <= r.End; p++ {
			ports = append(ports, strconv.Itoa(int(p)))
		}
	}
	sums := corev1.ResourceList{}
	all := append(append([]corev1.Container(nil), spec.Containers...), spec.InitContainers...)
	tplAll := append(append([]corev1.Container(nil), task.Spec.Template.Spec.Containers...), task.Spec.Template.Spec.InitContainers...)
	for i, c := range all {
		req, lim := c.Resources.Requests, c.Resources.Limits
		if len(req) != len(lim) {
			t.Fatalf("container %s: requests %v, limits %v", c.Name, req, lim)
		}
		for name, q := range req {
			if l, ok := lim[name]; !ok || l.Cmp(q) != 0 {
				t.Fatalf("container %s: request %s=%s, limit %v: not Guaranteed", c.Name, name, q.String(), lim)
			}
		}
		app := i < len(spec.Containers) || isSidecar(c)
		for name, q := range req {
			whole, ok := task.Spec.Resources[name]
			switch {
			case !ok:
				t.Fatalf("container %s has %s=%s, which the task does not", c.Name, name, q.String())
			case !app && name != corev1.ResourceCPU && name != corev1.ResourceMemory:
				t.Fatalf("init container %s has %s=%s", c.Name, name, q.String())
			case !app && q.Cmp(whole) != 0:
				t.Fatalf("init container %s has %s=%s, not the task's %s", c.Name, name, q.String(), whole.String())
			case app && name != corev1.ResourceCPU && name != corev1.ResourceMemory && (i != 0 || q.Cmp(whole) != 0):
				t.Fatalf("container %s has %s=%s; the task's %s goes whole to the first container", c.Name, name, q.String(), whole.String())
			}
			if app {
				sum := sums[name]
				sum.Add(q)
				sums[name] = sum
			}
		}
		if len(c.Env) != len(envPorts(ports))+len(tplAll[i].Env) {
			t.Fatalf("container %s env %v for ports %v and template env %v", c.Name, c.Env, ports, tplAll[i].Env)
		}
		for j, e := range envPorts(ports) {
			if c.Env[j] != e {
				t.Fatalf("container %s env %v; want %v first", c.Name, c.Env, envPorts(ports))
			}
		}
	}
	for name, q := range task.Spec.Resources {
		got := sums[name]
		if name == corev1.ResourceCPU && got.MilliValue() != q.MilliValue() ||
			name == corev1.ResourceMemory && got.Value() != q.Value() ||
			name != corev1.ResourceCPU && name != corev1.ResourceMemory && got.Cmp(q) != 0 {
			t.Fatalf("containers hold %s=%s in all; the task %s", name, got.String(), q.String())
		}
	}
}

func envPorts(ports []string) []corev1.EnvVar {
	var env []corev1.EnvVar
	for i, p := range ports {
		env = append(env, corev1.EnvVar{Name: "PORT" + strconv.Itoa(i), Value: p})
	}
	if len(ports) > 0 {
		env = append(env, corev1.EnvVar{Name: "PORT", Value: ports[0]})
	}
	return env
}

// FuzzObserve maps a decoded Pod to a task state and checks that the
// state follows the phase (Unknown says nothing; Succeeded is Finished
// with exit 0; Failed is Failed with a container reason; Running is
// Running only with every container started and none waiting; anything
// else is Starting), that a state comes with a message, that an exit code
// comes only with a terminal state and an OOM reason only from an
// OOMKilled container, that the start time is the earliest container
// start (or the Pod's), and that the Pod is not modified.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 2, 3, 0, 0, 2, 2, 1, 2, 3, 0, 2, 3, 2})
	f.Add([]byte{0, 0, 0, 0, 1, 4, 2, 0, 1, 2, 3, 1, 2, 3, 3, 1, 0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		task := in.task()
		pod := in.pod(task)
		if pod == nil {
			return
		}
		before := pod.DeepCopy()
		obs := Observe(pod)
		if !equality.Semantic.DeepEqual(before, pod) {
			t.Fatal("Observe modified the Pod")
		}
		phase := pod.Status.Phase
		var want kov1.TaskState
		switch phase {
		case corev1.PodUnknown:
		case corev1.PodSucceeded:
			want = kov1.TaskFinished
		case corev1.PodFailed:
			want = kov1.TaskFailed
		case corev1.PodRunning:
			want = kov1.TaskStarting
			if obs.State == kov1.TaskRunning {
				want = kov1.TaskRunning
			}
		default:
			want = kov1.TaskStarting
		}
		oom := false
		for _, cs := range append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
			oom = oom || (cs.State.Terminated != nil && cs.State.Terminated.Reason == "OOMKilled")
		}
		switch {
		case obs.State != want:
			t.Fatalf("phase %q observed as %q", phase, obs.State)
		case obs.State != "" && obs.Message == "":
			t.Fatalf("phase %q observed as %q without a message", phase, obs.State)
		case obs.State == kov1.TaskRunning && !allStarted(pod):
			t.Fatalf("Running, though a container is waiting or has not started: %+v", pod.Status.ContainerStatuses)
		case obs.State == kov1.TaskFinished && (obs.ExitCode == nil || *obs.ExitCode != 0):
			t.Fatalf("Finished with exit code %v", obs.ExitCode)
		case obs.State == kov1.TaskFailed && obs.Reason != kov1.TaskReasonContainerFailed && obs.Reason != kov1.TaskReasonContainerOOMKilled:
			t.Fatalf("Failed with reason %q", obs.Reason)
		case obs.Reason == kov1.TaskReasonContainerOOMKilled && !oom:
			t.Fatalf("OOMKilled, though no container was: %+v", pod.Status)
		case obs.ExitCode != nil && !obs.State.IsTerminal():
			t.Fatalf("exit code %d in state %q", *obs.ExitCode, obs.State)
		}
		if obs.StartTime != nil {
			checkStartTime(t, pod, obs.StartTime)
		}
	})
}

func allStarted(pod *corev1.Pod) bool {
	if len(pod.Status.ContainerStatuses) < len(pod.Spec.Containers) {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Waiting != nil {
			return false
		}
	}
	return true
}

// checkStartTime: the start time is a container's start or the Pod's, and
// no container started earlier.
func checkStartTime(t *testing.T, pod *corev1.Pod, at *metav1.Time) {
	t.Helper()
	var starts []metav1.Time
	for _, cs := range pod.Status.ContainerStatuses {
		switch {
		case cs.State.Running != nil && !cs.State.Running.StartedAt.IsZero():
			starts = append(starts, cs.State.Running.StartedAt)
		case cs.State.Terminated != nil && !cs.State.Terminated.StartedAt.IsZero():
			starts = append(starts, cs.State.Terminated.StartedAt)
		}
	}
	if len(starts) == 0 {
		if pod.Status.StartTime == nil || !pod.Status.StartTime.Equal(at) {
			t.Fatalf("start time %v; no container started and the Pod's is %v", at, pod.Status.StartTime)
		}
		return
	}
	found := false
	for _, s := range starts {
		found = found || s.Equal(at)
		if s.Before(at) {
			t.Fatalf("start time %v, though a container started at %v", at, s)
		}
	}
	if !found {
		t.Fatalf("start time %v is no container's start %v", at, starts)
	}
}

// FuzzNext decides agentd's next step for a decoded task and Pod, then
// carries out each step as the reconciler does, in a world where nothing
// else changes, and checks every step:
//
//   - a terminal task is never reported into another state (Next never
//     goes backwards from a terminal state), and no task is reported back
//     to Pending or Staging;
//   - Launch only for a Staging task with its finalizer and no Pod;
//     AddFinalizer only for a live task without it that is not being
//     deleted; ReleaseFinalizer only for a terminal task holding it, with
//     no Pod of its own still running;
//   - StopPod only for a Pod agentd launched for a Task of this name, not
//     already being deleted: agentd never deletes a Pod it did not launch;
//   - a Pod's observation is reported only from a Pod launched for this
//     Task;
//   - the steps reach Wait (or the Task's deletion) within eight steps.
func FuzzNext(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 1, 1, 1, 0, 0, 3, 0, 2, 1, 0, 2, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		task := in.task()
		in.taskState(task)
		pod := in.pod(task)
		const node = "node-0"
		for step := 0; ; step++ {
			if step == 8 {
				t.Fatalf("no rest after 8 steps: task %s (%s), Pod %v", task.Status.State, task.Status.Reason, podSummary(pod))
			}
			act := Next(task, pod)
			checkAction(t, task, pod, act)
			now := fuzzT0.Add(time.Duration(step) * time.Second)
			switch act.Verb {
			case Wait:
				return
			case AddFinalizer:
				controllerutil.AddFinalizer(task, kov1.TaskKillFinalizer)
			case ReleaseFinalizer:
				controllerutil.RemoveFinalizer(task, kov1.TaskKillFinalizer)
				if task.DeletionTimestamp != nil {
					return // the API server deletes the Task
				}
			case StopPod:
				pod.DeletionTimestamp = &metav1.Time{Time: now}
			case Launch:
				built, err := BuildPod(task, node)
				if err != nil {
					report(task, nil, Action{State: kov1.TaskError, Reason: kov1.TaskReasonInvalid, Message: err.Error()}, node, now)
					continue
				}
				pod = built
				report(task, pod, Action{State: kov1.TaskStarting, Message: "Pod " + pod.Name + " created on node " + node}, node, now)
			case Report:
				report(task, pod, act, node, now)
			default:
				t.Fatalf("unknown verb %q", act.Verb)
			}
		}
	})
}

// report writes act into the task's status as the reconciler does.
func report(task *kov1.Task, pod *corev1.Pod, act Action, node string, now time.Time) {
	st := &task.Status
	if act.State != st.State {
		taskstatus.Transition(st, act.State, act.Reason, act.Message, now)
	} else {
		st.Reason, st.Message = act.Reason, act.Message
	}
	if pod != nil {
		st.PodName = pod.Name
	}
	if obs := act.Observation; obs != nil {
		if obs.ExitCode != nil {
			st.ExitCode = obs.ExitCode
		}
		if st.StartTime == nil && obs.StartTime != nil {
			st.StartTime = obs.StartTime
		}
	}
	if st.NodeName == "" {
		st.NodeName = node
	}
}

func checkAction(t *testing.T, task *kov1.Task, pod *corev1.Pod, act Action) {
	t.Helper()
	state := task.Status.State
	deleting := task.DeletionTimestamp != nil
	hasFinalizer := controllerutil.ContainsFinalizer(task, kov1.TaskKillFinalizer)
	ours := pod != nil && pod.Labels[kov1.LabelTaskUID] == string(task.UID)
	where := "task " + string(state) + ", Pod " + podSummary(pod)
	switch act.Verb {
	case Report:
		switch {
		case state.IsTerminal():
			t.Fatalf("%s: reported %s, out of a terminal state", where, act.State)
		case act.State == "" || act.State == kov1.TaskPending || act.State == kov1.TaskStaging:
			t.Fatalf("%s: reported %q", where, act.State)
		case act.State == kov1.TaskKilling && state == kov1.TaskKilling:
			t.Fatalf("%s: reported Killing again", where)
		case act.Observation != nil && !ours:
			t.Fatalf("%s: reported the observation of a Pod not launched for this task", where)
		}
	case Launch:
		if pod != nil || state != kov1.TaskStaging || !hasFinalizer || deleting {
			t.Fatalf("%s (finalizer %v, deleting %v): Launch", where, hasFinalizer, deleting)
		}
	case AddFinalizer:
		if hasFinalizer || state.IsTerminal() || deleting {
			t.Fatalf("%s (finalizer %v, deleting %v): AddFinalizer", where, hasFinalizer, deleting)
		}
	case ReleaseFinalizer:
		if !hasFinalizer || !state.IsTerminal() || (ours && !podDone(pod)) {
			t.Fatalf("%s (finalizer %v): ReleaseFinalizer", where, hasFinalizer)
		}
	case StopPod:
		launched := pod != nil && pod.Labels[kov1.LabelTaskUID] != "" && (ours || pod.Labels[kov1.LabelTask] == task.Name)
		if !launched || pod.DeletionTimestamp != nil {
			t.Fatalf("%s: StopPod of a Pod agentd did not launch or that is being deleted", where)
		}
	}
}

func podSummary(pod *corev1.Pod) string {
	if pod == nil {
		return "none"
	}
	s := string(pod.Status.Phase) + " " + pod.Labels[kov1.LabelTaskUID]
	if pod.DeletionTimestamp != nil {
		s += " deleting"
	}
	return s
}
