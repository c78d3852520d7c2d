// Package frameworks tests the two ways kubeoffer is used — framework
// schedulers written with the SDK (and the example frameworks), and plain
// kubectl with a built-in policy — against a real kube-apiserver with the
// master and agentd running, and a kubelet double (harness.StartKubelet)
// moving the Pods.
package frameworks

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubeoffer/kubeoffer/sdk"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(harness.LogLevel())))
	os.Exit(controlplane.Run(m, &cp))
}

// cluster starts a master and, for each node, a Node, an agentd and the
// kubelet double. Nodes are named <ns>-<name> and labelled with their
// hostname.
func cluster(t *testing.T, ns string, alloc corev1.ResourceList, names ...string) []string {
	t.Helper()
	startMaster(t)
	return addAgents(t, ns, alloc, names...)
}

// startMaster starts the master alone, for a test that must have its
// frameworks and tasks seen before any agent can be offered.
func startMaster(t *testing.T) {
	t.Helper()
	harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: time.Hour, AgentLeaseNamespace: harness.AgentLeaseNamespace, AgentTimeout: time.Minute})
}

// addAgents adds, for each node, a Node, an agentd and the kubelet double,
// as cluster does.
func addAgents(t *testing.T, ns string, alloc corev1.ResourceList, names ...string) []string {
	t.Helper()
	var nodes []string
	for _, n := range names {
		node := harness.AddNode(t, cp, ns, n, alloc, map[string]string{corev1.LabelHostname: ns + "-" + n})
		harness.StartAgentd(t, cp, node, nil)
		nodes = append(nodes, node)
	}
	harness.StartKubelet(t, cp.Client, nodes...)
	return nodes
}

// runDriver runs an SDK driver until the test ends (or the returned stop is
// called) and fails the test if Run returns an error.
func runDriver(t *testing.T, d *sdk.Driver) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("driver stopped: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// program is an example framework running as a process.
type program struct {
	cmd  *exec.Cmd
	out  *harness.SyncBuffer
	done chan error
}

// runExample builds examples/<name> and runs it against the test cluster;
// it is stopped (SIGTERM) when the test ends.
func runExample(t *testing.T, name string, args ...string) *program {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, "./examples/"+name)
	build.Dir = controlplane.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/%s: %v\n%s", name, err, out)
	}
	p := &program{out: &harness.SyncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"--kubeconfig", cp.KubeconfigPath}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	harness.Must(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("examples/%s output:\n%s", name, p.out.String())
		}
	})
	return p
}
