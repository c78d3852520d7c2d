package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap/zapcore"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/invariants"
)

// chaosOptions are the chaos run's flags.
type chaosOptions struct {
	Seed              int64
	Tasks             int
	Faults            int
	Agents            int
	AgentCPU          string
	AgentMemory       string
	Masters           int
	AgentTimeout      time.Duration
	HeartbeatInterval time.Duration
	Timeout           time.Duration
	Out               string
	Sabotage          bool
}

// chaosMain is `scale chaos`: the chaos run. It returns the exit code.
func chaosMain(args []string) int {
	var o chaosOptions
	fs := flag.NewFlagSet("chaos", flag.ExitOnError)
	fs.Int64Var(&o.Seed, "seed", 1, "Seed of the fault schedule and the tasks' shapes; a seed reproduces a schedule.")
	fs.IntVar(&o.Tasks, "tasks", 10000, "Tasks to run.")
	fs.IntVar(&o.Faults, "faults", 24, "Faults to inject.")
	fs.IntVar(&o.Agents, "agents", 10, "Simulated agents.")
	fs.StringVar(&o.AgentCPU, "agent-cpu", "8", "Each agent's cpu.")
	fs.StringVar(&o.AgentMemory, "agent-memory", "32Gi", "Each agent's memory (it also has 100 ports).")
	fs.IntVar(&o.Masters, "masters", 3, "Master replicas, with leader election.")
	fs.DurationVar(&o.AgentTimeout, "agent-timeout", 20*time.Second, "The master's --agent-timeout.")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", 2*time.Second, "How often the simulated agents renew their heartbeat.")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "Give up (and fail) after this long.")
	fs.BoolVar(&o.Sabotage, "sabotage", false, "Half way through, launch a second Pod for a running task and bind a task by hand to a busy agent with all "+
		"of its allocatable, to show that the checker catches both and the run fails.")
	fs.StringVar(&o.Out, "out", "", "Folder for the report and the masters' logs (default results/chaos-<seed>-<time>).")
	_ = fs.Parse(args)
	ctrl.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel)))
	if o.Out == "" {
		o.Out = filepath.Join(controlplane.RepoRoot(), "results", fmt.Sprintf("chaos-%d-%s", o.Seed, time.Now().UTC().Format("20060102-150405")))
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	rep, err := runChaos(o)
	if rep != nil {
		var buf strings.Builder
		rep.print(io.MultiWriter(os.Stdout, &buf))
		_ = os.WriteFile(filepath.Join(o.Out, "report.txt"), []byte(buf.String()), 0o644)
		if data, jerr := json.MarshalIndent(rep, "", "  "); jerr == nil {
			_ = os.WriteFile(filepath.Join(o.Out, "report.json"), data, 0o644)
		}
		fmt.Println("chaos: report and master logs in", o.Out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: FAILED:", err)
		return 1
	}
	if rep.failed() {
		fmt.Fprintln(os.Stderr, "chaos: FAILED: see the report above")
		return 1
	}
	fmt.Println("chaos: PASSED")
	return 0
}

// injected is one fault as it happened.
type injected struct {
	Kind   faultKind     `json:"kind"`
	AtTask int           `json:"atTask"`
	Start  time.Duration `json:"start"`
	End    time.Duration `json:"end"`
	Target string        `json:"target"`
	Detail string        `json:"detail"`
	// Skipped says why the fault could not be injected (no target).
	Skipped string `json:"skipped,omitempty"`
	// Problem is an expectation the fault's outcome broke (not an
	// invariant: e.g. a leader kill after which offers never resumed).
	Problem string `json:"problem,omitempty"`
}

// leaderKill is one leader kill's recovery.
type leaderKill struct {
	At     time.Time `json:"at"`
	Killed string    `json:"killed"`
	// NewLeader is from the kill to the Lease's new holder; Resume to the
	// first offer created by another replica.
	NewLeader time.Duration `json:"newLeader"`
	Resume    time.Duration `json:"resume"`
	By        string        `json:"by"`
	resumed   chan struct{}
}

// chaosReport is everything a run found.
type chaosReport struct {
	Options    chaosOptions           `json:"options"`
	Schedule   []fault                `json:"schedule"`
	Faults     []injected             `json:"faults"`
	Kills      []*leaderKill          `json:"leaderKills"`
	Tasks      accounting             `json:"-"`
	Endings    map[string]int         `json:"endings"`
	CameBack   int                    `json:"finishedAfterUnreachable"`
	Created    int                    `json:"created"`
	Violations []invariants.Violation `json:"violations"`
	Checker    invariants.Stats       `json:"checker"`
	Unplanned  []string               `json:"unplannedMasterExits"`
	Conflicts  int                    `json:"conflicts409"`
	Failures   []string               `json:"failures"`
	// Writes are the API server's mutating requests during the run, by
	// resource; CPU the CPU seconds of each part.
	Writes       map[string]float64 `json:"apiWrites"`
	CPU          map[string]float64 `json:"cpuSeconds"`
	Elapsed      time.Duration      `json:"elapsed"`
	FaultsEnded  time.Duration      `json:"faultsEnded"`
	DrainedAfter time.Duration      `json:"drainedAfter"`
}

func (r *chaosReport) failed() bool {
	return len(r.Violations) > 0 || len(r.Tasks.Unexplained) > 0 || len(r.Failures) > 0
}

// chaosRun is one run's moving parts.
type chaosRun struct {
	o       chaosOptions
	c       client.Client
	cfg     *rest.Config
	agents  *simAgents
	masters *masters
	work    *workload
	start   time.Time

	mu          sync.Mutex
	faults      []injected
	kills       []*leaderKill
	pending     *leaderKill
	longOutages map[string]bool
	conflicts   int
	killMu      sync.Mutex
}

func (r *chaosRun) since() time.Duration { return time.Since(r.start).Round(100 * time.Millisecond) }

func runChaos(o chaosOptions) (*chaosReport, error) {
	rep := &chaosReport{Options: o}
	sched := schedule(scheduleOptions{Seed: o.Seed, Faults: o.Faults, Tasks: o.Tasks, AgentTimeout: o.AgentTimeout,
		FailoverTimeout: sdkFailover, HeartbeatInterval: o.HeartbeatInterval})
	rep.Schedule = sched
	fmt.Printf("== chaos: seed %d, %d tasks, %d faults, %d agents, %d master replicas\n", o.Seed, o.Tasks, o.Faults, o.Agents, o.Masters)
	for _, f := range sched {
		fmt.Printf("   planned: %s\n", f)
	}
	bin, err := buildMaster()
	if err != nil {
		return nil, fmt.Errorf("building the master: %w", err)
	}
	cp, err := controlplane.Start()
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	// Everything that watches the API server stops before it does.
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	c := cp.Client
	r := &chaosRun{o: o, c: c, cfg: cp.Config, start: time.Now(), longOutages: map[string]bool{}}

	for _, ns := range []string{leaseNS, chaosNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			return nil, err
		}
	}
	for name, w := range map[string]int32{"bronze": 1, "silver": 2, "gold": 3} {
		if err := c.Create(ctx, &kov1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kov1.RoleSpec{Weight: w}}); err != nil {
			return nil, err
		}
	}
	r.agents = newSimAgents(c, o.Agents, o.AgentCPU, o.AgentMemory, o.HeartbeatInterval)
	if err := r.agents.publish(ctx); err != nil {
		return nil, fmt.Errorf("publishing agents: %w", err)
	}
	go r.agents.heartbeat(ctx)

	// The checker watches from the start, on its own watches.
	checker, err := invariants.Start(ctx, cp.Config, invariants.Options{})
	if err != nil {
		return nil, err
	}

	// The harness: the simulated agents' agentd and kubelet, and watches of
	// tasks (to pace the workload) and offers (to time the resumption after
	// a leader kill).
	tracker := newTaskTracker()
	launched, _ := labels.NewRequirement(kov1.LabelTaskUID, selection.Exists, nil)
	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{Scheme: cp.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: {Label: labels.NewSelector().Add(*launched)}}}})
	if err != nil {
		return nil, err
	}
	if err := setupSimAgents(mgr, r.agents); err != nil {
		return nil, err
	}
	if err := r.watch(ctx, mgr, tracker); err != nil {
		return nil, err
	}
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, errors.New("the harness's caches did not sync")
	}

	r.masters, err = newMasters(bin, o.Out, o.Masters, []string{"--kubeconfig", cp.KubeconfigPath, "--leader-elect",
		"--leader-election-namespace", leaseNS, "--agent-lease-namespace", leaseNS, "--agent-timeout", o.AgentTimeout.String(),
		"--health-probe-bind-address", "0"})
	if err != nil {
		return nil, err
	}
	defer func() { cancel(); r.masters.stop() }()
	for i := range o.Masters {
		if err := r.masters.start(i); err != nil {
			return nil, err
		}
	}
	sctx, stopSupervising := context.WithCancel(ctx)
	defer stopSupervising()
	go r.masters.supervise(sctx)
	if _, err := r.masters.leader(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	fmt.Printf("   control plane, %d agents and %d masters up after %s\n", o.Agents, o.Masters, r.since())

	writes0, _ := apiWrites(cp.Config)
	harnessCPU0, _ := procStats(os.Getpid())
	r.work = &workload{c: c, cfg: cp.Config, seed: o.Seed, tickets: &tickets{target: o.Tasks}, tracker: tracker,
		generation: map[string]int{}, tornDown: map[string]bool{}}
	if err := r.work.start(ctx); err != nil {
		return nil, err
	}
	go r.progress(ctx, tracker, checker)

	if o.Sabotage {
		go func() {
			for r.work.tickets.createdCount() < o.Tasks/2 && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			fmt.Printf("   +%s sabotage: %s\n", r.since(), r.sabotage(ctx))
		}()
	}
	// Faults, each when its task count is reached; several may overlap.
	var faults sync.WaitGroup
	for i, f := range sched {
		for r.work.tickets.createdCount() < f.AtTask && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		if ctx.Err() != nil {
			break
		}
		faults.Add(1)
		go func() {
			defer faults.Done()
			r.inject(ctx, i, f)
		}()
	}
	// Every task number out and settled (created, or given back and taken
	// again); a number still out after two minutes without progress is
	// reported below as tasks not created.
	for last, since := 0, time.Now(); ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		n := r.work.tickets.createdCount()
		if n >= o.Tasks || time.Since(since) > 2*time.Minute {
			break
		}
		if n != last {
			last, since = n, time.Now()
		}
	}
	faults.Wait()
	rep.FaultsEnded = r.since()
	fmt.Printf("   every task created and every fault over after %s; draining\n", rep.FaultsEnded)

	// Drain: every task ends (the frameworks still run), then every
	// framework is deleted and must leave no offer behind.
	var failures []string
	var inAPI kov1.TaskList
	if err := c.List(ctx, &inAPI, client.InNamespace(chaosNS)); err != nil {
		return rep, err
	}
	created := len(inAPI.Items)
	if err := waitFor(ctx, 10*time.Minute, func() bool {
		seen, live := tracker.totals()
		return seen >= created && live == 0
	}); err != nil {
		seen, live := tracker.totals()
		failures = append(failures, fmt.Sprintf("drain: %d of %d tasks seen, %d not ended: %v", seen, created, live, err))
	}
	rep.DrainedAfter = r.since()
	r.work.stopAll()
	if err := r.deleteFrameworks(ctx); err != nil {
		failures = append(failures, err.Error())
	}
	// Pods of tasks that ended while their agent was away are stopped once
	// it is back; give agentd the time, then let the checker catch up.
	_ = waitFor(ctx, time.Minute, func() bool { return r.runningPods(ctx) == 0 })
	time.Sleep(3 * time.Second)

	writes1, _ := apiWrites(cp.Config)
	rep.Writes = map[string]float64{}
	for res, n := range writes1 {
		if d := n - writes0[res]; d > 0 {
			rep.Writes[res] = d
		}
	}
	harnessCPU, _ := procStats(os.Getpid())
	rep.CPU = map[string]float64{"harness (agents, frameworks, checker)": harnessCPU - harnessCPU0, "masters": r.masters.cpuSeconds()}
	for name, cpu := range childCPU() {
		rep.CPU[name] = cpu
	}
	rep.Violations = checker.Finish()
	rep.Checker = checker.Stats()
	var tasks kov1.TaskList
	if err := c.List(context.Background(), &tasks, client.InNamespace(chaosNS)); err != nil {
		return rep, err
	}
	r.mu.Lock()
	facts := runFacts{TornDown: r.work.tornDown, LongOutages: r.longOutages}
	rep.Faults, rep.Kills, rep.Conflicts = r.faults, r.kills, r.conflicts
	r.mu.Unlock()
	rep.Tasks = account(tasks.Items, facts)
	dumpUnexplained(filepath.Join(o.Out, "unexplained-tasks.yaml"), tasks.Items, facts)
	rep.CameBack = rep.Tasks.CameBack
	rep.Endings = map[string]int{}
	for e, n := range rep.Tasks.ByEnding {
		rep.Endings[e.String()] = n
	}
	rep.Created = created
	if created < o.Tasks {
		failures = append(failures, fmt.Sprintf("only %d of %d tasks were created", created, o.Tasks))
	}
	for _, f := range rep.Faults {
		if f.Problem != "" {
			failures = append(failures, fmt.Sprintf("%s at +%s: %s", f.Kind, f.Start, f.Problem))
		}
	}
	for _, u := range r.masters.unplannedExits() {
		rep.Unplanned = append(rep.Unplanned, u.String())
		if !u.lostLease {
			failures = append(failures, "master "+u.String()+"; see its log")
		}
	}
	rep.Failures = failures
	rep.Elapsed = r.since()
	if ctx.Err() != nil {
		return rep, fmt.Errorf("the run did not finish within %s", o.Timeout)
	}
	return rep, nil
}

// watch feeds the task tracker and times each leader kill's recovery from
// the harness's own informers.
func (r *chaosRun) watch(ctx context.Context, mgr ctrl.Manager, tracker *taskTracker) error {
	tasks, err := mgr.GetCache().GetInformer(ctx, &kov1.Task{})
	if err != nil {
		return err
	}
	onTask := func(obj any) {
		if t, ok := obj.(*kov1.Task); ok {
			tracker.observe(t)
		}
	}
	if _, err := tasks.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: onTask, UpdateFunc: func(_, o any) { onTask(o) }}); err != nil {
		return err
	}
	offers, err := mgr.GetCache().GetInformer(ctx, &kov1.ResourceOffer{})
	if err != nil {
		return err
	}
	_, err = offers.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		o, ok := obj.(*kov1.ResourceOffer)
		if !ok {
			return
		}
		by := creator(o)
		now := time.Now()
		r.mu.Lock()
		defer r.mu.Unlock()
		if k := r.pending; k != nil && by != "" && by != k.Killed && now.After(k.At) {
			k.Resume, k.By = now.Sub(k.At), by
			r.pending = nil
			close(k.resumed)
		}
	}})
	return err
}

// sabotage breaks two promises behind the master's back, as a buggy
// agentd or master would: a second Pod for a running task, and a task
// bound by hand to a busy agent with all of its allocatable. The checker
// must catch both (TaskLaunchedTwice, AgentOverbooked) and the run must
// fail. (An offer made by hand would not do: the master withdraws offers
// it did not make within a pass.)
func (r *chaosRun) sabotage(ctx context.Context) string {
	var done []string
	var tasks kov1.TaskList
	if err := r.c.List(ctx, &tasks, client.InNamespace(chaosNS)); err == nil {
		for _, t := range tasks.Items {
			if t.Status.State != kov1.TaskRunning || t.Status.PodName == "" {
				continue
			}
			p := &corev1.Pod{}
			if r.c.Get(ctx, types.NamespacedName{Namespace: chaosNS, Name: t.Status.PodName}, p) != nil {
				continue
			}
			twin := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: chaosNS, Name: p.Name + "-twin", Labels: p.Labels},
				Spec: *p.Spec.DeepCopy()}
			if err := r.c.Create(ctx, twin); err == nil {
				done = append(done, "a second Pod for task "+t.Name)
				break
			}
		}
		for _, t := range tasks.Items {
			if t.Status.State != kov1.TaskRunning || t.Status.AgentName == "" {
				continue
			}
			if what, err := r.overbook(ctx, t.Status.AgentName); err == nil {
				done = append(done, what)
				break
			}
		}
	}
	if len(done) == 0 {
		return "found nothing to sabotage"
	}
	return strings.Join(done, "; ")
}

// overbook binds a new task, asking for all of agent's allocatable, to that
// agent, where other tasks run: a double booking for the 10 s it runs.
func (r *chaosRun) overbook(ctx context.Context, agent string) (string, error) {
	a := &kov1.Agent{}
	if err := r.c.Get(ctx, types.NamespacedName{Name: agent}, a); err != nil {
		return "", err
	}
	t := chaosTask(0, "sabotage", taskShape{cpu: "1", mem: "1Gi", runFor: 10 * time.Second})
	t.Name = "sabotage-overbook"
	t.Spec.Resources = a.Status.Allocatable.DeepCopy()
	if err := r.c.Create(ctx, t); err != nil {
		return "", err
	}
	taskstatus.Transition(&t.Status, kov1.TaskStaging, "", "Bound by hand to agent "+agent+" (sabotage)", time.Now())
	t.Status.AgentName, t.Status.NodeName = agent, agent
	if err := r.c.Status().Update(ctx, t); err != nil {
		return "", err
	}
	return fmt.Sprintf("task %s bound by hand to agent %s with all of its allocatable", t.Name, agent), nil
}

// creator is the master replica that created an offer: the field manager
// of its creation (each replica runs under its own name).
func creator(o *kov1.ResourceOffer) string {
	for _, mf := range o.ManagedFields {
		if strings.HasPrefix(mf.Manager, masterManagerPrefix) && mf.Subresource == "" {
			return mf.Manager
		}
	}
	return ""
}

// inject runs one fault to its end and records it.
func (r *chaosRun) inject(ctx context.Context, i int, f fault) {
	rec := injected{Kind: f.Kind, AtTask: f.AtTask, Start: r.since()}
	rng := rand.New(rand.NewSource(r.o.Seed*7919 + int64(i)))
	switch f.Kind {
	case faultLeaderKill:
		r.leaderKill(ctx, f, &rec)
	case faultAgentdRestart:
		r.agentDown(ctx, f, false, &rec)
	case faultPartitionShort, faultPartitionLong:
		r.agentDown(ctx, f, true, &rec)
	case faultDisconnect:
		r.disconnect(ctx, f, &rec)
	case faultFailover:
		r.failover(ctx, f, &rec)
	case faultTeardown:
		r.teardown(ctx, f, &rec)
	case faultConflicts:
		r.conflictStorm(ctx, f, rng, &rec)
	}
	rec.End = r.since()
	state := rec.Detail
	if rec.Skipped != "" {
		state = "skipped: " + rec.Skipped
	}
	if rec.Problem != "" {
		state += "; PROBLEM: " + rec.Problem
	}
	fmt.Printf("   +%s fault %s on %s: %s\n", rec.Start, f.Kind, rec.Target, state)
	r.mu.Lock()
	r.faults = append(r.faults, rec)
	r.mu.Unlock()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// leaderKill SIGKILLs the leading master and measures how long until the
// Lease has a new holder and until another replica creates an offer. The
// killed replica is started again after the fault's duration. Kills run
// one at a time, each measured to the end.
func (r *chaosRun) leaderKill(ctx context.Context, f fault, rec *injected) {
	r.killMu.Lock()
	defer r.killMu.Unlock()
	leader, err := r.masters.leader(ctx, time.Minute)
	if err != nil {
		rec.Skipped = err.Error()
		return
	}
	rec.Target = leader.name
	holder := r.leaseHolder(ctx)
	k := &leaderKill{At: time.Now(), Killed: leader.name, resumed: make(chan struct{})}
	r.mu.Lock()
	r.pending = k
	r.kills = append(r.kills, k)
	r.mu.Unlock()
	r.masters.kill(leader)
	restarted := make(chan error, 1)
	time.AfterFunc(f.Duration, func() { restarted <- r.masters.start(leader.index) })
	_ = waitFor(ctx, 2*time.Minute, func() bool {
		h := r.leaseHolder(ctx)
		return h != "" && h != holder
	})
	newLeader := time.Since(k.At)
	select {
	case <-k.resumed:
	case <-time.After(2 * time.Minute):
		rec.Problem = "no replica created an offer within 2m of the kill"
	case <-ctx.Done():
	}
	r.mu.Lock()
	k.NewLeader = newLeader
	if r.pending == k {
		r.pending = nil
	}
	resume, by := k.Resume, k.By
	r.mu.Unlock()
	if err := <-restarted; err != nil {
		rec.Problem = "restarting the replica: " + err.Error()
	}
	rec.Detail = fmt.Sprintf("killed the leader; Lease taken after %s; %s created an offer %s after the kill; the replica restarted after %s",
		newLeader.Round(100*time.Millisecond), by, resume.Round(100*time.Millisecond), f.Duration.Round(100*time.Millisecond))
}

func (r *chaosRun) leaseHolder(ctx context.Context) string {
	l := &coordinationv1.Lease{}
	if err := r.c.Get(ctx, types.NamespacedName{Namespace: leaseNS, Name: "kubeoffer-master"}, l); err != nil {
		return ""
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

// agentDown stops an agent's agentd (and its kubelet when partitioned) for
// the fault's duration, watching what the master makes of it.
func (r *chaosRun) agentDown(ctx context.Context, f fault, partitioned bool, rec *injected) {
	name, up := r.agents.down(f.Pick, partitioned)
	rec.Target = name
	long := f.Kind == faultPartitionLong
	if long {
		r.mu.Lock()
		r.longOutages[name] = true
		r.mu.Unlock()
	}
	start := time.Now()
	var unreachableAfter time.Duration
	for time.Since(start) < f.Duration && ctx.Err() == nil {
		if unreachableAfter == 0 && !r.agentReachable(ctx, name) {
			unreachableAfter = time.Since(start)
		}
		sleep(ctx, 250*time.Millisecond)
	}
	up()
	what := "agentd stopped"
	if partitioned {
		what = "cut off (agentd and kubelet)"
	}
	rec.Detail = fmt.Sprintf("%s for %s", what, f.Duration.Round(100*time.Millisecond))
	switch {
	case unreachableAfter > 0:
		rec.Detail += fmt.Sprintf("; the master marked it unreachable after %s", unreachableAfter.Round(100*time.Millisecond))
		if !long {
			rec.Problem = fmt.Sprintf("marked unreachable after %s, within the agent timeout %s", unreachableAfter.Round(100*time.Millisecond), r.o.AgentTimeout)
		}
	case long:
		rec.Problem = "never marked unreachable, though away past the agent timeout"
	}
}

func (r *chaosRun) agentReachable(ctx context.Context, name string) bool {
	a := &kov1.Agent{}
	if err := r.c.Get(ctx, types.NamespacedName{Name: name}, a); err != nil {
		return true
	}
	return meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReachableCondition)
}

func (r *chaosRun) framework(ctx context.Context, name string) *kov1.Framework {
	fw := &kov1.Framework{}
	if err := r.c.Get(ctx, types.NamespacedName{Namespace: chaosNS, Name: name}, fw); err != nil {
		return nil
	}
	return fw
}

// disconnect stops an SDK framework's scheduler and starts it again
// within its failover timeout (Mesos's framework failover).
func (r *chaosRun) disconnect(ctx context.Context, f fault, rec *injected) {
	fws := r.work.eligible(true)
	if len(fws) == 0 {
		rec.Skipped = "no SDK framework running"
		return
	}
	fw := fws[f.Pick%len(fws)]
	rec.Target = fw.name
	fw.sdk.stop()
	start := time.Now()
	var awayAfter time.Duration
	for time.Since(start) < f.Duration && ctx.Err() == nil {
		if awayAfter == 0 {
			if cur := r.framework(ctx, fw.name); cur != nil && meta.IsStatusConditionFalse(cur.Status.Conditions, kov1.FrameworkConnectedCondition) {
				awayAfter = time.Since(start)
			}
		}
		sleep(ctx, 250*time.Millisecond)
	}
	rec.Detail = fmt.Sprintf("scheduler stopped for %s", f.Duration.Round(100*time.Millisecond))
	if awayAfter > 0 {
		rec.Detail += fmt.Sprintf("; the master saw it disconnected after %s", awayAfter.Round(100*time.Millisecond))
	}
	if fw.isStopped() {
		rec.Detail += "; not restarted: torn down meanwhile"
		return
	}
	if err := fw.sdk.start(ctx); err != nil {
		rec.Problem = "restarting the scheduler: " + err.Error()
		return
	}
	rec.Detail += "; restarted (failover)"
}

// failover stops an SDK framework's scheduler for good; the master must
// tear it down once the failover timeout passes.
func (r *chaosRun) failover(ctx context.Context, f fault, rec *injected) {
	fws := r.work.eligible(true)
	if len(fws) == 0 {
		rec.Skipped = "no SDK framework running"
		return
	}
	fw := fws[f.Pick%len(fws)]
	rec.Target = fw.name
	start := time.Now()
	if err := r.work.abandon(ctx, fw); err != nil {
		rec.Problem = err.Error()
		return
	}
	if err := waitFor(ctx, sdkFailover+2*time.Minute, func() bool {
		cur := r.framework(ctx, fw.name)
		return cur != nil && meta.IsStatusConditionTrue(cur.Status.Conditions, kov1.FrameworkTornDownCondition)
	}); err != nil {
		rec.Problem = fmt.Sprintf("not torn down within %s of its scheduler stopping (failover timeout %s)", sdkFailover+2*time.Minute, sdkFailover)
		return
	}
	rec.Detail = fmt.Sprintf("scheduler stopped for good; torn down by the master after %s (failover timeout %s); replaced",
		time.Since(start).Round(100*time.Millisecond), sdkFailover)
}

// teardown deletes a framework while its tasks run.
func (r *chaosRun) teardown(ctx context.Context, f fault, rec *injected) {
	fws := r.work.eligible(false)
	if len(fws) == 0 {
		rec.Skipped = "no framework running"
		return
	}
	fw := fws[f.Pick%len(fws)]
	rec.Target = fw.name
	_, live := r.work.tracker.counts(fw.name)
	start := time.Now()
	if err := r.work.teardown(ctx, fw); err != nil {
		rec.Problem = err.Error()
		return
	}
	if err := waitFor(ctx, 2*time.Minute, func() bool { return r.framework(ctx, fw.name) == nil }); err != nil {
		rec.Problem = "the deleted Framework was still there after 2m"
		return
	}
	rec.Detail = fmt.Sprintf("deleted with %d tasks not ended; gone after %s; replaced", live, time.Since(start).Round(100*time.Millisecond))
}

// conflictStorm has four writers touch the annotations of random live
// Tasks (and now and then a Framework) for the fault's duration, so the
// writes of the master and agentd, which carry the resourceVersion they
// read, meet 409 Conflicts.
func (r *chaosRun) conflictStorm(ctx context.Context, f fault, rng *rand.Rand, rec *injected) {
	rec.Target = "live tasks and frameworks"
	before := r.conflictCount()
	var touches atomic.Int64
	seeds := make([]int64, 4)
	for i := range seeds {
		seeds[i] = rng.Int63()
	}
	end := time.Now().Add(f.Duration)
	var wg sync.WaitGroup
	for _, seed := range seeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wr := rand.New(rand.NewSource(seed))
			for n := 0; time.Now().Before(end) && ctx.Err() == nil; n++ {
				var obj client.Object
				if n%10 == 9 {
					fws := r.work.eligible(false)
					if len(fws) == 0 {
						continue
					}
					obj = &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: chaosNS, Name: fws[wr.Intn(len(fws))].name}}
				} else {
					live := r.work.tracker.liveTasks()
					if len(live) == 0 {
						sleep(ctx, 50*time.Millisecond)
						continue
					}
					k := live[wr.Intn(len(live))]
					obj = &kov1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}
				}
				patch := fmt.Sprintf(`{"metadata":{"annotations":{"chaos.kubeoffer.io/touched":"%d-%d"}}}`, seed%1000, n)
				if r.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))) == nil {
					touches.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	conflicts := r.conflictCount() - before
	r.mu.Lock()
	r.conflicts += conflicts
	r.mu.Unlock()
	rec.Detail = fmt.Sprintf("%d annotation writes in %s; the API server answered %d writes with 409 Conflict meanwhile",
		touches.Load(), f.Duration.Round(100*time.Millisecond), conflicts)
}

// conflictCount is how many requests the API server answered 409 so far.
func (r *chaosRun) conflictCount() int {
	rc, err := rest.HTTPClientFor(r.cfg)
	if err != nil {
		return 0
	}
	m, err := scrape(func() (*http.Response, error) { return rc.Get(strings.TrimSuffix(r.cfg.Host, "/") + "/metrics") })
	if err != nil {
		return 0
	}
	n := 0.0
	for k, v := range m {
		if strings.HasPrefix(k, "apiserver_request_total{") && label(k, "code") == "409" {
			n += v
		}
	}
	return int(n)
}

// deleteFrameworks deletes every framework of the run and waits until
// they, and their offers, are gone.
func (r *chaosRun) deleteFrameworks(ctx context.Context) error {
	if err := r.c.DeleteAllOf(ctx, &kov1.Framework{}, client.InNamespace(chaosNS)); err != nil {
		return fmt.Errorf("deleting the frameworks: %w", err)
	}
	return waitFor(ctx, 2*time.Minute, func() bool {
		var fws kov1.FrameworkList
		var offers kov1.ResourceOfferList
		return r.c.List(ctx, &fws, client.InNamespace(chaosNS)) == nil && len(fws.Items) == 0 &&
			r.c.List(ctx, &offers, client.InNamespace(chaosNS)) == nil && len(offers.Items) == 0
	})
}

// runningPods counts task Pods that have not ended.
func (r *chaosRun) runningPods(ctx context.Context) int {
	var pods corev1.PodList
	if err := r.c.List(ctx, &pods, client.InNamespace(chaosNS), client.HasLabels{kov1.LabelTaskUID}); err != nil {
		return -1
	}
	n := 0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n
}

// progress prints a line every 15s.
func (r *chaosRun) progress(ctx context.Context, tracker *taskTracker, checker *invariants.Checker) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(15 * time.Second):
		}
		seen, live := tracker.totals()
		_, byState := checker.Counts()
		fmt.Printf("   +%s %d tasks created, %d not ended, %d finished; %d violations so far\n",
			r.since(), seen, live, byState[kov1.TaskFinished], len(checker.Violations()))
	}
}

// print writes the report.
func (rep *chaosReport) print(w io.Writer) {
	o := rep.Options
	fmt.Fprintf(w, "\n== chaos report: seed %d, %d tasks, %d faults, %d agents, %d masters; %s in all\n",
		o.Seed, o.Tasks, o.Faults, o.Agents, o.Masters, rep.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "faults (by kind):\n")
	byKind := map[faultKind]int{}
	for _, f := range rep.Faults {
		if f.Skipped == "" {
			byKind[f.Kind]++
		}
	}
	for _, k := range faultKinds {
		fmt.Fprintf(w, "  %-28s %d\n", k.kind, byKind[k.kind])
	}
	faults := append([]injected(nil), rep.Faults...)
	sort.Slice(faults, func(i, j int) bool { return faults[i].Start < faults[j].Start })
	fmt.Fprintf(w, "faults (in order):\n")
	for _, f := range faults {
		state := f.Detail
		if f.Skipped != "" {
			state = "skipped: " + f.Skipped
		}
		if f.Problem != "" {
			state += "; PROBLEM: " + f.Problem
		}
		fmt.Fprintf(w, "  +%-8s to +%-8s %-27s %-24s %s\n", f.Start, f.End, f.Kind, f.Target, state)
	}
	var resumes []time.Duration
	for _, k := range rep.Kills {
		if k.By != "" {
			resumes = append(resumes, k.Resume)
		}
	}
	if len(resumes) > 0 {
		sort.Slice(resumes, func(i, j int) bool { return resumes[i] < resumes[j] })
		fmt.Fprintf(w, "offers resumed after a leader kill (kill → first offer by another replica): median %s, max %s over %d kills\n",
			median(resumes).Round(100*time.Millisecond), resumes[len(resumes)-1].Round(100*time.Millisecond), len(resumes))
	}
	fmt.Fprintf(w, "tasks: %d created, %d finished (%d of them after going Unreachable); by final state:\n",
		rep.Created, rep.Tasks.byState()[kov1.TaskFinished], rep.Tasks.CameBack)
	endings := make([]string, 0, len(rep.Endings))
	for e := range rep.Endings {
		endings = append(endings, e)
	}
	sort.Strings(endings)
	for _, e := range endings {
		fmt.Fprintf(w, "  %-40s %d\n", e, rep.Endings[e])
	}
	fmt.Fprintf(w, "API: %d writes answered 409 Conflict during the conflict storms\n", rep.Conflicts)
	total, parts := 0.0, []string{}
	for res, n := range rep.Writes {
		total += n
		parts = append(parts, fmt.Sprintf("%s %.0f", res, n))
	}
	sort.Strings(parts)
	if rep.Created > 0 {
		fmt.Fprintf(w, "API writes: %.0f (%.1f per task): %s\n", total, total/float64(rep.Created), strings.Join(parts, ", "))
	}
	parts = parts[:0]
	for name, cpu := range rep.CPU {
		parts = append(parts, fmt.Sprintf("%s %.0f", name, cpu))
	}
	sort.Strings(parts)
	fmt.Fprintf(w, "CPU seconds: %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "checker: %d watch events, %d tasks, %d launched, %d offers, %d booking checks\n",
		rep.Checker.Events, rep.Checker.Tasks, rep.Checker.Launched, rep.Checker.Offers, rep.Checker.BookingChecks)
	if len(rep.Unplanned) > 0 {
		fmt.Fprintf(w, "master replicas that exited on their own (restarted):\n")
		for _, u := range rep.Unplanned {
			fmt.Fprintf(w, "  %s\n", u)
		}
	}
	invariants.Report(w, rep.Violations)
	if n := len(rep.Tasks.Unexplained); n > 0 {
		fmt.Fprintf(w, "tasks lost (ended in a way no fault explains): %d\n", n)
		for i, u := range rep.Tasks.Unexplained {
			if i == 50 {
				fmt.Fprintf(w, "  … and %d more\n", n-50)
				break
			}
			fmt.Fprintf(w, "  %s\n", u)
		}
	} else {
		fmt.Fprintln(w, "tasks lost: none (every task finished, or ended for a reason a fault explains)")
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "FAILURE: %s\n", f)
	}
}

// childCPU is the CPU seconds of this process's kube-apiserver and etcd
// (envtest starts them as its children).
func childCPU() map[string]float64 {
	out := map[string]float64{}
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		comm, rest := s[open+1:end], strings.Fields(s[end+1:])
		if len(rest) < 2 || rest[1] != self || (comm != "kube-apiserver" && comm != "etcd") {
			continue
		}
		cpu, _ := procStats(pid)
		out[comm] += cpu
	}
	return out
}

// dumpUnexplained writes the tasks no fault explains, whole (status
// history included), for the post-mortem.
func dumpUnexplained(path string, tasks []kov1.Task, facts runFacts) {
	var buf strings.Builder
	for i := range tasks {
		if ok, _ := explain(&tasks[i], facts); ok {
			continue
		}
		t := tasks[i].DeepCopy()
		t.ManagedFields = nil
		if data, err := yaml.Marshal(t); err == nil {
			buf.WriteString("---\n")
			buf.Write(data)
		}
	}
	if buf.Len() > 0 {
		_ = os.WriteFile(path, []byte(buf.String()), 0o644)
	}
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
