// Package resources is kubeoffer's resource arithmetic: corev1.ResourceLists
// turned into dense integer vectors, so the allocator can add, subtract,
// compare and take dominant shares of thousands of agents per cycle without
// resource.Quantity's allocations, and host port range sets.
package resources

import (
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Dims assigns each resource name a position in a Vec. CPU is counted in
// millicores; every other resource in its base unit (bytes, devices).
// A Dims is built once per snapshot and is read-only afterwards.
type Dims struct {
	names []corev1.ResourceName
	index map[corev1.ResourceName]int
}

// NewDims returns a Dims with cpu and memory at positions 0 and 1.
func NewDims() *Dims {
	d := &Dims{index: map[corev1.ResourceName]int{}}
	d.Add(corev1.ResourceCPU)
	d.Add(corev1.ResourceMemory)
	return d
}

// Add registers name (if new) and returns its position.
func (d *Dims) Add(name corev1.ResourceName) int {
	if i, ok := d.index[name]; ok {
		return i
	}
	d.index[name] = len(d.names)
	d.names = append(d.names, name)
	return len(d.names) - 1
}

// AddList registers every name in rl.
func (d *Dims) AddList(rl corev1.ResourceList) {
	for name := range rl {
		d.Add(name)
	}
}

// Len is the number of dimensions.
func (d *Dims) Len() int { return len(d.names) }

// Name returns the resource name at position i.
func (d *Dims) Name(i int) corev1.ResourceName { return d.names[i] }

// Index returns the position of name, or -1.
func (d *Dims) Index(name corev1.ResourceName) int {
	if i, ok := d.index[name]; ok {
		return i
	}
	return -1
}

// Vec is a resource vector laid out by a Dims. A shorter Vec reads as zero in
// the missing positions.
type Vec []int64

// Zero returns an all-zero Vec of d's length.
func (d *Dims) Zero() Vec { return make(Vec, len(d.names)) }

// FromList converts rl into a Vec, registering unknown names.
func (d *Dims) FromList(rl corev1.ResourceList) Vec {
	d.AddList(rl)
	v := d.Zero()
	for name, q := range rl {
		v[d.index[name]] = ToInt(name, q)
	}
	return v
}

// ToList converts v back into a ResourceList, leaving out zeros.
func (d *Dims) ToList(v Vec) corev1.ResourceList {
	rl := corev1.ResourceList{}
	for i, x := range v {
		if x == 0 {
			continue
		}
		name := d.names[i]
		if name == corev1.ResourceCPU {
			rl[name] = *resource.NewMilliQuantity(x, resource.DecimalSI)
		} else if name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage || strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
			rl[name] = *resource.NewQuantity(x, resource.BinarySI)
		} else {
			rl[name] = *resource.NewQuantity(x, resource.DecimalSI)
		}
	}
	return rl
}

// Bounds the API server enforces on every quantity a user writes (see the
// CRDs' validation rules): CPU at most MaxCPUCores cores, every other
// resource at most MaxQuantity base units. Conversion clamps to them too, so
// a quantity that got past validation (an Agent's node, a stored object from
// before the bound) cannot wrap the arithmetic.
const (
	// MaxCPUCores is the largest CPU quantity, in cores: a million cores.
	MaxCPUCores = 1_000_000
	// MaxQuantity is the largest quantity of any other resource, in its
	// base unit: 2^50 (1Pi bytes of memory).
	MaxQuantity = 1 << 50
)

var (
	maxCPU   = *resource.NewQuantity(MaxCPUCores, resource.DecimalSI)
	maxOther = *resource.NewQuantity(MaxQuantity, resource.BinarySI)
)

// ToInt converts q into name's integer unit (millicores for CPU, the base
// unit otherwise), rounding fractions up as the kubelet does. Negative
// quantities become 0 and quantities past the API bounds saturate at them,
// so the result is always in [0, MaxQuantity] and sums of it cannot wrap.
func ToInt(name corev1.ResourceName, q resource.Quantity) int64 {
	if q.Sign() <= 0 {
		return 0
	}
	if name == corev1.ResourceCPU {
		if q.Cmp(maxCPU) > 0 {
			return MaxCPUCores * 1000
		}
		return q.MilliValue()
	}
	if q.Cmp(maxOther) > 0 {
		return MaxQuantity
	}
	return q.Value()
}

// addSat is a + b saturated at the int64 range: resource sums never wrap.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// subSat is a − b saturated at the int64 range.
func subSat(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b
	}
	return addSat(a, -b)
}

// Get returns v's value at i (zero past its end).
func (v Vec) Get(i int) int64 {
	if i < len(v) {
		return v[i]
	}
	return 0
}

// Clone returns a copy of v with at least n positions.
func (v Vec) Clone(n int) Vec {
	if n < len(v) {
		n = len(v)
	}
	out := make(Vec, n)
	copy(out, v)
	return out
}

// Add adds o into v in place, saturating instead of wrapping; v must be at
// least as long as o.
func (v Vec) Add(o Vec) {
	for i, x := range o {
		v[i] = addSat(v[i], x)
	}
}

// Sub subtracts o from v in place, saturating instead of wrapping; v must be
// at least as long as o.
func (v Vec) Sub(o Vec) {
	for i, x := range o {
		v[i] = subSat(v[i], x)
	}
}

// Fits reports whether v ≤ o in every position.
func (v Vec) Fits(o Vec) bool {
	for i, x := range v {
		if x > o.Get(i) {
			return false
		}
	}
	return true
}

// IsZero reports whether every position is zero or less.
func (v Vec) IsZero() bool {
	for _, x := range v {
		if x > 0 {
			return false
		}
	}
	return true
}

// AnyNegative reports whether some position is below zero.
func (v Vec) AnyNegative() bool {
	for _, x := range v {
		if x < 0 {
			return true
		}
	}
	return false
}

// ClampZero raises negative positions to zero in place.
func (v Vec) ClampZero() {
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		}
	}
}

// Min lowers each position of v to o's in place.
func (v Vec) Min(o Vec) {
	for i := range v {
		if x := o.Get(i); x < v[i] {
			v[i] = x
		}
	}
}

// Max raises each position of v to o's in place and returns v (positions
// past v's end are left out).
func (v Vec) Max(o Vec) Vec {
	for i := range v {
		if x := o.Get(i); x > v[i] {
			v[i] = x
		}
	}
	return v
}

// DominantShare is max over positions of v[i]/total[i] (positions with no
// total are skipped): DRF's measure of how much of the cluster v is.
func (v Vec) DominantShare(total Vec) float64 {
	share := 0.0
	for i, x := range v {
		t := total.Get(i)
		if t <= 0 || x <= 0 {
			continue
		}
		if s := float64(x) / float64(t); s > share {
			share = s
		}
	}
	return share
}

// Shortfall names the first resource where need exceeds have, as
// "cpu: need 3, have 1", or "" when need fits.
func (d *Dims) Shortfall(need, have Vec) string {
	for i, x := range need {
		if h := have.Get(i); x > h {
			return fmt.Sprintf("%s: need %s, have %s", d.names[i], d.format(i, x), d.format(i, h))
		}
	}
	return ""
}

func (d *Dims) format(i int, x int64) string {
	if x == 0 {
		return "0"
	}
	v := make(Vec, i+1)
	v[i] = x
	q := d.ToList(v)[d.names[i]]
	return q.String()
}

// Names returns the names with a positive value in v, sorted.
func (d *Dims) Names(v Vec) []string {
	var out []string
	for i, x := range v {
		if x > 0 {
			out = append(out, string(d.names[i]))
		}
	}
	sort.Strings(out)
	return out
}
