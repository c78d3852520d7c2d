package sdk

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Needs is what one task asks of an offer.
type Needs struct {
	// Resources the task needs (cpu, memory, any extended resource).
	Resources corev1.ResourceList
	// Ports is how many host ports the task needs.
	Ports int
	// Attributes the offer's agent must have, with these values.
	Attributes map[string]string
}

// Grant is what a task gets from an offer: its resources, and the ports
// picked for it. Put them in the Task's spec.
type Grant struct {
	Resources corev1.ResourceList
	Ports     []kov1.PortRange
}

// Budget is what is left of one offer while a framework packs tasks into it.
// It does the fitting a framework would otherwise reimplement: resources,
// ports and attributes. A Budget is not safe for concurrent use.
type Budget struct {
	Offer     *kov1.ResourceOffer
	left      corev1.ResourceList
	freePorts []int32
}

// NewBudget starts from what the offer has left: status.remaining once
// tasks accepted part of it, else the whole offer.
func NewBudget(o *kov1.ResourceOffer) *Budget {
	left := o.Spec.Resources
	ports := o.Spec.Ports
	if o.Status.Remaining != nil || len(o.Status.AcceptedTasks) > 0 {
		left, ports = o.Status.Remaining, o.Status.RemainingPorts // nil: nothing left
	}
	b := &Budget{Offer: o, left: left.DeepCopy()}
	for _, r := range ports {
		for p := r.Begin; p <= r.End; p++ {
			b.freePorts = append(b.freePorts, p)
		}
	}
	sort.Slice(b.freePorts, func(i, j int) bool { return b.freePorts[i] < b.freePorts[j] })
	return b
}

// Fits reports whether the task would fit in what is left.
func (b *Budget) Fits(n Needs) bool {
	for k, v := range n.Attributes {
		if b.Offer.Spec.Attributes[k] != v {
			return false
		}
	}
	if n.Ports > len(b.freePorts) {
		return false
	}
	for name, q := range n.Resources {
		have, ok := b.left[name]
		if q.Sign() > 0 && (!ok || have.Cmp(q) < 0) {
			return false
		}
	}
	return true
}

// Take reserves a task's needs from the budget and returns its grant, or
// false (and takes nothing) when it does not fit.
func (b *Budget) Take(n Needs) (Grant, bool) {
	if !b.Fits(n) {
		return Grant{}, false
	}
	for name, q := range n.Resources {
		have := b.left[name]
		have.Sub(q)
		b.left[name] = have
	}
	g := Grant{Resources: n.Resources.DeepCopy()}
	for _, p := range b.freePorts[:n.Ports] {
		if k := len(g.Ports); k > 0 && g.Ports[k-1].End == p-1 {
			g.Ports[k-1].End = p
		} else {
			g.Ports = append(g.Ports, kov1.PortRange{Begin: p, End: p})
		}
	}
	b.freePorts = b.freePorts[n.Ports:]
	return g, true
}

// Left returns what is left of the offer's resources.
func (b *Budget) Left() corev1.ResourceList { return b.left.DeepCopy() }

// Quantity is resource.MustParse, for writing Needs tersely.
func Quantity(s string) resource.Quantity { return resource.MustParse(s) }
