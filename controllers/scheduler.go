package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/allocator"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
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
}

// Scheduler is the master's allocation loop, a leader-only Runnable. Each
// pass reads the informer cache (plus its own not-yet-seen writes), then:
// retires declined offers and installs refuse filters; places the tasks of
// frameworks with a built-in policy; admits tasks that accepted offers;
// rescinds offers that must go; makes new offers by weighted DRF; and
// writes the status that changed. Passes run every AllocationInterval and
// as soon as a watched object changes, bursts batched into one pass.
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
	declines declineQueue
}

// NewScheduler returns a Scheduler ready to be added to a manager.
func NewScheduler(c client.Client, r client.Reader, rec events.EventRecorder, clk clock.WithTicker, opts SchedulerOptions, m *Metrics) *Scheduler {
	return &Scheduler{Client: c, APIReader: r, Recorder: rec, Clock: clk, Options: opts, Metrics: m,
		trigger: make(chan struct{}, 1), assumed: newAssumptions(), filters: newFilterSet()}
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
		s.declines.push(decline{framework: types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.FrameworkName}, agent: o.Spec.AgentName, offer: o.Name})
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
	return buildLedger(w, options{MinAllocatable: s.Options.MinAllocatable}, func(fw string) map[string]time.Time {
		ns, name, _ := strings.Cut(fw, "/")
		var revived *metav1.Time
		if f := w.frameworks[types.NamespacedName{Namespace: ns, Name: name}]; f != nil {
			revived = f.Spec.RevivedAt
		}
		return s.filters.active(fw, revived, w.now)
	}, idle)
}

// +kubebuilder:rbac:groups=node.k8s.io,resources=runtimeclasses,verbs=get;list;watch

// readWorld lists every kubeoffer object from the informer cache, without
// copying: the world never mutates them.
func (s *Scheduler) readWorld(ctx context.Context) (*world, error) {
	noCopy := client.UnsafeDisableDeepCopy
	w := &world{now: s.Clock.Now(), agents: map[string]*kov1.Agent{}, roles: map[string]*kov1.Role{},
		frameworks: map[types.NamespacedName]*kov1.Framework{}, offers: map[types.NamespacedName]*kov1.ResourceOffer{},
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
		w.frameworks[key(&fws.Items[i])] = &fws.Items[i]
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

// retireDeclined deletes declined offers and installs their refuse filters,
// and installs filters for offers frameworks deleted themselves.
func (s *Scheduler) retireDeclined(ctx context.Context, w *world) {
	var dels []offerDeletion
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		if o.Spec.Decline == nil || o.DeletionTimestamp != nil {
			continue
		}
		fk := types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.FrameworkName}
		refuse := refuseDuration(w.frameworks[fk], o.Spec.Decline.RefuseDuration)
		s.filters.add(frameworkKey(fk.Namespace, fk.Name), o.Spec.AgentName, w.now.Add(refuse), w.now)
		dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Declined",
			message: fmt.Sprintf("Declined by framework %s; agent %s refused for %s", o.Spec.FrameworkName, o.Spec.AgentName, refuse)})
	}
	for i, deleted := range s.deleteOffers(ctx, w, dels) {
		if deleted {
			o := dels[i].offer
			s.Metrics.OffersDeclined.WithLabelValues(frameworkKey(o.Namespace, o.Spec.FrameworkName)).Inc()
		}
	}
	for _, d := range s.declines.drain() {
		refuse := refuseDuration(w.frameworks[d.framework], nil)
		s.filters.add(frameworkKey(d.framework.Namespace, d.framework.Name), d.agent, w.now.Add(refuse), w.now)
		s.Metrics.OffersDeclined.WithLabelValues(frameworkKey(d.framework.Namespace, d.framework.Name)).Inc()
		ctrl.LoggerFrom(ctx).V(2).Info("Took offer deletion as decline", "ResourceOffer", klog.KRef(d.framework.Namespace, d.offer), "refuse", refuse)
	}
}

func refuseDuration(f *kov1.Framework, explicit *metav1.Duration) time.Duration {
	switch {
	case explicit != nil:
		return explicit.Duration
	case f != nil && f.Spec.RefuseDuration != nil:
		return f.Spec.RefuseDuration.Duration
	}
	return DefaultRefuseDuration
}

// pendingTasks returns pending tasks matching keep, oldest first.
func pendingTasks(w *world, keep func(*kov1.Task) bool) []*kov1.Task {
	var out []*kov1.Task
	for _, t := range w.tasks {
		if isPending(t) && keep(t) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return key(out[i]).String() < key(out[j]).String()
	})
	return out
}

// maxWaitingMarksPerPass bounds how many tasks one pass marks as waiting
// for an offer; the rest are marked by the passes after.
const maxWaitingMarksPerPass = 256

// builtinPlacing is what one pass of the built-in schedulers did: the
// frameworks that had tasks to place, and the offers that took a task.
type builtinPlacing struct {
	frameworks map[string]bool
	used       map[types.NamespacedName]bool
	// contended is whether several frameworks wanted offers.
	contended bool
}

// placeBuiltin is the built-in schedulers: each pending task of a framework
// with spec.scheduler that names no offer is put on one of the framework's
// offers by its policy, in creation order, or marked as waiting.
func (s *Scheduler) placeBuiltin(ctx context.Context, w *world) builtinPlacing {
	placing := builtinPlacing{frameworks: map[string]bool{}, used: map[types.NamespacedName]bool{}}
	tasks := pendingTasks(w, func(t *kov1.Task) bool {
		f := w.frameworks[types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.FrameworkName}]
		return t.Spec.OfferName == "" && frameworkLive(f) && f.Spec.Scheduler != nil
	})
	if len(tasks) == 0 {
		return placing
	}
	l := s.ledger(w, nil)
	// A task placed on an offer by an earlier pass (or an earlier leader)
	// but not bound yet — its bind met a conflict, or its leader died —
	// still claims its share of the offer; the ledger counts bound tasks
	// only, so without this the offer's rest would be given out twice and
	// admission would drop one of the two tasks.
	for _, t := range pendingTasks(w, func(t *kov1.Task) bool { return t.Spec.OfferName != "" }) {
		overhead, _ := w.podOverhead(t)
		l.consume(types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName},
			l.dims.FromList(kov1.AddResources(t.Spec.Resources, overhead)), resources.NewPortSet(t.Spec.Ports...))
	}
	// When frameworks compete for offers, a built-in scheduler takes one
	// task per offer per pass and returns the rest (returnBuiltinOffers), so
	// the next pass re-offers it in weighted-DRF order and shares converge at
	// task granularity. Alone, it packs each offer.
	contended := competing(l, s.idleBuiltins(w)) > 1
	placing.contended = contended
	total := make(resources.Vec, l.dims.Len())
	for _, a := range l.snapshot.Agents {
		total.Add(a.Allocatable)
	}
	type placement struct {
		cur, placed *kov1.Task
		offer       types.NamespacedName
	}
	var places []placement
	var waiting []statusWrite
	taken := map[types.NamespacedName]bool{}
	spread := map[string]map[string]int{}
	for _, t := range tasks {
		f := w.frameworks[types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.FrameworkName}]
		fk := frameworkKey(f.Namespace, f.Name)
		placing.frameworks[fk] = true
		attr := f.Spec.Scheduler.SpreadAttribute
		if attr == "" {
			attr = corev1.LabelHostname
		}
		if spread[fk] == nil {
			spread[fk] = spreadCounts(w, f, attr)
		}
		var cands, takenCands []allocator.Candidate
		var keys []types.NamespacedName
		for _, ok := range sortedNNKeys(l.offers) {
			ov := l.offers[ok]
			if ov.Framework != fk || (!ov.Expires.IsZero() && !w.now.Before(ov.Expires)) {
				continue
			}
			c := allocator.Candidate{Offer: ov.Name, Remaining: ov.Resources, Ports: ov.Ports, SpreadValue: ov.Attributes[attr]}
			if contended && taken[ok] {
				takenCands = append(takenCands, c)
				continue
			}
			cands = append(cands, c)
			keys = append(keys, ok)
		}
		overhead, _ := w.podOverhead(t) // a missing RuntimeClass is refused at admission
		need := l.dims.FromList(kov1.AddResources(t.Spec.Resources, overhead))
		ports := resources.NewPortSet(t.Spec.Ports...)
		i := allocator.Place(f.Spec.Scheduler.Policy, need, ports, cands, spread[fk], total)
		if i < 0 {
			// A task that fits an offer already taken this pass is placed
			// next pass; one that none of the framework's offers fits waits,
			// and says so (a bounded number per pass, so a large burst does
			// not hold the pass up). Without any offer, markUnoffered decides
			// once this pass's offers are made.
			if len(cands)+len(takenCands) == 0 || len(waiting) >= maxWaitingMarksPerPass ||
				allocator.Place(f.Spec.Scheduler.Policy, need, ports, takenCands, spread[fk], total) >= 0 {
				continue
			}
			if mark := waitingStatus(w, t); !statusEqual(mark.cur.Status, mark.next.Status) {
				waiting = append(waiting, mark)
			}
			continue
		}
		placed := t.DeepCopy()
		placed.Spec.OfferName = cands[i].Offer
		places = append(places, placement{cur: t, placed: placed, offer: keys[i]})
		// Assumed to succeed for the rest of this pass's decisions; a task
		// whose patch fails is placed again next pass.
		l.consume(keys[i], need, ports)
		taken[keys[i]] = true
		spread[fk][cands[i].SpreadValue]++
	}
	errs := make([]error, len(places))
	s.parallelize(ctx, len(places), func(i int) {
		// A patch of offerName alone: an Update would resend the whole spec,
		// and a template written without metadata (kubectl) would come back
		// with an empty one, which the immutability rule refuses.
		p := places[i]
		errs[i] = s.Client.Patch(ctx, p.placed, client.MergeFromWithOptions(p.cur, client.MergeFromWithOptimisticLock{}))
	})
	for i, p := range places {
		if errs[i] != nil {
			ctrl.LoggerFrom(ctx).V(1).Info("Could not place task; will retry", "Task", klog.KObj(p.cur), "err", errs[i].Error())
			continue
		}
		w.tasks[key(p.placed)] = p.placed
		placing.used[p.offer] = true
	}
	s.writeTaskStatuses(ctx, w, waiting)
	return placing
}

// markUnoffered marks as waiting the tasks of built-in frameworks that
// hold no offer at the end of a pass: nothing is free for them now.
func (s *Scheduler) markUnoffered(ctx context.Context, w *world) {
	offered := map[types.NamespacedName]bool{}
	for _, o := range w.offers {
		offered[types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.FrameworkName}] = true
	}
	var marks []statusWrite
	for _, t := range pendingTasks(w, func(t *kov1.Task) bool {
		fk := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.FrameworkName}
		f := w.frameworks[fk]
		return t.Spec.OfferName == "" && frameworkLive(f) && f.Spec.Scheduler != nil && !offered[fk]
	}) {
		if len(marks) >= maxWaitingMarksPerPass {
			break
		}
		if mark := waitingStatus(w, t); !statusEqual(mark.cur.Status, mark.next.Status) {
			marks = append(marks, mark)
		}
	}
	s.writeTaskStatuses(ctx, w, marks)
}

// competing counts the frameworks that want offers now: connected, not
// suppressed, and (with a built-in scheduler) with a task to place.
func competing(l *ledger, idle map[string]bool) int {
	n := 0
	for _, f := range l.snapshot.Frameworks {
		if !f.Suppressed && !idle[f.Key] {
			n++
		}
	}
	return n
}

// returnBuiltinOffers makes the built-in schedulers answer their offers as a
// well-behaved Mesos framework does, so that weighted DRF, not whoever was
// offered first, decides who gets an agent next. For every framework that
// had tasks to place this pass: an offer that took tasks has the rest
// declined once they are bound (no refuse time: the next pass re-offers it
// by DRF order), unless no other framework wants offers, when it is kept
// for the framework's next tasks; an offer no waiting task fits is declined with the
// framework's refuse duration, or returned without one when no task waits
// at all (so tasks created a moment later are not kept off the agent).
// Offers a still-unbound task names are kept.
func (s *Scheduler) returnBuiltinOffers(ctx context.Context, w *world, placing builtinPlacing) {
	if len(placing.frameworks) == 0 {
		return
	}
	named := map[types.NamespacedName]bool{}
	waiting := map[string]bool{}
	for _, t := range w.tasks {
		switch {
		case isPending(t) && t.Spec.OfferName != "":
			named[types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}] = true
		case isPending(t):
			waiting[frameworkKey(t.Namespace, t.Spec.FrameworkName)] = true
		}
	}
	var dels []offerDeletion
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		fk := frameworkKey(o.Namespace, o.Spec.FrameworkName)
		if !placing.frameworks[fk] || named[k] || o.Spec.Decline != nil || o.DeletionTimestamp != nil {
			continue
		}
		if placing.used[k] && !placing.contended {
			continue // alone, it keeps the rest for its next tasks
		}
		if placing.used[k] {
			dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Used",
				message: "Returned the rest: the framework's built-in scheduler placed its tasks"})
			continue
		}
		if !waiting[fk] {
			dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Unused",
				message: "Returned: the framework's built-in scheduler has no task left to place"})
			continue
		}
		refuse := refuseDuration(w.frameworks[types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.FrameworkName}], nil)
		s.filters.add(fk, o.Spec.AgentName, w.now.Add(refuse), w.now)
		dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Unused",
			message: fmt.Sprintf("Returned: no waiting task of the framework's built-in scheduler fits; agent %s refused for %s", o.Spec.AgentName, refuse)})
	}
	s.deleteOffers(ctx, w, dels)
}

func spreadCounts(w *world, f *kov1.Framework, attr string) map[string]int {
	counts := map[string]int{}
	for _, t := range w.tasks {
		if t.Namespace != f.Namespace || t.Spec.FrameworkName != f.Name || !isBound(t) {
			continue
		}
		if a := w.agents[t.Status.AgentName]; a != nil {
			counts[a.Status.Attributes[attr]]++
		}
	}
	return counts
}

// waitingStatus records on a task that no offer fits it yet.
func waitingStatus(w *world, t *kov1.Task) statusWrite {
	next := t.DeepCopy()
	next.Status.State = kov1.TaskPending
	next.Status.ObservedGeneration = t.Generation
	meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionFalse,
		Reason: kov1.TaskReasonWaitingForOffer, Message: "No offer of the framework fits the task yet; it waits for resources to free up", ObservedGeneration: t.Generation})
	if t.Status.State == "" {
		appendHistory(&next.Status, kov1.TaskPending, kov1.TaskReasonWaitingForOffer, "", w.now)
	}
	return statusWrite{cur: t, next: next}
}

// admitTasks binds tasks that name an offer, or ends them with a reason.
// Decisions are made in creation order against the offers' remaining
// resources, assuming every bind before succeeds; the binds are written
// first, and the refusals only if every bind was written (a failed bind
// gives back resources a later refusal may have counted as used).
func (s *Scheduler) admitTasks(ctx context.Context, w *world) {
	tasks := pendingTasks(w, func(t *kov1.Task) bool { return t.Spec.OfferName != "" })
	if len(tasks) == 0 {
		return
	}
	l := s.ledger(w, nil)
	var binds, refusals []statusWrite
	var bindOffers []*kov1.ResourceOffer
	for _, t := range tasks {
		ok := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}
		view := l.offerView(ok)
		if view == nil && s.offerExistsInAPI(ctx, ok) {
			continue // the cache lags behind the framework's view; next pass
		}
		f := w.frameworks[types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.FrameworkName}]
		overhead, overheadErr := w.podOverhead(t)
		need := l.dims.FromList(kov1.AddResources(t.Spec.Resources, overhead))
		ports := resources.NewPortSet(t.Spec.Ports...)
		verdict := allocator.Admit(l.dims, allocator.TaskRequest{Framework: t.Spec.FrameworkName, Offer: t.Spec.OfferName,
			Needs: need, Ports: ports, TemplateNodeName: t.Spec.Template.Spec.NodeName, HostPorts: hostPorts(&t.Spec.Template.Spec)}, view, frameworkLive(f), w.now)
		if overheadErr != nil && (verdict.Bind || verdict.State != kov1.TaskError) {
			// A template the API server would refuse as a Pod is the task's
			// error, whatever the offer.
			verdict = allocator.Admission{State: kov1.TaskError, Reason: kov1.TaskReasonInvalid, Message: overheadErr.Error()}
		}
		if verdict.Reason == kov1.TaskReasonInsufficientResources && len(overhead) > 0 {
			verdict.Message += fmt.Sprintf("; the need includes the Pod overhead of RuntimeClass %q (%s)", *t.Spec.Template.Spec.RuntimeClassName, describe(overhead))
		}
		next := t.DeepCopy()
		next.Status.ObservedGeneration = t.Generation
		if !verdict.Bind {
			setTerminal(&next.Status, verdict.State, verdict.Reason, verdict.Message, w.now)
			meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionFalse,
				Reason: verdict.Reason, Message: verdict.Message, ObservedGeneration: t.Generation})
			refusals = append(refusals, statusWrite{cur: t, next: next})
			continue
		}
		o := w.offers[ok]
		msg := fmt.Sprintf("Bound to agent %s from offer %s", o.Spec.AgentName, o.Name)
		next.Status.State = kov1.TaskStaging
		next.Status.Reason, next.Status.Message = "", msg
		next.Status.AgentName, next.Status.NodeName = o.Spec.AgentName, o.Spec.NodeName
		next.Status.Overhead = overhead
		appendHistory(&next.Status, kov1.TaskStaging, "", msg, w.now)
		meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.TaskBoundCondition, Status: metav1.ConditionTrue,
			Reason: "Bound", Message: msg, ObservedGeneration: t.Generation})
		binds = append(binds, statusWrite{cur: t, next: next})
		bindOffers = append(bindOffers, o)
		l.consume(ok, need, ports)
	}
	allBound := true
	for i, bound := range s.writeTaskStatuses(ctx, w, binds) {
		if !bound {
			allBound = false
			continue
		}
		t := binds[i].next
		s.Metrics.OffersAccepted.WithLabelValues(frameworkKey(t.Namespace, t.Spec.FrameworkName)).Inc()
		s.Recorder.Eventf(t, bindOffers[i], corev1.EventTypeNormal, "Staging", "Bind", t.Status.Message)
	}
	if !allBound {
		return // the refusals are decided again next pass
	}
	for i, refused := range s.writeTaskStatuses(ctx, w, refusals) {
		if refused {
			t := refusals[i].next
			s.Recorder.Eventf(t, nil, corev1.EventTypeWarning, t.Status.Reason, "Admit", "Task %s: %s", t.Status.State, t.Status.Message)
		}
	}
}

// hostPorts lists the host ports a Pod spec's containers ask for.
func hostPorts(spec *corev1.PodSpec) []allocator.HostPort {
	var out []allocator.HostPort
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					out = append(out, allocator.HostPort{Container: c.Name, Port: p.HostPort})
				}
			}
		}
	}
	return out
}

func (s *Scheduler) offerExistsInAPI(ctx context.Context, k types.NamespacedName) bool {
	var o kov1.ResourceOffer
	err := s.APIReader.Get(ctx, k, &o)
	return err == nil && o.DeletionTimestamp == nil && o.Spec.Decline == nil
}

// idleBuiltins are frameworks with a built-in scheduler and no task waiting
// to be placed: they are offered nothing and their offers are returned.
func (s *Scheduler) idleBuiltins(w *world) map[string]bool {
	idle := map[string]bool{}
	for k, f := range w.frameworks {
		if f.Spec.Scheduler != nil {
			idle[frameworkKey(k.Namespace, k.Name)] = true
		}
	}
	for _, t := range w.tasks {
		if isPending(t) && t.Spec.OfferName == "" {
			delete(idle, frameworkKey(t.Namespace, t.Spec.FrameworkName))
		}
	}
	return idle
}

// rescind withdraws the offers the allocator says must go, and returns the
// offers of idle built-in frameworks.
func (s *Scheduler) rescind(ctx context.Context, w *world, l *ledger, idle map[string]bool) {
	states := map[string]allocator.AgentState{}
	for name, a := range w.agents {
		states[name] = agentState(a)
	}
	rescinds := allocator.Rescinds(l.snapshot, allocator.RescindInput{AgentStates: states, Frameworks: l.fws, Disconnected: l.away})
	var dels []offerDeletion
	var labels [][2]string
	for _, r := range rescinds {
		o := w.offers[types.NamespacedName{Namespace: r.Offer.Namespace, Name: r.Offer.Name}]
		if o == nil {
			continue
		}
		eventType := corev1.EventTypeWarning
		if r.Reason == allocator.RescindUsedUp || r.Reason == allocator.RescindExpired {
			eventType = corev1.EventTypeNormal
		}
		dels = append(dels, offerDeletion{offer: o, eventType: eventType, reason: r.Reason, message: "Rescinded: " + r.Message})
		labels = append(labels, [2]string{r.Offer.Framework, r.Reason})
	}
	rescinded := len(dels)
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		if idle[frameworkKey(o.Namespace, o.Spec.FrameworkName)] {
			dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Unused",
				message: "Returned: the framework's built-in scheduler has no task to place"})
		}
	}
	for i, deleted := range s.deleteOffers(ctx, w, dels) {
		if deleted && i < rescinded {
			s.Metrics.OffersRescinded.WithLabelValues(labels[i][0], labels[i][1]).Inc()
		}
	}
}

// makeOffers runs the allocator and creates its offers.
func (s *Scheduler) makeOffers(ctx context.Context, w *world, l *ledger) {
	allocs := allocator.Allocate(l.snapshot)
	offers := make([]*kov1.ResourceOffer, len(allocs))
	for i, o := range allocs {
		f := l.fws[o.Framework]
		fw := w.frameworks[types.NamespacedName{Namespace: f.Namespace, Name: f.Name}]
		offer := &kov1.ResourceOffer{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: offerNamePrefix(f.Name, o.Agent),
				Namespace:    f.Namespace,
				Labels:       map[string]string{kov1.LabelFramework: kov1.LabelValue(f.Name), kov1.LabelAgent: kov1.LabelValue(o.Agent)},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: kov1.GroupVersion.String(), Kind: "Framework",
					Name: fw.Name, UID: fw.UID}},
			},
			Spec: kov1.ResourceOfferSpec{
				FrameworkName: f.Name, AgentName: o.Agent, NodeName: o.Node, Role: o.Role,
				Resources: l.dims.ToList(o.Resources), Ports: []kov1.PortRange(o.Ports), Attributes: map[string]string(o.Attributes),
			},
		}
		if len(offer.Spec.Attributes) == 0 {
			offer.Spec.Attributes = nil
		}
		if s.Options.OfferTimeout > 0 {
			offer.Spec.ExpirationTime = &metav1.Time{Time: w.now.Add(s.Options.OfferTimeout).Truncate(time.Second)}
		}
		offers[i] = offer
	}
	errs := make([]error, len(offers))
	s.parallelize(ctx, len(offers), func(i int) { errs[i] = s.Client.Create(ctx, offers[i]) })
	for i, offer := range offers {
		o := allocs[i]
		fw := w.frameworks[types.NamespacedName{Namespace: offer.Namespace, Name: offer.Spec.FrameworkName}]
		if errs[i] != nil {
			ctrl.LoggerFrom(ctx).Error(errs[i], "Failed to create offer", "Framework", klog.KObj(fw), "Agent", o.Agent)
			continue
		}
		s.assumed.offerCreated(offer, w.now)
		w.offers[key(offer)] = offer
		s.Metrics.OffersSent.WithLabelValues(o.Framework).Inc()
		s.Recorder.Eventf(offer, fw, corev1.EventTypeNormal, "Offered", "Offer", "Offered %s of agent %s to framework %s as role %s",
			describe(offer.Spec.Resources), o.Agent, offer.Spec.FrameworkName, o.Role)
	}
}

// offerNamePrefix is "<framework>-<agent>-", shortened to leave room for
// the API server's random suffix.
func offerNamePrefix(framework, agent string) string {
	p := framework + "-" + agent
	if len(p) > 200 {
		p = p[:200]
	}
	return strings.TrimRight(p, "-.") + "-"
}

func describe(rl corev1.ResourceList) string {
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		q := rl[corev1.ResourceName(n)]
		parts[i] = n + " " + q.String()
	}
	return strings.Join(parts, ", ")
}

// filterSet holds decline refuse filters: per framework, per agent, until
// when. It owns its lock (informer handlers and passes both reach it).
type filterSet struct {
	mu sync.Mutex
	m  map[string]map[string]filter
	// revived is, per framework, the revivedAt value last seen and when
	// this master first saw it.
	revived map[string]revival
}

type filter struct{ until, created time.Time }

type revival struct{ value, seen time.Time }

func newFilterSet() *filterSet {
	return &filterSet{m: map[string]map[string]filter{}, revived: map[string]revival{}}
}

func (f *filterSet) add(fw, agent string, until, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[fw] == nil {
		f.m[fw] = map[string]filter{}
	}
	f.m[fw][agent] = filter{until: until, created: now}
}

// active returns fw's filters in force at now, dropping expired ones and
// those installed before the framework's revivedAt (Mesos's REVIVE).
func (f *filterSet) active(fw string, revivedAt *metav1.Time, now time.Time) map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	revived, hasRevive := f.revivedAt(fw, revivedAt, now)
	out := map[string]time.Time{}
	for agent, x := range f.m[fw] {
		if !now.Before(x.until) || (hasRevive && !x.created.After(revived)) {
			delete(f.m[fw], agent)
			continue
		}
		out[agent] = x.until
	}
	return out
}

// revivedAt is when fw's last REVIVE took effect: its spec.revivedAt, but
// never later than when this master first saw that value. A revivedAt in the
// future (a skewed clock, or a tenant's typo) would otherwise drop every
// filter the framework installs until then, so its declines would mean
// nothing. The caller holds f.mu.
func (f *filterSet) revivedAt(fw string, revivedAt *metav1.Time, now time.Time) (time.Time, bool) {
	if revivedAt == nil {
		delete(f.revived, fw)
		return time.Time{}, false
	}
	r, ok := f.revived[fw]
	if !ok || !r.value.Equal(revivedAt.Time) {
		r = revival{value: revivedAt.Time, seen: now}
		f.revived[fw] = r
	}
	if r.value.After(r.seen) {
		return r.seen, true
	}
	return r.value, true
}

type decline struct {
	framework types.NamespacedName
	agent     string
	offer     string
}

// declineQueue carries deletions seen by the informer to the next pass.
type declineQueue struct {
	mu sync.Mutex
	q  []decline
}

func (d *declineQueue) push(x decline) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.q = append(d.q, x)
}

func (d *declineQueue) drain() []decline {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.q
	d.q = nil
	return q
}
