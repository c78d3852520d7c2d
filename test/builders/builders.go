// Package builders makes kubeoffer objects for tests with fluent builders,
// Kueue-style: MakeTask("t", ns).Framework("fw").Obj().
package builders

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Resources parses alternating name/quantity pairs into a ResourceList:
// Resources("cpu", "2", "memory", "1Gi").
func Resources(pairs ...string) corev1.ResourceList {
	if len(pairs)%2 != 0 {
		panic("builders.Resources needs name/quantity pairs")
	}
	rl := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		rl[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return rl
}

// AgentWrapper builds an Agent.
type AgentWrapper struct{ kov1.Agent }

// MakeAgent starts an Agent named after its node.
func MakeAgent(name string) *AgentWrapper {
	return &AgentWrapper{kov1.Agent{ObjectMeta: metav1.ObjectMeta{Name: name}}}
}

// Obj returns the built Agent.
func (w *AgentWrapper) Obj() *kov1.Agent { return &w.Agent }

// Attribute sets an operator attribute.
func (w *AgentWrapper) Attribute(k, v string) *AgentWrapper {
	if w.Spec.Attributes == nil {
		w.Spec.Attributes = map[string]string{}
	}
	w.Spec.Attributes[k] = v
	return w
}

// Reserve adds a static reservation for role.
func (w *AgentWrapper) Reserve(role string, rl corev1.ResourceList) *AgentWrapper {
	w.Spec.Reservations = append(w.Spec.Reservations, kov1.Reservation{Role: role, Resources: rl})
	return w
}

// Maintenance sets the maintenance mode.
func (w *AgentWrapper) Maintenance(m kov1.AgentMaintenance) *AgentWrapper {
	w.Spec.Maintenance = m
	return w
}

// Allocatable sets status.capacity and status.allocatable.
func (w *AgentWrapper) Allocatable(rl corev1.ResourceList) *AgentWrapper {
	w.Status.Capacity = rl.DeepCopy()
	w.Status.Allocatable = rl.DeepCopy()
	return w
}

// Ports sets the offered port ranges.
// Ready sets the agent's Ready and Reachable conditions True, as agentd
// and the master leave a healthy agent.
func (w *AgentWrapper) Ready() *AgentWrapper {
	w.Status.Conditions = []metav1.Condition{
		{Type: kov1.AgentReadyCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentReadyNodeReadyReason},
		{Type: kov1.AgentReachableCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentReachableHeartbeatFreshReason},
	}
	return w
}

// Unreachable sets the agent Ready but not Reachable: the master has not
// seen its heartbeat for the agent timeout.
func (w *AgentWrapper) Unreachable() *AgentWrapper {
	w.Ready()
	w.Status.Conditions[1].Status, w.Status.Conditions[1].Reason = metav1.ConditionFalse, kov1.AgentReachableHeartbeatExpiredReason
	return w
}

func (w *AgentWrapper) Ports(ranges ...kov1.PortRange) *AgentWrapper {
	w.Status.Ports = ranges
	return w
}

// RoleWrapper builds a Role.
type RoleWrapper struct{ kov1.Role }

// MakeRole starts a Role.
func MakeRole(name string) *RoleWrapper {
	return &RoleWrapper{kov1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}}}
}

// Obj returns the built Role.
func (w *RoleWrapper) Obj() *kov1.Role { return &w.Role }

// Weight sets the weight.
func (w *RoleWrapper) Weight(n int32) *RoleWrapper { w.Spec.Weight = n; return w }

// Parent sets the parent role.
func (w *RoleWrapper) Parent(p string) *RoleWrapper { w.Spec.Parent = p; return w }

// Quota sets guarantee and limit (either may be nil).
func (w *RoleWrapper) Quota(guarantee, limit corev1.ResourceList) *RoleWrapper {
	w.Spec.Quota = &kov1.RoleQuota{Guarantee: guarantee, Limit: limit}
	return w
}

// Namespaces sets the namespaces whose Frameworks may use the role.
func (w *RoleWrapper) Namespaces(ns ...string) *RoleWrapper { w.Spec.Namespaces = ns; return w }

// MatchLabels adds label pairs the role's namespace selector requires.
func (w *RoleWrapper) MatchLabels(pairs ...string) *RoleWrapper {
	sel := w.selector()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		sel.MatchLabels[pairs[i]] = pairs[i+1]
	}
	return w
}

// MatchExpression adds a requirement to the role's namespace selector.
func (w *RoleWrapper) MatchExpression(key string, op kov1.RoleNamespaceOperator, values ...string) *RoleWrapper {
	sel := w.selector()
	sel.MatchExpressions = append(sel.MatchExpressions, kov1.RoleNamespaceRequirement{Key: key, Operator: op, Values: values})
	return w
}

// AnyNamespace sets an empty namespace selector, which matches every namespace.
func (w *RoleWrapper) AnyNamespace() *RoleWrapper { w.selector(); return w }

func (w *RoleWrapper) selector() *kov1.RoleNamespaceSelector {
	if w.Spec.NamespaceSelector == nil {
		w.Spec.NamespaceSelector = &kov1.RoleNamespaceSelector{}
	}
	return w.Spec.NamespaceSelector
}

// FrameworkWrapper builds a Framework.
type FrameworkWrapper struct{ kov1.Framework }

// MakeFramework starts a Framework.
func MakeFramework(name, ns string) *FrameworkWrapper {
	return &FrameworkWrapper{kov1.Framework{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}}
}

// Obj returns the built Framework.
func (w *FrameworkWrapper) Obj() *kov1.Framework { return &w.Framework }

// Connected sets the framework's Registered and Connected conditions True,
// as the master leaves a framework whose scheduler heartbeats.
func (w *FrameworkWrapper) Connected() *FrameworkWrapper {
	w.Status.Conditions = []metav1.Condition{
		{Type: kov1.FrameworkRegisteredCondition, Status: metav1.ConditionTrue, Reason: kov1.FrameworkRegisteredAcceptedReason},
		{Type: kov1.FrameworkConnectedCondition, Status: metav1.ConditionTrue, Reason: kov1.FrameworkConnectedHeartbeatFreshReason},
	}
	return w
}

// UID sets the framework's UID, as the API server would.
func (w *FrameworkWrapper) UID(uid string) *FrameworkWrapper {
	w.Framework.UID = types.UID(uid)
	return w
}

// Role sets the role.
func (w *FrameworkWrapper) Role(r string) *FrameworkWrapper { w.Spec.Role = r; return w }

// Policy makes the master schedule the framework with a built-in policy.
func (w *FrameworkWrapper) Policy(p kov1.SchedulingPolicy) *FrameworkWrapper {
	if w.Spec.Scheduler == nil {
		w.Spec.Scheduler = &kov1.BuiltinScheduler{}
	}
	w.Spec.Scheduler.Policy = p
	return w
}

// SpreadAttribute sets the built-in scheduler's spread attribute.
func (w *FrameworkWrapper) SpreadAttribute(a string) *FrameworkWrapper {
	if w.Spec.Scheduler == nil {
		w.Spec.Scheduler = &kov1.BuiltinScheduler{}
	}
	w.Spec.Scheduler.SpreadAttribute = a
	return w
}

// FailoverTimeout sets the failover timeout.
func (w *FrameworkWrapper) FailoverTimeout(d time.Duration) *FrameworkWrapper {
	w.Spec.FailoverTimeout = &metav1.Duration{Duration: d}
	return w
}

// RefuseDuration sets the default refuse duration.
func (w *FrameworkWrapper) RefuseDuration(d time.Duration) *FrameworkWrapper {
	w.Spec.RefuseDuration = &metav1.Duration{Duration: d}
	return w
}

// Offers sets Active or Suppressed.
func (w *FrameworkWrapper) Offers(m kov1.OfferMode) *FrameworkWrapper { w.Spec.Offers = m; return w }

// MinResources sets the offer constraint's minimum resources.
func (w *FrameworkWrapper) MinResources(rl corev1.ResourceList) *FrameworkWrapper {
	if w.Spec.OfferConstraints == nil {
		w.Spec.OfferConstraints = &kov1.OfferConstraints{}
	}
	w.Spec.OfferConstraints.MinResources = rl
	return w
}

// MinAllocatable sets the offer constraint's minimum allocatable
// alternatives.
func (w *FrameworkWrapper) MinAllocatable(alternatives ...corev1.ResourceList) *FrameworkWrapper {
	if w.Spec.OfferConstraints == nil {
		w.Spec.OfferConstraints = &kov1.OfferConstraints{}
	}
	w.Spec.OfferConstraints.MinAllocatable = alternatives
	return w
}

// Selector sets the offer constraint's attribute selector to match labels.
func (w *FrameworkWrapper) Selector(matchLabels map[string]string) *FrameworkWrapper {
	if w.Spec.OfferConstraints == nil {
		w.Spec.OfferConstraints = &kov1.OfferConstraints{}
	}
	w.Spec.OfferConstraints.AttributeSelector = &metav1.LabelSelector{MatchLabels: matchLabels}
	return w
}

// SelectorExpression adds a match expression to the attribute selector.
func (w *FrameworkWrapper) SelectorExpression(e metav1.LabelSelectorRequirement) *FrameworkWrapper {
	if w.Spec.OfferConstraints == nil {
		w.Spec.OfferConstraints = &kov1.OfferConstraints{}
	}
	if w.Spec.OfferConstraints.AttributeSelector == nil {
		w.Spec.OfferConstraints.AttributeSelector = &metav1.LabelSelector{}
	}
	sel := w.Spec.OfferConstraints.AttributeSelector
	sel.MatchExpressions = append(sel.MatchExpressions, e)
	return w
}

// Capability adds a capability.
func (w *FrameworkWrapper) Capability(c kov1.FrameworkCapability) *FrameworkWrapper {
	w.Spec.Capabilities = append(w.Spec.Capabilities, c)
	return w
}

// OfferWrapper builds a ResourceOffer.
type OfferWrapper struct{ kov1.ResourceOffer }

// MakeOffer starts an offer of agent to framework.
func MakeOffer(name, ns, framework, agent string) *OfferWrapper {
	return &OfferWrapper{kov1.ResourceOffer{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: kov1.ResourceOfferSpec{
			FrameworkName: framework,
			AgentName:     agent,
			NodeName:      agent,
			Role:          kov1.DefaultRole,
			Resources:     corev1.ResourceList{},
		},
	}}
}

// Obj returns the built offer.
func (w *OfferWrapper) Obj() *kov1.ResourceOffer { return &w.ResourceOffer }

// Role sets the role.
func (w *OfferWrapper) Role(r string) *OfferWrapper { w.Spec.Role = r; return w }

// Resources sets the offered resources.
func (w *OfferWrapper) Resources(rl corev1.ResourceList) *OfferWrapper {
	w.Spec.Resources = rl
	return w
}

// Ports sets the offered ports.
func (w *OfferWrapper) Ports(r ...kov1.PortRange) *OfferWrapper { w.Spec.Ports = r; return w }

// Attribute sets an attribute.
func (w *OfferWrapper) Attribute(k, v string) *OfferWrapper {
	if w.Spec.Attributes == nil {
		w.Spec.Attributes = map[string]string{}
	}
	w.Spec.Attributes[k] = v
	return w
}

// Decline sets the offer's decline with a refuse duration.
func (w *OfferWrapper) Decline(refuse time.Duration) *OfferWrapper {
	w.Spec.Decline = &kov1.OfferDecline{RefuseDuration: &metav1.Duration{Duration: refuse}}
	return w
}

// UID sets the offer's UID, as the API server would.
func (w *OfferWrapper) UID(uid string) *OfferWrapper { w.ResourceOffer.UID = types.UID(uid); return w }

// Expires sets the expiration time.
func (w *OfferWrapper) Expires(t time.Time) *OfferWrapper {
	w.Spec.ExpirationTime = &metav1.Time{Time: t}
	return w
}

// TaskWrapper builds a Task.
type TaskWrapper struct{ kov1.Task }

// MakeTask starts a task of framework with one busybox container.
func MakeTask(name, ns, framework string) *TaskWrapper {
	return &TaskWrapper{kov1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: kov1.TaskSpec{
			FrameworkName: framework,
			Resources:     Resources("cpu", "100m", "memory", "64Mi"),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "main", Image: "busybox:stable", Command: []string{"true"},
			}}}},
		},
	}}
}

// Obj returns the built Task.
func (w *TaskWrapper) Obj() *kov1.Task { return &w.Task }

// PodSpec changes the task's Pod template spec.
func (w *TaskWrapper) PodSpec(f func(*corev1.PodSpec)) *TaskWrapper {
	f(&w.Spec.Template.Spec)
	return w
}

// Offer makes the task accept an offer.
func (w *TaskWrapper) Offer(name string) *TaskWrapper { w.Spec.OfferName = name; return w }

// Resources sets the task's resources.
func (w *TaskWrapper) Resources(rl corev1.ResourceList) *TaskWrapper { w.Spec.Resources = rl; return w }

// Ports sets the task's ports.
func (w *TaskWrapper) Ports(r ...kov1.PortRange) *TaskWrapper { w.Spec.Ports = r; return w }

// Command sets the main container's command.
func (w *TaskWrapper) Command(cmd ...string) *TaskWrapper {
	w.Spec.Template.Spec.Containers[0].Command = cmd
	return w
}

// Image sets the main container's image.
func (w *TaskWrapper) Image(image string) *TaskWrapper {
	w.Spec.Template.Spec.Containers[0].Image = image
	return w
}

// NoContainers empties the Pod template's container list.
func (w *TaskWrapper) NoContainers() *TaskWrapper {
	w.Spec.Template.Spec.Containers = []corev1.Container{}
	return w
}

// KillGracePeriod sets the kill grace period.
func (w *TaskWrapper) KillGracePeriod(seconds int64) *TaskWrapper {
	w.Spec.KillGracePeriodSeconds = &seconds
	return w
}

// Bound sets the task's status as the master leaves it after binding it
// to agent (named after its node), in state.
func (w *TaskWrapper) Bound(agent string, state kov1.TaskState) *TaskWrapper {
	w.Status.AgentName, w.Status.NodeName, w.Status.State = agent, agent, state
	return w
}

// Created sets the task's creation time: pending tasks are decided oldest
// first.
func (w *TaskWrapper) Created(t time.Time) *TaskWrapper {
	w.CreationTimestamp = metav1.Time{Time: t}
	return w
}

// UID sets the task's UID, as the API server would.
func (w *TaskWrapper) UID(uid string) *TaskWrapper { w.Task.UID = types.UID(uid); return w }

// Finalizers sets the task's finalizers.
func (w *TaskWrapper) Finalizers(f ...string) *TaskWrapper { w.Task.Finalizers = f; return w }

// Deleting marks the task deleted at t.
func (w *TaskWrapper) Deleting(t time.Time) *TaskWrapper {
	w.DeletionTimestamp = &metav1.Time{Time: t}
	return w
}
