package allocation

import (
	"context"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// DefaultRefuseDuration is Mesos's default refuse time for a decline.
const DefaultRefuseDuration = 5 * time.Second

// maxTasksPerPass bounds how many tasks one pass places, and how many it
// admits: the writes of a few hundred tasks take about a second, so a large
// burst is bound in a stream of short passes, each soon followed by the
// next, rather than in one long pass that binds nothing until it has placed
// everything, while later arrivals and freed agents wait behind it.
const maxTasksPerPass = 200

// Options are the master's allocation settings.
type Options struct {
	// AllocationInterval is how often a pass runs without any event (Mesos's
	// --allocation_interval, 1s).
	AllocationInterval time.Duration
	// OfferTimeout is how long an offer lives before it is rescinded; 0
	// for never.
	OfferTimeout time.Duration
	// MinAllocatable are Mesos's --min_allocatable_resources: an offer must
	// hold at least one of these in full.
	MinAllocatable []corev1.ResourceList
	// ConcurrentWrites is how many API writes a pass has in flight at once
	// (DefaultConcurrentWrites when unset).
	ConcurrentWrites int
	// FairShareExcluded are resources left out of dominant shares (Mesos's
	// --fair_sharing_excluded_resource_names).
	FairShareExcluded []corev1.ResourceName
	// StatusUpdateInterval is the least time between two rewrites of a
	// Framework's or Role's usage figures in status (a role's conditions
	// are written at once); 0 writes them every pass they change.
	StatusUpdateInterval time.Duration
}

// Loop is the master's allocation loop, a leader-only Runnable: it runs a
// pass every AllocationInterval and as soon as a watched object changes,
// bursts batched into one pass.
type Loop struct {
	Client    client.Client
	APIReader client.Reader
	// Writer performs the passes' writes (ClientWriter{Client} unless a
	// test records them).
	Writer   Writer
	Recorder events.EventRecorder
	Clock    clock.WithTicker
	Options  Options
	Metrics  *Metrics

	trigger  chan struct{}
	assumed  *assumptions
	filters  *filterSet
	counts   *allocationCounts
	declines declineQueue
	// roleConditions, pace and waitingSince are used by the passes' goroutine
	// only.
	roleConditions conditionMemo
	pace           *statusPace
	waitingSince   map[types.NamespacedName]time.Time
	// stores are the informers' stores of the kinds that wake the loop,
	// when the cache exposes them (SetupWithManager): a pass reads their
	// objects in place, where a List copies every object's struct into a
	// new slice (over 100 MB a pass at 100,000 tasks).
	stores map[reflect.Type]toolscache.Store
}

// New returns a Loop ready to be added to a manager.
func New(c client.Client, r client.Reader, rec events.EventRecorder, clk clock.WithTicker, opts Options, m *Metrics) *Loop {
	return &Loop{Client: c, APIReader: r, Writer: ClientWriter{Client: c}, Recorder: rec, Clock: clk, Options: opts, Metrics: m,
		trigger: make(chan struct{}, 1), assumed: newAssumptions(), filters: newFilterSet(), roleConditions: conditionMemo{},
		pace: newStatusPace(opts.StatusUpdateInterval), counts: newAllocationCounts(), waitingSince: map[types.NamespacedName]time.Time{}}
}

// NeedLeaderElection makes the loop run on the leader only.
func (l *Loop) NeedLeaderElection() bool { return true }

// SetupWithManager adds the loop to mgr and wakes it on every change to a
// kubeoffer object.
func (l *Loop) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	for _, obj := range []client.Object{&kov1.Agent{}, &kov1.Role{}, &kov1.Framework{}, &kov1.ResourceOffer{}, &kov1.Task{}} {
		inf, err := mgr.GetCache().GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("getting informer for %T: %w", obj, err)
		}
		handler := toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { l.Trigger() },
			UpdateFunc: func(any, any) { l.Trigger() },
			DeleteFunc: func(any) { l.Trigger() },
		}
		if _, isOffer := obj.(*kov1.ResourceOffer); isOffer {
			handler.DeleteFunc = l.offerDeleted
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("watching %T: %w", obj, err)
		}
		if s, exposes := inf.(interface{ GetStore() toolscache.Store }); exposes {
			if l.stores == nil {
				l.stores = map[reflect.Type]toolscache.Store{}
			}
			l.stores[reflect.TypeOf(obj)] = s.GetStore()
		}
	}
	return mgr.Add(l)
}

// Trigger asks for a pass soon; calls during a pass fold into one more.
func (l *Loop) Trigger() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// offerDeleted takes an offer deletion the master did not make as the
// framework's decline (Mesos: deleting = declining with the default
// refuse time).
func (l *Loop) offerDeleted(obj any) {
	if d, isTombstone := obj.(toolscache.DeletedFinalStateUnknown); isTombstone {
		obj = d.Obj
	}
	o, isOffer := obj.(*kov1.ResourceOffer)
	if isOffer && !l.assumed.deletedByUs(key(o)) && o.Spec.Decline == nil {
		l.declines.push(decline{framework: o.FrameworkKey(), agent: o.Spec.AgentName, offer: o.Name})
	}
	l.Trigger()
}

// Start runs passes until ctx ends.
func (l *Loop) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("allocation")
	ctx = ctrl.LoggerInto(ctx, log)
	log.Info("Started allocation loop", "interval", l.Options.AllocationInterval, "offerTimeout", l.Options.OfferTimeout)
	ticker := l.Clock.NewTicker(l.Options.AllocationInterval)
	defer ticker.Stop()
	for {
		start := l.Clock.Now()
		if err := l.RunOnce(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "Allocation pass failed")
		}
		l.Metrics.AllocationRun.Observe(l.Clock.Since(start).Seconds())
		select {
		case <-ctx.Done():
			return nil
		case <-l.trigger:
		case <-ticker.C():
		}
	}
}

// RunOnce reads the world and runs one pass over it.
func (l *Loop) RunOnce(ctx context.Context) error {
	w, err := l.readWorld(ctx)
	if err != nil {
		return err
	}
	l.runPass(ctx, w)
	return nil
}

// pass is one allocation pass: the world read at its start, the ledger
// built from it once, and what the pass has learned so far. apply keeps
// the world and the ledger in step with every write that lands.
type pass struct {
	w *world
	l *ledger
	// placing is what the built-in schedulers had to place at the start of
	// the pass; placed are the offers they bound a task from (the write
	// landed).
	placing builtinPlacing
	placed  map[types.NamespacedName]bool
	// inMaster are the offers to built-in schedulers this pass made in the
	// master only; tried are the offers a built-in scheduler bound tasks
	// from, or tried to (a bind that met a conflict is tried again).
	inMaster map[types.NamespacedName]bool
	tried    map[types.NamespacedName]bool
	// waitingSince is when this master first saw each built-in task waiting
	// to be placed, by its own clock; a task is marked waiting only once it
	// has waited an allocation interval.
	waitingSince map[types.NamespacedName]time.Time
	markAfter    time.Duration
	// maxTasks bounds the tasks placed, and those admitted, by this pass
	// (maxTasksPerPass).
	maxTasks int
}

// runPass runs the steps of a pass over w, each deciding on the world and
// the ledger as the steps before left them, and returns the pass.
func (l *Loop) runPass(ctx context.Context, w *world) *pass {
	sw := newStopwatch(l.Clock)
	p := &pass{w: w, l: l.buildLedger(w), placed: map[types.NamespacedName]bool{}, inMaster: map[types.NamespacedName]bool{},
		tried:        map[types.NamespacedName]bool{},
		waitingSince: l.waitingSince,
		markAfter:    l.Options.AllocationInterval, maxTasks: maxTasksPerPass}
	sw.lap("read")

	// 1. Declined offers are deleted and their agents refused for a while.
	l.apply(ctx, p, planDeclines(p, l.declines.drain()))
	sw.lap("retire")
	// 2. The built-in schedulers place their waiting tasks on their offers
	// and bind them there.
	var placements plan
	p.placing, placements = planPlacements(p)
	l.apply(ctx, p, placements)
	sw.lap("place")
	// 3. Tasks that name an offer (frameworks placed them) are bound to its
	// agent, or refused.
	l.apply(ctx, p, planAdmission(p))
	sw.lap("admit")
	// 4. The built-in schedulers answer the offers they are done with.
	l.apply(ctx, p, planBuiltinReturns(p))
	sw.lap("return")
	// 5. Offers that must go are rescinded; idle built-in schedulers'
	// offers are returned.
	idle := idleBuiltins(w)
	p.l.setIdle(idle)
	l.apply(ctx, p, planRescinds(p, idle))
	sw.lap("rescind")
	// 6. The allocator makes new offers by weighted DRF: objects for the
	// frameworks that schedule themselves; in the master only for the
	// built-in schedulers, which place and bind their tasks on them at once
	// and hand back the rest. Built-in schedulers left with nothing say
	// their tasks wait.
	p.l.setBuiltinDemand(w, p.l.dims.Len())
	l.counts.retain(p.l.fws)
	l.apply(ctx, p, planOffers(p, l.Options.OfferTimeout))
	sw.lap("offer")
	if len(p.inMaster) > 0 {
		var inMaster plan
		p.placing, inMaster = planPlacements(p)
		l.apply(ctx, p, inMaster)
		l.apply(ctx, p, planInMasterReturns(p))
		p.l.setIdle(idleBuiltins(w))
		sw.lap("place-in-master")
	}
	l.apply(ctx, p, planUnofferedMarks(p))
	// 7. The status that changed is written, and the gauges set.
	l.apply(ctx, p, l.planStatus(p))
	sw.lap("status")

	l.waitingSince = stillWaiting(p)

	ctrl.LoggerFrom(ctx).V(1).Info("Allocation pass", append([]any{"agents", len(w.agents), "frameworks", len(w.frameworks),
		"offers", len(w.offers), "tasks", len(w.tasks)}, sw.keysAndValues()...)...)
	return p
}

// buildLedger builds the pass's ledger from w, with the refuse filters in
// force and the allocation counts so far.
func (l *Loop) buildLedger(w *world) *ledger {
	opts := options{MinAllocatable: l.Options.MinAllocatable, FairShareExcluded: l.Options.FairShareExcluded,
		AllocationCounts: l.counts.get()}
	revived := make(map[string]*metav1.Time, len(w.frameworks))
	for k, f := range w.frameworks {
		revived[k.String()] = f.Spec.RevivedAt
	}
	return buildLedger(w, opts, func(fw string) map[string]time.Time {
		l.filters.prune(fw, revived[fw], w.now)
		return l.filters.active(fw)
	}, idleBuiltins(w))
}

// stopwatch times the steps of a pass, for its log line.
type stopwatch struct {
	clock clock.PassiveClock
	last  time.Time
	laps  []any
}

func newStopwatch(c clock.PassiveClock) *stopwatch { return &stopwatch{clock: c, last: c.Now()} }

func (s *stopwatch) lap(step string) {
	now := s.clock.Now()
	s.laps = append(s.laps, step, now.Sub(s.last).Round(time.Millisecond).String())
	s.last = now
}

func (s *stopwatch) keysAndValues() []any { return s.laps }
