package agent

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// StatusInput is everything an Agent's status is computed from.
type StatusInput struct {
	Node *corev1.Node
	// Pods are the Pods on the node (any namespace).
	Pods []corev1.Pod
	// Tasks are the Tasks bound to this agent.
	Tasks []kov1.Task
	// Spec is the Agent's spec (operator's intent).
	Spec            kov1.AgentSpec
	AttributeLabels []string
	Attributes      map[string]string
	Ports           []kov1.PortRange
	SystemReserved  corev1.ResourceList
}

// ComputeStatus is the Agent status agentd reports, except the master's
// Reachable condition, which it leaves as it is in prev:
//
//   - capacity: the node's allocatable, without the "pods" count;
//   - allocatable: capacity minus the requests of every running Pod that is
//     not a live task's (foreign Pods, and task Pods whose task ended but
//     whose containers still run), minus the system reserve, never negative;
//   - allocated: the resources of the live tasks bound here;
//   - attributes: the selected node labels, then the static attributes,
//     then spec.attributes (each overriding the one before);
//   - Ready: the node's Ready condition.
func ComputeStatus(in StatusInput, prev kov1.AgentStatus, generation int64, now metav1.Time) kov1.AgentStatus {
	st := *prev.DeepCopy()
	st.ObservedGeneration = generation

	capacity := corev1.ResourceList{}
	for name, q := range in.Node.Status.Allocatable {
		if name == corev1.ResourcePods || q.IsZero() {
			continue
		}
		capacity[name] = q.DeepCopy()
	}
	st.Capacity = capacity

	live := map[string]bool{}
	allocated := corev1.ResourceList{}
	for i := range in.Tasks {
		t := &in.Tasks[i]
		if !taskstatus.HoldsResources(t) {
			continue
		}
		live[string(t.UID)] = true
		add(allocated, t.Charged())
	}
	st.Allocated = allocated

	allocatable := capacity.DeepCopy()
	for i := range in.Pods {
		p := &in.Pods[i]
		if podDone(p) || live[p.Labels[kov1.LabelTaskUID]] {
			continue
		}
		sub(allocatable, resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}))
	}
	sub(allocatable, in.SystemReserved)
	st.Allocatable = allocatable

	attrs := map[string]string{}
	for _, k := range in.AttributeLabels {
		if v, ok := in.Node.Labels[k]; ok {
			attrs[k] = v
		}
	}
	maps.Copy(attrs, in.Attributes)
	maps.Copy(attrs, in.Spec.Attributes)
	st.Attributes = attrs
	st.Ports = append([]kov1.PortRange(nil), in.Ports...)

	ready := metav1.Condition{Type: kov1.AgentReadyCondition, Status: metav1.ConditionFalse, Reason: kov1.AgentReadyNodeNotReadyReason,
		Message: "Node " + in.Node.Name + " is not Ready", ObservedGeneration: generation, LastTransitionTime: now}
	for _, c := range in.Node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, kov1.AgentReadyNodeReadyReason, "Node "+in.Node.Name+" is Ready and agentd is running"
		} else if c.Message != "" {
			ready.Message += ": " + c.Message
		}
	}
	if in.Node.Spec.Unschedulable {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, kov1.AgentReadyNodeNotReadyReason, "Node "+in.Node.Name+" is cordoned (unschedulable)"
	}
	meta.SetStatusCondition(&st.Conditions, ready)
	return st
}

// add adds b into a.
func add(a, b corev1.ResourceList) {
	for name, q := range b {
		cur := a[name]
		cur.Add(q)
		a[name] = cur
	}
}

// sub takes b from a where a has the resource, never going below zero.
func sub(a, b corev1.ResourceList) {
	for name, q := range b {
		cur, ok := a[name]
		if !ok {
			continue
		}
		cur.Sub(q)
		if cur.Sign() < 0 {
			cur = *resource.NewQuantity(0, cur.Format)
		}
		a[name] = cur
	}
}
