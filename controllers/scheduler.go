package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
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

// SchedulerOptions are the master's allocation settings.
type SchedulerOptions struct {
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
}

// Scheduler is the master's allocation loop, a leader-only Runnable. Each
// pass reads the informer cache (plus its own not-yet-seen writes), then:
// retires declined offers and installs refuse filters; places the tasks of
// frameworks with a built-in policy; admits tasks that accepted offers;
// rescinds offers that must go; makes new offers by weighted DRF; and
// writes the status that changed. Passes run every AllocationInterval and
// as soon as a watched object changes, bursts batched into one pass.
//
// This file holds the runnable and the reading of the world; each step has
// its own file: declines.go, builtin.go (the built-in schedulers),
// admit.go, rescind.go, offers.go, status.go and rolestatus.go, with the
// writes in writes.go and the assumed writes in assume.go.
type Scheduler struct {
	Client    client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.WithTicker
	Options   SchedulerOptions
	Metrics   *Metrics

	trigger  chan struct{}
	assumed  *assumptions
	filters  *filterSet
	counts   *allocationCounts
	declines declineQueue
	// roleConditions is used by the passes' goroutine only.
	roleConditions conditionMemo
}

// NewScheduler returns a Scheduler ready to be added to a manager.
func NewScheduler(c client.Client, r client.Reader, rec events.EventRecorder, clk clock.WithTicker, opts SchedulerOptions, m *Metrics) *Scheduler {
	return &Scheduler{Client: c, APIReader: r, Recorder: rec, Clock: clk, Options: opts, Metrics: m,
		trigger: make(chan struct{}, 1), assumed: newAssumptions(), filters: newFilterSet(), roleConditions: conditionMemo{},
		counts: newAllocationCounts()}
}

// NeedLeaderElection makes the scheduler run on the leader only.
func (s *Scheduler) NeedLeaderElection() bool { return true }

// SetupWithManager adds the scheduler to mgr and wakes it on every change
// to a kubeoffer object.
func (s *Scheduler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	for _, obj := range []client.Object{&kov1.Agent{}, &kov1.Role{}, &kov1.Framework{}, &kov1.ResourceOffer{}, &kov1.Task{}} {
		inf, err := mgr.GetCache().GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("getting informer for %T: %w", obj, err)
		}
		handler := toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { s.Trigger() },
			UpdateFunc: func(any, any) { s.Trigger() },
			DeleteFunc: func(any) { s.Trigger() },
		}
		if _, isOffer := obj.(*kov1.ResourceOffer); isOffer {
			handler.DeleteFunc = s.offerDeleted
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("watching %T: %w", obj, err)
		}
	}
	return mgr.Add(s)
}

// Trigger asks for a pass soon; calls during a pass fold into one more.
func (s *Scheduler) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// offerDeleted takes an offer deletion the master did not make as the
// framework's decline (Mesos: deleting = declining with the default
// refuse time).
func (s *Scheduler) offerDeleted(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, ok := obj.(*kov1.ResourceOffer)
	if ok && !s.assumed.deletedByUs(key(o)) && o.Spec.Decline == nil {
		s.declines.push(decline{framework: o.FrameworkKey(), agent: o.Spec.AgentName, offer: o.Name})
	}
	s.Trigger()
}

// Start runs passes until ctx ends.
func (s *Scheduler) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("scheduler")
	ctx = ctrl.LoggerInto(ctx, log)
	log.Info("Started allocation loop", "interval", s.Options.AllocationInterval, "offerTimeout", s.Options.OfferTimeout)
	ticker := s.Clock.NewTicker(s.Options.AllocationInterval)
	defer ticker.Stop()
	for {
		start := s.Clock.Now()
		if err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "Allocation pass failed")
		}
		s.Metrics.AllocationRun.Observe(s.Clock.Since(start).Seconds())
		select {
		case <-ctx.Done():
			return nil
		case <-s.trigger:
		case <-ticker.C():
		}
	}
}

// RunOnce runs one pass.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	sw := newStopwatch(s.Clock)
	w, err := s.readWorld(ctx)
	if err != nil {
		return err
	}
	s.assumed.overlay(w)
	sw.lap("read")
	s.retireDeclined(ctx, w)
	sw.lap("retire")
	placing := s.placeBuiltin(ctx, w)
	sw.lap("place")
	s.admitTasks(ctx, w)
	sw.lap("admit")
	s.returnBuiltinOffers(ctx, w, placing)
	sw.lap("return")
	idle := s.idleBuiltins(w)
	l := s.ledger(w, idle)
	s.rescind(ctx, w, l, idle)
	sw.lap("rescind")
	l = s.ledger(w, idle)
	s.makeOffers(ctx, w, l)
	s.markUnoffered(ctx, w)
	sw.lap("offer")
	s.syncStatus(ctx, w, s.ledger(w, idle))
	sw.lap("status")
	ctrl.LoggerFrom(ctx).V(1).Info("Allocation pass", append([]any{"agents", len(w.agents), "frameworks", len(w.frameworks),
		"offers", len(w.offers), "tasks", len(w.tasks)}, sw.keysAndValues()...)...)
	return nil
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

func (s *Scheduler) ledger(w *world, idle map[string]bool) *ledger {
	opts := options{MinAllocatable: s.Options.MinAllocatable, FairShareExcluded: s.Options.FairShareExcluded,
		AllocationCounts: s.counts.get()}
	revived := make(map[string]*metav1.Time, len(w.frameworks))
	for k, f := range w.frameworks {
		revived[k.String()] = f.Spec.RevivedAt
	}
	return buildLedger(w, opts, func(fw string) map[string]time.Time {
		s.filters.prune(fw, revived[fw], w.now)
		return s.filters.active(fw)
	}, idle)
}

// The allocation loop reads every kind, creates, rescinds and deletes
// offers, and writes the status of offers and roles.
// +kubebuilder:rbac:groups=kubeoffer.io,resources=roles,verbs=get;list;watch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=roles/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=resourceoffers,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=kubeoffer.io,resources=resourceoffers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=node.k8s.io,resources=runtimeclasses,verbs=get;list;watch

// readWorld lists every kubeoffer object from the informer cache, without
// copying: the world never mutates them.
func (s *Scheduler) readWorld(ctx context.Context) (*world, error) {
	noCopy := client.UnsafeDisableDeepCopy
	w := &world{now: s.Clock.Now(), agents: map[string]*kov1.Agent{}, roles: map[string]*kov1.Role{},
		frameworks: map[kov1.FrameworkKey]*kov1.Framework{}, offers: map[types.NamespacedName]*kov1.ResourceOffer{},
		tasks: map[types.NamespacedName]*kov1.Task{}, runtimeClasses: map[string]*nodev1.RuntimeClass{}}
	var agents kov1.AgentList
	var roles kov1.RoleList
	var fws kov1.FrameworkList
	var offers kov1.ResourceOfferList
	var tasks kov1.TaskList
	var rcs nodev1.RuntimeClassList
	for _, l := range []client.ObjectList{&agents, &roles, &fws, &offers, &tasks, &rcs} {
		if err := s.Client.List(ctx, l, noCopy); err != nil {
			return nil, fmt.Errorf("listing %T from the cache: %w", l, err)
		}
	}
	for i := range agents.Items {
		w.agents[agents.Items[i].Name] = &agents.Items[i]
	}
	for i := range roles.Items {
		w.roles[roles.Items[i].Name] = &roles.Items[i]
	}
	for i := range fws.Items {
		w.frameworks[fws.Items[i].Key()] = &fws.Items[i]
	}
	for i := range offers.Items {
		w.offers[key(&offers.Items[i])] = &offers.Items[i]
	}
	for i := range tasks.Items {
		w.tasks[key(&tasks.Items[i])] = &tasks.Items[i]
	}
	for i := range rcs.Items {
		w.runtimeClasses[rcs.Items[i].Name] = &rcs.Items[i]
	}
	return w, nil
}
