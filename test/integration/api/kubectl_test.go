package api

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// kubectl runs the machine's kubectl against the test API server.
func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", cp.KubeconfigPath}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// eventually retries f until it succeeds or the deadline passes; discovery
// and OpenAPI publish new CRDs asynchronously.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type outputError struct{ out string }

func (e outputError) Error() string { return e.out }

// TestKubectlApplyAndGet applies the CRDs and samples with plain client-side
// `kubectl apply` (the Task CRD must fit kubectl's last-applied annotation)
// and lists them all with `kubectl get kubeoffer`.
func TestKubectlApplyAndGet(t *testing.T) {
	root := controlplane.RepoRoot()
	if out, err := kubectl(t, "apply", "-f", filepath.Join(root, "config", "crd", "bases")); err != nil {
		t.Fatalf("kubectl apply CRDs: %v\n%s", err, out)
	}
	ns := cp.Namespace(t)
	samples := filepath.Join(root, "config", "samples")
	t.Cleanup(func() {
		// Agents and Roles are cluster-scoped; remove them for other tests.
		_, _ = kubectl(t, "delete", "--ignore-not-found", "-n", ns, "-k", samples)
	})
	if out, err := kubectl(t, "apply", "-n", ns, "-k", samples); err != nil {
		t.Fatalf("kubectl apply samples: %v\n%s", err, out)
	}
	want := []string{
		"agent.kubeoffer.io/node-1", "role.kubeoffer.io/analytics", "framework.kubeoffer.io/batch",
		"resourceoffer.kubeoffer.io/batch-node-1-sample", "task.kubeoffer.io/pi-shard-0",
	}
	eventually(t, "kubectl get kubeoffer", func() error {
		out, err := kubectl(t, "get", "kubeoffer", "-n", ns)
		if err != nil {
			return outputError{out}
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				return outputError{"missing " + w + " in:\n" + out}
			}
		}
		return nil
	})
	// Printer columns and short names.
	columns := map[string][]string{
		"offer":  {"FRAMEWORK", "NODE", "CPU", "MEMORY", "EXPIRES", "batch", "node-1", "3Gi", "2030-01-01T00:00:00Z"},
		"fw":     {"ROLE", "CONNECTED", "TASKS", "SHARE", "analytics"},
		"task":   {"FRAMEWORK", "STATE", "NODE", "AGE", "pi-shard-0"},
		"ag":     {"READY", "CPU", "MEMORY", "CPU-USED", "MEMORY-USED", "node-1"},
		"korole": {"WEIGHT", "PARENT", "READY", "GUARANTEE", "CPU-USED", "SHARE", "analytics"},
	}
	for resource, cols := range columns {
		out, err := kubectl(t, "get", resource, "-n", ns)
		if err != nil {
			t.Fatalf("kubectl get %s: %v\n%s", resource, err, out)
		}
		for _, c := range cols {
			if !strings.Contains(out, c) {
				t.Errorf("kubectl get %s lacks %q:\n%s", resource, c, out)
			}
		}
	}
}

// TestKubectlExplain checks that field docs reach `kubectl explain`.
func TestKubectlExplain(t *testing.T) {
	cases := map[string]string{
		"tasks.spec.offerName":             "Setting it is Mesos's ACCEPT",
		"tasks.spec.template":              "Several containers make a Mesos task group",
		"tasks.status.state":               "Mesos's task states",
		"resourceoffers.spec.decline":      "It can be set only once",
		"frameworks.spec.refuseDuration":   "Defaults to 5s",
		"frameworks.spec.scheduler.policy": "in creation order",
		"agents.status.allocatable":        "minus agentd's system",
		"roles.spec.weight":                "weighted DRF",
		"roles.spec.quota.guarantee":       "quota guarantee",
		"roles.status.consumed":            "a reservation is consumed whether it is used or not",
		"roles.spec.namespaces":            "register_frameworks ACL",
		"roles.spec.namespaceSelector":     "an empty selector ({}) matches every namespace",
	}
	for field, want := range cases {
		t.Run(field, func(t *testing.T) {
			eventually(t, "kubectl explain "+field, func() error {
				out, err := kubectl(t, "explain", "--api-version=kubeoffer.io/v1alpha1", field)
				if err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
					return outputError{out}
				}
				return nil
			})
		})
	}
}
