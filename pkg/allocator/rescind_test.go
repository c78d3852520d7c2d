package allocator

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

func TestRescinds(t *testing.T) {
	offer := func(name, fw, agent string, r resources.Vec) *Offer {
		return &Offer{Namespace: "ns", Name: name, Framework: fw, Agent: agent, Resources: r, Expires: t0.Add(time.Minute)}
	}
	fw := &Framework{Key: "fw", Role: "default", Allocated: vec(0, 0)}
	cases := map[string]struct {
		snap   *snap
		offers []*Offer
		states map[string]AgentState
		fws    map[string]*Framework
		away   map[string]bool
		// accepting are the offers with tasks not bound yet, by name.
		accepting []string
		want      map[string]string // offer → reason
	}{
		"healthy offer stays": {
			snap:   newSnap().agent("a1", vec(4000, 4), func(a *Agent) { a.Offered = vec(4000, 4) }),
			offers: []*Offer{offer("o1", "fw", "a1", vec(4000, 4))},
			want:   map[string]string{},
		},
		"expired": {
			snap:   newSnap().agent("a1", vec(4000, 4)),
			offers: []*Offer{{Name: "o1", Framework: "fw", Agent: "a1", Resources: vec(1000, 1), Expires: t0}},
			want:   map[string]string{"o1": RescindExpired},
		},
		"expired while its tasks wait to be bound: kept": {
			snap:      newSnap().agent("a1", vec(4000, 4)),
			offers:    []*Offer{{Namespace: "ns", Name: "o1", Framework: "fw", Agent: "a1", Resources: vec(1000, 1), Expires: t0}},
			accepting: []string{"o1"},
			want:      map[string]string{},
		},
		"used up while its tasks wait to be bound: kept": {
			snap:      newSnap().agent("a1", vec(4000, 4)),
			offers:    []*Offer{offer("o1", "fw", "a1", vec(5, 0.01))},
			accepting: []string{"o1"},
			want:      map[string]string{},
		},
		"expired with tasks waiting, on an agent gone: rescinded": {
			snap:      newSnap(),
			offers:    []*Offer{{Namespace: "ns", Name: "o1", Framework: "fw", Agent: "a1", Resources: vec(1000, 1), Expires: t0}},
			accepting: []string{"o1"},
			want:      map[string]string{"o1": RescindAgentGone},
		},
		"framework torn down while its tasks wait to be bound: rescinded": {
			snap:      newSnap().agent("a1", vec(4000, 4)),
			offers:    []*Offer{offer("o1", "gone", "a1", vec(1000, 1))},
			accepting: []string{"o1"},
			want:      map[string]string{"o1": RescindFrameworkGone},
		},
		"agent gone": {
			snap:   newSnap(),
			offers: []*Offer{offer("o1", "fw", "a1", vec(1000, 1))},
			want:   map[string]string{"o1": RescindAgentGone},
		},
		"agent unreachable": {
			snap:   newSnap().agent("a1", vec(4000, 4), func(a *Agent) { a.Offerable = false }),
			offers: []*Offer{offer("o1", "fw", "a1", vec(1000, 1))},
			states: map[string]AgentState{"a1": AgentUnreachable},
			want:   map[string]string{"o1": RescindAgentUnreachable},
		},
		"agent draining": {
			snap:   newSnap().agent("a1", vec(4000, 4), func(a *Agent) { a.Offerable = false }),
			offers: []*Offer{offer("o1", "fw", "a1", vec(1000, 1))},
			states: map[string]AgentState{"a1": AgentInMaintenance},
			want:   map[string]string{"o1": RescindAgentMaintenance},
		},
		"framework torn down": {
			snap:   newSnap().agent("a1", vec(4000, 4)),
			offers: []*Offer{offer("o1", "gone", "a1", vec(1000, 1))},
			want:   map[string]string{"o1": RescindFrameworkGone},
		},
		"framework disconnected": {
			snap:   newSnap().agent("a1", vec(4000, 4)),
			offers: []*Offer{offer("o1", "fw", "a1", vec(1000, 1))},
			away:   map[string]bool{"fw": true},
			want:   map[string]string{"o1": RescindFrameworkAway},
		},
		"constraints changed": {
			snap:   newSnap().agent("a1", vec(4000, 4)),
			offers: []*Offer{offer("o1", "picky", "a1", vec(1000, 1))},
			fws: map[string]*Framework{"picky": {Key: "picky", Role: "default", Allocated: vec(1000, 1),
				Selector: labels.SelectorFromSet(labels.Set{"zone": "eu"})}},
			want: map[string]string{"o1": RescindConstraintsChanged},
		},
		"used up": {
			snap:   newSnap().agent("a1", vec(4000, 4)),
			offers: []*Offer{offer("o1", "fw", "a1", vec(5, 0.01))},
			want:   map[string]string{"o1": RescindUsedUp},
		},
		"not used up for a framework whose own minimum it meets": {
			snap:   newSnap().agent("a1", vec(4000, 4)),
			offers: []*Offer{offer("o1", "small", "a1", vec(5, 0.01))},
			fws: map[string]*Framework{"small": {Key: "small", Role: "default", Allocated: vec(5, 0.01),
				MinAllocatable: []resources.Vec{vec(5, 0)}}},
			want: map[string]string{},
		},
		"agent shrank: largest offer goes first": {
			snap:   newSnap().agent("a1", vec(2000, 2), func(a *Agent) { a.Offered = vec(3000, 3) }),
			offers: []*Offer{offer("small", "fw", "a1", vec(1000, 1)), offer("large", "fw2", "a1", vec(2000, 2))},
			fws:    map[string]*Framework{"fw": fw, "fw2": {Key: "fw2", Role: "default", Allocated: vec(2000, 2)}},
			want:   map[string]string{"large": RescindCapacityChanged},
		},
		"quota lowered below what is offered": {
			snap: newSnap().agent("a1", vec(4000, 4), func(a *Agent) { a.Offered = vec(4000, 4) }).
				role("capped", "", 1, nil, resources.Vec{1000, -1, -1}),
			offers: []*Offer{offer("o1", "capped-fw", "a1", vec(4000, 4))},
			fws:    map[string]*Framework{"capped-fw": {Key: "capped-fw", Role: "capped", Allocated: vec(4000, 4)}},
			want:   map[string]string{"o1": RescindQuotaExceeded},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.snap.Offers = tc.offers
			fws := tc.fws
			if fws == nil {
				fws = map[string]*Framework{"fw": fw}
			}
			accepting := map[string]bool{}
			for _, name := range tc.accepting {
				accepting["ns/"+name] = true
			}
			got := map[string]string{}
			for _, r := range Rescinds(tc.snap.Snapshot, RescindInput{AgentStates: tc.states, Frameworks: fws, Disconnected: tc.away, Accepting: accepting}) {
				got[r.Offer.Name] = r.Reason
				if r.Message == "" {
					t.Errorf("rescind of %s has no message", r.Offer.Name)
				}
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rescinds (-want +got):\n%s", diff)
			}
		})
	}
}
