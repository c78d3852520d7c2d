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

// TestToIntBounded: quantities far past any node's size neither wrap to zero
// nor go negative (10P cores used to become 0 millicores, and larger values
// negative, making an agent look bigger than it is).
func TestToIntBounded(t *testing.T) {
	cases := map[string]struct {
		name corev1.ResourceName
		q    string
		want int64
	}{
		"cpu in range":           {name: "cpu", q: "1500m", want: 1500},
		"cpu fraction rounds up": {name: "cpu", q: "0.0001", want: 1},
		"cpu at the bound":       {name: "cpu", q: "1M", want: MaxCPUCores * 1000},
		"cpu 10P saturates":      {name: "cpu", q: "10P", want: MaxCPUCores * 1000},
		"cpu 1E saturates":       {name: "cpu", q: "1E", want: MaxCPUCores * 1000},
		"memory in range":        {name: "memory", q: "2Gi", want: 2 << 30},
		"memory at the bound":    {name: "memory", q: "1Pi", want: MaxQuantity},
		"memory 8Ei saturates":   {name: "memory", q: "8Ei", want: MaxQuantity},
		"gpu 1e30 saturates":     {name: "nvidia.com/gpu", q: "1e30", want: MaxQuantity},
		"negative is zero":       {name: "memory", q: "-1Gi", want: 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ToInt(tc.name, resource.MustParse(tc.q)); got != tc.want {
				t.Errorf("ToInt(%s, %s) = %d, want %d", tc.name, tc.q, got, tc.want)
			}
		})
	}
}

// TestVecSaturates: sums and differences clamp at the int64 range instead of
// wrapping, so no number of tasks can make an agent look free.
func TestVecSaturates(t *testing.T) {
	const maxI, minI = int64(^uint64(0) >> 1), -int64(^uint64(0)>>1) - 1
	cases := map[string]struct {
		op         func(v, o Vec)
		v, o, want Vec
	}{
		"add in range":      {op: Vec.Add, v: Vec{1, 2}, o: Vec{3, 4}, want: Vec{4, 6}},
		"add saturates up":  {op: Vec.Add, v: Vec{maxI - 1}, o: Vec{5}, want: Vec{maxI}},
		"add saturates low": {op: Vec.Add, v: Vec{minI + 1}, o: Vec{-5}, want: Vec{minI}},
		"sub in range":      {op: Vec.Sub, v: Vec{5}, o: Vec{7}, want: Vec{-2}},
		"sub saturates low": {op: Vec.Sub, v: Vec{minI + 1}, o: Vec{5}, want: Vec{minI}},
		"sub saturates up":  {op: Vec.Sub, v: Vec{maxI - 1}, o: Vec{-5}, want: Vec{maxI}},
		"sub of min int":    {op: Vec.Sub, v: Vec{0}, o: Vec{minI}, want: Vec{maxI}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := tc.v.Clone(len(tc.v))
			tc.op(v, tc.o)
			if diff := cmp.Diff(tc.want, v); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Many maximal tasks on one agent: allocated stays at the top, so free
	// (allocatable − allocated) stays at or below zero.
	d := NewDims()
	alloc := d.Zero()
	for range 100_000 {
		alloc.Add(d.FromList(list("cpu", "1M", "memory", "1Pi")))
	}
	free := d.FromList(list("cpu", "2", "memory", "4Gi"))
	free.Sub(alloc)
	if !free.IsZero() {
		t.Errorf("free after 100000 maximal tasks = %v, want none", free)
	}
}

func TestLimit(t *testing.T) {
	cases := map[string]struct {
		limit corev1.ResourceList
		want  Vec
	}{
		"nothing named is unlimited":  {limit: nil, want: Vec{-1, -1}},
		"cpu named, memory unlimited": {limit: list("cpu", "2"), want: Vec{2000, -1}},
		"a zero limit is zero":        {limit: list("memory", "0"), want: Vec{-1, 0}},
		"an extended resource":        {limit: list("nvidia.com/gpu", "1"), want: Vec{-1, -1, 1}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, NewDims().Limit(tc.limit)); diff != "" {
				t.Errorf("Limit (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHasGPU(t *testing.T) {
	cases := map[string]struct {
		rl   corev1.ResourceList
		want bool
	}{
		"none":        {rl: list("cpu", "4"), want: false},
		"zero GPUs":   {rl: list("nvidia.com/gpu", "0"), want: false},
		"one GPU":     {rl: list("cpu", "4", "nvidia.com/gpu", "1"), want: true},
		"another GPU": {rl: list("amd.com/gpu", "1"), want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := HasGPU(tc.rl); got != tc.want {
				t.Errorf("HasGPU = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAddTo(t *testing.T) {
	m := map[string]Vec{}
	v := Vec{1, 2}
	AddTo(m, "a", v, 3)
	AddTo(m, "a", Vec{10, 20, 30}, 3)
	AddTo(m, "b", v, 2)
	v[0] = 100
	want := map[string]Vec{"a": {11, 22, 30}, "b": {1, 2}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("AddTo (-want +got):\n%s", diff)
	}
}
