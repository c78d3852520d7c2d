package allocation

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// DefaultConcurrentWrites is how many API writes one pass has in flight
// (kube-scheduler binds with the same parallelism, 16).
const DefaultConcurrentWrites = 16

// apply performs a step's plan. Each kind of write goes out as one batch:
// the writes of a batch touch different objects, so they are sent
// concurrently (Options.ConcurrentWrites at once) and the API server's
// latency is paid once per batch, not once per object. Workers touch only
// their request; once the whole batch has returned, the pass's goroutine
// folds what landed into the world, the ledger and the assumptions, in the
// plan's order, and records the Events and metrics of the writes that
// landed. A write that failed is decided again by the next pass.
func (l *Loop) apply(ctx context.Context, p *pass, pl plan) {
	for _, f := range pl.filters {
		l.installFilter(p, f)
	}
	for _, fk := range pl.declines {
		l.Metrics.OffersDeclined.WithLabelValues(fk.String()).Inc()
	}
	allBound := true
	bound := l.writeTaskStatuses(ctx, p, pl.binds)
	for i, ok := range bound {
		if !ok {
			allBound = false
			continue
		}
		l.Metrics.OffersAccepted.WithLabelValues(pl.binds[i].next.FrameworkKey().String()).Inc()
	}
	for _, ob := range pl.bindEvents {
		p.tried[key(ob.offer)] = true
		var names []string
		for _, i := range ob.binds {
			if bound[i] {
				names = append(names, pl.binds[i].next.Name)
			}
		}
		if len(names) > 0 {
			p.placed[key(ob.offer)] = true
			l.record(tasksBoundEvent(ob, names, p.inMaster[key(ob.offer)]))
		}
	}
	if allBound {
		l.writeTaskStatuses(ctx, p, pl.refusals)
	}
	l.writeTaskStatuses(ctx, p, pl.marks)
	l.deleteOffers(ctx, p, pl.deletions)
	l.createOffers(ctx, p, pl.creations)
	for _, c := range pl.allocations {
		k := key(c.offer)
		l.counts.add(c.framework)
		l.Metrics.OffersSent.WithLabelValues(c.framework).Inc()
		p.w.offers[k] = c.offer
		p.l.offerCreated(c.offer)
		p.inMaster[k] = true
	}
	for _, k := range pl.forget {
		delete(p.w.offers, k)
		p.l.offerDeleted(k)
		delete(p.inMaster, k)
	}
	l.patchStatuses(ctx, p, pl.patches)
	if pl.gauges != nil {
		l.Metrics.setGauges(*pl.gauges)
	}
	if pl.more {
		l.Trigger()
	}
}

func (l *Loop) installFilter(p *pass, f refuseFilter) {
	l.filters.add(f.framework.String(), f.agent, f.until, p.w.now)
	p.l.refuse(f.framework.String(), f.agent, f.until)
}

// parallelize runs fn(0..n-1) on up to Options.ConcurrentWrites goroutines
// and returns when all have.
func (l *Loop) parallelize(ctx context.Context, n int, fn func(i int)) {
	workers := l.Options.ConcurrentWrites
	if workers < 1 {
		workers = 1
	}
	workqueue.ParallelizeUntil(ctx, workers, n, fn)
}

// writeTaskStatuses writes each next's status with optimistic concurrency
// (the cached resourceVersion); a written status is assumed until the
// cache shows it. A conflict means the task changed: the next pass
// re-decides. ok[i] says whether writes[i] was written (or needed no
// write).
func (l *Loop) writeTaskStatuses(ctx context.Context, p *pass, writes []taskWrite) (ok []bool) {
	ok = make([]bool, len(writes))
	errs := make([]error, len(writes))
	toWrite := make([]int, 0, len(writes))
	for i, x := range writes {
		if statusEqual(x.cur.Status, x.next.Status) {
			ok[i] = true
			continue
		}
		toWrite = append(toWrite, i)
	}
	l.parallelize(ctx, len(toWrite), func(j int) {
		errs[toWrite[j]] = l.Writer.UpdateTaskStatus(ctx, writes[toWrite[j]].next)
	})
	for _, i := range toWrite {
		x := writes[i]
		if err := errs[i]; err != nil {
			ok[i] = false
			if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				ctrl.LoggerFrom(ctx).Error(err, "Failed to write task status", "Task", klog.KObj(x.cur))
			}
			continue
		}
		ok[i] = true
		p.w.tasks[key(x.next)] = x.next
		p.l.taskWritten(x.cur, x.next)
		l.assumed.taskWritten(x.next, p.w.now)
		if x.event != nil {
			l.record(*x.event)
		}
	}
	return ok
}

// deleteOffers deletes each offer and records it. Offers named twice are
// deleted once. A deletion this master makes is assumed before its request,
// so the informer's delete event is never taken for the framework's
// decline.
func (l *Loop) deleteOffers(ctx context.Context, p *pass, dels []offerDeletion) {
	errs := make([]error, len(dels))
	seen := map[types.NamespacedName]bool{}
	toDelete := make([]int, 0, len(dels))
	for i, d := range dels {
		k := key(d.offer)
		if seen[k] {
			continue
		}
		seen[k] = true
		l.assumed.offerDeleted(k, p.w.now)
		toDelete = append(toDelete, i)
	}
	l.parallelize(ctx, len(toDelete), func(j int) {
		o := dels[toDelete[j]].offer
		errs[toDelete[j]] = l.Writer.DeleteOffer(ctx, o)
	})
	for _, i := range toDelete {
		d := dels[i]
		k := key(d.offer)
		if err := errs[i]; err != nil && !apierrors.IsNotFound(err) {
			l.assumed.deletedByUs(k)
			ctrl.LoggerFrom(ctx).Error(err, "Failed to delete offer", "ResourceOffer", klog.KObj(d.offer))
			continue
		}
		delete(p.w.offers, k)
		p.l.offerDeleted(k)
		if errs[i] != nil {
			continue // deleted by someone else meanwhile
		}
		l.record(d.event)
		fk := d.offer.FrameworkKey().String()
		switch d.kind {
		case offerDeclined:
			l.Metrics.OffersDeclined.WithLabelValues(fk).Inc()
		case offerRescinded:
			l.Metrics.OffersRescinded.WithLabelValues(fk, d.reason).Inc()
		}
	}
}

// createOffers creates each offer; one made is assumed until the cache
// shows it, and counted for the allocator's ties.
func (l *Loop) createOffers(ctx context.Context, p *pass, creations []offerCreation) {
	errs := make([]error, len(creations))
	l.parallelize(ctx, len(creations), func(i int) { errs[i] = l.Writer.CreateOffer(ctx, creations[i].offer) })
	for i, c := range creations {
		if errs[i] != nil {
			ctrl.LoggerFrom(ctx).Error(errs[i], "Failed to create offer", "Framework", klog.KRef(c.offer.Namespace, c.offer.Spec.FrameworkName),
				"Agent", c.offer.Spec.AgentName)
			continue
		}
		l.assumed.offerCreated(c.offer, p.w.now)
		l.counts.add(c.framework)
		p.w.offers[key(c.offer)] = c.offer
		p.l.offerCreated(c.offer)
		l.Metrics.OffersSent.WithLabelValues(c.framework).Inc()
		l.record(c.event)
	}
}

// patchStatuses merge-patches the status fields that differ between each
// cur and next, concurrently, without a resourceVersion: the loop owns
// these fields, and other writers' (conditions) are not overwritten. A
// Role's conditions, once written, are remembered for its next Events.
func (l *Loop) patchStatuses(ctx context.Context, p *pass, patches []statusPatch) {
	errs := make([]error, len(patches))
	l.parallelize(ctx, len(patches), func(i int) {
		x := patches[i]
		errs[i] = l.Writer.PatchStatus(ctx, x.next, client.MergeFrom(x.cur))
		if client.IgnoreNotFound(errs[i]) != nil {
			ctrl.LoggerFrom(ctx).V(1).Info("Failed to patch status; next pass retries", "object", klog.KObj(x.cur), "err", errs[i].Error())
		}
	})
	for i, x := range patches {
		if errs[i] != nil {
			continue
		}
		p.w.add(x.next)
		switch o := x.next.(type) {
		case *kov1.Role:
			l.roleConditions[o.UID] = o.Status.Conditions
			l.pace.wrote(o.UID, p.w.now)
		case *kov1.Framework:
			l.pace.wrote(o.UID, p.w.now)
		}
		for _, e := range x.events {
			l.record(e)
		}
	}
}

// maxNamedInEvent bounds how many task names one Event lists.
const maxNamedInEvent = 10

// tasksBoundEvent is the one Event for the built-in tasks bound from an
// offer in a pass: on the offer, or on the Framework when the offer lived
// in the master only.
func tasksBoundEvent(ob offerBinds, names []string, inMaster bool) event {
	list := strings.Join(names, ", ")
	if len(names) > maxNamedInEvent {
		list = fmt.Sprintf("%s and %d more", strings.Join(names[:maxNamedInEvent], ", "), len(names)-maxNamedInEvent)
	}
	e := event{regarding: ob.offer, related: ob.framework, eventType: corev1.EventTypeNormal, reason: OfferTasksBoundReason, action: "Bind",
		note: fmt.Sprintf("Bound %d task(s) of the built-in scheduler to agent %s: %s", len(names), ob.offer.Spec.AgentName, list)}
	if inMaster {
		e.regarding, e.related, e.reason = ob.framework, nil, FrameworkTasksBoundReason
	}
	return e
}

// record emits e through the loop's recorder.
func (l *Loop) record(e event) {
	l.Recorder.Eventf(e.regarding, e.related, e.eventType, e.reason, e.action, "%s", e.note)
}

// Writer is the API the pass writes through: the manager's client in the
// master (ClientWriter); a recorder in the pass's table tests.
type Writer interface {
	// UpdateTaskStatus replaces a Task's status, with its resourceVersion
	// as a precondition.
	UpdateTaskStatus(ctx context.Context, t *kov1.Task) error
	// DeleteOffer deletes an offer, with its UID as a precondition.
	DeleteOffer(ctx context.Context, o *kov1.ResourceOffer) error
	// CreateOffer creates an offer (from its generateName); o gets its name.
	CreateOffer(ctx context.Context, o *kov1.ResourceOffer) error
	// PatchStatus patches the status of an offer, framework or role.
	PatchStatus(ctx context.Context, obj client.Object, patch client.Patch) error
}

// The allocation loop creates and deletes offers, binds tasks,
// writes the status of offers, frameworks and roles, and records Events.
// +kubebuilder:rbac:groups=kubeoffer.io,resources=resourceoffers,verbs=create;delete
// +kubebuilder:rbac:groups=kubeoffer.io,resources=resourceoffers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=roles/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=frameworks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=tasks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// ClientWriter is the Writer of a client.Client.
type ClientWriter struct{ Client client.Client }

// UpdateTaskStatus implements Writer.
func (c ClientWriter) UpdateTaskStatus(ctx context.Context, t *kov1.Task) error {
	return c.Client.Status().Update(ctx, t)
}

// DeleteOffer implements Writer.
func (c ClientWriter) DeleteOffer(ctx context.Context, o *kov1.ResourceOffer) error {
	return c.Client.Delete(ctx, o, client.Preconditions{UID: &o.UID})
}

// CreateOffer implements Writer.
func (c ClientWriter) CreateOffer(ctx context.Context, o *kov1.ResourceOffer) error {
	return c.Client.Create(ctx, o)
}

// PatchStatus implements Writer.
func (c ClientWriter) PatchStatus(ctx context.Context, obj client.Object, patch client.Patch) error {
	return c.Client.Status().Patch(ctx, obj, patch)
}
