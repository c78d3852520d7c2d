package allocation

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// assumeTTL bounds how long a write this master made may be missing from
// its informer cache before the assumption is dropped.
const assumeTTL = 30 * time.Second

// assumptions are writes this master made that its informer cache may not
// show yet (kube-scheduler's assume-then-commit): created offers, deleted
// offers and bound tasks. Every pass overlays them on the cache, so nothing
// is offered or bound twice while the cache catches up. It owns its lock.
type assumptions struct {
	mu            sync.Mutex
	createdOffers map[types.NamespacedName]assumed[*kov1.ResourceOffer]
	deletedOffers map[types.NamespacedName]time.Time
	tasks         map[types.NamespacedName]assumed[*kov1.Task]
}

type assumed[T any] struct {
	obj T
	at  time.Time
}

func newAssumptions() *assumptions {
	return &assumptions{
		createdOffers: map[types.NamespacedName]assumed[*kov1.ResourceOffer]{},
		deletedOffers: map[types.NamespacedName]time.Time{},
		tasks:         map[types.NamespacedName]assumed[*kov1.Task]{},
	}
}

func (a *assumptions) offerCreated(o *kov1.ResourceOffer, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.createdOffers[key(o)] = assumed[*kov1.ResourceOffer]{o, now}
}

func (a *assumptions) offerDeleted(k types.NamespacedName, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.createdOffers, k)
	a.deletedOffers[k] = now
}

// deletedByUs reports (and forgets) whether this master deleted offer k, so
// a deletion it did not make can be taken as the framework's decline.
func (a *assumptions) deletedByUs(k types.NamespacedName) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.deletedOffers[k]
	delete(a.deletedOffers, k)
	return ok
}

func (a *assumptions) taskWritten(t *kov1.Task, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tasks[key(t)] = assumed[*kov1.Task]{t, now}
}

// overlay applies the assumptions to w, dropping those the cache has caught
// up with or that are too old.
func (a *assumptions) overlay(w *world) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, as := range a.createdOffers {
		if _, seen := w.offers[k]; seen || w.now.Sub(as.at) > assumeTTL {
			delete(a.createdOffers, k)
			continue
		}
		w.offers[k] = as.obj
	}
	for k, at := range a.deletedOffers {
		if _, seen := w.offers[k]; !seen && w.now.Sub(at) > assumeTTL {
			delete(a.deletedOffers, k)
			continue
		}
		delete(w.offers, k)
	}
	for k, as := range a.tasks {
		cached, ok := w.tasks[k]
		if !ok || w.now.Sub(as.at) > assumeTTL || newerOrEqual(cached.ResourceVersion, as.obj.ResourceVersion) {
			delete(a.tasks, k)
			continue
		}
		w.tasks[k] = as.obj
	}
}

// newerOrEqual compares resource versions. They are opaque in general but
// etcd's are increasing integers, which is what the API server gives out;
// kube-scheduler's assume cache relies on the same.
func newerOrEqual(cached, written string) bool {
	if len(cached) != len(written) {
		return len(cached) > len(written)
	}
	return cached >= written
}
