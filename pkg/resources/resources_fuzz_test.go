package resources

import (
	"math"
	"math/big"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// FuzzQuantity converts any quantity string of at most 64 characters the
// API's parser accepts (with a decimal exponent of at most three digits)
// under every kind of resource name. Within ±1e18 base units (millicores for
// CPU) the Vec holds the quantity rounded away from zero, as
// Quantity.Value documents, and it survives ToList, the string form and
// FromList unchanged.
func FuzzQuantity(f *testing.F) {
	for _, s := range []string{"1", "1500m", "2Gi", "0.5", "100M", "1e3", "-1", "0.0001", "10E", "8Ei",
		"9223372036854775807", "123456789012345678m", ".5", "+3Ki", "1.000001"} {
		f.Add(s, byte(0))
		f.Add(s, byte(1))
	}
	f.Add("64Mi", byte(3))
	f.Add("3", byte(4))
	f.Fuzz(func(t *testing.T, s string, pick byte) {
		if len(s) > 64 || longExponent.MatchString(s) {
			// The CRDs bound quantities to 64 characters and their pattern
			// refuses exponents; apimachinery v0.36's parser and Value
			// take minutes on "00080E20000000000" or "0E90000000000"
			// (kubernetes#141203, #141306).
			return
		}
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return
		}
		name := fuzzNames[int(pick)%len(fuzzNames)]
		d := NewDims()
		v := d.FromList(corev1.ResourceList{name: q})
		i := d.Index(name)
		if i < 0 || len(v) != d.Len() {
			t.Fatalf("FromList(%s=%s) = %v with %s at %d of %d dims", name, s, v, name, i, d.Len())
		}
		for j, x := range v {
			if j != i && x != 0 {
				t.Fatalf("FromList(%s=%s) = %v: position %d (%s) is not zero", name, s, v, j, d.Name(j))
			}
		}
		// The Vec goes out to the API and back unchanged.
		roundTrip(t, d, v)

		// The quantity rounded away from zero, clamped to [0, the API bound]:
		// nothing negative, nothing past the bound, nothing wrapped.
		bound := boundOf(name)
		want, ok := exactUnits(q, name == corev1.ResourceCPU)
		switch {
		case q.Sign() <= 0:
			want = 0
		case !ok || want > bound:
			want = bound
		}
		if v[i] != want {
			t.Fatalf("FromList(%s=%s)[%s] = %d, want %d (the quantity rounded away from zero, within [0, %d])", name, s, name, v[i], want, bound)
		}
	})
}

// boundOf is the largest value conversion gives for name: the API bounds.
func boundOf(name corev1.ResourceName) int64 {
	if name == corev1.ResourceCPU {
		return MaxCPUCores * 1000
	}
	return MaxQuantity
}

// longExponent matches a decimal exponent of four digits or more.
var longExponent = regexp.MustCompile(`[eE][+-]?0*[1-9][0-9]{3,}$`)

// exactUnits is q in base units (millicores when milli) rounded away from
// zero, and whether that is within ±1e18.
func exactUnits(q resource.Quantity, milli bool) (int64, bool) {
	cp := q.DeepCopy()
	dec := cp.AsDec()
	scale := int64(dec.Scale())
	if milli {
		scale -= 3
	}
	if scale < -40 {
		return 0, false // far beyond the bound
	}
	num := new(big.Int).Set(dec.UnscaledBig())
	den := big.NewInt(1)
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs(scale)), nil)
	if scale > 0 {
		den = pow
	} else {
		num.Mul(num, pow)
	}
	quo, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if rem.Sign() != 0 {
		quo.Add(quo, big.NewInt(int64(num.Sign())))
	}
	if quo.CmpAbs(big.NewInt(1_000_000_000_000_000_000)) > 0 {
		return 0, false
	}
	return quo.Int64(), true
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// roundTrip checks that v survives ToList, each quantity's string form
// (what the master writes into an offer) and FromList, in every position
// from 0 to 1e18. Elsewhere only the absence of a panic is checked:
// apimachinery itself does not read back some negative quantities
// ("-128Ti" parses to -7277816996 bytes), and kubeoffer's never are.
func roundTrip(t *testing.T, d *Dims, v Vec) {
	t.Helper()
	const limit = 1_000_000_000_000_000_000
	rl := d.ToList(v)
	for i, x := range v {
		q, ok := rl[d.Name(i)]
		if x == 0 {
			if ok {
				t.Fatalf("ToList(%v) has %s=%s for a zero", v, d.Name(i), q.String())
			}
			continue
		}
		if !ok {
			t.Fatalf("ToList(%v) lost %s=%d", v, d.Name(i), x)
		}
		parsed, err := resource.ParseQuantity(q.String())
		if err != nil {
			t.Fatalf("ToList(%v)[%s] = %q, which does not parse: %v", v, d.Name(i), q.String(), err)
		}
		rl[d.Name(i)] = parsed
	}
	back := d.FromList(rl)
	for i := range back {
		// Conversion clamps to [0, the API bound]: within it a value comes
		// back unchanged, past it at the bound, and never wraps.
		x, bound := v.Get(i), boundOf(d.Name(i))
		switch {
		case x < 0 && back[i] != 0:
			t.Fatalf("FromList(ToList(%v)) = %v: negative %s came back as %d, want 0 (via %v)", v, back, d.Name(i), back[i], rl)
		case x >= 0 && x <= min(limit, bound) && back[i] != x:
			t.Fatalf("FromList(ToList(%v)) = %v (via %v)", v, back, rl)
		case x > bound && back[i] != bound:
			t.Fatalf("FromList(ToList(%v)) = %v: %s past the bound came back as %d, want %d (via %v)", v, back, d.Name(i), back[i], bound, rl)
		}
	}
}

// FuzzVec checks Vec's operations against their definitions position by
// position, with values within ±2^60 so that no sum here can wrap.
func FuzzVec(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 1, 1, 5, 2, 7, 1, 0, 1, 9, 2, 3})
	f.Add([]byte{3, 1, 0, 5, 5, 5, 5, 1, 3, 6, 6, 6, 6, 1, 2, 7, 255, 255, 255, 255, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		d := in.dims()
		n := d.Len()
		a, b := in.vec(n, in.value), in.vec(n, in.value)
		full := make(Vec, n)
		for i := range full {
			full[i] = in.value()
		}
		roundTrip(t, d, in.vec(n, in.anyValue))
		roundTrip(t, d, full)

		sum := a.Clone(n)
		sum.Add(b)
		for i := range sum {
			if sum[i] != a.Get(i)+b.Get(i) {
				t.Fatalf("%v + %v = %v", a, b, sum)
			}
		}
		back := sum.Clone(n)
		back.Sub(b)
		if !cmp.Equal(back, a.Clone(n)) {
			t.Fatalf("%v + %v − %v = %v", a, b, b, back)
		}
		if c := a.Clone(2 * n); len(c) != 2*n || !cmp.Equal(Vec(c[:len(a)]), a, cmpopts.EquateEmpty()) {
			t.Fatalf("Clone(%d) of %v = %v", 2*n, a, c)
		} else if len(a) > 0 {
			c[0]++
			if c[0] == a[0] {
				t.Fatalf("Clone shares storage with %v", a)
			}
		}

		// A shorter Vec reads as zero, except that Fits does not look past
		// v's end: a negative o there (no quantity is) is not compared.
		fits, zero, neg, negTail := true, true, false, false
		for i := 0; i < n; i++ {
			fits = fits && a.Get(i) <= b.Get(i)
			zero = zero && a.Get(i) <= 0
			neg = neg || a.Get(i) < 0
			negTail = negTail || (i >= len(a) && b.Get(i) < 0)
		}
		if a.IsZero() != zero || a.AnyNegative() != neg {
			t.Fatalf("%v: IsZero=%v AnyNegative=%v, want %v %v", a, a.IsZero(), a.AnyNegative(), zero, neg)
		}
		if !negTail && a.Fits(b) != fits {
			t.Fatalf("%v.Fits(%v) = %v, want %v", a, b, a.Fits(b), fits)
		}
		if short := d.Shortfall(a, b); (short == "") != a.Fits(b) {
			t.Fatalf("Shortfall(%v, %v) = %q, but Fits = %v", a, b, short, a.Fits(b))
		}

		clamped := a.Clone(n)
		clamped.ClampZero()
		lower := a.Clone(n)
		lower.Min(b)
		for i := range clamped {
			if clamped[i] != max(a.Get(i), 0) || lower[i] != min(a.Get(i), b.Get(i)) {
				t.Fatalf("ClampZero(%v) = %v, Min(%v, %v) = %v", a, clamped, a, b, lower)
			}
		}

		// DRF's measure: never negative; at most 1 for a part of the
		// total; never smaller for a larger vector.
		total := full.Clone(n)
		total.ClampZero()
		part := clamped.Clone(n)
		part.Min(total)
		sa, sp, st := a.DominantShare(total), part.DominantShare(total), total.DominantShare(total)
		if sa < 0 || math.IsNaN(sa) || sp < 0 || sp > 1 || (st != 0 && st != 1) {
			t.Fatalf("DominantShare over %v: of %v = %v, of %v = %v, of itself = %v", total, a, sa, part, sp, st)
		}
		if sp > st || sp > clamped.DominantShare(total) {
			t.Fatalf("DominantShare over %v is not monotone: %v ≤ %v ≤ %v but %v, %v, %v", total, part, clamped, total, sp, clamped.DominantShare(total), st)
		}
	})
}

// FuzzPortSet checks that PortSet's operations are set algebra: results
// are normalised (sorted, disjoint, not touching), membership follows the
// definitions, and the usual laws hold. Two sets are compared at every
// port where either might change membership: each range's ends and their
// neighbours.
func FuzzPortSet(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 4, 10, 3, 4, 20, 2, 4, 12, 5, 1, 4, 15, 0})
	f.Add([]byte{3, 0, 1, 0, 2, 1, 1, 1, 1, 1, 0, 3, 1, 1, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		rawA, rawB, rawC := in.ranges(), in.ranges(), in.ranges()
		a, b, c := NewPortSet(rawA...), NewPortSet(rawB...), NewPortSet(rawC...)
		var points []int64
		for _, set := range [][]kov1.PortRange{rawA, rawB, rawC} {
			for _, r := range set {
				for _, p := range []int64{int64(r.Begin), int64(r.End)} {
					points = append(points, p-1, p, p+1)
				}
			}
		}
		has := func(s []kov1.PortRange, p int64) bool {
			for _, r := range s {
				if int64(r.Begin) <= p && p <= int64(r.End) {
					return true
				}
			}
			return false
		}
		normal := func(what string, s PortSet) {
			t.Helper()
			for i, r := range s {
				if r.Begin > r.End || (i > 0 && int64(s[i-1].End)+1 >= int64(r.Begin)) {
					t.Fatalf("%s = %v is not normalised at %d", what, s, i)
				}
			}
		}
		same := func(what string, got, want PortSet) {
			t.Helper()
			if !cmp.Equal(got, want, cmpopts.EquateEmpty()) {
				t.Fatalf("%s: got %v, want %v (a=%v b=%v c=%v)", what, got, want, a, b, c)
			}
		}

		u, diff := a.Union(b), a.Subtract(b)
		inter := a.Subtract(diff)
		for what, s := range map[string]PortSet{"NewPortSet(a)": a, "a ∪ b": u, "a \\ b": diff, "a ∩ b": inter} {
			normal(what, s)
		}
		for _, p := range points {
			inA, inB := has(rawA, p), has(rawB, p)
			if has(a, p) != inA || has(u, p) != (inA || inB) || has(diff, p) != (inA && !inB) || has(inter, p) != (inA && inB) {
				t.Fatalf("port %d: in raw a %v, raw b %v; in a %v, a∪b %v, a\\b %v, a∩b %v (a=%v b=%v)",
					p, inA, inB, has(a, p), has(u, p), has(diff, p), has(inter, p), a, b)
			}
		}
		if u.Size()+inter.Size() != a.Size()+b.Size() || diff.Size()+inter.Size() != a.Size() {
			t.Fatalf("sizes: |a∪b|=%d |a∩b|=%d |a\\b|=%d |a|=%d |b|=%d", u.Size(), inter.Size(), diff.Size(), a.Size(), b.Size())
		}
		if a.Contains(b) != (b.Subtract(a).Size() == 0) || a.Contains(inter) != true || a.Overlaps(b) != (inter.Size() > 0) || diff.Overlaps(b) {
			t.Fatalf("Contains/Overlaps disagree with the algebra: a=%v b=%v", a, b)
		}
		same("a ∪ b = b ∪ a", u, b.Union(a))
		same("a ∪ a = a", a.Union(a), a)
		same("a \\ a = ∅", a.Subtract(a), nil)
		same("(a ∪ b) \\ b = a \\ b", u.Subtract(b), diff)
		same("a \\ (b ∪ c) = (a \\ b) \\ c", a.Subtract(b.Union(c)), diff.Subtract(c))
		same("(a ∪ b) ∪ c = a ∪ (b ∪ c)", u.Union(c), a.Union(b.Union(c)))
		same("a ∩ b = b ∩ a", inter, b.Subtract(b.Subtract(a)))
		same("NewPortSet(a ∪ b) = a ∪ b", NewPortSet(u...), u)
	})
}
