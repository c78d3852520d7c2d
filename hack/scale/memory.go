package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// Memory is the memory point: the master's and agentd's peak memory with
// every task of a large cluster bound.
type Memory struct {
	Agents int `json:"agents"`
	Tasks  int `json:"tasks"`
	// Created is how many of the tasks existed when the point ended.
	Created int `json:"created"`
	// Capped says the point ended at -memory-for, before every task was
	// bound: the peaks are then those of Created tasks held, Bound bound.
	Capped bool `json:"capped,omitempty"`
	// Bound is how many tasks were bound when the point ended, Running
	// how many of them the simulated agents ran (the real agentd's stay
	// Staging: no kubelet runs its Pods).
	Bound   int `json:"bound"`
	Running int `json:"running"`
	// AgentdTasks are the tasks bound to the real agentd's node.
	AgentdTasks   int     `json:"agentdTasks"`
	MasterPeakMiB float64 `json:"masterPeakMiB"`
	// MasterLimitMiB is the memory limit of the cgroup the master ran in
	// (-memory-master-limit; 0: none), as a Pod's resources.limits.memory,
	// and MasterOOMKills how often the kernel killed it for going past.
	MasterLimitMiB float64 `json:"masterLimitMiB,omitempty"`
	MasterOOMKills int     `json:"masterOomKills,omitempty"`
	// MasterSoftLimitMiB is the Go runtime's soft memory limit the master
	// set from its cgroup (go_gc_gomemlimit_bytes; 0: none).
	MasterSoftLimitMiB float64 `json:"masterSoftLimitMiB,omitempty"`
	// MasterHeapMiB is the master's Go heap in use at the end
	// (go_memstats_heap_inuse_bytes): what it holds live, where the peak
	// also counts what the garbage collector had not yet returned.
	MasterHeapMiB float64 `json:"masterHeapMiB"`
	MasterCPUSec  float64 `json:"masterCpuSeconds"`
	AgentdPeakMiB float64 `json:"agentdPeakMiB"`
	AgentdCPUSec  float64 `json:"agentdCpuSeconds"`
	// TasksPerSec is create→bound throughput over the whole point, with
	// every earlier task still held.
	TasksPerSec float64 `json:"tasksPerSec"`
	Seconds     float64 `json:"seconds"`
}

// memoryAgent is the node the real agentd runs for. It sorts before the
// simulated agents, so the built-in FirstFit scheduler fills it first.
const memoryAgent = "real-agentd"

// parseMemory reads -memory: "" (no memory point) or <agents>x<tasks>.
func parseMemory(s string) (agents, tasks int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, t, ok := strings.Cut(s, "x")
	if ok {
		agents, err = strconv.Atoi(a)
		if err == nil {
			tasks, err = strconv.Atoi(t)
		}
	}
	if !ok || err != nil || agents < 2 || tasks < 1 {
		return 0, 0, fmt.Errorf("-memory %q: want <agents>x<tasks>, e.g. 10000x100000, with at least 2 agents", s)
	}
	return agents, tasks, nil
}

// memoryPoint runs n agents — n-1 simulated and one real agentd process —
// of 1 cpu / 4 GiB each, and k tasks of 100m / 128Mi through one built-in
// FirstFit framework: k = 10·n fills the cluster. It ends when every task
// is bound and those on the simulated agents are Running, and reports the
// peak resident memory (VmHWM) of the master and of agentd. The master
// runs at its shipped client limit. agentd holds only its own node's
// objects (its caches select by node), so its figure is what any agentd of
// such a cluster needs.
//
// It ends after at most d, and then reports how far it got. With limit > 0
// the master runs in a cgroup of that memory limit, as in a Pod.
func memoryPoint(masterBin string, n, k int, d time.Duration, limit int64) (Memory, error) {
	mem := Memory{Agents: n, Tasks: k, MasterLimitMiB: float64(limit) / (1 << 20)}
	agentdBin, err := buildAgentd()
	if err != nil {
		return mem, err
	}
	cp, err := controlplane.Start()
	if err != nil {
		return mem, err
	}
	defer cp.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hcfg := unthrottled(cp.Config)
	c, err := client.New(hcfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		return mem, err
	}
	f := &fleet{c: c, n: n - 1, cpu: "1", mem: "4Gi", running: map[string]time.Time{}, finished: map[string]time.Time{}}
	if err := f.publish(ctx); err != nil {
		return mem, fmt.Errorf("publishing agents: %w", err)
	}
	go f.heartbeat(ctx)
	agentd, err := startAgentd(ctx, agentdBin, cp, c, memoryAgent, "1", "4Gi")
	if err != nil {
		return mem, err
	}
	defer func() { _ = agentd.Process.Kill(); _ = agentd.Wait() }()

	obs := newObserver()
	ca, err := cache.New(hcfg, cache.Options{Scheme: cp.Scheme})
	if err != nil {
		return mem, err
	}
	f.cache = ca
	inf, err := ca.GetInformer(ctx, &kov1.Task{})
	if err != nil {
		return mem, err
	}
	if _, err := ca.GetInformer(ctx, &kov1.Agent{}); err != nil {
		return mem, err
	}
	handle := func(obj any) {
		t, ok := obj.(*kov1.Task)
		if !ok {
			return
		}
		obs.see(t)
		// The real agentd runs its own tasks.
		if t.Status.AgentName != memoryAgent {
			go f.onTask(ctx, t)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: handle, UpdateFunc: func(_, o any) { handle(o) }}); err != nil {
		return mem, err
	}
	go func() { _ = ca.Start(ctx) }()
	ca.WaitForCacheSync(ctx)

	var g *memoryCgroup
	if limit > 0 {
		if g, err = newMemoryCgroup(fmt.Sprintf("kubeoffer-scale-master-%d", os.Getpid()), limit); err != nil {
			// Not root, or no cgroup to divide: the point still measures
			// the peak, and the report shows no limit.
			fmt.Printf("   memory point: running the master without a memory limit: %v\n", err)
			mem.MasterLimitMiB, g = 0, nil
		} else {
			defer g.remove() // deferred before master.stop, so it runs after
		}
	}
	master, err := startMasterIn(ctx, masterBin, cp, append([]string(nil), masterArgs...), g)
	if err != nil {
		return mem, err
	}
	defer master.stop()
	if err := master.waitReady(ctx, ca, n); err != nil {
		return mem, err
	}

	const ns = "memory"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return mem, err
	}
	if err := c.Create(ctx, &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fw"},
		Spec: kov1.FrameworkSpec{Scheduler: &kov1.BuiltinScheduler{Policy: kov1.SchedulingPolicyFirstFit}}}); err != nil {
		return mem, err
	}
	t0 := time.Now()
	var created atomic.Int64
	// The creators stop when the point ends, before its figures are read.
	cctx, stopCreating := context.WithCancel(ctx)
	creating := make(chan error, 1)
	go func() {
		creating <- parallel(cctx, k, 16, func(i int) error {
			t := benchTask(ns, fmt.Sprintf("t-%06d", i), "fw", "100m", "128Mi")
			if err := c.Create(cctx, t); err != nil {
				return err
			}
			created.Add(1)
			obs.created1(ns, t.Name)
			return nil
		})
	}()
	// Progress every minute: a point of this size runs for many minutes.
	next := time.Now().Add(time.Minute)
	done := func() bool {
		bound, running, own := memoryCounts(ca, ctx, ns)
		mem.Bound, mem.Running, mem.AgentdTasks = bound, running, own
		if time.Now().After(next) {
			fmt.Printf("   memory point: %d of %d tasks created, %d bound, %d Running, after %s\n", created.Load(), k, bound, running, time.Since(t0).Round(time.Second))
			next = time.Now().Add(time.Minute)
		}
		return bound >= k && running >= k-own
	}
	err = waitFor(ctx, d, done)
	if err != nil && ctx.Err() == nil {
		mem.Capped, err = true, nil
	}
	stopCreating()
	if cerr := <-creating; cerr != nil && !errors.Is(cerr, context.Canceled) {
		// A create that failed before the end stopped its creator.
		fmt.Printf("   memory point: creating tasks failed: %v\n", cerr)
	}
	mem.Seconds = time.Since(t0).Seconds()
	mem.Created = int(created.Load())
	if p := obs.path(ns); p.BoundPerSec > 0 {
		mem.TasksPerSec = p.BoundPerSec
	}
	mem.MasterCPUSec, mem.MasterPeakMiB = procStats(master.cmd.Process.Pid)
	if mm, merr := master.metrics(); merr == nil {
		mem.MasterHeapMiB = mm["go_memstats_heap_inuse_bytes"] / (1 << 20)
		if soft := mm["go_gc_gomemlimit_bytes"]; soft > 0 && soft < math.MaxInt64 {
			mem.MasterSoftLimitMiB = soft / (1 << 20)
		}
	}
	mem.AgentdCPUSec, mem.AgentdPeakMiB = procStats(agentd.Process.Pid)
	if g != nil {
		mem.MasterOOMKills = g.oomKills()
	}
	if err != nil {
		return mem, fmt.Errorf("memory point: %d of %d bound, %d Running: %w", mem.Bound, k, mem.Running, err)
	}
	return mem, nil
}

// memoryCounts counts the tasks of ns that are bound, Running, and bound
// to the real agentd, from the cache (without copies: it is polled, and
// holds 100,000 tasks in FULL=1 make bench).
func memoryCounts(r client.Reader, ctx context.Context, ns string) (bound, running, own int) {
	var l kov1.TaskList
	if r.List(ctx, &l, client.InNamespace(ns), client.UnsafeDisableDeepCopy) != nil {
		return 0, 0, 0
	}
	for i := range l.Items {
		t := &l.Items[i]
		if t.Status.AgentName == "" {
			continue
		}
		bound++
		if t.Status.AgentName == memoryAgent {
			own++
		}
		if t.Status.State == kov1.TaskRunning {
			running++
		}
	}
	return bound, running, own
}

func buildAgentd() (string, error) {
	bin := filepath.Join(os.TempDir(), "kubeoffer-agentd-bench")
	cmd := exec.Command("go", "build", "-o", bin, "./agentd")
	cmd.Dir = controlplane.RepoRoot()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return bin, cmd.Run()
}

// startAgentd registers a Ready Node named node (as a kubelet would) and
// runs the agentd binary for it, as the chart's DaemonSet does.
func startAgentd(ctx context.Context, bin string, cp *controlplane.ControlPlane, c client.Client, node, cpu, memory string) (*exec.Cmd, error) {
	nd := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{corev1.LabelHostname: node}}}
	if err := c.Create(ctx, nd); err != nil {
		return nil, err
	}
	alloc := corev1.ResourceList{corev1.ResourceCPU: mustQ(cpu), corev1.ResourceMemory: mustQ(memory), corev1.ResourcePods: mustQ("110")}
	nd.Status.Allocatable, nd.Status.Capacity = alloc, alloc
	nd.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}}
	if err := c.Status().Update(ctx, nd); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", cp.KubeconfigPath, "--node-name", node, "--lease-namespace", leaseNS,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--zap-log-level", "error")
	cmd.Stderr = os.Stderr
	return cmd, cmd.Start()
}

// printMemory prints the memory point.
func printMemory(m Memory) {
	fmt.Printf("   memory point, %d agents × %d tasks: %s%d created, %d bound (%d on the real agentd), %d Running, in %.0f s (%.0f tasks/s); master peak %.0f MiB%s, heap in use %.0f MiB (%.0f CPU-s), agentd peak %.0f MiB (%.1f CPU-s)\n",
		m.Agents, m.Tasks, capped(m), m.Created, m.Bound, m.AgentdTasks, m.Running, m.Seconds, m.TasksPerSec, m.MasterPeakMiB, limited(m), m.MasterHeapMiB, m.MasterCPUSec, m.AgentdPeakMiB, m.AgentdCPUSec)
}

// limited says, when the master ran in a cgroup with a memory limit, what
// the limit was and how often the kernel killed the master for it.
func limited(m Memory) string {
	if m.MasterLimitMiB == 0 {
		return ""
	}
	return fmt.Sprintf(" in a cgroup limited to %.0f MiB (its Go soft limit %.0f MiB; killed for going past it %d times)", m.MasterLimitMiB, m.MasterSoftLimitMiB, m.MasterOOMKills)
}

// capped says, when the memory point ended at its time cap, that it did.
func capped(m Memory) string {
	if !m.Capped {
		return ""
	}
	return fmt.Sprintf("ended at the -memory-for cap after %.0f s, before every task was bound: ", m.Seconds)
}
