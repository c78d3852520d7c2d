package mesos

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// TestMasterBinaryServesMesosAPI runs the master as the chart does, with
// --mesos-api-bind-address and --mesos-api-config, and has msh run a task
// through it; without a config, the master refuses to start and says why.
func TestMasterBinaryServesMesosAPI(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kubeoffer-master")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = controlplane.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the master: %v\n%s", err, out)
	}
	base := []string{"--kubeconfig", cp.KubeconfigPath, "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--agent-lease-namespace", harness.AgentLeaseNamespace, "--allocation-interval", "200ms"}
	noConfig, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	out, err := exec.CommandContext(noConfig, bin, append(base, "--mesos-api-bind-address", "127.0.0.1:0")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "set --mesos-api-config") {
		t.Fatalf("the master started the Mesos API without a config (%v):\n%s", err, out)
	}

	ns := cp.Namespace(t)
	node := harness.AddNode(t, cp, ns, "n1", nodeResources(), nil)
	harness.StartAgentd(t, cp, node, nil)
	harness.StartKubeletWith(t, cp.Client, harness.KubeletOptions{RunCommands: true}, node)
	config := filepath.Join(t.TempDir(), "mesos-api.yaml")
	harness.Must(t, os.WriteFile(config, []byte("anonymous: {namespace: "+ns+", roles: ['*']}\n"), 0o600))
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &harness.SyncBuffer{}
	cmd := exec.CommandContext(ctx, bin, append(base, "--mesos-api-bind-address", addr, "--mesos-api-config", config)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = 10 * time.Second
	harness.Must(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("master logs:\n%s", logs.String())
		}
	})
	harness.Eventually(t, "the Mesos API to listen", func() (bool, string) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		_ = c.Close()
		return true, ""
	})
	if code, out := run(t, 2*time.Minute, msh(t), "-master", addr, "--", "true"); code != 0 {
		t.Fatalf("msh through the master binary exited %d:\n%s", code, out)
	}
	if !strings.Contains(logs.String(), "Serving the Mesos scheduler API") {
		t.Errorf("the master did not log that it serves the Mesos API")
	}
}

// freePort is a loopback address with a port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	harness.Must(t, err)
	addr := l.Addr().String()
	harness.Must(t, l.Close())
	return addr
}
