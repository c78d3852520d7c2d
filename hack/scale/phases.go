package main

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// offerLatency runs tasks that take a whole agent for 2s, twice as many
// as there are agents in the first group of 100 (the framework is offered
// only those, so every N measures the same work), and measures from each
// task's finish to the next task bound on its agent: a built-in
// scheduler's offers live in the master, so the agent is offered again
// when the next task lands on it.
func offerLatency(ctx context.Context, cfg *rest.Config, c client.Client, f *fleet, obs *observer, count int) (latency, error) {
	ns := "short"
	f.duration = 2 * time.Second
	defer func() { f.duration = 0 }()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return latency{}, err
	}
	if err := c.Create(ctx, &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "short"},
		Spec: kov1.FrameworkSpec{Scheduler: &kov1.BuiltinScheduler{Policy: kov1.SchedulingPolicyFirstFit},
			OfferConstraints: &kov1.OfferConstraints{AttributeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{groupAttribute: "0"}}}}}); err != nil {
		return latency{}, err
	}
	var mu sync.Mutex
	var samples []time.Duration
	used := map[string]time.Time{}
	// Binds are watched through their own informer.
	ca, err := cache.New(cfg, cache.Options{Scheme: c.Scheme(), DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return latency{}, err
	}
	inf, err := ca.GetInformer(ctx, &kov1.Task{})
	if err != nil {
		return latency{}, err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(oldObj, obj any) {
		old, ok1 := oldObj.(*kov1.Task)
		t, ok2 := obj.(*kov1.Task)
		if !ok1 || !ok2 || old.Status.AgentName != "" || t.Status.AgentName == "" {
			return // not the bind
		}
		now := time.Now()
		f.mu.Lock()
		freed, ok := f.finished[t.Status.AgentName]
		f.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		if ok && used[t.Status.AgentName] != freed {
			used[t.Status.AgentName] = freed
			samples = append(samples, now.Sub(freed))
		}
	}}); err != nil {
		return latency{}, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = ca.Start(cctx) }()
	ca.WaitForCacheSync(cctx)
	if err := parallel(ctx, count, 16, func(i int) error {
		t := benchTask(ns, fmt.Sprintf("short-%05d", i), "short", "16", "60Gi")
		if err := c.Create(ctx, t); err != nil {
			return err
		}
		obs.created1(ns, t.Name)
		return nil
	}); err != nil {
		return latency{}, err
	}
	var finished atomic.Int64
	err = waitFor(ctx, 10*time.Minute, func() bool {
		var l kov1.TaskList
		if c.List(ctx, &l, client.InNamespace(ns)) != nil {
			return false
		}
		n := 0
		for _, t := range l.Items {
			if t.Status.State == kov1.TaskFinished {
				n++
			}
		}
		finished.Store(int64(n))
		return n >= count
	})
	if err != nil {
		return latency{}, fmt.Errorf("short tasks: %d of %d finished: %w", finished.Load(), count, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return latencies(samples), c.DeleteAllOf(ctx, &kov1.Task{}, client.InNamespace(ns))
}

// fairLifetime is how long each task of the fairness phase runs, and
// fairWindow how long the phase runs once the cluster is first full; the
// shares are judged over the window's second half.
const (
	fairLifetime = 4 * time.Second
	fairWindow   = 24 * time.Second
)

// fairness runs m built-in frameworks in weighted roles on the n agents,
// each wanting the whole cluster all along: 8-cpu tasks (two to an agent)
// that each run fairLifetime, and every framework keeps as many unfinished
// tasks as the cluster has slots, topping them up as they finish. DRF, in
// Mesos as here, does not preempt: the first fill follows whichever tasks
// arrived first, and the weighted shares come as tasks end and each freed
// slot goes to the framework furthest below its weighted share. Every
// 500ms it samples each framework's dominant share (the cpu its bound,
// unfinished tasks hold, over the cluster's); from the cluster's first
// fill it runs fairWindow more, and compares each framework's mean share
// over the window's second half with its weighted fair share. It returns
// the samples, the fair shares, the mean shares and the largest relative
// error.
func fairness(ctx context.Context, c client.Client, f *fleet, n, m int, roleOf func(int) string, weights map[string]int32) (map[string][]float64, map[string]float64, map[string]float64, float64, error) {
	ns := "fair"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return nil, nil, nil, 0, err
	}
	f.duration = fairLifetime
	defer func() { f.duration = 0 }()
	perRole := map[string]int{}
	for i := range m {
		perRole[roleOf(i)]++
	}
	var totalWeight float64
	for r := range perRole {
		totalWeight += float64(weights[r])
	}
	fair := map[string]float64{}
	slots := 2 * n // 8-cpu tasks on 16-cpu agents
	for i := range m {
		name := fmt.Sprintf("fw-%d", i)
		r := roleOf(i)
		fair[name] = float64(weights[r]) / totalWeight / float64(perRole[r])
		if err := c.Create(ctx, &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: kov1.FrameworkSpec{Role: r, Scheduler: &kov1.BuiltinScheduler{Policy: kov1.SchedulingPolicyFirstFit}}}); err != nil {
			return nil, nil, nil, 0, err
		}
	}
	created := make([]int, m)
	// topUp gives every framework slots unfinished tasks again, the
	// creations interleaved so no framework is first in line.
	topUp := func(unfinished map[string]int) error {
		var names [][2]string
		for round := 0; ; round++ {
			added := false
			for i := range m {
				fw := fmt.Sprintf("fw-%d", i)
				if unfinished[fw]+round < slots {
					names = append(names, [2]string{fw, fmt.Sprintf("f%d-%05d", i, created[i])})
					created[i]++
					added = true
				}
			}
			if !added {
				break
			}
		}
		return parallel(ctx, len(names), 16, func(j int) error {
			return c.Create(ctx, benchTask(ns, names[j][1], names[j][0], "8", "16Gi"))
		})
	}
	if err := topUp(nil); err != nil {
		return nil, nil, nil, 0, err
	}
	shares := map[string][]float64{}
	var fullAt time.Time
	for start := time.Now(); time.Since(start) < 5*time.Minute; {
		var l kov1.TaskList
		if err := f.cache.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return nil, nil, nil, 0, err
		}
		held, unfinished := map[string]int{}, map[string]int{}
		total := 0
		for _, t := range l.Items {
			if t.Status.State.IsTerminal() {
				continue
			}
			unfinished[t.Spec.FrameworkName]++
			if t.Status.AgentName != "" {
				held[t.Spec.FrameworkName]++
				total++
			}
		}
		for name := range fair {
			shares[name] = append(shares[name], float64(held[name])/float64(slots))
		}
		if fullAt.IsZero() && total >= slots {
			fullAt = time.Now()
		}
		if !fullAt.IsZero() && time.Since(fullAt) >= fairWindow {
			break
		}
		if err := topUp(unfinished); err != nil {
			return nil, nil, nil, 0, err
		}
		time.Sleep(500 * time.Millisecond)
	}
	if fullAt.IsZero() {
		return nil, nil, nil, 0, fmt.Errorf("fairness: the %d slots never all held a task in 5 minutes", slots)
	}
	mean, maxErr := judgeShares(shares, fair, int(fairWindow/(500*time.Millisecond))/2)
	return shares, fair, mean, maxErr, c.DeleteAllOf(ctx, &kov1.Task{}, client.InNamespace(ns))
}

// judgeShares averages each framework's last k samples and returns the
// means and the largest error from the fair shares, in per cent of each.
func judgeShares(samples map[string][]float64, fair map[string]float64, k int) (map[string]float64, float64) {
	mean := map[string]float64{}
	maxErr := 0.0
	for name, want := range fair {
		s := samples[name]
		tail := s[max(0, len(s)-k):]
		sum := 0.0
		for _, v := range tail {
			sum += v
		}
		if len(tail) > 0 {
			mean[name] = sum / float64(len(tail))
		}
		maxErr = math.Max(maxErr, math.Abs(mean[name]-want)/want*100)
	}
	return mean, maxErr
}

// kubeScheduler registers n fake Nodes (same capacity as the agents, no
// kubelet) and then, for each comparison's client-limit setting in turn,
// runs kube-scheduler (built from source at the pinned version) with that
// limit and measures k plain Pods from create to bound, and what they cost.
func kubeScheduler(ctx context.Context, cp *controlplane.ControlPlane, c client.Client, meter *costMeter, n, k int, cmps []Comparison) error {
	if err := fakeNodes(ctx, c, n); err != nil {
		return err
	}
	dir, err := exec.Command(filepath.Join(controlplane.RepoRoot(), "hack", "build-binaries.sh"), "--print-dir", "kube").Output()
	if err != nil {
		return err
	}
	bin := filepath.Join(strings.TrimSpace(string(dir)), "kube-scheduler")
	if err := exec.Command(filepath.Join(controlplane.RepoRoot(), "hack", "build-binaries.sh"), "kube-scheduler").Run(); err != nil {
		return fmt.Errorf("building kube-scheduler: %w", err)
	}
	def := shippedLimit(bin)
	for i := range cmps {
		lim := limitSettings[cmps[i].Limits]
		cmps[i].KubeScheduler = effectiveLimit(def, lim.args())
		if cmps[i].KubeSched, err = kubeSchedulerBurst(ctx, cp, c, meter, bin, lim.args(), "kube-sched-"+lim.Name, k); err != nil {
			return fmt.Errorf("%s limits: %w", lim.Name, err)
		}
		fmt.Printf("   kube-scheduler at %s limits done: %.0f pods/s\n", lim.Name, cmps[i].KubeSched.BoundPerSec)
	}
	return nil
}

// fakeNodes registers n Ready Nodes of 16 cpu / 64 GiB with no kubelet.
func fakeNodes(ctx context.Context, c client.Client, n int) error {
	return parallel(ctx, n, 16, func(i int) error {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("fake-node-%05d", i), Labels: map[string]string{corev1.LabelHostname: fmt.Sprintf("fake-node-%05d", i)}}}
		if err := c.Create(ctx, node); err != nil {
			return err
		}
		node.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: mustQ("16"), corev1.ResourceMemory: mustQ("64Gi"), corev1.ResourcePods: mustQ("250")}
		node.Status.Allocatable = node.Status.Capacity
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "Fake", LastHeartbeatTime: metav1.Now()}}
		if err := c.Status().Update(ctx, node); err != nil {
			return err
		}
		// The API server taints new Nodes not-ready; the node lifecycle
		// controller (not running here) lifts it once they are Ready.
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
				return err
			}
			node.Spec.Taints = nil
			return c.Update(ctx, node)
		})
	})
}

// warmupPod is the Pod that shows kube-scheduler ready (its caches hold
// the Nodes) before a burst starts; it is not measured.
const warmupPod = "warmup"

// kubeSchedulerBurst runs kube-scheduler with args, waits until it binds a
// first Pod, then creates k Pods in namespace ns and measures them until
// all are bound. The Pods are deleted afterwards.
func kubeSchedulerBurst(ctx context.Context, cp *controlplane.ControlPlane, c client.Client, meter *costMeter, bin string, args []string, ns string, k int) (Path, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sched := exec.CommandContext(sctx, bin, append([]string{"--kubeconfig", cp.KubeconfigPath, "--leader-elect=false", "--secure-port=0", "-v=0"}, args...)...)
	if err := sched.Start(); err != nil {
		return Path{}, err
	}
	meter.pids["kube-scheduler"] = sched.Process.Pid
	defer func() { cancel(); _ = sched.Wait(); delete(meter.pids, "kube-scheduler") }()

	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return Path{}, err
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox:stable",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: mustQ("100m"), corev1.ResourceMemory: mustQ("128Mi")}}}}}}
	}
	var mu sync.Mutex
	created, bound := map[string]time.Time{}, map[string]time.Time{}
	ca, err := cache.New(meter.cfg, cache.Options{Scheme: cp.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return Path{}, err
	}
	inf, err := ca.GetInformer(sctx, &corev1.Pod{})
	if err != nil {
		return Path{}, err
	}
	onPod := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			mu.Lock()
			if _, seen := bound[p.Name]; !seen {
				bound[p.Name] = time.Now()
			}
			mu.Unlock()
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: onPod, UpdateFunc: func(_, o any) { onPod(o) }}); err != nil {
		return Path{}, err
	}
	go func() { _ = ca.Start(sctx) }()
	ca.WaitForCacheSync(sctx)
	// Ready: kube-scheduler binds a Pod.
	if err := c.Create(ctx, pod(warmupPod)); err != nil {
		return Path{}, err
	}
	if err := waitFor(ctx, 2*time.Minute, func() bool { mu.Lock(); defer mu.Unlock(); _, ok := bound[warmupPod]; return ok }); err != nil {
		return Path{}, fmt.Errorf("kube-scheduler did not bind a first pod: %w", err)
	}

	s0 := meter.sample()
	if err := parallel(ctx, k, 16, func(i int) error {
		p := pod(fmt.Sprintf("p-%05d", i))
		if err := c.Create(ctx, p); err != nil {
			return err
		}
		mu.Lock()
		created[p.Name] = time.Now()
		mu.Unlock()
		return nil
	}); err != nil {
		return Path{}, err
	}
	if err := waitFor(ctx, 10*time.Minute, func() bool { mu.Lock(); defer mu.Unlock(); return len(bound) >= k+1 }); err != nil {
		return Path{}, fmt.Errorf("%d of %d pods bound: %w", len(bound)-1, k, err)
	}
	meter.settle(ctx)
	cost := costBetween(s0, meter.sample(), k)
	mu.Lock()
	var first, last time.Time
	var ds []time.Duration
	for name, c := range created {
		if first.IsZero() || c.Before(first) {
			first = c
		}
		b := bound[name]
		if b.After(last) {
			last = b
		}
		ds = append(ds, b.Sub(c))
	}
	mu.Unlock()
	path := Path{BoundPerSec: float64(k) / last.Sub(first).Seconds(), Bound: latencies(ds), Cost: cost}
	// The next setting starts on empty Nodes; nothing runs these Pods, so
	// they go at once.
	return path, c.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.GracePeriodSeconds(0))
}

// ceilingWriters is how many writers measure the API server's write
// ceiling: enough that the API server, not the writers, is the limit.
const ceilingWriters = 64

// writeCeiling is how many ConfigMaps ceilingWriters writers create per
// second in 10s through c, which has no client-side rate limit: the API
// server's write ceiling on this machine, and what a write cost.
func writeCeiling(ctx context.Context, c client.Client, meter *costMeter) (float64, Cost) {
	ns := "ceiling"
	_ = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	var n atomic.Int64
	s0 := meter.sample()
	end := time.Now().Add(10 * time.Second)
	var wg sync.WaitGroup
	for w := range ceilingWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("w%d-%d", w, i)}, Data: map[string]string{"k": "v"}}
				if c.Create(ctx, cm) == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	s1 := meter.sample()
	return float64(n.Load()) / s1.at.Sub(s0.at).Seconds(), costBetween(s0, s1, int(n.Load()))
}

// steadyStream submits tasks at a steady rate for a while through a
// built-in framework (each runs for 5s and finishes, so resources keep
// turning over) and measures create→Running, and the rate the tasks
// actually started at.
func steadyStream(ctx context.Context, c client.Client, f *fleet, obs *observer, rate int, d time.Duration) (latency, float64, error) {
	ns := "stream"
	f.duration = 5 * time.Second
	defer func() { f.duration = 0 }()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return latency{}, 0, err
	}
	if err := c.Create(ctx, &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stream"},
		Spec: kov1.FrameworkSpec{Scheduler: &kov1.BuiltinScheduler{Policy: kov1.SchedulingPolicyFirstFit}}}); err != nil {
		return latency{}, 0, err
	}
	total := int(float64(rate) * d.Seconds())
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range total {
		select {
		case <-ctx.Done():
			return latency{}, 0, ctx.Err()
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := benchTask(ns, fmt.Sprintf("st-%05d", i), "stream", "500m", "1Gi")
			obs.created1(ns, t.Name)
			if c.Create(ctx, t) != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return latency{}, 0, fmt.Errorf("stream: %d task creations failed", n)
	}
	if err := waitFor(ctx, 5*time.Minute, func() bool { return obs.runningIn(ns) >= total }); err != nil {
		return latency{}, 0, fmt.Errorf("stream: %d of %d running: %w", obs.runningIn(ns), total, err)
	}
	perSec, _, running, _ := obs.result(ns)
	return running, perSec, c.DeleteAllOf(ctx, &kov1.Task{}, client.InNamespace(ns))
}
