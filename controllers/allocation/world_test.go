package allocation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// TestBuiltinDemand checks what the allocator is told a built-in scheduler
// can use: the smallest waiting task as the least worth offering; alone,
// its waiting tasks less the offers it holds; competing, one offer per
// waiting task it holds no offer for.
func TestBuiltinDemand(t *testing.T) {
	type want struct {
		minCPU, demandCPU int64 // millicores; demandCPU -1: no demand set
		maxOffers         int
	}
	cases := map[string]struct {
		frameworks []*kov1.Framework
		tasks      []*kov1.Task
		offers     []*kov1.ResourceOffer
		want       map[string]want
	}{
		"alone: its waiting tasks, less what its offers hold": {
			frameworks: []*kov1.Framework{demandFramework("b", true)},
			tasks:      []*kov1.Task{demandTask("t1", "b", "1", ""), demandTask("t2", "b", "3", ""), demandTask("bound", "b", "8", "old")},
			offers:     []*kov1.ResourceOffer{demandOffer("o1", "b", "2")},
			want:       map[string]want{"ns/b": {minCPU: 1000, demandCPU: 2000}},
		},
		"alone with offers covering it: it wants nothing more": {
			frameworks: []*kov1.Framework{demandFramework("b", true)},
			tasks:      []*kov1.Task{demandTask("t1", "b", "1", "")},
			offers:     []*kov1.ResourceOffer{demandOffer("o1", "b", "4")},
			want:       map[string]want{"ns/b": {minCPU: 1000, demandCPU: 0}},
		},
		"competing: one offer per waiting task not yet offered; a Mesos framework is unbounded": {
			frameworks: []*kov1.Framework{demandFramework("b", true), demandFramework("sdk", false)},
			tasks:      []*kov1.Task{demandTask("t1", "b", "1", ""), demandTask("t2", "b", "1", ""), demandTask("t3", "b", "2", "")},
			offers:     []*kov1.ResourceOffer{demandOffer("o1", "b", "4")},
			want:       map[string]want{"ns/b": {minCPU: 1000, demandCPU: -1, maxOffers: 2}, "ns/sdk": {demandCPU: -1}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := &world{now: time.Unix(0, 0), agents: map[string]*kov1.Agent{}, roles: map[string]*kov1.Role{},
				frameworks: map[kov1.FrameworkKey]*kov1.Framework{}, offers: map[types.NamespacedName]*kov1.ResourceOffer{},
				tasks: map[types.NamespacedName]*kov1.Task{}}
			for _, f := range tc.frameworks {
				w.frameworks[f.Key()] = f
			}
			for _, x := range tc.tasks {
				w.tasks[key(x)] = x
			}
			for _, o := range tc.offers {
				w.offers[key(o)] = o
			}
			l := buildLedger(w, options{}, func(string) map[string]time.Time { return nil }, nil)
			got := map[string]want{}
			cpu := l.dims.Index(corev1.ResourceCPU)
			for k, f := range l.fws {
				g := want{minCPU: f.Floor.Get(cpu), demandCPU: -1, maxOffers: f.MaxOffers}
				if f.Demand != nil {
					g.demandCPU = f.Demand.Get(cpu)
				}
				got[k] = g
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("demand (-want +got):\n%s", diff)
			}
		})
	}
}

func demandFramework(name string, builtin bool) *kov1.Framework {
	f := &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Status: kov1.FrameworkStatus{Conditions: []metav1.Condition{{Type: kov1.FrameworkConnectedCondition, Status: metav1.ConditionTrue}}}}
	if builtin {
		f.Spec.Scheduler = &kov1.BuiltinScheduler{Policy: kov1.SchedulingPolicyFirstFit}
	}
	return f
}

func demandTask(name, fw, cpu, offer string) *kov1.Task {
	t := &kov1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: kov1.TaskSpec{FrameworkName: fw, OfferName: offer, Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}
	if offer != "" {
		t.Status = kov1.TaskStatus{State: kov1.TaskRunning, AgentName: "a"}
	}
	return t
}

func demandOffer(name, fw, cpu string) *kov1.ResourceOffer {
	return &kov1.ResourceOffer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: kov1.ResourceOfferSpec{FrameworkName: fw, AgentName: "a", Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}
}

// TestLedgerOfferAttributes: outstanding offers keep the attributes they
// were made with, which the Spread policy groups tasks by.
func TestLedgerOfferAttributes(t *testing.T) {
	o := demandOffer("o1", "b", "2")
	o.Spec.Attributes = map[string]string{corev1.LabelHostname: "a", "zone": "z1"}
	w := &world{now: time.Unix(0, 0), agents: map[string]*kov1.Agent{}, roles: map[string]*kov1.Role{},
		frameworks: map[kov1.FrameworkKey]*kov1.Framework{}, offers: map[types.NamespacedName]*kov1.ResourceOffer{key(o): o},
		tasks: map[types.NamespacedName]*kov1.Task{}}
	l := buildLedger(w, options{}, func(string) map[string]time.Time { return nil }, nil)
	got := map[string]string(l.offers[key(o)].Attributes)
	if diff := cmp.Diff(o.Spec.Attributes, got); diff != "" {
		t.Errorf("offer attributes in the ledger (-want +got):\n%s", diff)
	}
}

// TestFrameworkMinimums checks what the allocator is told of a framework's
// minimum allocatable: its minAllocatable alternatives and minResources
// together replace the master's (nil: the master's applies), and a built-in
// scheduler's smallest waiting task is a floor on top.
func TestFrameworkMinimums(t *testing.T) {
	cpu := func(q string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
	}
	cases := map[string]struct {
		constraints *kov1.OfferConstraints
		builtin     bool
		wantMins    []int64 // cpu millicores of each alternative
		wantFloor   int64   // -1: none
	}{
		"none: the master's applies": {wantMins: nil, wantFloor: -1},
		"minResources alone is the one alternative": {
			constraints: &kov1.OfferConstraints{MinResources: cpu("500m")}, wantMins: []int64{500}, wantFloor: -1},
		"minAllocatable alternatives, then minResources": {
			constraints: &kov1.OfferConstraints{MinAllocatable: []corev1.ResourceList{cpu("2"), {}}, MinResources: cpu("1")},
			wantMins:    []int64{2000, 0, 1000}, wantFloor: -1},
		"a built-in scheduler's smallest waiting task is a floor, apart from its minimum": {
			constraints: &kov1.OfferConstraints{MinResources: cpu("100m")}, builtin: true, wantMins: []int64{100}, wantFloor: 1000},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := demandFramework("fw", tc.builtin)
			f.Spec.OfferConstraints = tc.constraints
			w := &world{now: time.Unix(0, 0), agents: map[string]*kov1.Agent{}, roles: map[string]*kov1.Role{},
				frameworks: map[kov1.FrameworkKey]*kov1.Framework{f.Key(): f}, offers: map[types.NamespacedName]*kov1.ResourceOffer{},
				tasks: map[types.NamespacedName]*kov1.Task{}}
			if tc.builtin {
				for _, x := range []*kov1.Task{demandTask("t1", "fw", "1", ""), demandTask("t2", "fw", "3", "")} {
					w.tasks[key(x)] = x
				}
			}
			l := buildLedger(w, options{}, func(string) map[string]time.Time { return nil }, nil)
			fv := l.fws["ns/fw"]
			i := l.dims.Index(corev1.ResourceCPU)
			var mins []int64
			for _, m := range fv.MinAllocatable {
				mins = append(mins, m.Get(i))
			}
			floor := int64(-1)
			if fv.Floor != nil {
				floor = fv.Floor.Get(i)
			}
			if diff := cmp.Diff(tc.wantMins, mins); diff != "" {
				t.Errorf("alternatives (-want +got):\n%s", diff)
			}
			if floor != tc.wantFloor {
				t.Errorf("floor = %d, want %d", floor, tc.wantFloor)
			}
		})
	}
}

// offerReader is the API server as askMissingOffers sees it: it holds
// some offers, and counts the reads.
type offerReader struct {
	offers map[string]*kov1.ResourceOffer
	gets   map[string]int
}

func (r *offerReader) Get(_ context.Context, k client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.gets[k.Name]++
	o, ok := r.offers[k.Name]
	if !ok {
		return apierrors.NewNotFound(kov1.GroupVersion.WithResource("resourceoffers").GroupResource(), k.Name)
	}
	o.DeepCopyInto(obj.(*kov1.ResourceOffer))
	return nil
}

func (r *offerReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

// TestAskMissingOffers: an offer the cache lacks is asked about once a
// pass, however many tasks name it; one the API server has is unseen (the
// cache lags), one it does not have is not.
func TestAskMissingOffers(t *testing.T) {
	w := newWorld(now)
	w.add(offer("cached", "fw", "a1", "1", "1Gi"))
	for i := range 50 {
		w.add(task(fmt.Sprintf("late-%d", i), "fw", "100m", "64Mi", time.Minute).Offer("gone").Obj())
	}
	w.add(task("t1", "fw", "100m", "64Mi", time.Minute).Offer("fresh").Obj(), task("t2", "fw", "100m", "64Mi", time.Minute).Offer("fresh").Obj(),
		task("t3", "fw", "100m", "64Mi", time.Minute).Offer("cached").Obj())
	r := &offerReader{offers: map[string]*kov1.ResourceOffer{"fresh": offer("fresh", "fw", "a1", "1", "1Gi")}, gets: map[string]int{}}
	askMissingOffers(context.Background(), w, r)
	if diff := cmp.Diff(map[string]int{"gone": 1, "fresh": 1}, r.gets); diff != "" {
		t.Errorf("API reads by offer (-want +got):\n%s", diff)
	}
	want := map[types.NamespacedName]bool{{Namespace: "ns", Name: "fresh"}: true}
	if diff := cmp.Diff(want, w.unseenOffers); diff != "" {
		t.Errorf("unseen offers (-want +got):\n%s", diff)
	}
}
