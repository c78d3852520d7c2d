package allocator

import (
	"fmt"
	"time"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// TaskRequest is a task asking to bind to the offer it names.
type TaskRequest struct {
	Framework string
	Offer     string
	// AcceptedAt is when the framework accepted the offer (the task's
	// creation); zero for now. The offer must not have expired by then:
	// Mesos judges an ACCEPT when it arrives, so a master slow to bind does
	// not make an accept made in time late.
	AcceptedAt time.Time
	Needs      resources.Vec
	Ports      resources.PortSet
	// TemplateNodeName is the Pod template's spec.nodeName, which agentd
	// owns; a task must leave it empty.
	TemplateNodeName string
	// HostPorts are the host ports the Pod template's containers ask for;
	// each must be one of Ports, which the offer grants.
	HostPorts []HostPort
}

// HostPort is a host port one container of a task's template asks for.
type HostPort struct {
	Container string
	Port      int32
}

// OfferView is what admission needs to know of the named offer. A nil
// *OfferView means the offer does not exist.
type OfferView struct {
	Framework string
	Agent     string
	Expires   time.Time
	Declined  bool
	// Remaining is the offer's resources minus those of the tasks already
	// bound to it (including ones assumed but not yet written).
	Remaining resources.Vec
	// RemainingPorts likewise.
	RemainingPorts resources.PortSet
	// AgentOfferable is false when the agent became unreachable or went
	// into maintenance after the offer was made.
	AgentOfferable bool
}

// Admission is the verdict on a TaskRequest: bind, or end in State with
// Reason and Message.
type Admission struct {
	Bind    bool
	State   kov1.TaskState
	Reason  string
	Message string
}

// Admit decides whether a task may bind to its offer at now. frameworkLive
// is false when the task's framework does not exist or was torn down.
func Admit(dims *resources.Dims, req TaskRequest, offer *OfferView, frameworkLive bool, now time.Time) Admission {
	reject := func(state kov1.TaskState, reason, format string, args ...any) Admission {
		return Admission{State: state, Reason: reason, Message: fmt.Sprintf(format, args...)}
	}
	if !frameworkLive {
		return reject(kov1.TaskError, kov1.TaskReasonFrameworkNotFound,
			"framework %q does not exist in this namespace or was torn down", req.Framework)
	}
	if req.TemplateNodeName != "" {
		return reject(kov1.TaskError, kov1.TaskReasonInvalid,
			"template.spec.nodeName must be empty: the agent of the accepted offer decides the node")
	}
	for _, hp := range req.HostPorts {
		if !req.Ports.Contains(resources.NewPortSet(kov1.PortRange{Begin: hp.Port, End: hp.Port})) {
			return reject(kov1.TaskError, kov1.TaskReasonInvalid,
				"container %q asks for host port %d, which is not in the task's spec.ports: declare it there so it is taken from the offer, or remove hostPort",
				hp.Container, hp.Port)
		}
	}
	if offer == nil {
		return reject(kov1.TaskDropped, kov1.TaskReasonOfferNotFound,
			"offer %q does not exist: it was declined, rescinded or never made; accept a current offer", req.Offer)
	}
	if offer.Framework != req.Framework {
		return reject(kov1.TaskDropped, kov1.TaskReasonOfferNotOwned,
			"offer %q was made to framework %q, not %q; a framework can accept only its own offers", req.Offer, offer.Framework, req.Framework)
	}
	if offer.Declined {
		return reject(kov1.TaskDropped, kov1.TaskReasonOfferNotFound,
			"offer %q was declined; accept a current offer", req.Offer)
	}
	accepted := req.AcceptedAt
	if accepted.IsZero() {
		accepted = now
	}
	if !offer.Expires.IsZero() && !accepted.Before(offer.Expires) {
		return reject(kov1.TaskDropped, kov1.TaskReasonOfferExpired,
			"offer %q expired at %s, before the task was created; accept a current offer", req.Offer, offer.Expires.UTC().Format(time.RFC3339))
	}
	if !offer.AgentOfferable {
		return reject(kov1.TaskDropped, kov1.TaskReasonAgentUnreachable,
			"agent %s of offer %q is unreachable or in maintenance", offer.Agent, req.Offer)
	}
	if short := dims.Shortfall(req.Needs, offer.Remaining); short != "" {
		return reject(kov1.TaskDropped, kov1.TaskReasonInsufficientResources,
			"offer %q is too small for the task (%s)", req.Offer, short)
	}
	if missing := req.Ports.Subtract(offer.RemainingPorts); missing.Size() > 0 {
		return reject(kov1.TaskDropped, kov1.TaskReasonInsufficientResources,
			"ports %s are not offered by %q or are held by another task", missing, req.Offer)
	}
	return Admission{Bind: true, State: kov1.TaskStaging}
}
