// Package invariants checks, from outside, that kubeoffer never breaks the
// promises two-level scheduling rests on: nothing double-booked, nothing
// launched twice, nothing lost. It reads only the API objects (Agents,
// ResourceOffers, Tasks, Frameworks, Pods) and the API types; it imports
// neither the allocator nor the controllers, so a bug there cannot hide
// itself here.
//
// The rules are pure functions over what the checker saw (rules.go); the
// Checker (checker.go) feeds them from informers and keeps every violation
// with the objects involved.
//
// Rules and their names:
//
//   - AgentOverbooked: on an agent, the resources of its bound non-terminal
//     tasks (with their RuntimeClass overhead) plus what is left of its
//     outstanding offers exceed the agent's allocatable, in some resource.
//   - PortDoubleBooked: a host port of an agent is held by two of its bound
//     tasks or outstanding offers at once, or one outside the agent's ports.
//   - TaskRebound: a task bound to one agent later shows another.
//   - TaskChangedAfterTerminal: a task in a terminal state changed state,
//     agent or reason.
//   - TerminalWithoutReason: a task in a terminal state has no reason.
//   - TaskLaunchedTwice: two different Pods ran for one task.
//   - TaskNotTerminal, OfferOfTornDownFramework, OrphanedPod: at the end of
//     a run, a task still not terminal, an offer left for a framework that
//     was torn down or deleted, a kubeoffer Pod whose task is gone.
package invariants

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Rule names.
const (
	AgentOverbooked          = "AgentOverbooked"
	PortDoubleBooked         = "PortDoubleBooked"
	TaskRebound              = "TaskRebound"
	TaskChangedAfterTerminal = "TaskChangedAfterTerminal"
	TerminalWithoutReason    = "TerminalWithoutReason"
	TaskLaunchedTwice        = "TaskLaunchedTwice"
	TaskNotTerminal          = "TaskNotTerminal"
	OfferOfTornDownFramework = "OfferOfTornDownFramework"
	OrphanedPod              = "OrphanedPod"
)

// Violation is one broken rule, with the objects that show it.
type Violation struct {
	Rule    string
	Message string
	// Objects are "Kind namespace/name@resourceVersion" of the objects
	// involved, sorted.
	Objects []string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s [%s]", v.Rule, v.Message, strings.Join(v.Objects, ", "))
}

// key is what the same violation is recognised by across checks: its rule
// and message (the message names the agent, task or offer, not versions).
func (v Violation) key() string { return v.Rule + "\x00" + v.Message }

// World is the objects the checker has seen, by namespace/name (Agents by name).
type World struct {
	Agents     map[string]*kov1.Agent
	Offers     map[types.NamespacedName]*kov1.ResourceOffer
	Tasks      map[types.NamespacedName]*kov1.Task
	Frameworks map[types.NamespacedName]*kov1.Framework
	Pods       map[types.NamespacedName]*corev1.Pod
}

// NewWorld returns an empty World.
func NewWorld() *World {
	return &World{Agents: map[string]*kov1.Agent{}, Offers: map[types.NamespacedName]*kov1.ResourceOffer{},
		Tasks: map[types.NamespacedName]*kov1.Task{}, Frameworks: map[types.NamespacedName]*kov1.Framework{},
		Pods: map[types.NamespacedName]*corev1.Pod{}}
}

func ref(kind string, ns, name, rv string) string {
	if ns != "" {
		name = ns + "/" + name
	}
	return kind + " " + name + "@" + rv
}

func taskRef(t *kov1.Task) string { return ref("Task", t.Namespace, t.Name, t.ResourceVersion) }
func offerRef(o *kov1.ResourceOffer) string {
	return ref("ResourceOffer", o.Namespace, o.Name, o.ResourceVersion)
}

// holds reports whether a task holds resources on its agent: bound and not
// terminal (deleted tasks hold them until their Pod is stopped).
func holds(t *kov1.Task) bool { return t.Status.AgentName != "" && !t.Status.State.IsTerminal() }

// outstanding reports whether an offer still offers what is left of it:
// not declined and not being deleted.
func outstanding(o *kov1.ResourceOffer) bool {
	return o.DeletionTimestamp == nil && o.Spec.Decline == nil
}

// charged is a task's resources plus its recorded Pod overhead.
func charged(t *kov1.Task) corev1.ResourceList {
	return kov1.AddResources(t.Spec.Resources, t.Status.Overhead)
}

// Booking checks every agent: bound tasks plus the rest of its outstanding
// offers fit its allocatable, and no host port is held twice. It runs many
// times a second over every task of a run (terminal ones included), so it
// walks the maps once, unsorted (sums do not depend on order), and sorts
// only what it reports.
func Booking(w *World) []Violation {
	// What the tasks bound to each outstanding offer took from it (terminal
	// ones too: an ended task does not give its share back to the offer).
	taken := map[types.NamespacedName]corev1.ResourceList{}
	takenPorts := map[types.NamespacedName][]kov1.PortRange{}
	type holder struct {
		ref   string
		ports []kov1.PortRange
	}
	used := map[string]corev1.ResourceList{}
	refs := map[string][]string{}
	holders := map[string][]holder{}
	for _, t := range w.Tasks {
		// The offer a bound task took from: the one it named, or the one a
		// built-in scheduler bound it from (status.offerName).
		if off := t.BoundOffer(); t.Status.AgentName != "" && off != "" {
			ok := types.NamespacedName{Namespace: t.Namespace, Name: off}
			if o := w.Offers[ok]; o != nil && outstanding(o) {
				taken[ok] = addInto(taken[ok], charged(t))
				takenPorts[ok] = append(takenPorts[ok], t.Spec.Ports...)
			}
		}
		if !holds(t) {
			continue
		}
		a := t.Status.AgentName
		used[a] = addInto(used[a], charged(t))
		refs[a] = append(refs[a], taskRef(t))
		if len(t.Spec.Ports) > 0 {
			holders[a] = append(holders[a], holder{taskRef(t), t.Spec.Ports})
		}
	}
	for k, o := range w.Offers {
		if !outstanding(o) {
			continue
		}
		a := o.Spec.AgentName
		left := subtract(o.Spec.Resources, taken[k])
		used[a] = addInto(used[a], left)
		refs[a] = append(refs[a], offerRef(o))
		if ports := subtractPorts(o.Spec.Ports, takenPorts[k]); len(ports) > 0 {
			holders[a] = append(holders[a], holder{offerRef(o), ports})
		}
	}
	var out []Violation
	for _, a := range sortedKeys(used) {
		ag := w.Agents[a]
		var alloc corev1.ResourceList
		agentRef := ref("Agent", "", a, "gone")
		if ag != nil {
			alloc = ag.Status.Allocatable
			agentRef = ref("Agent", "", a, ag.ResourceVersion)
		}
		for _, name := range sortedKeys(used[a]) {
			q := used[a][name]
			have := alloc[name]
			if q.Cmp(have) > 0 {
				out = append(out, Violation{Rule: AgentOverbooked,
					Message: fmt.Sprintf("agent %s: %s allocated + offered is %s, allocatable %s", a, name, q.String(), have.String()),
					Objects: sorted(append([]string{agentRef}, refs[a]...))})
			}
		}
	}
	for _, a := range sortedKeys(holders) {
		owner := map[int32]string{}
		var agentPorts []kov1.PortRange
		if ag := w.Agents[a]; ag != nil {
			agentPorts = ag.Status.Ports
		}
		hs := holders[a]
		sort.Slice(hs, func(i, j int) bool { return hs[i].ref < hs[j].ref })
		for _, h := range hs {
			for _, r := range h.ports {
				for p := r.Begin; p <= r.End && p > 0; p++ {
					if prev, dup := owner[p]; dup && prev != h.ref {
						out = append(out, Violation{Rule: PortDoubleBooked,
							Message: fmt.Sprintf("agent %s: port %d held twice", a, p), Objects: sorted([]string{prev, h.ref})})
					}
					owner[p] = h.ref
					if !inRanges(p, agentPorts) {
						out = append(out, Violation{Rule: PortDoubleBooked,
							Message: fmt.Sprintf("agent %s: port %d is not one of the agent's ports", a, p), Objects: []string{h.ref}})
					}
					if p == r.End { // End ≤ 65535; stop before p overflows
						break
					}
				}
			}
		}
	}
	return out
}

// Transition checks one task update seen in order (old is the previous
// version the checker saw, nil for the first).
func Transition(old, cur *kov1.Task) []Violation {
	var out []Violation
	if cur.Status.State.IsTerminal() && cur.Status.Reason == "" {
		out = append(out, Violation{Rule: TerminalWithoutReason,
			Message: fmt.Sprintf("task %s/%s is %s without a reason", cur.Namespace, cur.Name, cur.Status.State), Objects: []string{taskRef(cur)}})
	}
	if old == nil || old.UID != cur.UID {
		return out
	}
	objs := []string{taskRef(old), taskRef(cur)}
	if old.Status.AgentName != "" && cur.Status.AgentName != old.Status.AgentName {
		out = append(out, Violation{Rule: TaskRebound,
			Message: fmt.Sprintf("task %s/%s was bound to %s, now to %q", cur.Namespace, cur.Name, old.Status.AgentName, cur.Status.AgentName), Objects: objs})
	}
	if old.Status.State.IsTerminal() && (cur.Status.State != old.Status.State || cur.Status.Reason != old.Status.Reason) {
		out = append(out, Violation{Rule: TaskChangedAfterTerminal,
			Message: fmt.Sprintf("task %s/%s went from %s (%s) to %s (%s)", cur.Namespace, cur.Name,
				old.Status.State, old.Status.Reason, cur.Status.State, cur.Status.Reason), Objects: objs})
	}
	return out
}

// Launch checks a Pod of a task against the Pod seen first for that task
// (by the task UID label): a second Pod is a second launch.
func Launch(first, cur *corev1.Pod) []Violation {
	if first == nil || first.UID == cur.UID {
		return nil
	}
	return []Violation{{Rule: TaskLaunchedTwice,
		Message: fmt.Sprintf("task %s/%s (uid %s) ran in two Pods", cur.Namespace, cur.Labels[kov1.LabelTask], cur.Labels[kov1.LabelTaskUID]),
		Objects: sorted([]string{ref("Pod", first.Namespace, first.Name, string(first.UID)), ref("Pod", cur.Namespace, cur.Name, string(cur.UID))})}}
}

// Final checks the end of a run, once everything should have settled:
// every task terminal, no offer to a framework that is gone or torn down,
// no kubeoffer Pod without a live task.
func Final(w *World) []Violation {
	var out []Violation
	for _, k := range sortedKeys(w.Tasks) {
		t := w.Tasks[k]
		if !t.Status.State.IsTerminal() {
			out = append(out, Violation{Rule: TaskNotTerminal,
				Message: fmt.Sprintf("task %s is still %q at the end of the run", k, t.Status.State), Objects: []string{taskRef(t)}})
		}
	}
	for _, k := range sortedKeys(w.Offers) {
		o := w.Offers[k]
		f := w.Frameworks[o.FrameworkKey().NamespacedName()]
		if f == nil || f.DeletionTimestamp != nil || meta.IsStatusConditionTrue(f.Status.Conditions, kov1.FrameworkTornDownCondition) {
			out = append(out, Violation{Rule: OfferOfTornDownFramework,
				Message: fmt.Sprintf("offer %s is left for framework %s, which is gone or torn down", k, o.Spec.FrameworkName), Objects: []string{offerRef(o)}})
		}
	}
	live := map[types.UID]bool{}
	for _, t := range w.Tasks {
		if !t.Status.State.IsTerminal() {
			live[t.UID] = true
		}
	}
	for _, k := range sortedKeys(w.Pods) {
		p := w.Pods[k]
		uid := p.Labels[kov1.LabelTaskUID]
		if uid == "" || live[types.UID(uid)] || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, Violation{Rule: OrphanedPod,
			Message: fmt.Sprintf("pod %s (%s) runs for no live task", k, p.Status.Phase), Objects: []string{ref("Pod", p.Namespace, p.Name, p.ResourceVersion)}})
	}
	return out
}

// addInto adds b to dst, a list the caller owns (nil: a new one), in
// place: Booking sums thousands of tasks per check.
func addInto(dst, b corev1.ResourceList) corev1.ResourceList {
	if dst == nil {
		dst = corev1.ResourceList{}
	}
	for name, q := range b {
		sum := dst[name]
		sum.Add(q)
		dst[name] = sum
	}
	return dst
}

// subtract is a − b, never below zero.
func subtract(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range a {
		left := q.DeepCopy()
		if x, ok := b[name]; ok {
			left.Sub(x)
		}
		if left.Sign() > 0 {
			out[name] = left
		} else {
			out[name] = resource.Quantity{}
		}
	}
	return out
}

func subtractPorts(offered, taken []kov1.PortRange) []kov1.PortRange {
	var out []kov1.PortRange
	for _, r := range offered {
		for p := r.Begin; p <= r.End && p > 0; p++ {
			if !inRanges(p, taken) {
				out = append(out, kov1.PortRange{Begin: p, End: p})
			}
			if p == r.End {
				break
			}
		}
	}
	return out
}

func inRanges(p int32, rs []kov1.PortRange) bool {
	for _, r := range rs {
		if r.Begin <= p && p <= r.End {
			return true
		}
	}
	return false
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

func sortedKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}
