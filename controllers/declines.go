package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// retireDeclined deletes declined offers and installs their refuse filters,
// and installs filters for offers frameworks deleted themselves.
func (s *Scheduler) retireDeclined(ctx context.Context, w *world) {
	var dels []offerDeletion
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		if o.Spec.Decline == nil || o.DeletionTimestamp != nil {
			continue
		}
		fk := o.FrameworkKey()
		refuse := refuseDuration(w.frameworks[fk], o.Spec.Decline.RefuseDuration)
		s.filters.add(fk.String(), o.Spec.AgentName, w.now.Add(refuse), w.now)
		dels = append(dels, offerDeletion{offer: o, eventType: corev1.EventTypeNormal, reason: "Declined",
			message: fmt.Sprintf("Declined by framework %s; agent %s refused for %s", o.Spec.FrameworkName, o.Spec.AgentName, refuse)})
	}
	for i, deleted := range s.deleteOffers(ctx, w, dels) {
		if deleted {
			o := dels[i].offer
			s.Metrics.OffersDeclined.WithLabelValues(o.FrameworkKey().String()).Inc()
		}
	}
	for _, d := range s.declines.drain() {
		refuse := refuseDuration(w.frameworks[d.framework], nil)
		s.filters.add(d.framework.String(), d.agent, w.now.Add(refuse), w.now)
		s.Metrics.OffersDeclined.WithLabelValues(d.framework.String()).Inc()
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

// prune forgets fw's filters that expired by now and those installed
// before the framework's revivedAt (Mesos's REVIVE).
func (f *filterSet) prune(fw string, revivedAt *metav1.Time, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	revived, hasRevive := f.revivedAt(fw, revivedAt, now)
	for agent, x := range f.m[fw] {
		if !now.Before(x.until) || (hasRevive && !x.created.After(revived)) {
			delete(f.m[fw], agent)
		}
	}
}

// active returns fw's filters, agent to until when; after prune, those in
// force. It forgets nothing.
func (f *filterSet) active(fw string) map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]time.Time, len(f.m[fw]))
	for agent, x := range f.m[fw] {
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
	framework kov1.FrameworkKey
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
