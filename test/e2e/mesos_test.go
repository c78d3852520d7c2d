//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// mesosNS is where the chart maps frameworks without credentials (install
// sets mesosAPI.anonymous to it).
const mesosNS = "mesos-e2e"

// TestMesosClients runs Mesos clients nobody here wrote, unmodified,
// against the Mesos API the chart serves on the masters, through its
// Service, with real containers (busybox from the offline image set).
func TestMesosClients(t *testing.T) {
	if out, err := kubectl("create", "namespace", mesosNS); err != nil && !strings.Contains(out, "AlreadyExists") {
		t.Fatalf("creating namespace: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, _ = exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", mesosNS, "--wait=true", "--timeout=90s").CombinedOutput()
	})
	svc := &corev1.Service{}
	must(t, c.Get(context.Background(), client.ObjectKey{Namespace: releaseNS, Name: "kubeoffer-mesos"}, svc))
	master := svc.Spec.ClusterIP + ":5050"
	t.Run("msh", func(t *testing.T) { testMsh(t, master) })
	t.Run("npm mesos-framework", func(t *testing.T) { testNpm(t, master) })
	if out, err := kubectl("get", "frameworks,tasks,pods", "-n", mesosNS); err != nil {
		t.Errorf("kubectl get: %v\n%s", err, out)
	} else {
		t.Logf("kubectl get frameworks,tasks,pods -n %s:\n%s", mesosNS, out)
	}
}

// testMsh: mesos-go v0.0.11's msh (protobuf) — a command that succeeds
// exits 0 and one that fails exits non-zero, also as a task group (-pod);
// each run is a Task and a Pod.
func testMsh(t *testing.T, master string) {
	msh := filepath.Join(t.TempDir(), "msh")
	build := exec.Command("go", "build", "-o", msh, "github.com/mesos/mesos-go/api/v1/cmd/msh")
	build.Dir = filepath.Join(controlplane.RepoRoot(), "test", "mesosclients", "msh")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building msh: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		state kov1.TaskState
	}{
		{"succeeds", []string{"--", "sh", "-c", "echo hello from $MESOS_TASK_ID in $MESOS_SANDBOX; test -d $MESOS_SANDBOX"}, 0, kov1.TaskFinished},
		{"fails", []string{"--", "sh", "-c", "exit 5"}, 3, kov1.TaskFailed},
		{"task group succeeds", []string{"-pod", "--", "true"}, 0, kov1.TaskFinished},
		{"task group fails", []string{"-pod", "--", "false"}, 3, kov1.TaskFailed},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, msh, append([]string{"-master", master}, tc.args...)...)
		cmd.Env = os.Environ()
		out, err := cmd.CombinedOutput()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("msh %s: %v\n%s", tc.name, err, out)
		}
		if code != tc.code {
			t.Fatalf("msh %s exited %d, want %d:\n%s", tc.name, code, tc.code, out)
		}
		var tasks kov1.TaskList
		must(t, c.List(context.Background(), &tasks, client.InNamespace(mesosNS)))
		var task *kov1.Task
		for i := range tasks.Items {
			if !seen[tasks.Items[i].Name] {
				seen[tasks.Items[i].Name], task = true, &tasks.Items[i]
			}
		}
		if task == nil || task.Status.State != tc.state {
			t.Fatalf("msh %s: want a new Task in state %s, got %+v", tc.name, tc.state, task)
		}
		pod := &corev1.Pod{}
		must(t, c.Get(context.Background(), client.ObjectKey{Namespace: mesosNS, Name: task.Name}, pod))
		if pod.Spec.Containers[0].Image != mesosapi.DefaultImage || len(pod.Status.ContainerStatuses) == 0 ||
			pod.Status.ContainerStatuses[0].State.Terminated == nil {
			t.Errorf("msh %s: Pod %s ran %s and is %+v", tc.name, pod.Name, pod.Spec.Containers[0].Image, pod.Status.ContainerStatuses)
		}
		t.Logf("msh %s: exit %d; Task %s %s; Pod %s", tc.name, code, task.Name, task.Status.State, pod.Status.Phase)
	}
}

// testNpm: npm's mesos-framework 0.5.3 (JSON) launches three command tasks
// that run in real containers and sees them all TASK_FINISHED.
func testNpm(t *testing.T, master string) {
	dir := filepath.Join(controlplane.RepoRoot(), "test", "mesosclients", "npm")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mesos-framework")); err != nil {
		t.Fatalf("the npm client is not installed: run `make mesos-clients` (make test-e2e does): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "framework.js"))
	cmd.Dir = t.TempDir() // it writes logs/ where it runs
	must(t, os.Mkdir(filepath.Join(cmd.Dir, "logs"), 0o755))
	cmd.Env = append(os.Environ(), "MESOS_MASTER="+master, "TASKS=3", "FRAMEWORK_NAME=npm-e2e", "DEADLINE_SECONDS=150",
		"COMMAND=echo hello from $MESOS_TASK_ID on $HOST")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "RESULT 0:") {
		t.Fatalf("the npm framework failed: %v\n%s", err, out)
	}
	var tasks kov1.TaskList
	must(t, c.List(context.Background(), &tasks, client.InNamespace(mesosNS)))
	finished := 0
	for _, tk := range tasks.Items {
		if strings.HasPrefix(tk.Name, "npm-e2e-") && tk.Status.State == kov1.TaskFinished {
			finished++
		}
	}
	if finished != 3 {
		t.Errorf("%d of the npm framework's Tasks Finished, want 3", finished)
	}
}
