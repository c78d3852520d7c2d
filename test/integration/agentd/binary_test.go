package agentd

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// TestAgentdBinary runs agentd as the demo does out of cluster — the built
// binary with --kubeconfig and --node-name — and sees it publish the node,
// launch a task, and mark the Agent not Ready when it is stopped.
func TestAgentdBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kubeoffer-agentd")
	build := exec.Command("go", "build", "-o", bin, "./agentd")
	build.Dir = controlplane.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building agentd: %v\n%s", err, out)
	}
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	ensureLeaseNamespace(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--kubeconfig", cp.KubeconfigPath, "--node-name", node, "--lease-namespace", leaseNS,
		"--heartbeat-interval", "1s", "--ports", "31000-31010", "--system-reserved", "cpu=1", "--attributes", "rack=r1",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("agentd logs:\n%s", logs.String())
		}
	})

	harness.Eventually(t, "the Agent to be Ready with the reserve taken off", func() (bool, string) {
		a := &kov1.Agent{}
		if err := cp.Client.Get(context.Background(), clientKey(node), a); err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReadyCondition) && sameQty(a.Status.Allocatable, "cpu", "3") &&
			len(a.Status.Ports) == 1 && a.Status.Ports[0].End == 31010 && a.Status.Attributes["rack"] == "r1", describe(a.Status)
	})
	bind(t, b.MakeTask("t", ns, "fw").Obj(), node)
	waitPod(t, ns, "t")
	harness.WaitTask(t, cp.Client, ns, "t", kov1.TaskStarting)

	stop()
	a := agentOf(t, node)
	c := meta.FindStatusCondition(a.Status.Conditions, kov1.AgentReadyCondition)
	if c == nil || c.Status != "False" || !strings.Contains(c.Message, "stopped") {
		t.Errorf("after SIGTERM Ready = %+v, want False: agentd stopped", c)
	}
}
