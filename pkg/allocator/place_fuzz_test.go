package allocator

import (
	"testing"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// FuzzPlace checks the built-in policies' choice among decoded candidate
// offers: -1 or a candidate that has the task's resources and ports; never
// -1 when some candidate fits (for a known policy); for FirstFit the first
// that fits, for Spread one with the fewest of the framework's tasks on
// its attribute value, for BinPack one left fullest (least dominant share
// after the task) among those that fit; and the candidates unchanged.
func FuzzPlace(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 1, 2, 2, 0, 3, 1, 1, 7, 7, 0, 1, 1, 2, 2, 1, 1, 1, 1, 0, 1, 4, 4, 2, 0, 1, 1, 1, 3, 3})
	f.Add([]byte{0, 2, 1, 1, 4, 0, 4, 1, 1, 2, 0, 0, 1, 2, 3, 1, 7, 7, 1, 2, 1, 1, 7, 7, 0, 2, 2, 1, 1, 2, 9, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		d := in.dims()
		n := d.Len()
		policies := []kov1.SchedulingPolicy{kov1.SchedulingPolicyFirstFit, kov1.SchedulingPolicyBinPack, kov1.SchedulingPolicySpread, "Random"}
		policy := policies[in.intn(len(policies))]
		needs, ports, total := in.vec(n), in.ports(), in.vec(n)
		values := []string{"", "z0", "z1"}
		spread := map[string]int{}
		for _, v := range values {
			spread[v] = in.intn(4)
		}
		var cands, before []Candidate
		for k := in.intn(7); k > 0; k-- {
			c := Candidate{Offer: "o", Remaining: in.vec(n), Ports: in.ports(), SpreadValue: values[in.intn(3)]}
			cands = append(cands, c)
			c.Remaining = c.Remaining.Clone(0)
			before = append(before, c)
		}
		got := Place(policy, needs, ports, cands, spread, total)
		if !equalCandidates(before, cands) {
			t.Fatalf("Place changed its candidates: %+v, was %+v", cands, before)
		}
		fits := func(c Candidate) bool { return covers(c.Remaining, needs) && c.Ports.Contains(ports) }
		first := -1
		for i := len(cands) - 1; i >= 0; i-- {
			if fits(cands[i]) {
				first = i
			}
		}
		known := policy != "Random"
		switch {
		case got < -1 || got >= len(cands):
			t.Fatalf("Place = %d of %d candidates", got, len(cands))
		case got >= 0 && !fits(cands[got]):
			t.Fatalf("Place chose %d: %v ports %s for a task needing %v ports %s", got, cands[got].Remaining, cands[got].Ports, needs, ports)
		case !known && got != -1:
			t.Fatalf("policy %q placed on %d", policy, got)
		case known && (got < 0) != (first < 0):
			t.Fatalf("%s placed on %d, though candidate %d fits", policy, got, first)
		case policy == kov1.SchedulingPolicyFirstFit && got != first:
			t.Fatalf("FirstFit chose %d, not the first that fits, %d", got, first)
		}
		if got < 0 {
			return
		}
		for i, c := range cands {
			if !fits(c) {
				continue
			}
			switch policy {
			case kov1.SchedulingPolicySpread:
				if spread[c.SpreadValue] < spread[cands[got].SpreadValue] {
					t.Fatalf("Spread chose %d (%q, %d tasks), not %d (%q, %d tasks)", got, cands[got].SpreadValue, spread[cands[got].SpreadValue], i, c.SpreadValue, spread[c.SpreadValue])
				}
			case kov1.SchedulingPolicyBinPack:
				if leftShare(c, needs, total) < leftShare(cands[got], needs, total) {
					t.Fatalf("BinPack chose %d, which leaves %v, not %d, which leaves %v less", got, leftShare(cands[got], needs, total), i, leftShare(c, needs, total))
				}
			}
		}
	})
}

// leftShare is the dominant share of what c has left after the task.
func leftShare(c Candidate, needs, total resources.Vec) float64 {
	n := max(len(c.Remaining), len(needs))
	left := make(resources.Vec, n)
	for i := range left {
		left[i] = c.Remaining.Get(i) - needs.Get(i)
	}
	return left.DominantShare(total)
}

func equalCandidates(a, b []Candidate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i].Remaining) != len(b[i].Remaining) || a[i].SpreadValue != b[i].SpreadValue || a[i].Ports.String() != b[i].Ports.String() {
			return false
		}
		for j := range a[i].Remaining {
			if a[i].Remaining[j] != b[i].Remaining[j] {
				return false
			}
		}
	}
	return true
}
