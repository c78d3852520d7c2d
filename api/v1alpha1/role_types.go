package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Role condition types. Each is True when all is well.
const (
	// RoleReadyCondition sums the others up: True when every other
	// condition is True; False with the reason of the first that is not.
	RoleReadyCondition = "Ready"
	// RoleParentResolvedCondition is True when spec.parent is empty or
	// names an existing Role, and following parents never comes back to
	// the role.
	RoleParentResolvedCondition = "ParentResolved"
	// RoleGuaranteeSatisfiableCondition is True when the offerable agents
	// can hold the role's quota guarantee, together with every other
	// role's guarantee and the agents' reservations. Mesos refuses such a
	// quota unless forced; kubeoffer accepts it and says so here.
	RoleGuaranteeSatisfiableCondition = "GuaranteeSatisfiable"
)

// Role condition reasons.
const (
	// RoleReadyAsExpectedReason: every other condition is True.
	RoleReadyAsExpectedReason = "AsExpected"

	// RoleParentResolvedTopLevelReason: the role has no parent.
	RoleParentResolvedTopLevelReason = "TopLevel"
	// RoleParentResolvedFoundReason: the parent is an existing Role.
	RoleParentResolvedFoundReason = "ParentFound"
	// RoleParentResolvedNotFoundReason: spec.parent names a role with no
	// Role object; the master treats that parent as a top-level role of
	// weight 1 with no quota.
	RoleParentResolvedNotFoundReason = "ParentNotFound"
	// RoleParentResolvedLoopReason: following parents from this role comes
	// back to it; the master cuts the loop and makes one of its roles
	// top-level.
	RoleParentResolvedLoopReason = "ParentLoop"

	// RoleGuaranteeSatisfiableNoGuaranteeReason: the role has no quota
	// guarantee.
	RoleGuaranteeSatisfiableNoGuaranteeReason = "NoGuarantee"
	// RoleGuaranteeSatisfiableFitsReason: the offerable agents hold every
	// role's guarantee and every reservation together.
	RoleGuaranteeSatisfiableFitsReason = "FitsCluster"
	// RoleGuaranteeSatisfiableExceedsClusterReason: the guarantee alone is
	// more than all offerable agents hold, in some resource.
	RoleGuaranteeSatisfiableExceedsClusterReason = "ExceedsCluster"
	// RoleGuaranteeSatisfiableOvercommittedReason: the guarantee fits on its
	// own, but the guarantees of all roles and the agents' reservations
	// together need more of a resource it names than the offerable agents
	// hold, so not every guarantee can be met at once.
	RoleGuaranteeSatisfiableOvercommittedReason = "Overcommitted"
)

// RoleQuota bounds what a role's subtree is allocated.
//
// +kubebuilder:validation:XValidation:rule="!has(self.guarantee) || !has(self.limit) || self.guarantee.all(k, !(k in self.limit) || quantity(string(self.guarantee[k])).compareTo(quantity(string(self.limit[k]))) <= 0)",message="quota guarantee must not exceed limit for any resource: lower the guarantee or raise the limit"
type RoleQuota struct {
	// guarantee is what the role's subtree is offered before any role is
	// offered beyond its fair share (Mesos's quota guarantee).
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="resource quantities must not be negative"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !isQuantity(string(self[k])) || quantity(string(self[k])).compareTo(quantity(k == 'cpu' ? '1M' : '1Pi')) <= 0)",message="resource quantities must be at most 1M for cpu (cores) and 1Pi for any other resource (in its base unit): no node is that large; lower the quantity"
	Guarantee corev1.ResourceList `json:"guarantee,omitempty"`

	// limit is the most the role's subtree may be allocated and offered
	// together; resources it does not name are unlimited.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="resource quantities must not be negative"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !isQuantity(string(self[k])) || quantity(string(self[k])).compareTo(quantity(k == 'cpu' ? '1M' : '1Pi')) <= 0)",message="resource quantities must be at most 1M for cpu (cores) and 1Pi for any other resource (in its base unit): no node is that large; lower the quantity"
	Limit corev1.ResourceList `json:"limit,omitempty"`
}

// RoleSpec is a role's weight, quota, place in the role tree, and the
// namespaces that may use it.
// +kubebuilder:validation:XValidation:rule="!has(self.parent) || self.parent != 'default'",message="parent must not be the default role: the default role is a leaf; create a Role for the parent instead"
type RoleSpec struct {
	// weight is the role's share relative to its siblings under weighted DRF:
	// a role of weight 2 is offered twice the dominant share of a role of
	// weight 1. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Weight int32 `json:"weight,omitempty"`

	// parent is the name of the role this role nests under. Weights compare
	// siblings, and a parent's quota bounds its whole subtree. Empty for a
	// top-level role.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Parent string `json:"parent,omitempty"`

	// quota is the role's guarantee and limit.
	// +optional
	Quota *RoleQuota `json:"quota,omitempty"`

	// namespaces are the namespaces whose Frameworks may use this role, as
	// Mesos's register_frameworks ACL names the principals that may register
	// with a role. A Framework naming the role from a namespace that neither
	// this list nor namespaceSelector admits is refused when it is created
	// (the kubeoffer-role-namespaces ValidatingAdmissionPolicy). With no
	// namespaces and no namespaceSelector the role is open to every
	// namespace. Frameworks created before the role was narrowed keep it:
	// delete them to revoke it.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespaces []string `json:"namespaces,omitempty"`

	// namespaceSelector admits the namespaces whose labels it matches, in
	// addition to those listed in namespaces. It reads as a Kubernetes label
	// selector (matchLabels and matchExpressions, ANDed); an empty selector
	// ({}) matches every namespace. Absent: only namespaces admits.
	// +optional
	NamespaceSelector *RoleNamespaceSelector `json:"namespaceSelector,omitempty"`
}

// RoleNamespaceSelector selects namespaces by their labels, with the
// meaning and YAML of a Kubernetes label selector (metav1.LabelSelector),
// bounded.
type RoleNamespaceSelector struct {
	// matchLabels are label key/value pairs a namespace must all carry.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && size(self[k]) <= 63)",message="label keys must be at most 317 characters and label values at most 63"
	MatchLabels map[string]string `json:"matchLabels,omitempty"`

	// matchExpressions are label requirements a namespace must all meet.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	MatchExpressions []RoleNamespaceRequirement `json:"matchExpressions,omitempty"`
}

// RoleNamespaceOperator is how a namespace label requirement compares the
// label's value.
// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
type RoleNamespaceOperator string

// The operators of a namespace label requirement, as in a label selector.
const (
	RoleNamespaceIn           RoleNamespaceOperator = "In"
	RoleNamespaceNotIn        RoleNamespaceOperator = "NotIn"
	RoleNamespaceExists       RoleNamespaceOperator = "Exists"
	RoleNamespaceDoesNotExist RoleNamespaceOperator = "DoesNotExist"
)

// RoleNamespaceRequirement is one label requirement of a
// RoleNamespaceSelector, as a label selector's matchExpressions item.
//
// +kubebuilder:validation:XValidation:rule="self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",message="values must be non-empty for the operators In and NotIn, and empty for Exists and DoesNotExist"
type RoleNamespaceRequirement struct {
	// key is the label key the requirement applies to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	Key string `json:"key"`

	// operator is In, NotIn, Exists or DoesNotExist.
	// +required
	Operator RoleNamespaceOperator `json:"operator"`

	// values are the label values In and NotIn compare with.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Values []string `json:"values,omitempty"`
}

// RoleStatus is what the master observes of a role.
type RoleStatus struct {
	// allocated is the sum of the resources of running and staged tasks of
	// the frameworks of the role and its descendants.
	// +optional
	Allocated corev1.ResourceList `json:"allocated,omitempty"`

	// offered is the sum of the resources of the outstanding offers to the
	// frameworks of the role and its descendants.
	// +optional
	Offered corev1.ResourceList `json:"offered,omitempty"`

	// reserved is the sum of the reservations that Agents'
	// spec.reservations hold for the role and its descendants.
	// +optional
	Reserved corev1.ResourceList `json:"reserved,omitempty"`

	// consumed is what counts against the role's quota, as Mesos counts
	// it: allocated and offered, plus the part of reserved that no task or
	// offer of the role's subtree uses (a reservation is consumed whether it
	// is used or not). Compare it with spec.quota.guarantee and
	// spec.quota.limit; the master offers no role past its limit.
	// +optional
	Consumed corev1.ResourceList `json:"consumed,omitempty"`

	// dominantShare is the role's dominant share of the cluster, a decimal
	// between 0 and 1 (e.g. "0.250").
	// +optional
	// +kubebuilder:validation:MaxLength=16
	DominantShare string `json:"dominantShare,omitempty"`

	// frameworks is how many Frameworks name this role.
	// +optional
	Frameworks int32 `json:"frameworks,omitempty"`

	// conditions are Ready, ParentResolved (a parent that does not exist or
	// a loop of parents) and GuaranteeSatisfiable (a guarantee the
	// offerable agents cannot hold). The master sets them and records an
	// Event when ParentResolved or GuaranteeSatisfiable changes.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation the master last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Role is a named share of the cluster: frameworks name a role, and the
// master orders roles by weighted dominant resource fairness. Roles are
// optional; a role without an object has weight 1 and no quota.
//
// Note: `kubectl get roles` means RBAC roles; use `kubectl get korole` or
// `kubectl get roles.kubeoffer.io`.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=korole,categories=kubeoffer
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.parent) || self.spec.parent != self.metadata.name",message="a role cannot be its own parent: set spec.parent to another role or leave it empty"
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.spec.weight`
// +kubebuilder:printcolumn:name="Parent",type=string,JSONPath=`.spec.parent`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,description="Why the role is not Ready"
// +kubebuilder:printcolumn:name="Guarantee",type=string,JSONPath=`.status.conditions[?(@.type=="GuaranteeSatisfiable")].status`,description="Whether the offerable agents can hold the quota guarantee"
// +kubebuilder:printcolumn:name="CPU-Used",type=string,JSONPath=`.status.allocated.cpu`,description="CPU held by the subtree's tasks"
// +kubebuilder:printcolumn:name="Memory-Used",type=string,JSONPath=`.status.allocated.memory`,description="Memory held by the subtree's tasks"
// +kubebuilder:printcolumn:name="Share",type=string,JSONPath=`.status.dominantShare`,description="Dominant resource share"
// +kubebuilder:printcolumn:name="Frameworks",type=integer,JSONPath=`.status.frameworks`
// +kubebuilder:printcolumn:name="CPU-Consumed",type=string,JSONPath=`.status.consumed.cpu`,priority=1,description="CPU counted against the quota"
// +kubebuilder:printcolumn:name="CPU-Guarantee",type=string,JSONPath=`.spec.quota.guarantee.cpu`,priority=1
// +kubebuilder:printcolumn:name="CPU-Limit",type=string,JSONPath=`.spec.quota.limit.cpu`,priority=1
// +kubebuilder:printcolumn:name="Memory-Consumed",type=string,JSONPath=`.status.consumed.memory`,priority=1,description="Memory counted against the quota"
// +kubebuilder:printcolumn:name="Memory-Guarantee",type=string,JSONPath=`.spec.quota.guarantee.memory`,priority=1
// +kubebuilder:printcolumn:name="Memory-Limit",type=string,JSONPath=`.spec.quota.limit.memory`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Role struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the role's weight, parent, quota and the namespaces that may use it.
	// +optional
	Spec RoleSpec `json:"spec,omitempty"`

	// status is the role's observed allocation.
	// +optional
	Status RoleStatus `json:"status,omitempty"`
}

// RoleList is a list of Roles.
//
// +kubebuilder:object:root=true
type RoleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Role `json:"items"`
}

func init() {
	register(&Role{}, &RoleList{})
}
