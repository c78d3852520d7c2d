package allocator

import (
	"testing"
	"time"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

func TestAdmit(t *testing.T) {
	d := newSnap().Dims
	ports := resources.NewPortSet(kov1.PortRange{Begin: 31000, End: 31009})
	offer := func(f ...func(*OfferView)) *OfferView {
		o := &OfferView{Framework: "fw", Agent: "a1", Expires: t0.Add(time.Minute), Remaining: vec(1000, 1),
			RemainingPorts: ports, AgentOfferable: true}
		for _, x := range f {
			x(o)
		}
		return o
	}
	req := TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(1000, 1)}
	cases := map[string]struct {
		req    TaskRequest
		offer  *OfferView
		live   bool
		state  kov1.TaskState
		reason string
	}{
		"fits exactly":      {req: req, offer: offer(), live: true, state: kov1.TaskStaging},
		"framework missing": {req: req, offer: offer(), live: false, state: kov1.TaskError, reason: kov1.TaskReasonFrameworkNotFound},
		"offer missing":     {req: req, offer: nil, live: true, state: kov1.TaskDropped, reason: kov1.TaskReasonOfferNotFound},
		"another framework's offer": {req: req, offer: offer(func(o *OfferView) { o.Framework = "thief" }), live: true,
			state: kov1.TaskDropped, reason: kov1.TaskReasonOfferNotOwned},
		"declined offer": {req: req, offer: offer(func(o *OfferView) { o.Declined = true }), live: true,
			state: kov1.TaskDropped, reason: kov1.TaskReasonOfferNotFound},
		"expired offer": {req: req, offer: offer(func(o *OfferView) { o.Expires = t0 }), live: true,
			state: kov1.TaskDropped, reason: kov1.TaskReasonOfferExpired},
		"offer expired since a task accepted it in time": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(1000, 1), AcceptedAt: t0.Add(-time.Second)},
			offer: offer(func(o *OfferView) { o.Expires = t0 }), live: true, state: kov1.TaskStaging},
		"offer expired before the task accepted it": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(1000, 1), AcceptedAt: t0},
			offer: offer(func(o *OfferView) { o.Expires = t0 }), live: true, state: kov1.TaskDropped, reason: kov1.TaskReasonOfferExpired},
		"too small": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(2000, 1)}, offer: offer(), live: true,
			state: kov1.TaskDropped, reason: kov1.TaskReasonInsufficientResources},
		"unoffered resource (GPU)": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(100, 0, 1)}, offer: offer(), live: true,
			state: kov1.TaskDropped, reason: kov1.TaskReasonInsufficientResources},
		"port offered": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(100, 0), Ports: resources.NewPortSet(kov1.PortRange{Begin: 31009, End: 31009})},
			offer: offer(), live: true, state: kov1.TaskStaging},
		"port not offered": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(100, 0), Ports: resources.NewPortSet(kov1.PortRange{Begin: 31009, End: 31010})},
			offer: offer(), live: true, state: kov1.TaskDropped, reason: kov1.TaskReasonInsufficientResources},
		"agent lost since the offer": {req: req, offer: offer(func(o *OfferView) { o.AgentOfferable = false }), live: true,
			state: kov1.TaskDropped, reason: kov1.TaskReasonAgentUnreachable},
		"declared host port": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(100, 0), Ports: resources.NewPortSet(kov1.PortRange{Begin: 31000, End: 31001}),
			HostPorts: []HostPort{{Container: "web", Port: 31001}}}, offer: offer(), live: true, state: kov1.TaskStaging},
		"undeclared host port": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(100, 0), Ports: resources.NewPortSet(kov1.PortRange{Begin: 31000, End: 31000}),
			HostPorts: []HostPort{{Container: "web", Port: 80}}}, offer: offer(), live: true, state: kov1.TaskError, reason: kov1.TaskReasonInvalid},
		"host port without any ports": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(100, 0), HostPorts: []HostPort{{Container: "web", Port: 31005}}},
			offer: offer(), live: true, state: kov1.TaskError, reason: kov1.TaskReasonInvalid},
		"template sets nodeName": {req: TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(1, 0), TemplateNodeName: "x"}, offer: offer(), live: true,
			state: kov1.TaskError, reason: kov1.TaskReasonInvalid},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Admit(d, tc.req, tc.offer, tc.live, t0)
			if got.State != tc.state || got.Reason != tc.reason || got.Bind != (tc.state == kov1.TaskStaging) {
				t.Fatalf("Admit = %+v, want state %s reason %q", got, tc.state, tc.reason)
			}
			if !got.Bind && got.Message == "" {
				t.Errorf("rejection without a message")
			}
		})
	}
}

func TestAdmitMessageNamesShortfall(t *testing.T) {
	got := Admit(newSnap().Dims, TaskRequest{Framework: "fw", Offer: "o1", Needs: vec(3000, 1)},
		&OfferView{Framework: "fw", Remaining: vec(1000, 4), AgentOfferable: true}, true, t0)
	if want := `offer "o1" is too small for the task (cpu: need 3, have 1)`; got.Message != want {
		t.Errorf("message = %q, want %q", got.Message, want)
	}
}
