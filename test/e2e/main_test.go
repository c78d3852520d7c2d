//go:build e2e

// Package e2e tests kubeoffer installed with its Helm chart on a real
// cluster — hack/cluster.sh's single node with a real kubelet, containerd,
// runc and cgroups — with real containers. `make test-e2e` brings the
// cluster up, runs these tests and tears it down; KUBEOFFER_E2E_KUBECONFIG
// says which cluster. On failure, component logs, `kubectl get -A -o wide`
// and events are saved to KUBEOFFER_E2E_ARTIFACTS (bin/e2e-artifacts).
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

const releaseNS = "kubeoffer-system"

var (
	cfg        *rest.Config
	c          client.WithWatch
	cs         *kubernetes.Clientset
	kubeconfig string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	// The SDK drivers the tests run log through controller-runtime.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(harness.LogLevel())))
	kubeconfig = os.Getenv("KUBEOFFER_E2E_KUBECONFIG")
	if kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "e2e: set KUBEOFFER_E2E_KUBECONFIG (make test-e2e brings up a cluster and does)")
		return 1
	}
	var err error
	if cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if c, err = client.NewWithWatch(cfg, client.Options{Scheme: controlplane.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	cs = kubernetes.NewForConfigOrDie(cfg)
	if out, err := install(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: helm install: %v\n%s\n", err, out)
		saveArtifacts()
		return 1
	}
	code := m.Run()
	if code != 0 {
		saveArtifacts()
	}
	return code
}

func helmBin() string {
	dir, err := exec.Command(filepath.Join(controlplane.RepoRoot(), "hack", "build-binaries.sh"), "--print-dir", "helm").Output()
	if err != nil {
		return "helm"
	}
	return filepath.Join(strings.TrimSpace(string(dir)), "helm")
}

// install is what a user runs: helm install of charts/kubeoffer, with the
// locally built images and e2e-friendly timing (agents lost after 20s).
func install() (string, error) {
	cmd := exec.Command(helmBin(), "upgrade", "--install", "kubeoffer", "charts/kubeoffer",
		"--namespace", releaseNS, "--create-namespace", "--kubeconfig", kubeconfig,
		"--set", "master.image.tag=dev", "--set", "master.image.pullPolicy=Never",
		"--set", "agentd.image.tag=dev", "--set", "agentd.image.pullPolicy=Never",
		"--set", "master.agentTimeout=20s", "--set", "agentd.heartbeatInterval=2s",
		"--set", "master.leaderElection.leaseDuration=6s", "--set", "master.leaderElection.renewDeadline=4s",
		"--set", "master.leaderElection.retryPeriod=1s",
		"--set", "mesosAPI.anonymous.namespace="+mesosNS, "--set", "mesosAPI.anonymous.roles={*}",
		"--wait", "--timeout", "3m")
	cmd.Dir = controlplane.RepoRoot()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func kubectl(args ...string) (string, error) {
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

// saveArtifacts keeps what explains a failure: every object, events, and
// the logs of kubeoffer's Pods and the cluster's components.
func saveArtifacts() {
	dir := os.Getenv("KUBEOFFER_E2E_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(controlplane.RepoRoot(), "bin", "e2e-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	save := func(name string, args ...string) {
		out, _ := kubectl(args...)
		_ = os.WriteFile(filepath.Join(dir, name), []byte(out), 0o644)
	}
	save("get-all.txt", "get", "all,kubeoffer,leases", "-A", "-o", "wide")
	save("events.txt", "get", "events", "-A", "--sort-by=.lastTimestamp")
	save("tasks.yaml", "get", "tasks", "-A", "-o", "yaml")
	save("agents.yaml", "get", "agents", "-o", "yaml")
	pods, _ := kubectl("get", "pods", "-n", releaseNS, "-o", "name")
	for _, p := range strings.Fields(pods) {
		save("logs-"+strings.TrimPrefix(p, "pod/")+".txt", "logs", "-n", releaseNS, p, "--all-containers", "--prefix")
	}
	// The components' own logs (hack/cluster.sh keeps them).
	if logs, err := filepath.Glob(filepath.Join(controlplane.RepoRoot(), "bin", "cluster", "logs", "*.log")); err == nil {
		for _, l := range logs {
			if data, err := os.ReadFile(l); err == nil {
				_ = os.WriteFile(filepath.Join(dir, "component-"+filepath.Base(l)), data, 0o644)
			}
		}
	}
	fmt.Fprintln(os.Stderr, "e2e: artifacts saved in", dir)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, deadline time.Duration, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	var last string
	for time.Now().Before(end) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last: %s", deadline, what, last)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// namespace creates a namespace for one test, removed at its end.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name) > 50 {
		name = name[:50]
	}
	args := []string{"create", "namespace", name}
	if out, err := kubectl(args...); err != nil && !strings.Contains(out, "AlreadyExists") {
		t.Fatalf("creating namespace: %v\n%s", err, out)
	}
	for k, v := range labels {
		if out, err := kubectl("label", "namespace", name, "--overwrite", k+"="+v); err != nil {
			t.Fatalf("labelling namespace: %v\n%s", err, out)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, _ = exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", name, "--wait=true", "--timeout=90s").CombinedOutput()
	})
	return name
}
