package resources

import (
	"fmt"
	"sort"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// PortSet is a set of host ports kept as sorted, disjoint, non-adjacent
// ranges, Mesos's "ranges" resource.
type PortSet []kov1.PortRange

// NewPortSet normalises ranges into a PortSet (sorted, merged).
func NewPortSet(ranges ...kov1.PortRange) PortSet {
	var s PortSet
	for _, r := range ranges {
		s = s.Union(PortSet{r})
	}
	return s
}

// Size is how many ports the set holds.
func (s PortSet) Size() int64 {
	var n int64
	for _, r := range s {
		n += r.Size()
	}
	return n
}

// Union returns s ∪ o.
func (s PortSet) Union(o PortSet) PortSet {
	all := make([]kov1.PortRange, 0, len(s)+len(o))
	for _, r := range append(append(all, s...), o...) {
		if r.Begin <= r.End {
			all = append(all, r)
		}
	}
	if len(all) == 0 {
		return nil
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Begin < all[j].Begin })
	out := PortSet{all[0]}
	for _, r := range all[1:] {
		last := &out[len(out)-1]
		if int64(r.Begin) <= int64(last.End)+1 {
			if r.End > last.End {
				last.End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// Subtract returns s \ o.
func (s PortSet) Subtract(o PortSet) PortSet {
	var out PortSet
	for _, r := range s {
		pieces := []kov1.PortRange{r}
		for _, cut := range o {
			var next []kov1.PortRange
			for _, p := range pieces {
				if cut.End < p.Begin || cut.Begin > p.End {
					next = append(next, p)
					continue
				}
				if cut.Begin > p.Begin {
					next = append(next, kov1.PortRange{Begin: p.Begin, End: cut.Begin - 1})
				}
				if cut.End < p.End {
					next = append(next, kov1.PortRange{Begin: cut.End + 1, End: p.End})
				}
			}
			pieces = next
		}
		out = append(out, pieces...)
	}
	return NewPortSet(out...)
}

// Contains reports whether every port of o is in s.
func (s PortSet) Contains(o PortSet) bool {
	return o.Subtract(s).Size() == 0
}

// Overlaps reports whether s and o share a port.
func (s PortSet) Overlaps(o PortSet) bool {
	return s.Subtract(o).Size() != s.Size()
}

// String renders the set as "[31000-31005,31010]".
func (s PortSet) String() string {
	out := "["
	for i, r := range s {
		if i > 0 {
			out += ","
		}
		if r.Begin == r.End {
			out += fmt.Sprint(r.Begin)
		} else {
			out += fmt.Sprintf("%d-%d", r.Begin, r.End)
		}
	}
	return out + "]"
}
