package controllers

import (
	"context"

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

// A pass decides in order, on its own view of the world, and then writes
// each step's decisions as one batch: the writes of a batch are
// independent (different objects), so they go out concurrently, and their
// results are applied to the world in order once all have returned. The
// API server's latency is then paid once per batch, not once per object.
// Workers touch only the request; the world, the assumptions and the
// events are updated by the pass's goroutine.

// parallelize runs fn(0..n-1) on up to Options.ConcurrentWrites goroutines
// and returns when all have.
func (s *Scheduler) parallelize(ctx context.Context, n int, fn func(i int)) {
	workers := s.Options.ConcurrentWrites
	if workers < 1 {
		workers = 1
	}
	workqueue.ParallelizeUntil(ctx, workers, n, fn)
}

// statusWrite replaces cur's status with next's.
type statusWrite struct{ cur, next *kov1.Task }

// writeTaskStatuses writes each next's status with optimistic concurrency
// (the cached resourceVersion); a written status is assumed until the
// cache shows it. A conflict means the task changed: the next pass
// re-decides. ok[i] says whether writes[i] was written.
func (s *Scheduler) writeTaskStatuses(ctx context.Context, w *world, writes []statusWrite) (ok []bool) {
	ok = make([]bool, len(writes))
	errs := make([]error, len(writes))
	toWrite := make([]int, 0, len(writes))
	for i, x := range writes {
		if !statusEqual(x.cur.Status, x.next.Status) {
			toWrite = append(toWrite, i)
		}
	}
	s.parallelize(ctx, len(toWrite), func(j int) {
		errs[toWrite[j]] = s.Client.Status().Update(ctx, writes[toWrite[j]].next)
	})
	for _, i := range toWrite {
		x := writes[i]
		if err := errs[i]; err != nil {
			if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				ctrl.LoggerFrom(ctx).Error(err, "Failed to write task status", "Task", klog.KObj(x.cur))
			}
			continue
		}
		w.tasks[key(x.next)] = x.next
		s.assumed.taskWritten(x.next, w.now)
		ok[i] = true
	}
	return ok
}

// offerDeletion deletes an offer and records why in an Event.
type offerDeletion struct {
	offer             *kov1.ResourceOffer
	eventType, reason string
	message           string
}

// deleteOffers deletes each offer (if it is still the same object: the
// UID is a precondition) and records it. Offers named twice are deleted
// once. ok[i] says whether this call deleted dels[i]'s offer.
func (s *Scheduler) deleteOffers(ctx context.Context, w *world, dels []offerDeletion) (ok []bool) {
	ok = make([]bool, len(dels))
	errs := make([]error, len(dels))
	seen := map[types.NamespacedName]bool{}
	toDelete := make([]int, 0, len(dels))
	for i, d := range dels {
		k := key(d.offer)
		if seen[k] {
			continue
		}
		seen[k] = true
		// Assumed before the request, so the informer's delete event is
		// never taken for the framework's decline.
		s.assumed.offerDeleted(k, w.now)
		toDelete = append(toDelete, i)
	}
	s.parallelize(ctx, len(toDelete), func(j int) {
		o := dels[toDelete[j]].offer
		errs[toDelete[j]] = s.Client.Delete(ctx, o, client.Preconditions{UID: &o.UID})
	})
	for _, i := range toDelete {
		d := dels[i]
		k := key(d.offer)
		if err := errs[i]; err != nil && !apierrors.IsNotFound(err) {
			s.assumed.deletedByUs(k)
			ctrl.LoggerFrom(ctx).Error(err, "Failed to delete offer", "ResourceOffer", klog.KObj(d.offer))
			continue
		}
		delete(w.offers, k)
		if errs[i] == nil {
			s.Recorder.Eventf(d.offer, nil, d.eventType, d.reason, "Delete", d.message)
			ok[i] = true
		}
	}
	return ok
}
