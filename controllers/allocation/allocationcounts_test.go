package allocation

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubeoffer/kubeoffer/pkg/allocator"
)

// TestAllocationCounts: offers are counted per framework, a snapshot is a
// copy, and frameworks that are gone are forgotten.
func TestAllocationCounts(t *testing.T) {
	c := newAllocationCounts()
	c.add("ns/a")
	c.add("ns/a")
	c.add("ns/b")
	got := c.get()
	got["ns/a"] = 99 // a copy: the counts stay
	if diff := cmp.Diff(map[string]uint64{"ns/a": 2, "ns/b": 1}, c.get()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	c.retain(map[string]*allocator.Framework{"ns/b": {}})
	if diff := cmp.Diff(map[string]uint64{"ns/b": 1}, c.get()); diff != "" {
		t.Errorf("after retain (-want +got):\n%s", diff)
	}
}
