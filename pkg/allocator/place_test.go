package allocator

import (
	"testing"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

func TestPlace(t *testing.T) {
	total := vec(12000, 12)
	cands := []Candidate{
		{Offer: "roomy", Remaining: vec(8000, 8), SpreadValue: "a"},
		{Offer: "snug", Remaining: vec(2000, 2), SpreadValue: "b"},
		{Offer: "tiny", Remaining: vec(500, 0.5), SpreadValue: "c",
			Ports: resources.NewPortSet(kov1.PortRange{Begin: 31000, End: 31000})},
	}
	cases := map[string]struct {
		policy kov1.SchedulingPolicy
		needs  resources.Vec
		ports  resources.PortSet
		spread map[string]int
		want   string
	}{
		"first fit takes the first":            {policy: kov1.SchedulingPolicyFirstFit, needs: vec(1000, 1), want: "roomy"},
		"first fit skips what does not fit":    {policy: kov1.SchedulingPolicyFirstFit, needs: vec(9000, 1), want: ""},
		"bin pack takes the fullest that fits": {policy: kov1.SchedulingPolicyBinPack, needs: vec(1000, 1), want: "snug"},
		"bin pack falls back to roomier":       {policy: kov1.SchedulingPolicyBinPack, needs: vec(3000, 1), want: "roomy"},
		"spread takes the least used value":    {policy: kov1.SchedulingPolicySpread, needs: vec(100, 0.1), spread: map[string]int{"a": 2, "b": 1, "c": 1}, want: "snug"},
		"spread ties go to the first":          {policy: kov1.SchedulingPolicySpread, needs: vec(100, 0.1), want: "roomy"},
		"ports decide":                         {policy: kov1.SchedulingPolicyFirstFit, needs: vec(100, 0.1), ports: resources.NewPortSet(kov1.PortRange{Begin: 31000, End: 31000}), want: "tiny"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			i := Place(tc.policy, tc.needs, tc.ports, cands, tc.spread, total)
			got := ""
			if i >= 0 {
				got = cands[i].Offer
			}
			if got != tc.want {
				t.Errorf("Place = %q, want %q", got, tc.want)
			}
		})
	}
}
