package allocator

import (
	"testing"
	"time"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// FuzzAdmit admits a decoded sequence of tasks against one offer, as the
// master does: each task that binds takes its resources and ports from
// what the offer has left for the next. It checks that
//
//   - a task binds only when its framework is live, its template leaves
//     nodeName empty, and the offer exists, is its framework's, is not
//     declined, has not expired and its agent is offerable, and has left
//     what the task needs, resources and ports; and then it is Staging;
//   - a task that meets all of that binds (no spurious refusal);
//   - a refused task ends in a terminal state with a reason and a message;
//   - together the bound tasks hold no more than the offer had, and no
//     port twice.
func FuzzAdmit(f *testing.F) {
	f.Add([]byte{})
	// A live framework's offer with room for some of three tasks.
	f.Add([]byte{0, 1, 0, 0, 1, 0, 1, 1, 7, 7, 2, 0, 0, 1, 3, 0, 0, 1, 1, 0, 0, 1, 2, 2, 1, 1, 7, 3, 0, 0, 0, 1, 2, 1, 0, 1, 7, 2, 0, 1})
	// An expired, declined offer of another framework.
	f.Add([]byte{0, 1, 1, 2, 0, 1, 1, 1, 6, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 2, 1, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		d := in.dims()
		n := d.Len()
		now := t0.Add(time.Duration(in.intn(5)-2) * time.Second)
		frameworks := []string{"ns/f0", "ns/f1"}
		var offer *OfferView
		if !in.rare(6) {
			offer = &OfferView{
				Framework: frameworks[in.intn(2)], Agent: "a0",
				Declined: in.rare(5), AgentOfferable: !in.rare(5),
				Remaining: in.vec(n), RemainingPorts: in.ports(),
			}
			if in.bool() {
				offer.Expires = t0.Add(time.Duration(in.intn(5)-2) * time.Second)
			}
		}
		live := !in.rare(6)
		var start OfferView
		if offer != nil {
			start = *offer
			start.Remaining = offer.Remaining.Clone(n)
		}
		var held resources.Vec
		var heldPorts resources.PortSet
		for k := in.intn(7); k > 0; k-- {
			req := TaskRequest{Framework: frameworks[in.intn(2)], Offer: "o1", Needs: in.vec(n), Ports: in.ports()}
			if in.rare(7) {
				req.TemplateNodeName = "node-0"
			}
			view := offer
			if in.rare(7) {
				req.Offer, view = "o2", nil
			}
			adm := Admit(d, req, view, live, now)
			ok := live && req.TemplateNodeName == "" && view != nil && view.Framework == req.Framework && !view.Declined &&
				(view.Expires.IsZero() || now.Before(view.Expires)) && view.AgentOfferable &&
				covers(view.Remaining, req.Needs) && view.RemainingPorts.Contains(req.Ports)
			switch {
			case adm.Bind != ok:
				t.Fatalf("Admit(%+v, %+v, live=%v, now=%s) = %+v; want bind = %v", req, view, live, now, adm, ok)
			case adm.Bind && adm.State != kov1.TaskStaging:
				t.Fatalf("a bound task is %s, not Staging", adm.State)
			case !adm.Bind && (!adm.State.IsTerminal() || adm.Reason == "" || adm.Message == ""):
				t.Fatalf("a refused task: %+v; want a terminal state, a reason and a message", adm)
			}
			if !adm.Bind {
				continue
			}
			// Assume the task, as the master does before it writes the binding.
			held = plus(held, req.Needs, n)
			if heldPorts.Overlaps(req.Ports) {
				t.Fatalf("ports %s bound twice (bound before: %s)", req.Ports, heldPorts)
			}
			heldPorts = heldPorts.Union(req.Ports)
			left := offer.Remaining.Clone(n)
			left.Sub(req.Needs)
			offer.Remaining, offer.RemainingPorts = left, offer.RemainingPorts.Subtract(req.Ports)
		}
		if held != nil && (!covers(start.Remaining, held) || !start.RemainingPorts.Contains(heldPorts)) {
			t.Fatalf("bound tasks hold %v and ports %s; the offer had %v and %s", held, heldPorts, start.Remaining, start.RemainingPorts)
		}
	})
}
