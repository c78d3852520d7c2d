package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

func list(pairs ...string) corev1.ResourceList {
	rl := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		rl[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return rl
}

func TestVecRoundTrip(t *testing.T) {
	d := NewDims()
	in := list("cpu", "1500m", "memory", "2Gi", "nvidia.com/gpu", "2", "ephemeral-storage", "10Gi")
	v := d.FromList(in)
	if v[0] != 1500 || v[1] != 2<<30 {
		t.Fatalf("cpu/memory at 0/1 = %v", v)
	}
	out := d.ToList(v)
	for name, q := range in {
		if got := out[name]; got.Cmp(q) != 0 {
			t.Errorf("%s: round trip %s -> %s", name, q.String(), got.String())
		}
	}
}

func TestVecArithmetic(t *testing.T) {
	cases := map[string]struct {
		a, b      Vec
		fits      bool
		share     float64
		shortfall string
	}{
		"fits":           {a: Vec{1000, 1 << 30}, b: Vec{2000, 2 << 30}, fits: true, share: 0.5},
		"cpu short":      {a: Vec{3000, 1 << 30}, b: Vec{1000, 4 << 30}, fits: false, share: 3, shortfall: "cpu: need 3, have 1"},
		"memory short":   {a: Vec{100, 3 << 30}, b: Vec{1000, 1 << 30}, fits: false, share: 3, shortfall: "memory: need 3Gi, have 1Gi"},
		"shorter vector": {a: Vec{100}, b: Vec{1000, 1 << 30}, fits: true, share: 0.1},
		"missing dim":    {a: Vec{0, 0, 1}, b: Vec{1000, 1000}, fits: false, share: 0, shortfall: "nvidia.com/gpu: need 1, have 0"},
	}
	d := NewDims()
	d.Add("nvidia.com/gpu")
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := tc.a.Fits(tc.b); got != tc.fits {
				t.Errorf("Fits = %v, want %v", got, tc.fits)
			}
			if got := tc.a.DominantShare(tc.b); got != tc.share {
				t.Errorf("DominantShare = %v, want %v", got, tc.share)
			}
			if got := d.Shortfall(tc.a, tc.b); got != tc.shortfall {
				t.Errorf("Shortfall = %q, want %q", got, tc.shortfall)
			}
		})
	}
	v := Vec{5, 5}
	v.Sub(Vec{7, 1})
	if !v.AnyNegative() {
		t.Errorf("AnyNegative(%v) = false", v)
	}
	v.ClampZero()
	if diff := cmp.Diff(Vec{0, 4}, v); diff != "" {
		t.Errorf("ClampZero (-want +got):\n%s", diff)
	}
	v.Min(Vec{3, 3})
	if diff := cmp.Diff(Vec{0, 3}, v); diff != "" {
		t.Errorf("Min (-want +got):\n%s", diff)
	}
}

func pr(b, e int32) kov1.PortRange { return kov1.PortRange{Begin: b, End: e} }

func TestPortSet(t *testing.T) {
	cases := map[string]struct {
		got, want PortSet
	}{
		"normalise merges adjacent and overlapping": {NewPortSet(pr(10, 20), pr(21, 25), pr(5, 12)), PortSet{pr(5, 25)}},
		"normalise drops backwards ranges":          {NewPortSet(pr(10, 9)), nil},
		"subtract middle":                           {NewPortSet(pr(31000, 32000)).Subtract(PortSet{pr(31010, 31020)}), PortSet{pr(31000, 31009), pr(31021, 32000)}},
		"subtract edges":                            {NewPortSet(pr(1, 10)).Subtract(PortSet{pr(1, 1), pr(10, 12)}), PortSet{pr(2, 9)}},
		"subtract all":                              {NewPortSet(pr(1, 10)).Subtract(PortSet{pr(0, 100)}), nil},
		"union":                                     {PortSet{pr(1, 2)}.Union(PortSet{pr(4, 5)}), PortSet{pr(1, 2), pr(4, 5)}},
	}
	for name, tc := range cases {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	s := NewPortSet(pr(31000, 31010))
	if !s.Contains(PortSet{pr(31000, 31000), pr(31005, 31010)}) || s.Contains(PortSet{pr(31010, 31011)}) {
		t.Error("Contains is wrong")
	}
	if !s.Overlaps(PortSet{pr(31010, 31020)}) || s.Overlaps(PortSet{pr(1, 2)}) {
		t.Error("Overlaps is wrong")
	}
	if got := NewPortSet(pr(1, 3), pr(7, 7)).String(); got != "[1-3,7]" {
		t.Errorf("String = %q", got)
	}
	if got := s.Size(); got != 11 {
		t.Errorf("Size = %d", got)
	}
}
