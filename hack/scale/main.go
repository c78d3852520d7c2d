// Command scale is kubeoffer's scale and performance harness, `make bench`.
// On one real kube-apiserver + etcd (the binaries the tests use) per grid
// point it runs the master (the built binary, as users do) against N
// simulated agents and M frameworks in weighted roles, and measures:
//
//   - a burst of K tasks through the built-in scheduler: tasks/s and
//     p50/p90/p99 latency from create to bound and to Running;
//   - the same burst through an SDK framework (a greedy scheduler process
//     built on sdk.Driver, in this process);
//   - short tasks that finish and free resources: how soon a freed agent is
//     offered again;
//   - with several frameworks, each one's dominant share over time against
//     its weighted fair share, under contention;
//   - the master's allocation cycle time (its own histogram), API writes per
//     task, and the master's CPU and peak memory;
//
// then, on the same API server, kube-scheduler (built from source at the
// pinned version) placing K plain Pods on N fake Nodes, and the API server's
// own write ceiling (a tight create loop with no client-side limit). With
// -memory (FULL=1 make bench: 10,000 agents and 100,000 tasks) it then
// fills a cluster of that size, one agent a real agentd process, and
// reports the master's and agentd's peak memory (memory.go). It writes
// report.md, results.json and PNG plots to -out.
//
// The comparison is fair: the master and kube-scheduler run with the same
// client limits, in turn at each one's shipped default and both
// unthrottled (-limits); each burst starts only once the master leads, has
// seen every agent Reachable and finished a pass (kube-scheduler: once it
// has bound a first Pod); throughput is create→bound against create→bound;
// and each burst reports what a task cost: CPU-ms in every process and
// API requests by verb and resource.
//
// `scale chaos` (chaos.go, `make chaos`) is the chaos run instead: master
// replicas with leader election, simulated agents running agentd's task
// code, built-in and SDK frameworks, and a seeded schedule of faults, with
// the invariant checker of test/invariants watching; docs/chaos.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/sdk"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// Point is one grid point's figures.
type Point struct {
	Agents     int `json:"agents"`
	Frameworks int `json:"frameworks"`
	Tasks      int `json:"tasks"`

	BuiltinTasksPerSec float64 `json:"builtinTasksPerSec"`
	BuiltinBound       latency `json:"builtinCreateToBoundMs"`
	BuiltinRunning     latency `json:"builtinCreateToRunningMs"`
	SDKTasksPerSec     float64 `json:"sdkTasksPerSec"`
	SDKRunning         latency `json:"sdkCreateToRunningMs"`
	OfferLatency       latency `json:"offerAfterFreeMs"`
	StreamRate         int     `json:"streamTasksPerSecOffered"`
	StreamTasksPerSec  float64 `json:"streamTasksPerSecRunning"`
	StreamRunning      latency `json:"streamCreateToRunningMs"`

	AllocationMeanMs float64 `json:"allocationCycleMeanMs"`
	AllocationP99Ms  float64 `json:"allocationCycleP99Ms"`
	WritesPerTask    float64 `json:"apiWritesPerTask"`
	MasterCPUSec     float64 `json:"masterCpuSeconds"`
	MasterPeakMiB    float64 `json:"masterPeakMiB"`
	SimCPUSec        float64 `json:"simulatedAgentsCpuSeconds"`
	SimPeakMiB       float64 `json:"simulatedAgentsPeakMiB"`

	// Fairness: per framework, dominant share samples over time, and the
	// weighted fair share.
	// MeanShares are the shares averaged over the second half of the
	// phase's window, and MaxFairErr their largest error from FairShares.
	Shares     map[string][]float64 `json:"shares,omitempty"`
	FairShares map[string]float64   `json:"fairShares,omitempty"`
	MeanShares map[string]float64   `json:"meanShares,omitempty"`
	MaxFairErr float64              `json:"maxFairShareErrorPct"`

	KubeSchedPodsPerSec float64 `json:"kubeSchedulerPodsPerSec"`
	KubeSchedBound      latency `json:"kubeSchedulerCreateToBoundMs"`
	// RatioToKubeSched is built-in ÷ kube-scheduler create→bound
	// throughput at the first client-limit setting (Comparisons[0]).
	RatioToKubeSched float64 `json:"builtinToKubeSchedulerRatio"`

	// Comparisons hold, per client-limit setting (-limits), kubeoffer's
	// bursts against kube-scheduler's, with what each cost per task. The
	// figures above (bursts, writes per task) are the first setting's.
	Comparisons []Comparison `json:"comparisons"`
}

// Report is everything a run measured.
type Report struct {
	Date            string   `json:"date"`
	Machine         string   `json:"machine"`
	MasterArgs      []string `json:"masterArgs,omitempty"`
	APIWriteCeiling float64  `json:"apiWritesPerSecCeiling"`
	// APIWriteCeilingCost is what the ceiling's writes cost: CPU-ms per
	// write by process.
	APIWriteCeilingCost Cost    `json:"apiWriteCeilingCost"`
	Points              []Point `json:"points"`
	// Memory is the memory point (-memory), if it ran.
	Memory           *Memory `json:"memory,omitempty"`
	AgentCPU, AgentM string  `json:"-"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "chaos" {
		os.Exit(chaosMain(os.Args[2:]))
	}
	agentsFlag := flag.String("agents", "100,1000", "Comma-separated agent counts.")
	fwFlag := flag.String("frameworks", "1,10", "Comma-separated framework counts.")
	tasks := flag.Int("tasks", 2000, "Tasks per burst (K).")
	flag.IntVar(&streamRate, "stream-rate", 20, "Tasks per second of the steady stream (20s of it).")
	out := flag.String("out", "", "Results folder (default results/<timestamp>).")
	flag.Var(&masterArgs, "master-arg", "An extra flag for the master, e.g. -master-arg=--zap-log-level=1 (repeatable).")
	limitsFlag := flag.String("limits", "default,unthrottled", "Comma-separated client-limit settings the master and kube-scheduler both run with, in turn: default (each its shipped default) and unthrottled (--kube-api-qps=5000 --kube-api-burst=10000). The phases after the bursts run at the first.")
	memoryFlag := flag.String("memory", "", "A memory point after the grid, as <agents>x<tasks> (e.g. 10000x100000): every task bound through one built-in framework, one agent a real agentd; reports the master's and agentd's peak memory. Empty: none.")
	memoryLimit := flag.String("memory-master-limit", "", "The memory point runs the master in a cgroup with this memory limit (e.g. 1Gi), as a Pod's resources.limits.memory; needs root. Empty: none.")
	memoryFor := flag.Duration("memory-for", time.Hour, "The memory point ends after this long even if not every task is bound, and reports how far it got.")
	flag.Parse()
	var err error
	// Read before the grid runs, so a typo fails at once, not hours later.
	var memLimit int64
	if *memoryLimit != "" {
		q, err := resource.ParseQuantity(*memoryLimit)
		if err != nil || q.Sign() <= 0 {
			fmt.Fprintf(os.Stderr, "-memory-master-limit %q: want a positive quantity such as 1Gi\n", *memoryLimit)
			os.Exit(2)
		}
		memLimit = q.Value()
	}
	if limits, err = parseLimits(*limitsFlag); err != nil {
		fail(err)
	}
	memAgents, memTasks, err := parseMemory(*memoryFlag)
	if err != nil {
		fail(err)
	}
	ctrl.SetLogger(zap.New(zap.Level(zapcore.Level(2))))
	if *out == "" {
		*out = filepath.Join(controlplane.RepoRoot(), "results", time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	master, err := buildMaster()
	if err != nil {
		fail(err)
	}
	rep := &Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), MasterArgs: masterArgs}
	for _, n := range ints(*agentsFlag) {
		for _, m := range ints(*fwFlag) {
			fmt.Printf("== %d agents × %d frameworks, %d tasks\n", n, m, *tasks)
			p, err := runPoint(master, n, m, *tasks, rep.APIWriteCeiling == 0, rep)
			if err != nil {
				fail(fmt.Errorf("%d agents × %d frameworks: %w", n, m, err))
			}
			rep.Points = append(rep.Points, p)
			printPoint(p)
		}
	}
	if len(rep.Points) > 0 {
		fmt.Printf("== API server write ceiling: %.0f writes/s (%d writers creating ConfigMaps, no client-side limit); per write: %s\n",
			rep.APIWriteCeiling, ceilingWriters, costLine(rep.APIWriteCeilingCost))
	}
	if memAgents > 0 {
		fmt.Printf("== memory point: %d agents, %d tasks\n", memAgents, memTasks)
		m, err := memoryPoint(master, memAgents, memTasks, *memoryFor, memLimit)
		rep.Memory = &m
		printMemory(m)
		if err != nil {
			_ = write(*out, rep)
			fail(err)
		}
	}
	if err := write(*out, rep); err != nil {
		fail(err)
	}
	fmt.Println("wrote", *out)
}

// streamRate is the steady stream's tasks per second.
var streamRate int

// limits are the client-limit settings each point runs at, in turn.
var limits []clientLimits

// masterArgs are extra flags for the master.
var masterArgs stringList

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	os.Exit(1)
}

func ints(s string) []int {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func machine() string {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s, %s/%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func buildMaster() (string, error) {
	bin := filepath.Join(os.TempDir(), "kubeoffer-master-bench")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = controlplane.RepoRoot()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return bin, cmd.Run()
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 18080
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// observer records, per task, when this process first saw it created,
// bound and running (wall clock, ms precision; API timestamps are seconds).
type observer struct {
	mu      sync.Mutex
	created map[string]time.Time
	bound   map[string]time.Time
	running map[string]time.Time
}

func newObserver() *observer {
	return &observer{created: map[string]time.Time{}, bound: map[string]time.Time{}, running: map[string]time.Time{}}
}

func (o *observer) see(t *kov1.Task) {
	now := time.Now()
	key := t.Namespace + "/" + t.Name
	o.mu.Lock()
	defer o.mu.Unlock()
	if t.Status.AgentName != "" {
		if _, ok := o.bound[key]; !ok {
			o.bound[key] = now
		}
	}
	if t.Status.State == kov1.TaskRunning || t.Status.State == kov1.TaskFinished {
		if _, ok := o.running[key]; !ok {
			o.running[key] = now
		}
	}
}

func (o *observer) created1(ns, name string) {
	o.mu.Lock()
	o.created[ns+"/"+name] = time.Now()
	o.mu.Unlock()
}

// result computes throughput and latencies for the tasks of namespace ns.
func (o *observer) result(ns string) (perSec float64, bound, running latency, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var first, last time.Time
	var db, dr []time.Duration
	for k, c := range o.created {
		if !strings.HasPrefix(k, ns+"/") {
			continue
		}
		if first.IsZero() || c.Before(first) {
			first = c
		}
		if b, ok := o.bound[k]; ok {
			db = append(db, b.Sub(c))
		}
		if r, ok := o.running[k]; ok {
			dr = append(dr, r.Sub(c))
			if r.After(last) {
				last = r
			}
			n++
		}
	}
	if n > 0 && last.After(first) {
		perSec = float64(n) / last.Sub(first).Seconds()
	}
	return perSec, latencies(db), latencies(dr), n
}

// path is the create→bound and create→Running throughput and latencies
// of the tasks of namespace ns.
func (o *observer) path(ns string) Path {
	o.mu.Lock()
	defer o.mu.Unlock()
	var first, lastBound, lastRunning time.Time
	var db, dr []time.Duration
	for k, c := range o.created {
		if !strings.HasPrefix(k, ns+"/") {
			continue
		}
		if first.IsZero() || c.Before(first) {
			first = c
		}
		if b, ok := o.bound[k]; ok {
			db = append(db, b.Sub(c))
			if b.After(lastBound) {
				lastBound = b
			}
		}
		if r, ok := o.running[k]; ok {
			dr = append(dr, r.Sub(c))
			if r.After(lastRunning) {
				lastRunning = r
			}
		}
	}
	p := Path{Bound: latencies(db), Running: latencies(dr)}
	if lastBound.After(first) {
		p.BoundPerSec = float64(len(db)) / lastBound.Sub(first).Seconds()
	}
	if lastRunning.After(first) {
		p.RunningPerSec = float64(len(dr)) / lastRunning.Sub(first).Seconds()
	}
	return p
}

func (o *observer) runningIn(ns string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for k := range o.running {
		if strings.HasPrefix(k, ns+"/") {
			n++
		}
	}
	return n
}

func runPoint(masterBin string, n, m, k int, measureCeiling bool, rep *Report) (Point, error) {
	p := Point{Agents: n, Frameworks: m, Tasks: k}
	t0 := time.Now()
	// This process is the simulated agents (and the harness): its CPU is
	// counted from here, its peak memory reset (Linux's clear_refs).
	simCPU0, _ := procStats(os.Getpid())
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	cp, err := controlplane.Start()
	if err != nil {
		return p, err
	}
	defer cp.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The harness's own clients are unthrottled: its rate limiter must not
	// cap what it measures.
	hcfg := unthrottled(cp.Config)
	c, err := client.New(hcfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		return p, err
	}

	// The simulated agents: 16 cpu / 64 GiB each.
	f := &fleet{c: c, n: n, cpu: "16", mem: "64Gi", running: map[string]time.Time{}, finished: map[string]time.Time{}}
	if err := f.publish(ctx); err != nil {
		return p, fmt.Errorf("publishing agents: %w", err)
	}
	go f.heartbeat(ctx)
	obs := newObserver()
	ca, err := cache.New(hcfg, cache.Options{Scheme: cp.Scheme})
	if err != nil {
		return p, err
	}
	f.cache = ca
	inf, err := ca.GetInformer(ctx, &kov1.Task{})
	if err != nil {
		return p, err
	}
	if _, err := ca.GetInformer(ctx, &kov1.Agent{}); err != nil {
		return p, err
	}
	handle := func(obj any) {
		if t, ok := obj.(*kov1.Task); ok {
			obs.see(t)
			go f.onTask(ctx, t)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: handle, UpdateFunc: func(_, o any) { handle(o) }}); err != nil {
		return p, err
	}
	go func() { _ = ca.Start(ctx) }()
	ca.WaitForCacheSync(ctx)

	// Roles of weight 1, 2 and 3; framework i is in role i mod 3.
	weights := map[string]int32{"bronze": 1, "silver": 2, "gold": 3}
	roleOf := func(i int) string { return []string{"bronze", "silver", "gold"}[i%3] }
	for name, w := range weights {
		if err := c.Create(ctx, &kov1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kov1.RoleSpec{Weight: w}}); err != nil {
			return p, err
		}
	}

	meter := &costMeter{cfg: hcfg, pids: map[string]int{}}
	masterDefault := shippedLimit(masterBin)
	for i, lim := range limits {
		// The master, as users run it, with this setting's client limit.
		args := append(append([]string(nil), masterArgs...), lim.args()...)
		cmp := Comparison{Limits: lim.Name, Master: effectiveLimit(masterDefault, args)}
		master, err := startMaster(ctx, masterBin, cp, args)
		if err != nil {
			return p, err
		}
		if err := master.waitReady(ctx, ca, n); err != nil {
			master.stop()
			return p, err
		}
		meter.pids["master"], meter.master = master.cmd.Process.Pid, master
		suffix := ""
		if i > 0 {
			suffix = "-" + lim.Name
		}
		// A burst of K tasks through the built-in scheduler, then the same
		// through an SDK framework (one task per fit, packing each offer).
		ns, sdkNS := "burst"+suffix, "sdk"+suffix
		if cmp.Builtin, err = builtinBurst(ctx, c, obs, meter, ns, m, k, roleOf); err != nil {
			master.stop()
			return p, err
		}
		fmt.Printf("   %s limits: built-in burst done after %s\n", lim.Name, time.Since(t0).Round(time.Second))
		if cmp.SDK, err = sdkBurst(ctx, hcfg, c, obs, meter, sdkNS, k); err != nil {
			master.stop()
			return p, err
		}
		fmt.Printf("   %s limits: SDK burst done after %s\n", lim.Name, time.Since(t0).Round(time.Second))
		if err := deleteTasks(ctx, c, ns, sdkNS); err != nil {
			master.stop()
			return p, err
		}
		if i == 0 {
			p.BuiltinTasksPerSec, p.BuiltinBound, p.BuiltinRunning = cmp.Builtin.RunningPerSec, cmp.Builtin.Bound, cmp.Builtin.Running
			p.WritesPerTask = cmp.Builtin.Cost.TotalWrites
			p.SDKTasksPerSec, p.SDKRunning = cmp.SDK.RunningPerSec, cmp.SDK.Running
			if err := laterPhases(ctx, cp, c, f, obs, master, &p, n, m, t0, simCPU0, roleOf, weights); err != nil {
				master.stop()
				return p, err
			}
		}
		master.stop()
		delete(meter.pids, "master")
		meter.master = nil
		p.Comparisons = append(p.Comparisons, cmp)
	}

	// kube-scheduler on the same API server, once per agent count: its run
	// does not depend on how many frameworks kubeoffer had.
	if prev := sameAgents(rep, n, k); prev != nil {
		for i := range p.Comparisons {
			for _, pc := range prev.Comparisons {
				if pc.Limits == p.Comparisons[i].Limits {
					p.Comparisons[i].KubeScheduler, p.Comparisons[i].KubeSched = pc.KubeScheduler, pc.KubeSched
				}
			}
		}
	} else if err := kubeScheduler(ctx, cp, c, meter, n, k, p.Comparisons); err != nil {
		return p, fmt.Errorf("kube-scheduler: %w", err)
	}
	for i := range p.Comparisons {
		p.Comparisons[i].ratios()
	}
	if len(p.Comparisons) > 0 {
		first := p.Comparisons[0]
		p.KubeSchedPodsPerSec, p.KubeSchedBound, p.RatioToKubeSched = first.KubeSched.BoundPerSec, first.KubeSched.Bound, first.BuiltinToKubeS
	}
	if measureCeiling {
		rep.APIWriteCeiling, rep.APIWriteCeilingCost = writeCeiling(ctx, c, meter)
	}
	return p, nil
}

// builtinBurst creates k tasks for m built-in FirstFit frameworks in
// namespace ns and measures them until all are Running.
func builtinBurst(ctx context.Context, c client.Client, obs *observer, meter *costMeter, ns string, m, k int, roleOf func(int) string) (Path, error) {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return Path{}, err
	}
	for i := range m {
		fw := &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("fw-%d", i)},
			Spec: kov1.FrameworkSpec{Role: roleOf(i), Scheduler: &kov1.BuiltinScheduler{Policy: kov1.SchedulingPolicyFirstFit}}}
		if err := c.Create(ctx, fw); err != nil {
			return Path{}, err
		}
	}
	s0 := meter.sample()
	if err := parallel(ctx, k, 16, func(i int) error {
		t := benchTask(ns, fmt.Sprintf("t-%05d", i), fmt.Sprintf("fw-%d", i%m), "100m", "128Mi")
		if err := c.Create(ctx, t); err != nil {
			return err
		}
		obs.created1(ns, t.Name)
		return nil
	}); err != nil {
		return Path{}, err
	}
	if err := waitFor(ctx, 10*time.Minute, func() bool { return obs.runningIn(ns) >= k }); err != nil {
		return Path{}, fmt.Errorf("burst: %d of %d running (%s): %w", obs.runningIn(ns), k, taskStates(ctx, c, ns), err)
	}
	meter.settle(ctx)
	path := obs.path(ns)
	path.Cost = costBetween(s0, meter.sample(), k)
	return path, nil
}

// deleteTasks deletes every task of the namespaces and waits until they
// are gone, so the next phase starts on an empty cluster.
func deleteTasks(ctx context.Context, c client.Client, namespaces ...string) error {
	for _, ns := range namespaces {
		if err := c.DeleteAllOf(ctx, &kov1.Task{}, client.InNamespace(ns)); err != nil {
			return err
		}
	}
	return waitFor(ctx, 2*time.Minute, func() bool {
		for _, ns := range namespaces {
			var l kov1.TaskList
			if c.List(ctx, &l, client.InNamespace(ns), client.Limit(1)) != nil || len(l.Items) > 0 {
				return false
			}
		}
		return true
	})
}

// laterPhases are the phases run at the first client-limit setting only:
// freed agents offered again, the steady stream, the master's own figures
// and fairness.
func laterPhases(ctx context.Context, cp *controlplane.ControlPlane, c client.Client, f *fleet, obs *observer, master *masterProc, p *Point,
	n, m int, t0 time.Time, simCPU0 float64, roleOf func(int) string, weights map[string]int32) error {
	var err error
	// Short tasks that finish (2s) and free resources; how soon is a freed
	// agent offered again?
	if p.OfferLatency, err = offerLatency(ctx, cp.Config, c, f, obs, 2*min(n, groupSize)); err != nil {
		return err
	}
	fmt.Printf("   short tasks done after %s\n", time.Since(t0).Round(time.Second))
	// A steady stream of short tasks.
	p.StreamRate = streamRate
	if p.StreamRunning, p.StreamTasksPerSec, err = steadyStream(ctx, c, f, obs, streamRate, 20*time.Second); err != nil {
		return err
	}
	fmt.Printf("   steady stream done after %s\n", time.Since(t0).Round(time.Second))
	// The master's own figures.
	if mm, err := master.metrics(); err == nil {
		p.AllocationMeanMs = histogramMean(mm, "kubeoffer_allocation_run_seconds") * 1000
		p.AllocationP99Ms = histogramQuantile(mm, "kubeoffer_allocation_run_seconds", 0.99) * 1000
	}
	p.MasterCPUSec, p.MasterPeakMiB = procStats(master.cmd.Process.Pid)
	simCPU, simPeak := procStats(os.Getpid())
	p.SimCPUSec, p.SimPeakMiB = simCPU-simCPU0, simPeak
	// Fairness under contention (several frameworks), at the smallest
	// agent count only: saturating 1,000+ agents of 16 cpu takes tens of
	// thousands of tasks.
	if m > 1 && n <= 100 {
		if p.Shares, p.FairShares, p.MeanShares, p.MaxFairErr, err = fairness(ctx, c, f, n, min(m, 6), roleOf, weights); err != nil {
			return err
		}
		fmt.Printf("   fairness done after %s\n", time.Since(t0).Round(time.Second))
	}
	return nil
}

// sameAgents is an earlier point of rep with n agents and k tasks.
func sameAgents(rep *Report, n, k int) *Point {
	for i := range rep.Points {
		if p := &rep.Points[i]; p.Agents == n && p.Tasks == k && p.KubeSchedPodsPerSec > 0 {
			return p
		}
	}
	return nil
}

func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("timed out after %s", d)
}

// taskStates counts the tasks of namespace ns by state and reason, for a
// burst that did not finish: "Running 5557, Dropped/OfferExpired 4443".
func taskStates(ctx context.Context, c client.Reader, ns string) string {
	var l kov1.TaskList
	if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return "tasks unlisted: " + err.Error()
	}
	counts := map[string]int{}
	for _, t := range l.Items {
		state := string(t.Status.State)
		if state == "" {
			state = string(kov1.TaskPending)
		}
		if t.Status.Reason != "" {
			state += "/" + t.Status.Reason
		}
		counts[state]++
	}
	keys := make([]string, 0, len(counts))
	for s := range counts {
		keys = append(keys, s)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, s := range keys {
		parts[i] = fmt.Sprintf("%s %d", s, counts[s])
	}
	return strings.Join(parts, ", ")
}

func benchTask(ns, name, fw, cpu, mem string) *kov1.Task {
	return &kov1.Task{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: kov1.TaskSpec{FrameworkName: fw, Resources: corev1.ResourceList{corev1.ResourceCPU: mustQ(cpu), corev1.ResourceMemory: mustQ(mem)},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox:stable"}}}}},
	}
}

// sdkBurst runs the greedy SDK framework in namespace ns for k tasks and
// measures them until all are Running.
func sdkBurst(ctx context.Context, cfg *rest.Config, c client.Client, obs *observer, meter *costMeter, ns string, k int) (Path, error) {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return Path{}, err
	}
	cost, err := runSDK(ctx, cfg, ns, k, obs, meter)
	if err != nil {
		return Path{}, err
	}
	path := obs.path(ns)
	path.Cost = cost
	return path, nil
}

// runSDK runs a greedy SDK framework that launches k tasks, packing offers,
// and returns what it cost from its subscription until every task ran.
func runSDK(ctx context.Context, cfg *rest.Config, ns string, k int, obs *observer, meter *costMeter) (Cost, error) {
	var mu sync.Mutex
	next := 0
	sched := sdk.Funcs{OnResourceOffers: func(ctx context.Context, d *sdk.Driver, offers []*kov1.ResourceOffer) {
		for _, o := range offers {
			b := sdk.NewBudget(o)
			var launch []*kov1.Task
			mu.Lock()
			for next < k {
				g, ok := b.Take(sdk.Needs{Resources: corev1.ResourceList{corev1.ResourceCPU: mustQ("100m"), corev1.ResourceMemory: mustQ("128Mi")}})
				if !ok {
					break
				}
				t := benchTask("", fmt.Sprintf("s-%05d", next), "", "100m", "128Mi")
				t.Spec.Resources = g.Resources
				launch = append(launch, t)
				next++
			}
			done := next >= k
			mu.Unlock()
			for _, t := range launch {
				obs.created1(ns, t.Name)
			}
			if len(launch) == 0 {
				// Nothing left to launch: a well-behaved framework declines
				// for long and stops asking for offers.
				if !done {
					_ = d.Decline(ctx, o.Name, nil)
					continue
				}
				_ = d.Decline(ctx, o.Name, ptr.To(time.Hour))
				_ = d.Suppress(ctx)
				continue
			}
			_ = d.Accept(ctx, o, launch...)
		}
	}}
	d, err := sdk.New(cfg, sdk.Config{Namespace: ns, Name: "greedy", HeartbeatInterval: 2 * time.Second}, sched)
	if err != nil {
		return Cost{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s0 := meter.sample()
	go func() { _ = d.Run(sctx) }()
	if err := waitFor(ctx, 10*time.Minute, func() bool { return obs.runningIn(ns) >= k }); err != nil {
		return Cost{}, fmt.Errorf("sdk burst: %d of %d running (%s): %w", obs.runningIn(ns), k, taskStates(ctx, d.Client(), ns), err)
	}
	meter.settle(ctx)
	cost := costBetween(s0, meter.sample(), k)
	// The framework is done: unsubscribe it (Mesos's TEARDOWN), so later
	// phases are not offered to a scheduler that no longer answers.
	cancel()
	return cost, client.IgnoreNotFound(d.Client().Delete(ctx, &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "greedy"}}))
}

func write(dir string, rep *Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), data, 0o644); err != nil {
		return err
	}
	if err := plots(dir, rep); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(markdown(rep)), 0o644)
}

func printPoint(p Point) {
	fmt.Printf("   built-in: %.0f tasks/s, create→bound p50/p99 %.0f/%.0f ms, create→Running p50/p99 %.0f/%.0f ms\n",
		p.BuiltinTasksPerSec, p.BuiltinBound.P50, p.BuiltinBound.P99, p.BuiltinRunning.P50, p.BuiltinRunning.P99)
	fmt.Printf("   SDK: %.0f tasks/s, create→Running p50/p99 %.0f/%.0f ms; offer after free p50/p99 %.0f/%.0f ms\n",
		p.SDKTasksPerSec, p.SDKRunning.P50, p.SDKRunning.P99, p.OfferLatency.P50, p.OfferLatency.P99)
	fmt.Printf("   steady stream of %d tasks/s: %.1f tasks/s started, create→Running p50/p99 %.0f/%.0f ms\n",
		p.StreamRate, p.StreamTasksPerSec, p.StreamRunning.P50, p.StreamRunning.P99)
	fmt.Printf("   allocation cycle mean %.1f ms p99 ≤ %.0f ms; %.1f API writes/task; master %.1f CPU-s, peak %.0f MiB; simulated agents %.1f CPU-s, peak %.0f MiB\n",
		p.AllocationMeanMs, p.AllocationP99Ms, p.WritesPerTask, p.MasterCPUSec, p.MasterPeakMiB, p.SimCPUSec, p.SimPeakMiB)
	for _, c := range p.Comparisons {
		fmt.Printf("   %s client limits (master %s, kube-scheduler %s), create→bound: built-in %.0f tasks/s, SDK %.0f tasks/s, kube-scheduler %.0f pods/s; built-in ÷ kube-scheduler %.2f, SDK ÷ kube-scheduler %.2f\n",
			c.Limits, c.Master, c.KubeScheduler, c.Builtin.BoundPerSec, c.SDK.BoundPerSec, c.KubeSched.BoundPerSec, c.BuiltinToKubeS, c.SDKToKubeS)
		fmt.Printf("     create→bound p50/p99 ms: built-in %.0f/%.0f, SDK %.0f/%.0f, kube-scheduler %.0f/%.0f\n",
			c.Builtin.Bound.P50, c.Builtin.Bound.P99, c.SDK.Bound.P50, c.SDK.Bound.P99, c.KubeSched.Bound.P50, c.KubeSched.Bound.P99)
		fmt.Printf("     per built-in task (create→Running): %s\n", costLine(c.Builtin.Cost))
		fmt.Printf("     per SDK task (create→Running): %s\n", costLine(c.SDK.Cost))
		fmt.Printf("     per kube-scheduler pod (create→bound): %s\n", costLine(c.KubeSched.Cost))
	}
	if p.FairShares != nil {
		names := make([]string, 0, len(p.FairShares))
		for n := range p.FairShares {
			names = append(names, n)
		}
		sort.Strings(names)
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s %.3f (fair %.3f)", n, p.MeanShares[n], p.FairShares[n]))
		}
		fmt.Printf("   shares (mean over the last %s, %s tasks): %s; max error %.1f%%\n", fairWindow/2, fairLifetime, strings.Join(parts, ", "), p.MaxFairErr)
	}
}
