package mesosapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/heartbeat"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
)

// leaseHolderPrefix marks the heartbeat Leases a Mesos API subscription
// holds: "mesos-api/<stream id>".
const leaseHolderPrefix = "mesos-api/"

// stream is one subscription: the framework's event stream and what was
// sent on it.
type stream struct {
	srv       *Server
	id        string
	fw        types.NamespacedName
	principal string
	role      string
	caps      Capabilities
	format    StreamFormat

	out    chan outEvent
	wakeC  chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	mu  sync.Mutex
	mem *syncMemory
}

// outEvent is an encoded event; the stream ends after a last one.
type outEvent struct {
	data []byte
	last bool
}

func (st *stream) identity() string { return leaseHolderPrefix + st.id }

// wake asks for a pass (coalesced).
func (st *stream) wake() {
	select {
	case st.wakeC <- struct{}{}:
	default:
	}
}

// encode marshals an event in the stream's encoding.
func (st *stream) encode(ev *mesospb.Event) ([]byte, bool) {
	b, err := Marshal(st.format.Encoding, ev)
	if err != nil {
		st.srv.log.Error(err, "Failed to encode an event", "type", ev.GetType().String())
		return nil, false
	}
	return b, true
}

// writeOne writes one event before the stream runs (SUBSCRIBED, or the
// ERROR that refuses a subscription).
func (st *stream) writeOne(w http.ResponseWriter, ev *mesospb.Event) bool {
	b, ok := st.encode(ev)
	if !ok {
		return false
	}
	f, _ := w.(http.Flusher)
	return recordWriter{w: w, f: f}.WriteRecord(b) == nil
}

// send queues events for the writer; false once the stream has ended.
func (st *stream) send(evs ...*mesospb.Event) bool {
	for _, ev := range evs {
		b, ok := st.encode(ev)
		if !ok {
			continue
		}
		select {
		case st.out <- outEvent{data: b}:
		case <-st.ctx.Done():
			return false
		}
	}
	return true
}

// fail ends the stream with an ERROR event (Mesos's way to tell a
// scheduler it must stop: failed over, removed).
func (st *stream) fail(msg string) {
	b, ok := st.encode(errorEvent(msg))
	if !ok {
		st.cancel()
		return
	}
	select {
	case st.out <- outEvent{data: b, last: true}:
	case <-st.ctx.Done():
	case <-time.After(time.Second): // a writer stuck on a slow client: just close
		st.cancel()
	}
}

// run streams until the client goes or the stream ends: the writer is
// this goroutine; passes and the heartbeat Lease run beside it.
func (st *stream) run(w http.ResponseWriter) {
	s := st.srv
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); st.passes() }()
	go func() { defer wg.Done(); st.heartbeatLease() }()
	defer func() {
		st.cancel()
		wg.Wait()
		st.release()
		s.log.Info("Closed a Mesos framework's subscription", "framework", st.fw.String(), "stream", st.id)
	}()
	f, _ := w.(http.Flusher)
	rw := recordWriter{w: w, f: f}
	hb := s.clock.NewTicker(s.cfg.HeartbeatInterval.Duration)
	defer hb.Stop()
	heartbeatEvent, _ := st.encode(&mesospb.Event{Type: mesospb.Event_HEARTBEAT.Enum()})
	for {
		select {
		case <-st.ctx.Done():
			return
		case ev := <-st.out:
			if rw.WriteRecord(ev.data) != nil || ev.last {
				return
			}
		case <-hb.C():
			if rw.WriteRecord(heartbeatEvent) != nil {
				return
			}
		}
	}
}

// lease is the framework's heartbeat Lease as this stream renews it: it
// lasts three renewals, as the SDK's does.
func (st *stream) lease() heartbeat.Lease {
	return heartbeat.Lease{Key: leaseKey(st.fw), Kind: kov1.HeartbeatFramework, Identity: st.identity(),
		Duration: 3 * st.srv.cfg.LeaseRenewInterval.Duration}
}

// take makes this subscription the holder of the framework's heartbeat
// Lease (the newest subscription wins), so the master sees the scheduler
// connected, and an older subscription, on any replica, learns it failed
// over.
func (st *stream) take(ctx context.Context) error {
	s := st.srv
	return retryConflict(func() error { return heartbeat.Renew(ctx, s.direct, st.lease(), s.clock.Now()) })
}

// heartbeatLease renews the framework's heartbeat Lease while the stream
// lives and holds it. When another subscription (on any replica) took it,
// the framework failed over: this stream gets ERROR and ends.
func (st *stream) heartbeatLease() {
	s := st.srv
	tick := s.clock.NewTicker(s.cfg.LeaseRenewInterval.Duration)
	defer tick.Stop()
	for {
		select {
		case <-st.ctx.Done():
			return
		case <-tick.C():
		}
		err := retryConflict(func() error { return heartbeat.RenewHeld(st.ctx, s.direct, st.lease(), s.clock.Now()) })
		switch {
		case errors.Is(err, heartbeat.ErrTaken):
			st.fail("Framework failed over")
			return
		case err != nil && st.ctx.Err() == nil:
			s.log.Error(err, "Failed to renew a Mesos framework's heartbeat Lease; retrying", "framework", st.fw.String())
		}
	}
}

// release shortens the heartbeat Lease when the stream ends while it still
// holds it, so the master sees the scheduler disconnected at once (as a
// Mesos master sees the connection close) and the failover timeout runs
// from the last renewal.
func (st *stream) release() {
	s := st.srv
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = retryConflict(func() error {
		l := &coordinationv1.Lease{}
		if err := s.direct.Get(ctx, leaseKey(st.fw), l); err != nil {
			return client.IgnoreNotFound(err)
		}
		if ptr.Deref(l.Spec.HolderIdentity, "") != st.identity() {
			return nil
		}
		l.Spec.LeaseDurationSeconds = ptr.To[int32](1)
		return s.direct.Update(ctx, l)
	})
}

// passes runs a pass when woken, and every second for resends.
func (st *stream) passes() {
	tick := st.srv.clock.NewTicker(time.Second)
	defer tick.Stop()
	for {
		st.pass()
		select {
		case <-st.ctx.Done():
			return
		case <-st.wakeC:
		case <-tick.C():
		}
	}
}

// pass reads the framework's objects from the cache, plans (planSync),
// sends the events and declines the used offers.
func (st *stream) pass() {
	s := st.srv
	ctx := st.ctx
	fw := &kov1.Framework{}
	if err := s.client.Get(ctx, st.fw, fw); err != nil {
		// The cache may not have a Framework created a moment ago: only the
		// API server says it is gone.
		if apierrors.IsNotFound(err) && apierrors.IsNotFound(s.reader.Get(ctx, st.fw, &kov1.Framework{})) {
			st.fail("Framework has been removed")
		}
		return
	}
	if fw.DeletionTimestamp != nil || meta.IsStatusConditionTrue(fw.Status.Conditions, kov1.FrameworkTornDownCondition) {
		st.fail("Framework has been removed")
		return
	}
	var offers kov1.ResourceOfferList
	if err := s.client.List(ctx, &offers, client.InNamespace(st.fw.Namespace),
		client.MatchingLabels{kov1.LabelFramework: kov1.LabelValue(st.fw.Name)}); err != nil {
		return
	}
	var tasks kov1.TaskList
	if err := s.client.List(ctx, &tasks, client.InNamespace(st.fw.Namespace), client.MatchingFields{indexTaskFramework: st.fw.Name}); err != nil {
		return
	}
	agents := map[string]*kov1.Agent{}
	for _, t := range tasks.Items {
		a := t.Status.AgentName
		if a == "" || t.Status.State.IsTerminal() {
			continue
		}
		if _, seen := agents[a]; seen {
			continue
		}
		ag := &kov1.Agent{}
		if err := s.client.Get(ctx, types.NamespacedName{Name: a}, ag); err != nil {
			if !apierrors.IsNotFound(err) {
				continue
			}
			ag = nil
		}
		agents[a] = ag
	}
	var mine []kov1.ResourceOffer
	addresses := map[string]AgentAddress{}
	for _, o := range offers.Items {
		if o.Spec.FrameworkName != st.fw.Name {
			continue
		}
		mine = append(mine, o)
		if _, seen := addresses[o.Spec.NodeName]; !seen && o.Spec.NodeName != "" {
			addresses[o.Spec.NodeName] = s.nodeAddress(ctx, o.Spec.NodeName)
		}
	}
	st.mu.Lock()
	plan := planSync(syncView{FrameworkID: st.fw.Name, Role: st.role, Caps: st.caps, Offers: mine, Tasks: tasks.Items, Agents: agents, Addresses: addresses,
		Now: s.clock.Now(), Resend: s.cfg.ResendInterval.Duration, ResendMax: s.cfg.ResendMaxInterval.Duration}, st.mem)
	st.mu.Unlock()
	if !st.send(plan.Events...) {
		return
	}
	for _, d := range plan.Declines {
		if err := s.declineOffer(ctx, st.fw, d.Offer, d.Refuse); err != nil && ctx.Err() == nil {
			s.log.Error(err, "Failed to decline the rest of an accepted offer; retrying", "offer", d.Offer)
		}
	}
}

// nodeAddress is a node's internal IP, for offers' url (Mesos frameworks
// read the agent's address there); empty when the node is not known.
func (s *Server) nodeAddress(ctx context.Context, name string) AgentAddress {
	n := &corev1.Node{}
	if err := s.client.Get(ctx, types.NamespacedName{Name: name}, n); err != nil {
		return AgentAddress{}
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return AgentAddress{IP: a.Address}
		}
	}
	return AgentAddress{}
}

// answered marks offers the framework accepted or declined: their
// disappearance is no rescind.
func (st *stream) answered(names ...string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, n := range names {
		st.mem.Offers[n] = true
	}
}

// declineOffer declines an offer of fw for refuse, unless it is gone or
// answered already.
func (s *Server) declineOffer(ctx context.Context, fw types.NamespacedName, name string, refuse time.Duration) error {
	return client.IgnoreNotFound(retryConflict(func() error {
		o := &kov1.ResourceOffer{}
		if err := s.reader.Get(ctx, types.NamespacedName{Namespace: fw.Namespace, Name: name}, o); err != nil {
			return err
		}
		if o.Spec.FrameworkName != fw.Name || o.Spec.Decline != nil || o.DeletionTimestamp != nil {
			return nil
		}
		o.Spec.Decline = &kov1.OfferDecline{RefuseDuration: &metav1.Duration{Duration: refuse}}
		return s.client.Update(ctx, o)
	}))
}

// statusEvents wraps statuses in UPDATE events.
func statusEvents(sts []*mesospb.TaskStatus) []*mesospb.Event {
	evs := make([]*mesospb.Event, 0, len(sts))
	for _, st := range sts {
		evs = append(evs, updateEvent(st))
	}
	return evs
}
