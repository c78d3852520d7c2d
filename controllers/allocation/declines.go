package allocation

import (
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// planDeclines deletes declined offers and refuses their agents to their
// frameworks for the refuse time they gave (or their default), and refuses
// the agents of offers frameworks deleted themselves (drained from the
// informer) for their default refuse time.
func planDeclines(p *pass, deleted []decline) plan {
	var pl plan
	w := p.w
	for _, k := range sortedNNKeys(w.offers) {
		o := w.offers[k]
		if o.Spec.Decline == nil || o.DeletionTimestamp != nil {
			continue
		}
		fk := o.FrameworkKey()
		refuse := refuseDuration(w.frameworks[fk], o.Spec.Decline.RefuseDuration)
		pl.filters = append(pl.filters, refuseFilter{framework: fk, agent: o.Spec.AgentName, until: w.now.Add(refuse)})
		pl.deletions = append(pl.deletions, offerDeletion{offer: o, kind: offerDeclined, reason: OfferDeclinedReason,
			event: offerEvent(o, corev1.EventTypeNormal, OfferDeclinedReason,
				fmt.Sprintf("Declined by framework %s; agent %s refused for %s", o.Spec.FrameworkName, o.Spec.AgentName, refuse))})
	}
	for _, d := range deleted {
		refuse := refuseDuration(w.frameworks[d.framework], nil)
		pl.filters = append(pl.filters, refuseFilter{framework: d.framework, agent: d.agent, until: w.now.Add(refuse)})
		pl.declines = append(pl.declines, d.framework)
	}
	return pl
}

// offerEvent is the Event of an offer's deletion.
func offerEvent(o *kov1.ResourceOffer, eventType, reason, note string) event {
	return event{regarding: o, eventType: eventType, reason: reason, action: "Delete", note: note}
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
