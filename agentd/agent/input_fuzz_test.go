package agent

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// fuzzInput reads a fuzzer's bytes as a stream of small decisions. Past the
// end every read is zero, so every byte string decodes to some input and
// the same bytes always decode to the same input; zero bytes decode to the
// common case.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) intn(n int) int {
	if n <= 1 {
		return 0
	}
	return int(in.byte()) % n
}

// rare is true for one byte value in k.
func (in *fuzzInput) rare(k int) bool { return int(in.byte())%k == k-1 }

func pick[T any](in *fuzzInput, xs ...T) T { return xs[in.intn(len(xs))] }

var fuzzT0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func (in *fuzzInput) time() metav1.Time {
	return metav1.Time{Time: fuzzT0.Add(time.Duration(in.intn(5)) * time.Second)}
}

// quantity returns a non-negative quantity of the kind the API admits for
// name: CPU in millicores or cores, sub-millicore included; the rest in
// bytes or counts, plain or with a suffix.
func (in *fuzzInput) quantity(name corev1.ResourceName) resource.Quantity {
	if name == corev1.ResourceCPU {
		switch in.byte() % 6 {
		case 0:
			return resource.MustParse("1500m")
		case 1:
			return resource.MustParse(pick(in, "1", "2.5", "0.0001", "100m", "3"))
		case 2:
			return *resource.NewMilliQuantity(int64(in.byte())*int64(in.byte()+1), resource.DecimalSI)
		default:
			return *resource.NewMilliQuantity(int64(in.byte()), resource.DecimalSI)
		}
	}
	switch in.byte() % 5 {
	case 0:
		return resource.MustParse("1Gi")
	case 1:
		return resource.MustParse(pick(in, "100M", "1", "3", "64Mi", "1.5Gi", "7"))
	default:
		return *resource.NewQuantity(int64(in.byte())<<uint(in.intn(40)), resource.BinarySI)
	}
}

// task decodes a Task named t with UID u1, bound to node-0 (agent a0),
// with a template of up to three containers and two init containers
// (some sidecars), resources, ports and a kill grace period.
func (in *fuzzInput) task() *kov1.Task {
	t := &kov1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "ns", UID: "u1"},
		Spec:       kov1.TaskSpec{FrameworkName: "fw", OfferName: "o1", Resources: corev1.ResourceList{}},
		Status:     kov1.TaskStatus{AgentName: "a0", NodeName: "node-0"},
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, "nvidia.com/gpu"} {
		if !in.rare(3) {
			t.Spec.Resources[name] = in.quantity(name)
		}
	}
	for k := in.intn(3); k > 0; k-- {
		b := int32(1 + in.intn(65535))
		if in.rare(4) {
			b = 65535 - int32(in.intn(4))
		}
		t.Spec.Ports = append(t.Spec.Ports, kov1.PortRange{Begin: b, End: min(65535, b+int32(in.intn(4)))})
	}
	if in.rare(3) {
		t.Spec.KillGracePeriodSeconds = ptr.To(int64(in.intn(4) * 10))
	}
	tpl := &t.Spec.Template
	if in.rare(3) {
		tpl.Labels = map[string]string{"app": "web", kov1.LabelAgent: "spoofed"}
	}
	if in.rare(3) {
		tpl.Annotations = map[string]string{"note": "x"}
	}
	tpl.Spec.NodeName = pick(in, "", "", "", "node-0", "node-1")
	for i, k := 0, 1+in.intn(3); i < k; i++ {
		if i == 0 && in.rare(8) {
			break // no containers: invalid, refused by the CRD
		}
		c := corev1.Container{Name: fmt.Sprintf("c%d", i), Image: "busybox"}
		if in.rare(3) {
			c.Env = []corev1.EnvVar{{Name: "MODE", Value: "x"}}
		}
		if in.rare(3) {
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64")}
		}
		tpl.Spec.Containers = append(tpl.Spec.Containers, c)
	}
	for i, k := 0, in.intn(3); i < k; i++ {
		c := corev1.Container{Name: fmt.Sprintf("init%d", i), Image: "busybox"}
		if in.rare(2) {
			c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}
		tpl.Spec.InitContainers = append(tpl.Spec.InitContainers, c)
	}
	return t
}

var fuzzStates = []kov1.TaskState{
	kov1.TaskStaging, kov1.TaskStarting, kov1.TaskRunning, kov1.TaskKilling, kov1.TaskPending, kov1.TaskUnreachable,
	kov1.TaskFinished, kov1.TaskFailed, kov1.TaskKilled, kov1.TaskError, kov1.TaskLost, kov1.TaskDropped, kov1.TaskGone,
}

// taskState gives t a status as the master and agentd write them: a
// state, perhaps a reason and message, a Pod name, an exit code only in a
// terminal state; the kill finalizer, perhaps a deletion.
func (in *fuzzInput) taskState(t *kov1.Task) {
	st := &t.Status
	st.State = fuzzStates[in.intn(len(fuzzStates))]
	st.Reason = pick(in, "", "", kov1.TaskReasonKilledByRequest, kov1.TaskReasonContainerFailed, kov1.TaskReasonAgentUnreachable)
	st.Message = pick(in, "", "Containers are running", "Pod t created on node node-0", "Containers are starting")
	if in.rare(2) {
		st.PodName = "t"
	}
	if st.State.IsTerminal() && in.rare(2) {
		st.ExitCode = ptr.To(pick[int32](in, 0, 1, 137))
	}
	if !in.rare(4) {
		t.Finalizers = []string{kov1.TaskKillFinalizer}
	}
	if in.rare(4) {
		t.DeletionTimestamp = ptr.To(in.time())
	}
}

// pod decodes the task's Pod as the API server might have it: launched for
// this Task, for an earlier Task of the same name, or by someone else; in
// any phase, with any container statuses, perhaps being deleted.
func (in *fuzzInput) pod(t *kov1.Task) *corev1.Pod {
	if in.rare(4) {
		return nil
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "ns", UID: "p1"}}
	switch in.byte() % 6 {
	case 4:
		p.Labels = map[string]string{kov1.LabelTask: t.Name, kov1.LabelTaskUID: "u0"} // an earlier Task's
	case 5:
		p.Labels = pick(in, map[string]string{"app": "mine"}, map[string]string{kov1.LabelTask: "other", kov1.LabelTaskUID: "x"}, nil)
	default:
		p.Labels = map[string]string{kov1.LabelTask: t.Name, kov1.LabelTaskUID: string(t.UID)}
	}
	if in.rare(4) {
		p.DeletionTimestamp = ptr.To(in.time())
	}
	p.Spec.NodeName = "node-0"
	for i, k := 0, 1+in.intn(3); i < k; i++ {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i)})
	}
	p.Status.Phase = pick(in, corev1.PodRunning, corev1.PodPending, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown, "", "Weird")
	if in.rare(3) {
		p.Status.Reason, p.Status.Message = "Evicted", pick(in, "", "The node was low on memory.")
	}
	if in.rare(2) {
		p.Status.StartTime = ptr.To(in.time())
	}
	p.Status.ContainerStatuses = in.statuses("c", in.intn(4))
	p.Status.InitContainerStatuses = in.statuses("init", pick(in, 0, 0, 1, 2))
	return p
}

func (in *fuzzInput) statuses(prefix string, k int) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for i := 0; i < k; i++ {
		cs := corev1.ContainerStatus{Name: fmt.Sprintf("%s%d", prefix, i)}
		switch in.byte() % 4 {
		case 0:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: in.time()}
		case 1:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: pick(in, "", "ImagePullBackOff", "ContainerCreating"), Message: pick(in, "", "back-off")}
		case 2:
			cs.State.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: pick[int32](in, 0, 1, 137, -1), Reason: pick(in, "", "Completed", "Error", "OOMKilled"),
				Message: pick(in, "", "  result 42\n", "oops"), StartedAt: in.time(),
			}
			if in.rare(3) {
				cs.State.Terminated.StartedAt = metav1.Time{}
			}
		}
		out = append(out, cs)
	}
	return out
}
