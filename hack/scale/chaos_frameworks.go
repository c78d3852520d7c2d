package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/sdk"
)

// chaosNS is the namespace of the chaos run's frameworks and tasks.
const chaosNS = "chaos"

// Workload sizes: a built-in framework keeps at most builtinBacklog tasks
// waiting to be placed; an SDK framework keeps at most sdkLive tasks that
// have not ended. SDK frameworks heartbeat every sdkHeartbeat (their Lease
// lasts three of them) and are torn down sdkFailover after their last one.
const (
	builtinBacklog = 30
	sdkLive        = 60
	sdkHeartbeat   = 2 * time.Second
	sdkFailover    = 30 * time.Second
)

// taskShape is what one task asks for, a function of the seed and the
// task's number only, so a seed gives the same tasks however the run
// interleaves.
type taskShape struct {
	cpu, mem string
	runFor   time.Duration
	ports    int
}

func shapeOf(seed int64, n int, sdkTask bool) taskShape {
	rng := rand.New(rand.NewSource(seed*1_000_003 + int64(n)))
	sizes := [][2]string{{"100m", "128Mi"}, {"250m", "256Mi"}, {"500m", "512Mi"}, {"1", "1Gi"}}
	s := sizes[rng.Intn(len(sizes))]
	sh := taskShape{cpu: s[0], mem: s[1], runFor: time.Second + time.Duration(rng.Int63n(int64(2*time.Second)))}
	if sdkTask && rng.Intn(5) == 0 {
		sh.ports = 1
	}
	return sh
}

func taskName(n int) string { return fmt.Sprintf("t-%05d", n) }

// chaosTask is task n of framework fw, shaped by sh.
func chaosTask(n int, fw string, sh taskShape) *kov1.Task {
	return &kov1.Task{
		ObjectMeta: metav1.ObjectMeta{Namespace: chaosNS, Name: taskName(n)},
		Spec: kov1.TaskSpec{FrameworkName: fw,
			Resources: corev1.ResourceList{corev1.ResourceCPU: mustQ(sh.cpu), corev1.ResourceMemory: mustQ(sh.mem)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annotationRunFor: sh.runFor.Round(time.Millisecond).String()}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox:stable"}}}}},
	}
}

// tickets hand out task numbers up to the target; a number whose task was
// never created is handed out again.
type tickets struct {
	mu       sync.Mutex
	next     int
	target   int
	refunded []int
	created  int
}

// take returns the next task number, or false when every task is out.
func (t *tickets) take() (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.refunded); n > 0 {
		i := t.refunded[n-1]
		t.refunded = t.refunded[:n-1]
		return i, true
	}
	if t.next >= t.target {
		return 0, false
	}
	t.next++
	return t.next - 1, true
}

func (t *tickets) refund(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refunded = append(t.refunded, n)
}

func (t *tickets) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.created++
}

// createdCount is how many tasks were created.
func (t *tickets) createdCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.created
}

// exhausted reports whether every task number is out and none came back.
func (t *tickets) exhausted() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next >= t.target && len(t.refunded) == 0
}

// taskTracker follows every task through the harness's informer: per
// framework how many wait to be placed or bound and how many have not
// ended, and the set of live tasks (the conflict storms touch them).
type taskTracker struct {
	mu      sync.Mutex
	state   map[types.NamespacedName]kov1.TaskState
	fwOf    map[types.NamespacedName]string
	waiting map[string]int
	live    map[string]int
	liveSet map[types.NamespacedName]bool
}

func newTaskTracker() *taskTracker {
	return &taskTracker{state: map[types.NamespacedName]kov1.TaskState{}, fwOf: map[types.NamespacedName]string{},
		waiting: map[string]int{}, live: map[string]int{}, liveSet: map[types.NamespacedName]bool{}}
}

func isWaiting(s kov1.TaskState) bool { return s == "" || s == kov1.TaskPending }

func (tr *taskTracker) observe(t *kov1.Task) {
	k := types.NamespacedName{Namespace: t.Namespace, Name: t.Name}
	fw := t.Spec.FrameworkName
	tr.mu.Lock()
	defer tr.mu.Unlock()
	old, seen := tr.state[k]
	cur := t.Status.State
	if !seen {
		tr.fwOf[k] = fw
		if isWaiting(cur) {
			tr.waiting[fw]++
		}
		if !cur.IsTerminal() {
			tr.live[fw]++
			tr.liveSet[k] = true
		}
		tr.state[k] = cur
		return
	}
	if old.IsTerminal() {
		return
	}
	if isWaiting(old) && !isWaiting(cur) {
		tr.waiting[fw]--
	}
	if cur.IsTerminal() {
		tr.live[fw]--
		delete(tr.liveSet, k)
	}
	tr.state[k] = cur
}

func (tr *taskTracker) counts(fw string) (waiting, live int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.waiting[fw], tr.live[fw]
}

// liveTasks is every task not ended, by name.
func (tr *taskTracker) liveTasks() []types.NamespacedName {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]types.NamespacedName, 0, len(tr.liveSet))
	for k := range tr.liveSet {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// totals is how many tasks were seen, and how many have not ended.
func (tr *taskTracker) totals() (seen, live int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.state), len(tr.liveSet)
}

// chaosFramework is one framework of the run: built-in (the master places
// its tasks, which the harness creates) or SDK (a scheduler in this
// process on sdk.Driver, which accepts offers with tasks).
type chaosFramework struct {
	name, role     string
	policy         kov1.SchedulingPolicy // "" for an SDK framework
	partitionAware bool

	mu      sync.Mutex
	stopped bool // no new tasks: torn down, deleted or abandoned
	sdk     *sdkScheduler
}

func (f *chaosFramework) isSDK() bool { return f.policy == "" }

func (f *chaosFramework) spec() kov1.FrameworkSpec {
	s := kov1.FrameworkSpec{Role: f.role}
	if f.isSDK() {
		s.FailoverTimeout = &metav1.Duration{Duration: sdkFailover}
	} else {
		s.Scheduler = &kov1.BuiltinScheduler{Policy: f.policy}
	}
	if f.partitionAware {
		s.Capabilities = []kov1.FrameworkCapability{kov1.CapabilityPartitionAware}
	}
	return s
}

// stop ends the framework's task creation; after it returns, the
// framework creates nothing more.
func (f *chaosFramework) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
}

func (f *chaosFramework) isStopped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped
}

// workload runs the frameworks of a chaos run.
type workload struct {
	c       client.Client
	cfg     *rest.Config
	seed    int64
	tickets *tickets
	tracker *taskTracker

	mu         sync.Mutex
	frameworks []*chaosFramework
	generation map[string]int // per base name, how many were made
	// tornDown are the frameworks the run deleted or abandoned.
	tornDown map[string]bool
	wg       sync.WaitGroup
}

// base frameworks: three built-in policies and three SDK schedulers, in
// roles weighted 1:2:3; one of each kind is partition-aware.
var baseFrameworks = []chaosFramework{
	{name: "builtin-firstfit", role: "bronze", policy: kov1.SchedulingPolicyFirstFit},
	{name: "builtin-binpack", role: "silver", policy: kov1.SchedulingPolicyBinPack},
	{name: "builtin-spread", role: "gold", policy: kov1.SchedulingPolicySpread, partitionAware: true},
	{name: "sdk-bronze", role: "bronze"},
	{name: "sdk-silver", role: "silver", partitionAware: true},
	{name: "sdk-gold", role: "gold"},
}

// start creates the base frameworks and starts their task creation.
func (w *workload) start(ctx context.Context) error {
	for i := range baseFrameworks {
		if err := w.add(ctx, baseFrameworks[i].name, &baseFrameworks[i]); err != nil {
			return err
		}
	}
	return nil
}

// add creates a framework like proto under base's next name and starts it.
func (w *workload) add(ctx context.Context, base string, proto *chaosFramework) error {
	w.mu.Lock()
	w.generation[base]++
	name := base
	if g := w.generation[base]; g > 1 {
		name = fmt.Sprintf("%s-%d", base, g)
	}
	f := &chaosFramework{name: name, role: proto.role, policy: proto.policy, partitionAware: proto.partitionAware}
	w.frameworks = append(w.frameworks, f)
	w.mu.Unlock()
	if f.isSDK() {
		f.sdk = &sdkScheduler{w: w, fw: f, carry: -1}
		return f.sdk.start(ctx)
	}
	if err := w.c.Create(ctx, &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: chaosNS, Name: name}, Spec: f.spec()}); err != nil {
		return fmt.Errorf("creating framework %s: %w", name, err)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.createBuiltinTasks(ctx, f)
	}()
	return nil
}

// baseOf is the base name a framework was made under.
func baseOf(f *chaosFramework) *chaosFramework {
	for i := range baseFrameworks {
		b := &baseFrameworks[i]
		if b.role == f.role && b.policy == f.policy && b.partitionAware == f.partitionAware {
			return b
		}
	}
	return nil
}

// createBuiltinTasks creates a built-in framework's tasks, keeping at most
// builtinBacklog waiting, until the tasks run out or the framework stops.
// It holds the framework's lock while it creates, so a teardown never
// races a creation.
func (w *workload) createBuiltinTasks(ctx context.Context, f *chaosFramework) {
	for ctx.Err() == nil {
		f.mu.Lock()
		if f.stopped {
			f.mu.Unlock()
			return
		}
		if waiting, _ := w.tracker.counts(f.name); waiting >= builtinBacklog {
			f.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		n, ok := w.tickets.take()
		if !ok {
			f.mu.Unlock()
			return
		}
		w.settle(n, createRetrying(ctx, w.c, chaosTask(n, f.name, shapeOf(w.seed, n, false))))
		f.mu.Unlock()
	}
}

// createRetrying creates obj, retrying what may pass on a second try; an
// object that exists already was created by an attempt whose answer got
// lost.
func createRetrying(ctx context.Context, c client.Client, obj client.Object) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		err = c.Create(ctx, obj)
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// settle counts task n as created, or hands its number out again when the
// creation failed and no such task exists (a creation whose answer was
// lost may have made it).
func (w *workload) settle(n int, err error) {
	if err != nil && !apierrors.IsAlreadyExists(err) {
		if w.c.Get(context.Background(), types.NamespacedName{Namespace: chaosNS, Name: taskName(n)}, &kov1.Task{}) != nil {
			w.tickets.refund(n)
			return
		}
	}
	w.tickets.done()
}

// eligible are the frameworks a fault may pick: not stopped, SDK ones
// only when sdkOnly, in name order.
func (w *workload) eligible(sdkOnly bool) []*chaosFramework {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*chaosFramework
	for _, f := range w.frameworks {
		if !f.isStopped() && (!sdkOnly || f.isSDK()) {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// replace starts a framework like f under a new name, so the workload keeps
// its six frameworks.
func (w *workload) replace(ctx context.Context, f *chaosFramework) error {
	b := baseOf(f)
	if b == nil {
		return fmt.Errorf("no base framework for %s", f.name)
	}
	return w.add(ctx, b.name, b)
}

// teardown deletes framework f while its tasks run (Mesos's TEARDOWN), and
// starts a replacement.
func (w *workload) teardown(ctx context.Context, f *chaosFramework) error {
	f.stop()
	w.markTornDown(f)
	err := client.IgnoreNotFound(w.c.Delete(ctx, &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: chaosNS, Name: f.name}}))
	if f.isSDK() {
		f.sdk.stop()
	}
	return errors.Join(err, w.replace(ctx, f))
}

// abandon stops SDK framework f's scheduler for good: the master must tear
// it down once its failover timeout passes. It starts a replacement.
func (w *workload) abandon(ctx context.Context, f *chaosFramework) error {
	f.stop()
	w.markTornDown(f)
	f.sdk.stop()
	return w.replace(ctx, f)
}

func (w *workload) markTornDown(f *chaosFramework) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tornDown[f.name] = true
}

// stopAll stops every framework's task creation and scheduler.
func (w *workload) stopAll() {
	w.mu.Lock()
	fws := append([]*chaosFramework(nil), w.frameworks...)
	w.mu.Unlock()
	for _, f := range fws {
		f.stop()
		if f.isSDK() {
			f.sdk.stop()
		}
	}
	w.wg.Wait()
}

// sdkScheduler is an SDK framework's scheduler: it packs each offer with
// tasks (while it has fewer than sdkLive not ended) and declines the rest;
// once every task is out it suppresses offers. Its state survives a
// restart of the driver, as a real scheduler's would in its own store.
type sdkScheduler struct {
	w  *workload
	fw *chaosFramework

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	// carry is a task number taken that fitted no offer yet (-1: none).
	carry      int
	suppressed bool
}

// start runs a new driver for the framework (creating the Framework the
// first time, adopting it after).
func (s *sdkScheduler) start(ctx context.Context) error {
	d, err := sdk.New(s.w.cfg, sdk.Config{Namespace: chaosNS, Name: s.fw.name, Spec: s.fw.spec(), Identity: "chaos-" + s.fw.name,
		HeartbeatInterval: sdkHeartbeat}, sdk.Funcs{OnResourceOffers: s.offers})
	if err != nil {
		return err
	}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.mu.Lock()
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := d.Run(dctx); err != nil && dctx.Err() == nil {
			fmt.Printf("   sdk framework %s: %v\n", s.fw.name, err)
		}
	}()
	return nil
}

// stop stops the driver (its heartbeat with it) and waits for it.
func (s *sdkScheduler) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	s.mu.Lock()
	if s.carry >= 0 && s.fw.isStopped() {
		s.w.tickets.refund(s.carry)
		s.carry = -1
	}
	s.mu.Unlock()
}

func (s *sdkScheduler) take() (int, bool) {
	if s.carry >= 0 {
		n := s.carry
		s.carry = -1
		return n, true
	}
	return s.w.tickets.take()
}

func (s *sdkScheduler) offers(ctx context.Context, d *sdk.Driver, offers []*kov1.ResourceOffer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range offers {
		if s.fw.isStopped() {
			_ = d.Decline(ctx, o.Name, nil)
			continue
		}
		budget := sdk.NewBudget(o)
		var launch []*kov1.Task
		var numbers []int
		_, live := s.w.tracker.counts(s.fw.name)
		for live+len(launch) < sdkLive {
			n, ok := s.take()
			if !ok {
				break
			}
			sh := shapeOf(s.w.seed, n, true)
			g, fits := budget.Take(sdk.Needs{Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(sh.cpu),
				corev1.ResourceMemory: resource.MustParse(sh.mem)}, Ports: sh.ports})
			if !fits {
				s.carry = n
				break
			}
			t := chaosTask(n, "", sh)
			t.Spec.Resources, t.Spec.Ports = g.Resources, g.Ports
			launch = append(launch, t)
			numbers = append(numbers, n)
		}
		if len(launch) == 0 {
			_ = d.Decline(ctx, o.Name, nil)
			continue
		}
		_ = d.Accept(ctx, o, launch...)
		for i, t := range launch {
			var err error
			if t.UID == "" {
				err = errors.New("not created")
			}
			s.w.settle(numbers[i], err)
		}
	}
	if s.carry < 0 && s.w.tickets.exhausted() && !s.suppressed {
		s.suppressed = d.Suppress(ctx) == nil
	}
}
