package mesosapi

import (
	"encoding/hex"
	"sort"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/meta"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
)

// syncView is what one pass over a subscribed framework reads from the
// cache.
type syncView struct {
	// FrameworkID is the framework's Mesos id (its Framework's name).
	FrameworkID string
	// Role is the framework's Mesos role.
	Role   string
	Caps   Capabilities
	Offers []kov1.ResourceOffer
	Tasks  []kov1.Task
	// Agents are the Agents the framework's live tasks are bound to, by
	// name; a nil entry is an Agent that is gone.
	Agents map[string]*kov1.Agent
	// Addresses are the offers' nodes' addresses, by node name.
	Addresses map[string]AgentAddress
	Now       time.Time
	// Resend and ResendMax bound how long an unacknowledged update waits
	// before it is sent again.
	Resend, ResendMax time.Duration
}

// syncMemory is what a subscription remembers between passes. It is only
// what was sent on this stream: a new subscription (a failover, another
// replica) starts empty and sends everything that is due again.
type syncMemory struct {
	// Offers sent on this stream, and whether the framework answered them
	// (accepted or declined): an offer that disappears unanswered is
	// rescinded.
	Offers map[string]bool
	// Sent are the unacknowledged updates sent, by uuid (hex), with when
	// they are due again.
	Sent map[string]resend
	// Failed are the agents reported lost with FAILURE.
	Failed map[string]bool
}

// resend is when an unacknowledged update was last sent and how long it
// waits before the next try.
type resend struct {
	At   time.Time
	Wait time.Duration
}

func newSyncMemory() *syncMemory {
	return &syncMemory{Offers: map[string]bool{}, Sent: map[string]resend{}, Failed: map[string]bool{}}
}

// decline is an offer whose ACCEPT's tasks are all bound: its rest is
// declined with the ACCEPT's refuse time.
type decline struct {
	Offer  string
	Refuse time.Duration
}

// syncPlan is what one pass sends and writes.
type syncPlan struct {
	Events   []*mesospb.Event
	Declines []decline
}

// planSync decides one pass (pure; m is updated in place):
//
//  1. offers not yet sent, not answered and untouched by any task go out in
//     one OFFERS event; sent offers that disappeared unanswered are
//     RESCINDed;
//  2. offers an ACCEPT used are declined once every task it created is
//     bound (or dropped), so the rest returns to the pool with the
//     ACCEPT's refuse time;
//  3. the oldest unacknowledged update of every Mesos task is sent, again
//     after Resend, then twice as long each time up to ResendMax, until it
//     is acknowledged;
//  4. an agent the framework has live tasks on that is gone or unreachable
//     is reported once with FAILURE.
func planSync(v syncView, m *syncMemory) syncPlan {
	var plan syncPlan
	live := map[string]bool{}
	byOffer := map[string][]*kov1.Task{}
	for i := range v.Tasks {
		t := &v.Tasks[i]
		if t.Spec.OfferName != "" {
			byOffer[t.Spec.OfferName] = append(byOffer[t.Spec.OfferName], t)
		}
	}
	var fresh []*mesospb.Offer
	for i := range v.Offers {
		o := &v.Offers[i]
		if o.DeletionTimestamp != nil {
			continue
		}
		live[o.Name] = true
		if n, ok := o.Annotations[AnnotationAcceptedTasks]; ok {
			if o.Spec.Decline == nil && acceptSettled(n, byOffer[o.Name]) {
				plan.Declines = append(plan.Declines, decline{Offer: o.Name, Refuse: refuseOf(o)})
			}
			continue
		}
		if _, sent := m.Offers[o.Name]; sent || o.Spec.Decline != nil || len(o.Status.AcceptedTasks) > 0 {
			continue
		}
		m.Offers[o.Name] = false
		fresh = append(fresh, Offer(o, v.FrameworkID, v.Caps, v.Addresses[o.Spec.NodeName]))
	}
	if len(fresh) > 0 {
		plan.Events = append(plan.Events, &mesospb.Event{Type: mesospb.Event_OFFERS.Enum(), Offers: &mesospb.Event_Offers{Offers: fresh}})
	}
	gone := make([]string, 0)
	for name, answered := range m.Offers {
		if !live[name] {
			if !answered {
				gone = append(gone, name)
			}
			delete(m.Offers, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		plan.Events = append(plan.Events, &mesospb.Event{Type: mesospb.Event_RESCIND.Enum(),
			Rescind: &mesospb.Event_Rescind{OfferId: &mesospb.OfferID{Value: proto.String(name)}}})
	}

	var due []Update
	pending := map[string]bool{}
	for i := range v.Tasks {
		for _, u := range Pending(&v.Tasks[i], v.Caps) {
			key := hex.EncodeToString(u.Status.GetUuid())
			pending[key] = true
			r, sent := m.Sent[key]
			if sent && v.Now.Before(r.At.Add(r.Wait)) {
				continue
			}
			wait := v.Resend
			if sent {
				wait = min(2*r.Wait, v.ResendMax)
			}
			m.Sent[key] = resend{At: v.Now, Wait: wait}
			due = append(due, u)
		}
	}
	for key := range m.Sent {
		if !pending[key] {
			delete(m.Sent, key)
		}
	}
	sort.SliceStable(due, func(i, j int) bool { return due[i].Status.GetTimestamp() < due[j].Status.GetTimestamp() })
	for _, u := range due {
		plan.Events = append(plan.Events, updateEvent(u.Status))
	}

	var lost []string
	for i := range v.Tasks {
		t := &v.Tasks[i]
		a := t.Status.AgentName
		if a == "" || t.Status.State.IsTerminal() || m.Failed[a] {
			continue
		}
		ag, known := v.Agents[a]
		if !known {
			continue
		}
		if ag == nil || meta.IsStatusConditionFalse(ag.Status.Conditions, kov1.AgentReachableCondition) {
			m.Failed[a] = true
			lost = append(lost, a)
		}
	}
	for a := range m.Failed {
		if ag := v.Agents[a]; ag != nil && !meta.IsStatusConditionFalse(ag.Status.Conditions, kov1.AgentReachableCondition) {
			delete(m.Failed, a)
		}
	}
	sort.Strings(lost)
	for _, a := range lost {
		plan.Events = append(plan.Events, &mesospb.Event{Type: mesospb.Event_FAILURE.Enum(),
			Failure: &mesospb.Event_Failure{AgentId: &mesospb.AgentID{Value: proto.String(a)}}})
	}
	return plan
}

// acceptSettled reports whether the n tasks an ACCEPT created on an offer
// are all known and past Pending.
func acceptSettled(n string, tasks []*kov1.Task) bool {
	want, err := strconv.Atoi(n)
	if err != nil || len(tasks) < want {
		return false
	}
	for _, t := range tasks {
		if t.Status.State == kov1.TaskPending || t.Status.State == "" {
			return false
		}
	}
	return true
}

// refuseOf is the refuse time an ACCEPT recorded on its offer.
func refuseOf(o *kov1.ResourceOffer) time.Duration {
	s, err := strconv.ParseFloat(o.Annotations[AnnotationRefuseSeconds], 64)
	if err != nil {
		return DefaultRefuse
	}
	return refuseDuration(s)
}

// DefaultRefuse is Mesos's filters.refuse_seconds default.
const DefaultRefuse = 5 * time.Second

// maxRefuse is the longest refuse time an offer's decline takes (the API
// bounds it at a year, as Mesos does).
const maxRefuse = 8760 * time.Hour

// refuseDuration bounds a refuse_seconds value to what a decline takes.
func refuseDuration(s float64) time.Duration {
	switch {
	case s != s || s < 0: // NaN or negative: Mesos takes the default
		return DefaultRefuse
	case s >= maxRefuse.Seconds():
		return maxRefuse
	}
	return time.Duration(s * float64(time.Second))
}

// updateEvent wraps a status in an UPDATE event.
func updateEvent(st *mesospb.TaskStatus) *mesospb.Event {
	return &mesospb.Event{Type: mesospb.Event_UPDATE.Enum(), Update: &mesospb.Event_Update{Status: st}}
}

// errorEvent is an ERROR event with msg.
func errorEvent(msg string) *mesospb.Event {
	return &mesospb.Event{Type: mesospb.Event_ERROR.Enum(), Error: &mesospb.Event_Error{Message: proto.String(msg)}}
}
