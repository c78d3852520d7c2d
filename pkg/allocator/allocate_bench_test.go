package allocator

import (
	"fmt"
	"testing"
)

// BenchmarkAllocate runs one allocation cycle at Mesos's benchmark grid
// (HierarchicalAllocator_BENCHMARK_Test): agents × frameworks, every
// framework wanting everything, across 10 weighted roles. It reports the
// offers made per cycle; ns/op is the cycle time.
func BenchmarkAllocate(b *testing.B) {
	for _, agents := range []int{1000, 5000, 10000} {
		for _, frameworks := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("agents=%d/frameworks=%d", agents, frameworks), func(b *testing.B) {
				s := benchSnapshot(agents, frameworks)
				b.ReportAllocs()
				b.ResetTimer()
				var offers int
				for i := 0; i < b.N; i++ {
					offers = len(Allocate(s))
				}
				b.ReportMetric(float64(offers), "offers/op")
			})
		}
	}
}

func benchSnapshot(agents, frameworks int) *Snapshot {
	s := newSnap()
	for i := 0; i < 10; i++ {
		s.role(fmt.Sprintf("role-%d", i), "", int32(i%3+1), nil, nil)
	}
	for i := 0; i < agents; i++ {
		s.agent(fmt.Sprintf("agent-%05d", i), vec(16000, 64), func(a *Agent) {
			a.Allocated = vec(int64(i%8)*1000, float64(i%8)*4)
			a.Attributes["zone"] = fmt.Sprintf("zone-%d", i%3)
		})
	}
	for i := 0; i < frameworks; i++ {
		s.fw(fmt.Sprintf("fw-%04d", i), fmt.Sprintf("role-%d", i%10), allocated(vec(int64(i%5)*100, 0)))
	}
	return s.Snapshot
}
