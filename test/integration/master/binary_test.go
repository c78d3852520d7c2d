package master

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// TestMasterBinary runs the master as users do out of cluster — the
// built main.go with --kubeconfig and leader election — and sees it offer
// an agent and bind a task.
func TestMasterBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kubeoffer-master")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = controlplane.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the master: %v\n%s", err, out)
	}
	ns := cp.Namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", cp.KubeconfigPath, "--leader-elect", "--leader-election-namespace", ns,
		"--agent-lease-namespace", leaseNS, "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--allocation-interval", "200ms", "--offer-timeout", "1m", "--fair-sharing-excluded-resource-names", "nvidia.com/gpu")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("master logs:\n%s", logs.String())
		}
	})
	addAgent(t, ns, "node", b.Resources("cpu", "2", "memory", "2Gi"))
	addFramework(t, b.MakeFramework("fw", ns).Obj())
	o := waitOffer(t, ns, "fw", nil)
	must(t, cp.Client.Create(context.Background(), b.MakeTask("t", ns, "fw").Offer(o.Name).Obj()))
	waitTask(t, ns, "t", kov1.TaskStaging)
}
