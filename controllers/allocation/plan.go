package allocation

import (
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// plan is what one step of a pass wants written, decided from the world and
// the ledger alone: no step holds a client. apply performs a plan's writes
// and folds those that landed back into the world and the ledger, so the
// next step decides on what is really there. A plan's fields are applied in
// the order they are declared.
type plan struct {
	// filters are refuse filters to install (the master keeps them; no API
	// write).
	filters []refuseFilter
	// declines counts declines that need no write: offers the framework
	// deleted itself (Mesos's decline with the default refuse time).
	declines []kov1.FrameworkKey
	// binds move tasks to Staging on the agent of the offer they name, or
	// that a built-in scheduler placed them on.
	binds []taskWrite
	// bindEvents sum up, one Event per offer, the binds of tasks the
	// built-in schedulers placed: their tasks carry no Event of their own.
	bindEvents []offerBinds
	// refusals end tasks admission refused; they are written only if every
	// bind was, since a bind that failed gives back resources a refusal may
	// have counted as taken.
	refusals []taskWrite
	// marks record on pending tasks that no offer fits them yet.
	marks []taskWrite
	// deletions delete offers: declined, returned or rescinded.
	deletions []offerDeletion
	// creations make new offers.
	creations []offerCreation
	// allocations are offers to built-in schedulers, kept in the master
	// for the rest of the pass and never written.
	allocations []offerCreation
	// forget drops in-master offers from the pass once the built-in
	// schedulers have used them.
	forget []types.NamespacedName
	// patches merge-patch the status fields the loop owns (offers'
	// remainders, frameworks' and roles' usage, roles' conditions).
	patches []statusPatch
	// gauges, when set, are the allocation gauges' new values.
	gauges *gauges
	// more says the step left work for the next pass (it decided on as
	// many tasks as one pass may), which then runs at once.
	more bool
}

// refuseFilter hides agent from framework until then.
type refuseFilter struct {
	framework kov1.FrameworkKey
	agent     string
	until     time.Time
}

// taskWrite replaces cur's status with next's, with optimistic concurrency
// (cur's resourceVersion); event is recorded once it is written.
type taskWrite struct {
	cur, next *kov1.Task
	event     *event
}

// offerBinds is the Event for the binds (indexes into plan.binds) of
// built-in tasks from one offer, recorded for those that landed.
type offerBinds struct {
	offer     *kov1.ResourceOffer
	framework *kov1.Framework
	binds     []int
}

// deletionKind says what an offer deletion counts as, for the metrics.
type deletionKind int

const (
	// offerReturned: a built-in scheduler is done with the offer.
	offerReturned deletionKind = iota
	// offerDeclined: the framework declined it (spec.decline).
	offerDeclined
	// offerRescinded: the master withdraws it (the reason says why).
	offerRescinded
)

// offerDeletion deletes an offer (if it is still the same object: its UID
// is a precondition) and records why in an Event.
type offerDeletion struct {
	offer *kov1.ResourceOffer
	kind  deletionKind
	// reason is the Event's reason, and the rescinded metric's.
	reason string
	event  event
}

// offerCreation makes an offer the allocator decided on.
type offerCreation struct {
	offer *kov1.ResourceOffer
	// framework is the allocator's key for the framework, counted for its
	// ties once the offer is made.
	framework string
	event     event
}

// statusPatch changes cur's status to next's; events are recorded once it
// is written.
type statusPatch struct {
	cur, next client.Object
	events    []event
}

// event is an Event a write records once it lands (events.EventRecorder's
// Eventf arguments).
type event struct {
	regarding, related runtime.Object
	eventType, reason  string
	action, note       string
}

// Event reasons of the allocation loop, on ResourceOffers and Tasks, named
// <Kind><Why>Reason; an offer rescinded has the allocator's reason
// (allocator.Rescind*).
const (
	// OfferOfferedReason: the master made the offer.
	OfferOfferedReason = "Offered"
	// OfferDeclinedReason: the framework declined the offer.
	OfferDeclinedReason = "Declined"
	// OfferUsedReason: a built-in scheduler placed tasks on the offer and
	// returned the rest.
	OfferUsedReason = "Used"
	// OfferUnusedReason: a built-in scheduler returned the offer untouched.
	OfferUnusedReason = "Unused"
	// TaskStagingReason: the task was bound to the offer's agent and is
	// Staging (the Event a bind records).
	TaskStagingReason = "Staging"
	// OfferTasksBoundReason: tasks a built-in scheduler placed on the offer
	// were bound (one Event per offer and pass, naming them).
	OfferTasksBoundReason = "TasksBound"
	// FrameworkTasksBoundReason: the built-in scheduler bound tasks to an
	// agent the master allocated it (one Event per agent and pass, on the
	// Framework: the offer lived in the master only).
	FrameworkTasksBoundReason = "TasksBound"
)
