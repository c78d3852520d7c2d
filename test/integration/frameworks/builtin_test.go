package frameworks

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// TestKubectlBuiltin is the no-code path: kubectl apply of
// config/samples/builtin (a Framework with the BinPack policy and plain
// Tasks) runs the tasks to Finished.
func TestKubectlBuiltin(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	cluster(t, ns, b.Resources("cpu", "2", "memory", "2Gi"), "a")
	out, err := exec.Command("kubectl", "--kubeconfig", cp.KubeconfigPath, "apply", "-n", ns,
		"-f", filepath.Join(controlplane.RepoRoot(), "config", "samples", "builtin")).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	for _, name := range []string{"hello-1", "hello-2", "hello-3"} {
		harness.WaitTask(t, cp.Client, ns, name, kov1.TaskRunning)
	}
	// The containers end (the kubelet double does not run them).
	var pods corev1.PodList
	harness.Must(t, cp.Client.List(ctx, &pods, client.InNamespace(ns)))
	for i := range pods.Items {
		harness.SetExited(&pods.Items[i], 0, "Completed", "")
		harness.Must(t, cp.Client.Status().Update(ctx, &pods.Items[i]))
	}
	for _, name := range []string{"hello-1", "hello-2", "hello-3"} {
		if tk := harness.WaitTask(t, cp.Client, ns, name, kov1.TaskFinished); tk.Status.AgentName == "" || tk.Spec.OfferName != "" {
			t.Errorf("%s: agent %q, spec.offerName %q; want it bound to an agent by the built-in scheduler, which names no offer", name,
				tk.Status.AgentName, tk.Spec.OfferName)
		}
	}
	out, err = exec.Command("kubectl", "--kubeconfig", cp.KubeconfigPath, "get", "tasks", "-n", ns).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get tasks: %v\n%s", err, out)
	}
	t.Logf("kubectl get tasks:\n%s", out)
}
