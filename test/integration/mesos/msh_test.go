package mesos

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// mshTask finds the one Task msh launched in ns (there is one framework
// per msh run) after skip earlier ones.
func mshTasks(t *testing.T, ns string) []kov1.Task {
	t.Helper()
	var l kov1.TaskList
	harness.Must(t, cp.Client.List(context.Background(), &l, client.InNamespace(ns)))
	return l.Items
}

// TestMsh runs mesos-go's msh, unmodified, against kubeoffer: a command
// that succeeds exits 0, one that fails exits non-zero, also as a task
// group (-pod); each run is a Framework, a Task and a Pod in the
// namespace, for kubectl to see.
func TestMsh(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns)
	api := startAPI(t, testConfig(ns))
	bin := msh(t)
	cases := []struct {
		name     string
		args     []string
		wantCode int
		state    kov1.TaskState
	}{
		{"true", []string{"--", "true"}, 0, kov1.TaskFinished},
		{"false", []string{"--", "false"}, 3, kov1.TaskFailed},
		{"shell exit", []string{"--", "sh", "-c", "exit 7"}, 3, kov1.TaskFailed},
		{"pod true", []string{"-pod", "--", "true"}, 0, kov1.TaskFinished},
		{"pod false", []string{"-pod", "--", "false"}, 3, kov1.TaskFailed},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		code, out := run(t, 2*time.Minute, bin, append([]string{"-master", api.Addr}, c.args...)...)
		if code != c.wantCode {
			t.Fatalf("msh %s exited %d, want %d; output:\n%s", c.name, code, c.wantCode, out)
		}
		var task *kov1.Task
		for _, tk := range mshTasks(t, ns) {
			if !seen[tk.Name] {
				seen[tk.Name] = true
				task = tk.DeepCopy()
			}
		}
		if task == nil {
			t.Fatalf("msh %s: no new Task in %s", c.name, ns)
		}
		if task.Status.State != c.state {
			t.Errorf("msh %s: Task %s is %s (%s), want %s", c.name, task.Name, task.Status.State, task.Status.Message, c.state)
		}
		pod := &corev1.Pod{}
		harness.Must(t, cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: task.Name}, pod))
		ctr := pod.Spec.Containers[0]
		if got := strings.Join(append(ctr.Command, ctr.Args...), " "); !strings.Contains(got, strings.Join(c.args[len(c.args)-1:], " ")) {
			t.Errorf("msh %s: the Pod runs %q", c.name, got)
		}
		if ctr.Image != mesosapi.DefaultImage {
			t.Errorf("msh %s: the Pod runs image %q, want the default %q", c.name, ctr.Image, mesosapi.DefaultImage)
		}
		if strings.HasPrefix(c.name, "pod") != (task.Annotations[mesosapi.AnnotationExecutorID] != "") {
			t.Errorf("msh %s: executor annotation %q", c.name, task.Annotations[mesosapi.AnnotationExecutorID])
		}
		fw := &kov1.Framework{}
		harness.Must(t, cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: task.Spec.FrameworkName}, fw))
		if fw.Labels[mesosapi.LabelFramework] != "true" || fw.Spec.Role != kov1.DefaultRole {
			t.Errorf("msh %s: Framework %s has labels %v and role %q", c.name, fw.Name, fw.Labels, fw.Spec.Role)
		}
		fmt.Printf("msh %s: exit %d, Task %s %s\n", c.name, code, task.Name, task.Status.State)
	}
}
