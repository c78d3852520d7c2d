package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentMaintenance is the operator's maintenance intent for an agent,
// after Mesos's maintenance modes, plus Gone, Mesos's MARK_AGENT_GONE.
// +kubebuilder:validation:Enum=None;Drain;Down;Gone
type AgentMaintenance string

const (
	// AgentMaintenanceNone offers the agent's resources as usual.
	AgentMaintenanceNone AgentMaintenance = "None"
	// AgentMaintenanceDrain stops new offers for the agent; running tasks
	// keep running until they end.
	AgentMaintenanceDrain AgentMaintenance = "Drain"
	// AgentMaintenanceDown stops new offers and kills the agent's tasks, so
	// the node can be taken out of service.
	AgentMaintenanceDown AgentMaintenance = "Down"
	// AgentMaintenanceGone asserts that the agent is gone for good (Mesos's
	// MARK_AGENT_GONE): it is never offered again, its offers are rescinded,
	// and its tasks end at once, Gone for partition-aware frameworks and Lost
	// for the others, with agentd's finalizer released so that deleting them
	// never waits for an agent that will not answer. It cannot be undone:
	// to use the node again, delete the Agent and agentd registers it anew.
	AgentMaintenanceGone AgentMaintenance = "Gone"
)

// Agent condition types.
const (
	// AgentReadyCondition is True while agentd reports the node ready to run
	// tasks (the node is Ready and agentd is serving).
	AgentReadyCondition = "Ready"
	// AgentReachableCondition is True while the master has seen the agent's
	// heartbeat Lease renewed within its agent timeout, timed by when the
	// master saw the renewal on its own clock (so agentd's clock may be off).
	// The master owns it.
	AgentReachableCondition = "Reachable"
)

// Agent condition reasons, named <Kind><Condition><Why>Reason.
const (
	// AgentReadyNodeReadyReason: the node and agentd are ready.
	AgentReadyNodeReadyReason = "NodeReady"
	// AgentReadyNodeNotReadyReason: the node is not Ready, or agentd is stopping.
	AgentReadyNodeNotReadyReason = "NodeNotReady"
	// AgentReachableHeartbeatFreshReason: the heartbeat Lease was renewed in time.
	AgentReachableHeartbeatFreshReason = "HeartbeatFresh"
	// AgentReachableHeartbeatExpiredReason: the master has not seen the heartbeat
	// Lease renewed for longer than the agent timeout.
	AgentReachableHeartbeatExpiredReason = "HeartbeatExpired"
	// AgentReachableRemovedReason: the agent stayed unreachable longer than the
	// master's agent gone timeout; its tasks ended Gone or Lost. It is
	// offered again if its heartbeat comes back.
	AgentReachableRemovedReason = "AgentRemoved"
)

// Reservation sets resources of an agent aside for one role: only frameworks
// of that role (or of its descendants) are offered them. This is Mesos's
// static reservation, written by the operator.
type Reservation struct {
	// role is the name of the role the resources are reserved for.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Role string `json:"role"`

	// resources are the quantities reserved, e.g. {cpu: 2, memory: 4Gi}.
	// +required
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="resource quantities must not be negative"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !isQuantity(string(self[k])) || quantity(string(self[k])).compareTo(quantity(k == 'cpu' ? '1M' : '1Pi')) <= 0)",message="resource quantities must be at most 1M for cpu (cores) and 1Pi for any other resource (in its base unit): no node is that large; lower the quantity"
	Resources corev1.ResourceList `json:"resources"`
}

// AgentSpec is the operator's intent for an agent. agentd creates the Agent
// with an empty spec and never writes it afterwards.
type AgentSpec struct {
	// attributes are extra attributes offered with the agent's resources, on
	// top of the node labels agentd selects (operator-set values win). Frameworks
	// match them with their offer constraints, as Mesos agent attributes.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Attributes map[string]string `json:"attributes,omitempty"`

	// reservations are static per-role reservations of this agent's
	// resources. A role may appear once.
	// +optional
	// +listType=map
	// +listMapKey=role
	// +kubebuilder:validation:MaxItems=16
	Reservations []Reservation `json:"reservations,omitempty"`

	// maintenance puts the agent in maintenance: Drain stops new offers,
	// Down also kills its tasks, and Gone says the agent is gone for good
	// (Mesos's MARK_AGENT_GONE): never offered again, its tasks end at once
	// (Gone for partition-aware frameworks, Lost for the others) and can be
	// deleted without waiting for agentd. Gone cannot be undone; delete the
	// Agent to bring its node back. Defaults to None.
	// +optional
	// +kubebuilder:default=None
	// +kubebuilder:validation:XValidation:rule="oldSelf != 'Gone' || self == 'Gone'",message="maintenance cannot leave Gone: a gone agent never comes back; delete the Agent and agentd on the node registers it anew"
	Maintenance AgentMaintenance `json:"maintenance,omitempty"`
}

// AgentStatus is what agentd reports about its node, plus the master's
// reachability verdict.
type AgentStatus struct {
	// attributes are the agent's attributes as offered: the node labels
	// agentd was told to select, merged with spec.attributes.
	// +optional
	// +kubebuilder:validation:MaxProperties=128
	Attributes map[string]string `json:"attributes,omitempty"`

	// capacity is the node's allocatable resources as the kubelet reports them.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`

	// allocatable is what kubeoffer may offer on this node: capacity minus
	// the requests of Pods kubeoffer did not launch, minus agentd's system
	// reserve. Tasks already running are not subtracted (see allocated).
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`

	// allocated is the sum of the resources of the tasks running on this
	// agent.
	// +optional
	Allocated corev1.ResourceList `json:"allocated,omitempty"`

	// ports are the host port ranges this agent offers (default 31000-32000).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Ports []PortRange `json:"ports,omitempty"`

	// conditions are Ready (agentd's view of the node) and Reachable (the
	// master's view of the heartbeat: True while it has seen the heartbeat
	// Lease renewed within the agent timeout, timed on the master's own
	// clock; reason AgentRemoved once the agent stayed unreachable past the
	// agent gone timeout).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation agentd last reported against.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Agent is one node's share of the cluster as kubeoffer sees it: what it can
// offer, what runs there, and whether it is reachable. It is named after its
// node.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ag,categories=kubeoffer
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reachable",type=string,JSONPath=`.status.conditions[?(@.type=="Reachable")].status`
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.status.allocatable.cpu`,description="CPU kubeoffer may offer"
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.status.allocatable.memory`,description="Memory kubeoffer may offer"
// +kubebuilder:printcolumn:name="CPU-Used",type=string,JSONPath=`.status.allocated.cpu`,description="CPU held by running tasks"
// +kubebuilder:printcolumn:name="Memory-Used",type=string,JSONPath=`.status.allocated.memory`,description="Memory held by running tasks"
// +kubebuilder:printcolumn:name="Maintenance",type=string,JSONPath=`.spec.maintenance`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Agent struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the operator's intent for the agent.
	// +optional
	Spec AgentSpec `json:"spec,omitempty"`

	// status is what agentd and the master observe.
	// +optional
	Status AgentStatus `json:"status,omitempty"`
}

// AgentList is a list of Agents.
//
// +kubebuilder:object:root=true
type AgentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Agent `json:"items"`
}

// IsGone reports whether the agent is gone for good: being deleted or
// marked Gone. The master never offers it, and its tasks end.
func (a *Agent) IsGone() bool {
	return a.DeletionTimestamp != nil || a.Spec.Maintenance == AgentMaintenanceGone
}

func init() {
	register(&Agent{}, &AgentList{})
}
