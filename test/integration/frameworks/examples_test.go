package frameworks

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// TestBatchExample runs examples/batch: 6 shards on 2 agents; shard 0's
// first attempt fails and is relaunched; the job completes with π.
func TestBatchExample(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns, b.Resources("cpu", "1", "memory", "1Gi"), "a", "b")
	p := runExample(t, "batch", "--namespace", ns, "--name", "pi", "--tasks", "6", "--samples", "1000000", "--cpu", "250m", "--refuse", "2s")
	// The test finishes the shards the kubelet double runs: each "counts"
	// 785398 of 1,000,000 points in the quarter circle, except shard 0's
	// first attempt, which fails.
	harness.Eventually(t, "the job to finish", func() (bool, string) {
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("the batch job failed: %v\n%s", err, p.out.String())
			}
			return true, ""
		default:
		}
		var pods corev1.PodList
		harness.Must(t, cp.Client.List(context.Background(), &pods, client.InNamespace(ns)))
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.Status.Phase != corev1.PodRunning {
				continue
			}
			if pod.Name == "pi-shard-0-0" {
				harness.SetExited(pod, 1, "Error", "")
			} else {
				harness.SetExited(pod, 0, "Completed", "hits=785398")
			}
			_ = cp.Client.Status().Update(context.Background(), pod) // a conflict is retried on the next poll
		}
		return false, p.out.String()
	})
	if out := p.out.String(); !strings.Contains(out, "job done: pi=3.141592 from 6000000 samples") {
		t.Errorf("no result in the output:\n%s", out)
	}
	fw := &kov1.Framework{}
	harness.Must(t, cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "pi"}, fw))
	if got := fw.Annotations["batch.examples.kubeoffer.io/result"]; !strings.HasPrefix(got, "pi=3.141592") {
		t.Errorf("result annotation %q", got)
	}
	var tasks kov1.TaskList
	harness.Must(t, cp.Client.List(context.Background(), &tasks, client.InNamespace(ns)))
	finished := 0
	for _, tk := range tasks.Items {
		if tk.Status.State == kov1.TaskFinished {
			finished++
		}
	}
	if finished != 6 {
		t.Errorf("%d tasks finished, want one per shard", finished)
	}
	if tk := harness.WaitTask(t, cp.Client, ns, "pi-shard-0-0", kov1.TaskFailed); tk.Status.ExitCode == nil || *tk.Status.ExitCode != 1 {
		t.Errorf("shard 0's first attempt: exit code %v, want 1", tk.Status.ExitCode)
	}
	harness.WaitTask(t, cp.Client, ns, "pi-shard-0-1", kov1.TaskFinished)
}

// TestServiceExample runs examples/service with 2 instances over 2 agents:
// they are spread one per agent, a failed instance is replaced, and the
// service scales to 3 when its annotation says so.
func TestServiceExample(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	cluster(t, ns, b.Resources("cpu", "2", "memory", "2Gi"), "a", "b")
	p := runExample(t, "service", "--namespace", ns, "--name", "web", "--instances", "2", "--refuse", "2s")

	running := func(want int) (map[string]int, []string) {
		var tasks kov1.TaskList
		harness.Must(t, cp.Client.List(ctx, &tasks, client.InNamespace(ns)))
		perNode := map[string]int{}
		var names []string
		for _, tk := range tasks.Items {
			if tk.Status.State == kov1.TaskRunning {
				perNode[tk.Status.NodeName]++
				names = append(names, tk.Name)
			}
		}
		return perNode, names
	}
	waitRunning := func(want int, spread bool) []string {
		var names []string
		harness.Eventually(t, fmt.Sprintf("%d instances running", want), func() (bool, string) {
			perNode, n := running(want)
			names = n
			ok := len(n) == want
			if spread {
				for _, c := range perNode {
					ok = ok && c == 1
				}
			}
			return ok, fmt.Sprintf("running %v per node %v\n%s", n, perNode, p.out.String())
		})
		return names
	}
	names := waitRunning(2, true)

	// An instance fails: it is replaced.
	victim := names[0]
	harness.Must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod := &corev1.Pod{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: victim}, pod); err != nil {
			return err
		}
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[harness.AnnotationExit] = "1"
		return cp.Client.Update(ctx, pod)
	}))
	harness.WaitTask(t, cp.Client, ns, victim, kov1.TaskFailed)
	after := waitRunning(2, true)
	for _, n := range after {
		if n == victim {
			t.Errorf("the failed instance %s still counts as running", victim)
		}
	}

	// Scale to 3.
	harness.Must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fw := &kov1.Framework{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, fw); err != nil {
			return err
		}
		if fw.Annotations == nil {
			fw.Annotations = map[string]string{}
		}
		fw.Annotations["service.examples.kubeoffer.io/instances"] = "3"
		return cp.Client.Update(ctx, fw)
	}))
	waitRunning(3, false)
}
