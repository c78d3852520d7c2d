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
// own write ceiling (a tight create loop). It writes report.md, results.json
// and PNG plots to -out.
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
	"net/http"
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
	Shares     map[string][]float64 `json:"shares,omitempty"`
	FairShares map[string]float64   `json:"fairShares,omitempty"`
	MaxFairErr float64              `json:"maxFairShareErrorPct"`

	KubeSchedPodsPerSec float64 `json:"kubeSchedulerPodsPerSec"`
	KubeSchedBound      latency `json:"kubeSchedulerCreateToBoundMs"`
	RatioToKubeSched    float64 `json:"builtinToKubeSchedulerRatio"`
}

// Report is everything a run measured.
type Report struct {
	Date             string   `json:"date"`
	Machine          string   `json:"machine"`
	MasterArgs       []string `json:"masterArgs,omitempty"`
	APIWriteCeiling  float64  `json:"apiWritesPerSecCeiling"`
	Points           []Point  `json:"points"`
	AgentCPU, AgentM string   `json:"-"`
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
	flag.Var(&masterArgs, "master-arg", "An extra flag for the master, e.g. -master-arg=--kube-api-qps=400 (repeatable).")
	flag.Parse()
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
	if err := write(*out, rep); err != nil {
		fail(err)
	}
	fmt.Println("wrote", *out)
}

// streamRate is the steady stream's tasks per second.
var streamRate int

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
	c := cp.Client

	// The simulated agents: 16 cpu / 64 GiB each.
	f := &fleet{c: c, n: n, cpu: "16", mem: "64Gi", running: map[string]time.Time{}, finished: map[string]time.Time{}}
	if err := f.publish(ctx); err != nil {
		return p, fmt.Errorf("publishing agents: %w", err)
	}
	go f.heartbeat(ctx)
	obs := newObserver()
	ca, err := cache.New(cp.Config, cache.Options{Scheme: cp.Scheme})
	if err != nil {
		return p, err
	}
	f.cache = ca
	inf, err := ca.GetInformer(ctx, &kov1.Task{})
	if err != nil {
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

	// The master, as users run it.
	port := freePort()
	mcmd := exec.CommandContext(ctx, masterBin, "--kubeconfig", cp.KubeconfigPath, "--agent-lease-namespace", leaseNS,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port), "--health-probe-bind-address", "0", "--zap-log-level", "error")
	mcmd.Args = append(mcmd.Args, masterArgs...)
	mcmd.Stderr = os.Stderr
	if err := mcmd.Start(); err != nil {
		return p, err
	}
	defer func() { _ = mcmd.Process.Kill(); _ = mcmd.Wait() }()
	writesBefore, _ := apiWrites(cp.Config)

	// Roles of weight 1, 2 and 3; framework i is in role i mod 3.
	weights := map[string]int32{"bronze": 1, "silver": 2, "gold": 3}
	roleOf := func(i int) string { return []string{"bronze", "silver", "gold"}[i%3] }
	for name, w := range weights {
		if err := c.Create(ctx, &kov1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kov1.RoleSpec{Weight: w}}); err != nil {
			return p, err
		}
	}

	// Phase 1: a burst of K tasks through the built-in scheduler.
	ns := "burst"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return p, err
	}
	for i := range m {
		fw := &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("fw-%d", i)},
			Spec: kov1.FrameworkSpec{Role: roleOf(i), Scheduler: &kov1.BuiltinScheduler{Policy: kov1.SchedulingPolicyFirstFit}}}
		if err := c.Create(ctx, fw); err != nil {
			return p, err
		}
	}
	if err := parallel(ctx, k, 16, func(i int) error {
		t := benchTask(ns, fmt.Sprintf("t-%05d", i), fmt.Sprintf("fw-%d", i%m), "100m", "128Mi")
		if err := c.Create(ctx, t); err != nil {
			return err
		}
		obs.created1(ns, t.Name)
		return nil
	}); err != nil {
		return p, err
	}
	if err := waitFor(ctx, 10*time.Minute, func() bool { return obs.runningIn(ns) >= k }); err != nil {
		return p, fmt.Errorf("burst: %d of %d running: %w", obs.runningIn(ns), k, err)
	}
	p.BuiltinTasksPerSec, p.BuiltinBound, p.BuiltinRunning, _ = obs.result(ns)
	writesAfter, _ := apiWrites(cp.Config)
	p.WritesPerTask = (sum(writesAfter) - sum(writesBefore)) / float64(k)

	fmt.Printf("   built-in burst done after %s\n", time.Since(t0).Round(time.Second))
	// Phase 2: the same burst through an SDK framework (one task per fit,
	// packing each offer).
	sdkNS := "sdk"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sdkNS}}); err != nil {
		return p, err
	}
	if err := runSDK(ctx, cp.Config, sdkNS, k, obs); err != nil {
		return p, err
	}
	p.SDKTasksPerSec, _, p.SDKRunning, _ = obs.result(sdkNS)

	fmt.Printf("   SDK burst done after %s\n", time.Since(t0).Round(time.Second))
	// Phase 3: short tasks that finish (2s) and free resources; how soon is
	// a freed agent offered again?
	if err := c.DeleteAllOf(ctx, &kov1.Task{}, client.InNamespace(ns)); err != nil {
		return p, err
	}
	if err := c.DeleteAllOf(ctx, &kov1.Task{}, client.InNamespace(sdkNS)); err != nil {
		return p, err
	}
	p.OfferLatency, err = offerLatency(ctx, cp.Config, c, f, obs, 2*min(n, groupSize))
	if err != nil {
		return p, err
	}

	fmt.Printf("   short tasks done after %s\n", time.Since(t0).Round(time.Second))
	// Phase 3b: a steady stream of short tasks.
	p.StreamRate = streamRate
	p.StreamRunning, p.StreamTasksPerSec, err = steadyStream(ctx, c, f, obs, streamRate, 20*time.Second)
	if err != nil {
		return p, err
	}
	fmt.Printf("   steady stream done after %s\n", time.Since(t0).Round(time.Second))
	// The master's own figures.
	mm, err := scrape(func() (*http.Response, error) { return http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port)) })
	if err == nil {
		p.AllocationMeanMs = histogramMean(mm, "kubeoffer_allocation_run_seconds") * 1000
		p.AllocationP99Ms = histogramQuantile(mm, "kubeoffer_allocation_run_seconds", 0.99) * 1000
	}
	p.MasterCPUSec, p.MasterPeakMiB = procStats(mcmd.Process.Pid)
	simCPU, simPeak := procStats(os.Getpid())
	p.SimCPUSec, p.SimPeakMiB = simCPU-simCPU0, simPeak

	// Phase 4: fairness under contention (several frameworks), at the
	// smallest agent count only: saturating 1,000+ agents of 16 cpu takes
	// tens of thousands of tasks.
	if m > 1 && n <= 100 {
		p.Shares, p.FairShares, p.MaxFairErr, err = fairness(ctx, c, n, min(m, 6), roleOf, weights)
		if err != nil {
			return p, err
		}
	}
	_ = mcmd.Process.Kill()

	fmt.Printf("   fairness done after %s\n", time.Since(t0).Round(time.Second))
	// kube-scheduler on the same API server, once per agent count: its run
	// does not depend on how many frameworks kubeoffer had.
	if prev := sameAgents(rep, n, k); prev != nil {
		p.KubeSchedPodsPerSec, p.KubeSchedBound = prev.KubeSchedPodsPerSec, prev.KubeSchedBound
	} else if p.KubeSchedPodsPerSec, p.KubeSchedBound, err = kubeScheduler(ctx, cp, n, k); err != nil {
		return p, fmt.Errorf("kube-scheduler: %w", err)
	}
	if p.KubeSchedPodsPerSec > 0 {
		p.RatioToKubeSched = p.BuiltinTasksPerSec / p.KubeSchedPodsPerSec
	}
	if measureCeiling {
		rep.APIWriteCeiling = writeCeiling(ctx, c)
	}
	return p, nil
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

func sum(m map[string]float64) float64 {
	s := 0.0
	for _, v := range m {
		s += v
	}
	return s
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

func benchTask(ns, name, fw, cpu, mem string) *kov1.Task {
	return &kov1.Task{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: kov1.TaskSpec{FrameworkName: fw, Resources: corev1.ResourceList{corev1.ResourceCPU: mustQ(cpu), corev1.ResourceMemory: mustQ(mem)},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox:stable"}}}}},
	}
}

// runSDK runs a greedy SDK framework that launches k tasks, packing offers.
func runSDK(ctx context.Context, cfg *rest.Config, ns string, k int, obs *observer) error {
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
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = d.Run(sctx) }()
	if err := waitFor(ctx, 10*time.Minute, func() bool { return obs.runningIn(ns) >= k }); err != nil {
		return fmt.Errorf("sdk burst: %d of %d running: %w", obs.runningIn(ns), k, err)
	}
	// The framework is done: unsubscribe it (Mesos's TEARDOWN), so later
	// phases are not offered to a scheduler that no longer answers.
	cancel()
	return client.IgnoreNotFound(d.Client().Delete(ctx, &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "greedy"}}))
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
	fmt.Printf("   kube-scheduler: %.0f pods/s (p50/p99 %.0f/%.0f ms); kubeoffer/kube-scheduler = %.2f\n",
		p.KubeSchedPodsPerSec, p.KubeSchedBound.P50, p.KubeSchedBound.P99, p.RatioToKubeSched)
	if p.FairShares != nil {
		names := make([]string, 0, len(p.FairShares))
		for n := range p.FairShares {
			names = append(names, n)
		}
		sort.Strings(names)
		var parts []string
		for _, n := range names {
			s := p.Shares[n]
			parts = append(parts, fmt.Sprintf("%s %.3f (fair %.3f)", n, s[len(s)-1], p.FairShares[n]))
		}
		fmt.Printf("   shares: %s; max error %.1f%%\n", strings.Join(parts, ", "), p.MaxFairErr)
	}
}
