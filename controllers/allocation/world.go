package allocation

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/allocator"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// world is the master's view of every kubeoffer object in one scheduling
// pass: the informer cache plus what this master wrote and the cache has
// not shown yet. Objects in it are shared with the cache and must not be
// mutated; the apply step replaces them with what it wrote.
type world struct {
	now        time.Time
	agents     map[string]*kov1.Agent
	roles      map[string]*kov1.Role
	frameworks map[kov1.FrameworkKey]*kov1.Framework
	offers     map[types.NamespacedName]*kov1.ResourceOffer
	tasks      map[types.NamespacedName]*kov1.Task
	// runtimeClasses by name, for the Pod overhead a task is charged.
	runtimeClasses map[string]*nodev1.RuntimeClass
	// unseenOffers are offers that pending tasks name, that the cache does
	// not show yet but the API server has: the framework saw them before
	// this master's cache did, and admission waits for the cache.
	unseenOffers map[types.NamespacedName]bool
}

// newWorld returns an empty world at now.
func newWorld(now time.Time) *world {
	return &world{now: now, agents: map[string]*kov1.Agent{}, roles: map[string]*kov1.Role{},
		frameworks: map[kov1.FrameworkKey]*kov1.Framework{}, offers: map[types.NamespacedName]*kov1.ResourceOffer{},
		tasks: map[types.NamespacedName]*kov1.Task{}, runtimeClasses: map[string]*nodev1.RuntimeClass{},
		unseenOffers: map[types.NamespacedName]bool{}}
}

// add puts objects into the world, by kind.
func (w *world) add(objs ...client.Object) {
	for _, o := range objs {
		switch o := o.(type) {
		case *kov1.Agent:
			w.agents[o.Name] = o
		case *kov1.Role:
			w.roles[o.Name] = o
		case *kov1.Framework:
			w.frameworks[o.Key()] = o
		case *kov1.ResourceOffer:
			w.offers[key(o)] = o
		case *kov1.Task:
			w.tasks[key(o)] = o
		case *nodev1.RuntimeClass:
			w.runtimeClasses[o.Name] = o
		default:
			panic(fmt.Sprintf("allocation: no place in the world for %T", o))
		}
	}
}

// The allocation loop reads every kind (Agents, Frameworks and Tasks are
// the reconcilers' too) and asks the API server for offers its cache lacks.
// +kubebuilder:rbac:groups=kubeoffer.io,resources=roles,verbs=get;list;watch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=resourceoffers,verbs=get;list;watch
// +kubebuilder:rbac:groups=node.k8s.io,resources=runtimeclasses,verbs=get;list;watch

// readWorld reads every kubeoffer object from the informer cache, without
// copying (the world never mutates them), overlays this master's
// assumptions, and asks the API server about offers that tasks name and
// the cache lacks.
func (l *Loop) readWorld(ctx context.Context) (*world, error) {
	w := newWorld(l.Clock.Now())
	for _, kind := range []struct {
		obj  client.Object
		list client.ObjectList
	}{
		{&kov1.Agent{}, &kov1.AgentList{}}, {&kov1.Role{}, &kov1.RoleList{}}, {&kov1.Framework{}, &kov1.FrameworkList{}},
		{&kov1.ResourceOffer{}, &kov1.ResourceOfferList{}}, {&kov1.Task{}, &kov1.TaskList{}}, {&nodev1.RuntimeClass{}, &nodev1.RuntimeClassList{}},
	} {
		if err := l.readKind(ctx, w, kind.obj, kind.list); err != nil {
			return nil, err
		}
	}
	l.assumed.overlay(w)
	askMissingOffers(ctx, w, l.APIReader)
	return w, nil
}

// askMissingOffers asks the API server about the offers pending tasks name
// and the cache lacks, and records in w.unseenOffers those that exist (the
// cache lags). Each is asked about once, however many tasks name it:
// thousands of tasks naming offers that are gone (accepts that came too
// late) would otherwise cost a GET each, every pass.
func askMissingOffers(ctx context.Context, w *world, r client.Reader) {
	asked := map[types.NamespacedName]bool{}
	for _, t := range pendingTasks(w, func(t *kov1.Task) bool { return t.Spec.OfferName != "" }) {
		k := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.OfferName}
		if _, cached := w.offers[k]; cached || asked[k] {
			continue
		}
		asked[k] = true
		var o kov1.ResourceOffer
		if err := r.Get(ctx, k, &o); err == nil && o.DeletionTimestamp == nil && o.Spec.Decline == nil {
			w.unseenOffers[k] = true
		}
	}
}

// readKind adds every cached object of obj's kind to w: from the
// informer's store when the loop has it (the objects themselves), else by
// listing into list without deep copies.
func (l *Loop) readKind(ctx context.Context, w *world, obj client.Object, list client.ObjectList) error {
	if s := l.stores[reflect.TypeOf(obj)]; s != nil {
		for _, o := range s.List() {
			co, isObject := o.(client.Object)
			if !isObject || reflect.TypeOf(co) != reflect.TypeOf(obj) {
				return fmt.Errorf("the cache's store of %T holds a %T", obj, o)
			}
			w.add(co)
		}
		return nil
	}
	if err := l.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing %T from the cache: %w", list, err)
	}
	return meta.EachListItem(list, func(o runtime.Object) error {
		w.add(o.(client.Object))
		return nil
	})
}

// podOverhead is the Pod overhead the kubelet will reserve for a task's Pod:
// the fixed overhead of the template's RuntimeClass. A RuntimeClass that
// does not exist is an error: the API server would refuse the Pod.
func (w *world) podOverhead(t *kov1.Task) (corev1.ResourceList, error) {
	name := t.Spec.Template.Spec.RuntimeClassName
	if name == nil || *name == "" {
		return nil, nil
	}
	rc := w.runtimeClasses[*name]
	if rc == nil {
		return nil, fmt.Errorf("RuntimeClass %q named by template.spec.runtimeClassName does not exist: create it or remove runtimeClassName", *name)
	}
	if rc.Overhead == nil {
		return nil, nil
	}
	return rc.Overhead.PodFixed, nil
}

// pendingTasks returns pending tasks matching keep, oldest first.
func pendingTasks(w *world, keep func(*kov1.Task) bool) []*kov1.Task {
	var out []*kov1.Task
	for _, t := range w.tasks {
		if taskstatus.IsPending(t) && keep(t) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return key(out[i]).String() < key(out[j]).String()
	})
	return out
}

func key(o metav1.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// frameworkLive reports whether f may run tasks and be offered resources.
func frameworkLive(f *kov1.Framework) bool {
	return f != nil && f.DeletionTimestamp == nil && !meta.IsStatusConditionTrue(f.Status.Conditions, kov1.FrameworkTornDownCondition)
}

// agentState says whether an agent is offerable, and why not.
func agentState(a *kov1.Agent) allocator.AgentState {
	if !meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReachableCondition) {
		return allocator.AgentUnreachable
	}
	if !meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReadyCondition) ||
		(a.Spec.Maintenance != "" && a.Spec.Maintenance != kov1.AgentMaintenanceNone) || a.DeletionTimestamp != nil {
		return allocator.AgentInMaintenance
	}
	return allocator.AgentOK
}

func roleOf(f *kov1.Framework) string {
	if f.Spec.Role == "" {
		return kov1.DefaultRole
	}
	return f.Spec.Role
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sortedNNKeys returns m's keys, object keys or framework keys, by
// namespace then name.
func sortedNNKeys[K ~struct{ Namespace, Name string }, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := types.NamespacedName(out[i]), types.NamespacedName(out[j])
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

func statusEqual(a, b kov1.TaskStatus) bool { return equality.Semantic.DeepEqual(a, b) }
