package sdk

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

func TestBudget(t *testing.T) {
	o := &kov1.ResourceOffer{Spec: kov1.ResourceOfferSpec{
		Resources:  corev1.ResourceList{"cpu": Quantity("4"), "memory": Quantity("4Gi")},
		Ports:      []kov1.PortRange{{Begin: 31000, End: 31002}, {Begin: 31010, End: 31010}},
		Attributes: map[string]string{"zone": "a"},
	}}
	b := NewBudget(o)
	small := Needs{Resources: corev1.ResourceList{"cpu": Quantity("1500m"), "memory": Quantity("1Gi")}, Ports: 2}
	g, ok := b.Take(small)
	if !ok || len(g.Ports) != 1 || g.Ports[0] != (kov1.PortRange{Begin: 31000, End: 31001}) {
		t.Fatalf("first take: %v %+v", ok, g)
	}
	g, ok = b.Take(small)
	if !ok || len(g.Ports) != 2 || g.Ports[0].Begin != 31002 || g.Ports[1].Begin != 31010 {
		t.Fatalf("second take: %v %+v", ok, g)
	}
	if !b.Fits(Needs{Resources: corev1.ResourceList{"cpu": Quantity("1")}}) {
		t.Error("1 cpu must fit in the 1 cpu left (4 - 1.5 - 1.5)")
	}
	if b.Fits(small) {
		t.Error("a third 1.5 cpu task must not fit in 1 cpu")
	}
}

func TestBudgetRefuses(t *testing.T) {
	o := &kov1.ResourceOffer{Spec: kov1.ResourceOfferSpec{
		Resources:  corev1.ResourceList{"cpu": Quantity("2")},
		Attributes: map[string]string{"zone": "a"},
	}}
	o.Status.Remaining = corev1.ResourceList{"cpu": Quantity("500m")}
	for name, n := range map[string]Needs{
		"more cpu than remains":      {Resources: corev1.ResourceList{"cpu": Quantity("1")}},
		"a resource the offer lacks": {Resources: corev1.ResourceList{"nvidia.com/gpu": Quantity("1")}},
		"ports the offer lacks":      {Ports: 1},
		"another zone":               {Attributes: map[string]string{"zone": "b"}},
	} {
		b := NewBudget(o)
		if _, ok := b.Take(n); ok {
			t.Errorf("%s: took it", name)
		}
		if q := b.Left()["cpu"]; q.Cmp(Quantity("500m")) != 0 {
			t.Errorf("%s: a refused take changed the budget: %s", name, q.String())
		}
	}
}

// TestBudgetReadsOfferStatus: an offer no task accepted has an empty
// status and all of it remains; one whose tasks took everything has
// acceptedTasks and no remaining, and nothing remains.
func TestBudgetReadsOfferStatus(t *testing.T) {
	o := &kov1.ResourceOffer{Spec: kov1.ResourceOfferSpec{Resources: corev1.ResourceList{"cpu": Quantity("2")}}}
	one := Needs{Resources: corev1.ResourceList{"cpu": Quantity("1")}}
	if !NewBudget(o).Fits(one) {
		t.Error("untouched offer: 1 cpu must fit in 2")
	}
	o.Status.AcceptedTasks = []string{"a", "b"}
	if NewBudget(o).Fits(one) {
		t.Error("used-up offer: nothing must fit")
	}
}
