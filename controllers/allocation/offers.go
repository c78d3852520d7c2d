package allocation

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/allocator"
)

// inMasterOfferSuffix ends the name of an offer to a built-in scheduler,
// which lives in the master only; the API server's generated suffixes are
// five characters, so no offer object has such a name.
const inMasterOfferSuffix = "in-master"

// planOffers runs the allocator over the ledger and plans its offers: as
// ResourceOffer objects for frameworks that schedule themselves, and in the
// master only for built-in schedulers (planInMasterPlacements uses them).
func planOffers(p *pass, timeout time.Duration) plan {
	var pl plan
	w, l := p.w, p.l
	for _, o := range allocator.Allocate(l.snapshot) {
		f := l.fws[o.Framework]
		fw := w.frameworks[kov1.FrameworkKey{Namespace: f.Namespace, Name: f.Name}]
		offer := &kov1.ResourceOffer{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: offerNamePrefix(f.Name, o.Agent),
				Namespace:    f.Namespace,
				Labels:       map[string]string{kov1.LabelFramework: kov1.LabelValue(f.Name), kov1.LabelAgent: kov1.LabelValue(o.Agent)},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: kov1.GroupVersion.String(), Kind: "Framework",
					Name: fw.Name, UID: fw.UID}},
			},
			Spec: kov1.ResourceOfferSpec{
				FrameworkName: f.Name, AgentName: o.Agent, NodeName: o.Node, Role: o.Role,
				Resources: l.dims.ToList(o.Resources), Ports: []kov1.PortRange(o.Ports), Attributes: map[string]string(o.Attributes),
			},
		}
		if len(offer.Spec.Attributes) == 0 {
			offer.Spec.Attributes = nil
		}
		if timeout > 0 {
			offer.Spec.ExpirationTime = &metav1.Time{Time: w.now.Add(timeout).Truncate(time.Second)}
		}
		if fw.Spec.Scheduler != nil {
			// A built-in scheduler's offer is never written: the master
			// places the framework's tasks on it within this pass, and no
			// one outside the master needs to see it.
			offer.Name = offer.GenerateName + inMasterOfferSuffix
			pl.allocations = append(pl.allocations, offerCreation{offer: offer, framework: o.Framework})
			continue
		}
		pl.creations = append(pl.creations, offerCreation{offer: offer, framework: o.Framework, event: event{
			regarding: offer, related: fw, eventType: corev1.EventTypeNormal, reason: OfferOfferedReason, action: "Offer",
			note: fmt.Sprintf("Offered %s of agent %s to framework %s as role %s", describe(offer.Spec.Resources), o.Agent, offer.Spec.FrameworkName, o.Role)}})
	}
	return pl
}

// isInMaster reports whether o is an offer to a built-in scheduler that
// lives in the master only (it has no UID: it was never written).
func isInMaster(o *kov1.ResourceOffer) bool {
	return o.UID == "" && strings.HasSuffix(o.Name, inMasterOfferSuffix)
}

// offerNamePrefix is "<framework>-<agent>-", shortened to leave room for
// the API server's random suffix.
func offerNamePrefix(framework, agent string) string {
	p := framework + "-" + agent
	if len(p) > 200 {
		p = p[:200]
	}
	return strings.TrimRight(p, "-.") + "-"
}

func describe(rl corev1.ResourceList) string {
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		q := rl[corev1.ResourceName(n)]
		parts[i] = n + " " + q.String()
	}
	return strings.Join(parts, ", ")
}

// allocationCounts is how many offers each framework has been made since
// this master took the lead: Mesos's DRF sorter keeps the same count per
// client (and loses it on failover too), and breaks equal shares by it, so
// frameworks that return their offers take turns instead of the first by
// name winning every pass. It owns its lock.
type allocationCounts struct {
	mu sync.Mutex
	m  map[string]uint64
}

func newAllocationCounts() *allocationCounts { return &allocationCounts{m: map[string]uint64{}} }

// add counts one offer made to framework fw.
func (c *allocationCounts) add(fw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[fw]++
}

// get returns a copy of the counts, for a snapshot.
func (c *allocationCounts) get() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// retain forgets frameworks that are gone, as Mesos's sorter forgets a
// removed client.
func (c *allocationCounts) retain(live map[string]*allocator.Framework) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if _, ok := live[k]; !ok {
			delete(c.m, k)
		}
	}
}
