package agent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

func TestBuildPod(t *testing.T) {
	task := b.MakeTask("web", "team-a", "fw").UID("uid-1").Bound("node-1", kov1.TaskStaging).
		Resources(b.Resources("cpu", "1500m", "memory", "1Gi", "nvidia.com/gpu", "1")).
		Ports(kov1.PortRange{Begin: 31000, End: 31001}).KillGracePeriod(7).Obj()
	task.Spec.Template.Labels = map[string]string{"app": "web"}
	task.Spec.Template.Spec.Containers[0].Resources.Limits = b.Resources("cpu", "64") // replaced: the task's resources rule
	task.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", Value: "x"}}

	pod, err := BuildPod(task, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	if pod.Name != "web" || pod.Namespace != "team-a" || pod.Spec.NodeName != "node-1" {
		t.Errorf("pod %s/%s on %q; want team-a/web on node-1", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || ptr.Deref(pod.Spec.TerminationGracePeriodSeconds, 0) != 7 {
		t.Errorf("restartPolicy %q grace %v; want Never and 7", pod.Spec.RestartPolicy, pod.Spec.TerminationGracePeriodSeconds)
	}
	wantLabels := map[string]string{"app": "web", kov1.LabelTask: "web", kov1.LabelTaskUID: "uid-1", kov1.LabelFramework: "fw", kov1.LabelAgent: "node-1"}
	if d := cmp.Diff(wantLabels, pod.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].UID != "uid-1" || !ptr.Deref(pod.OwnerReferences[0].Controller, false) {
		t.Errorf("owner references %+v; want the Task as controller", pod.OwnerReferences)
	}
	c := pod.Spec.Containers[0]
	want := b.Resources("cpu", "1500m", "memory", "1Gi", "nvidia.com/gpu", "1")
	if !equalLists(c.Resources.Requests, want) || !equalLists(c.Resources.Limits, want) {
		t.Errorf("requests %v limits %v; want both %v (Guaranteed)", c.Resources.Requests, c.Resources.Limits, want)
	}
	wantEnv := []corev1.EnvVar{{Name: "PORT0", Value: "31000"}, {Name: "PORT1", Value: "31001"}, {Name: "PORT", Value: "31000"}, {Name: "MODE", Value: "x"}}
	if d := cmp.Diff(wantEnv, c.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if task.Spec.Template.Spec.Containers[0].Env[0].Name != "MODE" {
		t.Error("BuildPod modified the task's template")
	}
}

func TestBuildPodRefusesAnotherNode(t *testing.T) {
	task := b.MakeTask("web", "ns", "fw").Bound("node-1", kov1.TaskStaging).Obj()
	task.Spec.Template.Spec.NodeName = "node-2"
	if _, err := BuildPod(task, "node-1"); err == nil {
		t.Fatal("a template pinned to another node must be refused")
	}
}

// TestBuildPodRefusesEscapes: what the kubeoffer-task-template policy
// refuses at creation, agentd refuses at launch, for a task the policy
// never judged.
func TestBuildPodRefusesEscapes(t *testing.T) {
	for name, tc := range map[string]struct {
		spec func(s *corev1.PodSpec)
		want string // "" for a Pod
	}{
		"a plain template":       {func(*corev1.PodSpec) {}, ""},
		"an empty node selector": {func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{} }, ""},
		"the host network":       {func(s *corev1.PodSpec) { s.HostNetwork = true }, "asks for the host network"},
		"a priority class":       {func(s *corev1.PodSpec) { s.PriorityClassName = "system-node-critical" }, "sets a priority"},
		"a priority":             {func(s *corev1.PodSpec) { s.Priority = ptr.To[int32](1000) }, "sets a priority"},
		"a preemption policy":    {func(s *corev1.PodSpec) { s.PreemptionPolicy = ptr.To(corev1.PreemptNever) }, "sets a priority"},
		"a node selector":        {func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"zone": "a"} }, "selects nodes"},
		"an affinity":            {func(s *corev1.PodSpec) { s.Affinity = &corev1.Affinity{} }, "selects nodes"},
		"an overhead":            {func(s *corev1.PodSpec) { s.Overhead = b.Resources("cpu", "1") }, "sets its own overhead"},
	} {
		t.Run(name, func(t *testing.T) {
			task := b.MakeTask("web", "ns", "fw").Bound("node-1", kov1.TaskStaging).PodSpec(tc.spec).Obj()
			pod, err := BuildPod(task, "node-1")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("built %+v, want a refusal that %s", pod.Spec, tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want it to say the template %s", err, tc.want)
			}
		})
	}
}

func TestContainerResources(t *testing.T) {
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	cases := map[string]struct {
		task      corev1.ResourceList
		app, init []corev1.Container
		wantApp   []corev1.ResourceList
		wantInit  []corev1.ResourceList
	}{
		"one container takes everything": {
			task: b.Resources("cpu", "2", "memory", "1Gi"), app: []corev1.Container{{}},
			wantApp: []corev1.ResourceList{b.Resources("cpu", "2", "memory", "1Gi")}, wantInit: []corev1.ResourceList{},
		},
		"two containers split CPU and memory, the first takes the remainder and the GPU": {
			task: b.Resources("cpu", "1001m", "memory", "3", "nvidia.com/gpu", "1"), app: []corev1.Container{{}, {}},
			wantApp:  []corev1.ResourceList{b.Resources("cpu", "501m", "memory", "2", "nvidia.com/gpu", "1"), b.Resources("cpu", "500m", "memory", "1")},
			wantInit: []corev1.ResourceList{},
		},
		"an init container may use the whole CPU and memory, a sidecar shares": {
			task: b.Resources("cpu", "1", "memory", "1Gi", "ephemeral-storage", "1Gi"), app: []corev1.Container{{}},
			init:     []corev1.Container{{Name: "setup"}, {Name: "proxy", RestartPolicy: always}},
			wantApp:  []corev1.ResourceList{b.Resources("cpu", "500m", "memory", "512Mi", "ephemeral-storage", "1Gi")},
			wantInit: []corev1.ResourceList{b.Resources("cpu", "1", "memory", "1Gi"), b.Resources("cpu", "500m", "memory", "512Mi")},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			app, init := containerResources(tc.task, tc.app, tc.init)
			if len(app) != len(tc.wantApp) || len(init) != len(tc.wantInit) {
				t.Fatalf("got %d app and %d init lists", len(app), len(init))
			}
			for i := range app {
				if !equalLists(app[i], tc.wantApp[i]) {
					t.Errorf("app container %d: %v, want %v", i, app[i], tc.wantApp[i])
				}
			}
			for i := range init {
				if !equalLists(init[i], tc.wantInit[i]) {
					t.Errorf("init container %d: %v, want %v", i, init[i], tc.wantInit[i])
				}
			}
		})
	}
}

func TestPortEnv(t *testing.T) {
	if env := PortEnv(nil); len(env) != 0 {
		t.Errorf("no ports: env %v", env)
	}
	env := PortEnv([]kov1.PortRange{{Begin: 65535, End: 65535}, {Begin: 80, End: 80}})
	want := []corev1.EnvVar{{Name: "PORT0", Value: "65535"}, {Name: "PORT1", Value: "80"}, {Name: "PORT", Value: "65535"}}
	if d := cmp.Diff(want, env); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func equalLists(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, q := range a {
		o, ok := b[k]
		if !ok || q.Cmp(o) != 0 {
			return false
		}
	}
	return true
}

// TestBuildPodLongNames: task and node names may be up to 253 characters,
// but a label value at most 63; the Pod's labels must still be valid (they
// were the raw names, so the API server refused every such Pod).
func TestBuildPodLongNames(t *testing.T) {
	long := strings.Repeat("t", 200)
	node := strings.Repeat("n", 120) + ".example.com"
	task := b.MakeTask(long, "team-a", "fw").UID("uid-1").Bound(node, kov1.TaskStaging).Obj()
	pod, err := BuildPod(task, node)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range pod.Labels {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("label %s=%q is not a label value: %v", k, v, errs)
		}
	}
	if pod.Name != long {
		t.Errorf("pod name %q, want the task's name", pod.Name)
	}
	other := b.MakeTask(long+"x", "team-a", "fw").Obj()
	if kov1.LabelValue(other.Name) == pod.Labels[kov1.LabelTask] {
		t.Errorf("two long task names sharing a prefix got the same label value %q", pod.Labels[kov1.LabelTask])
	}
}
