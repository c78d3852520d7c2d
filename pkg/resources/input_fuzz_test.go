package resources

import (
	"encoding/binary"
	"math"

	corev1 "k8s.io/api/core/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// fuzzInput reads a fuzzer's bytes as a stream of small decisions. Past the
// end every read is zero, so every byte string decodes to some input and
// the same bytes always decode to the same input.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) uint64() uint64 {
	var buf [8]byte
	n := copy(buf[:], in.b)
	in.b = in.b[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

func (in *fuzzInput) intn(n int) int {
	if n <= 1 {
		return 0
	}
	return int(in.byte()) % n
}

// bound is the largest magnitude the arithmetic laws are checked at: sums
// of a few such values cannot wrap an int64. What happens beyond it is the
// saturating arithmetic's business, not these laws'.
const bound = int64(1) << 60

// value returns an int64 in [-bound, bound], from a palette that makes
// zeros, equal values and exact fits common.
func (in *fuzzInput) value() int64 {
	switch in.byte() % 8 {
	case 0:
		return 0
	case 1:
		return int64(in.byte())
	case 2:
		return -int64(in.byte())
	case 3:
		return int64(in.byte()%16) << 30
	case 4:
		return int64(in.byte()) * 500
	case 5:
		return bound
	case 6:
		return -bound
	default:
		x := int64(in.uint64() % uint64(2*bound+1))
		return x - bound
	}
}

// anyValue is value, or one of int64's extremes.
func (in *fuzzInput) anyValue() int64 {
	switch in.byte() % 6 {
	case 0:
		return math.MaxInt64
	case 1:
		return math.MinInt64
	case 2:
		return int64(in.uint64())
	default:
		return in.value()
	}
}

// fuzzNames are the resource names the decoders choose from: every unit
// ToList distinguishes (millicores, binary bytes, hugepages, decimal counts).
var fuzzNames = []corev1.ResourceName{
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	"hugepages-2Mi", "nvidia.com/gpu", "example.com/widget",
}

// dims returns a Dims with cpu, memory and up to three more names.
func (in *fuzzInput) dims() *Dims {
	d := NewDims()
	for k := in.intn(4); k > 0; k-- {
		d.Add(fuzzNames[2+in.intn(len(fuzzNames)-2)])
	}
	return d
}

// vec returns a Vec of length up to n (shorter Vecs read as zero).
func (in *fuzzInput) vec(n int, value func() int64) Vec {
	if in.byte()%8 == 0 {
		return nil
	}
	v := make(Vec, n-in.intn(n+1))
	for i := range v {
		v[i] = value()
	}
	return v
}

// port returns a port number: mostly in a narrow window, so that ranges
// overlap and touch, sometimes at the edges of the API's 1–65535 or of
// int32.
func (in *fuzzInput) port() int32 {
	switch in.byte() % 8 {
	case 0:
		return 1
	case 1:
		return 65535
	case 2:
		return int32(in.byte())<<8 | int32(in.byte())
	case 3:
		return []int32{0, -1, math.MaxInt32, math.MinInt32, math.MaxInt32 - 1, math.MinInt32 + 1}[in.intn(6)]
	default:
		return 100 + int32(in.byte()%64)
	}
}

// ranges returns up to 5 ranges, not normalised and possibly backwards.
func (in *fuzzInput) ranges() []kov1.PortRange {
	out := make([]kov1.PortRange, in.intn(6))
	for i := range out {
		b := in.port()
		e := b
		switch in.byte() % 4 {
		case 0:
		case 1:
			e = in.port()
		default:
			if span := int32(in.byte() % 16); b <= math.MaxInt32-span {
				e = b + span
			}
		}
		out[i] = kov1.PortRange{Begin: b, End: e}
	}
	return out
}
