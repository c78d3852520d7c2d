package mesos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// npmDir is the folder with the npm client's package.json, lock file and
// framework.js.
func npmDir() string { return filepath.Join(controlplane.RepoRoot(), "test", "mesosclients", "npm") }

// TestNpmMesosFramework runs a framework written with npm's
// mesos-framework 0.5.3 (JSON), unmodified: it launches three command
// tasks, sees them all TASK_FINISHED, and tears itself down; its tasks are
// Tasks and Pods in the namespace.
func TestNpmMesosFramework(t *testing.T) {
	if _, err := os.Stat(filepath.Join(npmDir(), "node_modules", "mesos-framework")); err != nil {
		t.Fatalf("the npm client is not installed: run `npm ci` in %s (make test does): %v", npmDir(), err)
	}
	ns := cp.Namespace(t)
	cluster(t, ns)
	api := startAPI(t, testConfig(ns))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(npmDir(), "framework.js"))
	cmd.Dir = t.TempDir() // it writes logs/ where it runs
	harness.Must(t, os.Mkdir(filepath.Join(cmd.Dir, "logs"), 0o755))
	cmd.Env = append(os.Environ(), "MESOS_MASTER="+api.Addr, "TASKS=3", "FRAMEWORK_NAME=npm-hello")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "RESULT 0:") {
		t.Fatalf("the npm framework failed: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("npm framework output:\n%s", out)
	}
	var tasks kov1.TaskList
	harness.Must(t, cp.Client.List(context.Background(), &tasks, client.InNamespace(ns)))
	if len(tasks.Items) != 3 {
		t.Fatalf("got %d Tasks, want 3", len(tasks.Items))
	}
	for _, tk := range tasks.Items {
		if tk.Status.State != kov1.TaskFinished {
			t.Errorf("Task %s is %s, want Finished", tk.Name, tk.Status.State)
		}
	}
	// TEARDOWN deleted the Framework.
	harness.Eventually(t, "the torn-down Framework to go", func() (bool, string) {
		var fws kov1.FrameworkList
		harness.Must(t, cp.Client.List(context.Background(), &fws, client.InNamespace(ns)))
		return len(fws.Items) == 0, "frameworks left"
	})
}
