package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OfferMode says whether a framework wants offers.
// +kubebuilder:validation:Enum=Active;Suppressed
type OfferMode string

const (
	// OfferModeActive: the framework is offered resources (Mesos's revived state).
	OfferModeActive OfferMode = "Active"
	// OfferModeSuppressed: the framework has nothing to launch and is offered
	// nothing until it goes Active again (Mesos's SUPPRESS call).
	OfferModeSuppressed OfferMode = "Suppressed"
)

// FrameworkCapability is a behaviour a framework opts in to, as Mesos's
// FrameworkInfo.Capability.
// +kubebuilder:validation:Enum=PartitionAware;GPUResources
type FrameworkCapability string

const (
	// CapabilityPartitionAware: tasks on an unreachable agent go Unreachable
	// (and may come back) instead of Lost.
	CapabilityPartitionAware FrameworkCapability = "PartitionAware"
	// CapabilityGPUResources: the framework may be offered agents with GPUs.
	// Without it, as in Mesos, GPU agents are kept for GPU-aware frameworks.
	CapabilityGPUResources FrameworkCapability = "GPUResources"
)

// SchedulingPolicy names a built-in scheduler the master runs on a
// framework's behalf.
// +kubebuilder:validation:Enum=FirstFit;BinPack;Spread
type SchedulingPolicy string

const (
	// SchedulingPolicyFirstFit places each task on the first offer it fits.
	SchedulingPolicyFirstFit SchedulingPolicy = "FirstFit"
	// SchedulingPolicyBinPack places each task on the fullest offer it fits,
	// keeping whole agents free.
	SchedulingPolicyBinPack SchedulingPolicy = "BinPack"
	// SchedulingPolicySpread places each task where the framework has the
	// fewest tasks, grouped by an attribute (hostname unless set).
	SchedulingPolicySpread SchedulingPolicy = "Spread"
)

// Framework condition types.
const (
	// FrameworkRegisteredCondition is True once the master has accepted the
	// framework and given it a framework ID.
	FrameworkRegisteredCondition = "Registered"
	// FrameworkConnectedCondition is True while the framework's scheduler is
	// reachable: its heartbeat Lease is fresh, or the master schedules for
	// it (spec.scheduler).
	FrameworkConnectedCondition = "Connected"
	// FrameworkSuppressedCondition is True while spec.offers is Suppressed.
	FrameworkSuppressedCondition = "Suppressed"
	// FrameworkTornDownCondition is True once the framework was torn down
	// (failover timeout passed or object deleted): tasks killed, offers
	// rescinded. A torn-down framework is never offered again.
	FrameworkTornDownCondition = "TornDown"
)

// Framework condition reasons, named <Kind><Condition><Why>Reason.
const (
	// FrameworkRegisteredAcceptedReason: the master accepted the framework
	// (Registered=True).
	FrameworkRegisteredAcceptedReason = "Registered"
	// FrameworkConnectedHeartbeatFreshReason: the master saw the
	// scheduler's heartbeat Lease renewed in time (Connected=True).
	FrameworkConnectedHeartbeatFreshReason = "HeartbeatFresh"
	// FrameworkConnectedHeartbeatMissingReason: the master has not seen the
	// heartbeat renewed within its duration (Connected=False).
	FrameworkConnectedHeartbeatMissingReason = "HeartbeatMissing"
	// FrameworkConnectedBuiltinSchedulerReason: the master schedules for
	// the framework (spec.scheduler), so it is always connected.
	FrameworkConnectedBuiltinSchedulerReason = "BuiltinScheduler"
	// FrameworkTornDownFailoverTimeoutReason: the scheduler stayed away past
	// its failover timeout; the framework was torn down.
	FrameworkTornDownFailoverTimeoutReason = "FailoverTimeoutExpired"
	// FrameworkTornDownDeletedReason: the Framework was deleted; it was
	// torn down.
	FrameworkTornDownDeletedReason = "Deleted"
	// FrameworkSuppressedOffersSuppressedReason: spec.offers is Suppressed
	// (Suppressed=True).
	FrameworkSuppressedOffersSuppressedReason = "OffersSuppressed"
	// FrameworkSuppressedOffersActiveReason: spec.offers is Active
	// (Suppressed=False).
	FrameworkSuppressedOffersActiveReason = "OffersActive"
)

// HeartbeatLeaseName returns the name of the coordination.k8s.io Lease, in
// the framework's namespace, that the framework's scheduler renews to stay
// Connected.
func HeartbeatLeaseName(frameworkName string) string {
	return "kubeoffer-framework-" + frameworkName
}

// OfferConstraints narrow what a framework is offered, so the master never
// offers what the framework cannot use.
type OfferConstraints struct {
	// attributeSelector selects agents by their attributes (node labels
	// agentd selected plus the Agent's spec.attributes). Empty selects all.
	// Operators In and NotIn need at least one value; Exists and
	// DoesNotExist take none. At most 16 expressions of at most 64 values.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="attributeSelector: operator must be one of In, NotIn, Exists, DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn']) || (has(e.values) && size(e.values) > 0))",message="attributeSelector: In and NotIn need at least one value in values, or they match no agent and the framework is offered nothing; add the values or use Exists"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['Exists', 'DoesNotExist']) || !has(e.values) || size(e.values) == 0)",message="attributeSelector: Exists and DoesNotExist take no values; remove values or use In"
	// +kubebuilder:validation:XValidation:rule="(!has(self.matchLabels) || self.matchLabels.all(k, !format.qualifiedName().validate(k).hasValue() && !format.labelValue().validate(self.matchLabels[k]).hasValue())) && (!has(self.matchExpressions) || self.matchExpressions.all(e, !format.qualifiedName().validate(e.key).hasValue() && (!has(e.values) || e.values.all(v, !format.labelValue().validate(v).hasValue()))))",message="attributeSelector: keys must be qualified names (e.g. topology.kubernetes.io/zone) and values label values (at most 63 characters of letters, digits, '-', '_' and '.')"
	AttributeSelector *metav1.LabelSelector `json:"attributeSelector,omitempty"`

	// minResources is the least an offer must hold for the framework to want
	// it, e.g. {cpu: 500m, memory: 512Mi}. It is one more alternative of
	// minAllocatable: set (alone or with minAllocatable), it replaces the
	// master's minimum allocatable for this framework.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="resource quantities must not be negative"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !isQuantity(string(self[k])) || quantity(string(self[k])).compareTo(quantity(k == 'cpu' ? '1M' : '1Pi')) <= 0)",message="resource quantities must be at most 1M for cpu (cores) and 1Pi for any other resource (in its base unit): no node is that large; lower the quantity"
	MinResources corev1.ResourceList `json:"minResources,omitempty"`

	// minAllocatable are alternatives for the least an offer must hold for
	// the framework to want it: an offer is made only if it holds at least
	// one of them in full, e.g. [{cpu: "2", memory: 4Gi}, {nvidia.com/gpu: 1}]
	// takes either 2 cpu with 4Gi or one GPU. As Mesos's FrameworkInfo
	// offer_filters min_allocatable_resources, they replace the master's
	// minimum allocatable (--min-allocatable-cpu or --min-allocatable-memory,
	// 10m or 32Mi by default) for this framework; minResources, when set,
	// is one more alternative. An empty alternative ({}) takes any offer
	// that is not empty. Unset (and no minResources), the master's minimum
	// applies.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(alt, alt.all(k, !string(alt[k]).startsWith('-')))",message="resource quantities must not be negative"
	MinAllocatable []corev1.ResourceList `json:"minAllocatable,omitempty"`
}

// BuiltinScheduler asks the master to schedule the framework's Tasks itself.
//
// +kubebuilder:validation:XValidation:rule="!has(self.spreadAttribute) || self.policy == 'Spread'",message="spreadAttribute applies only to the Spread policy: remove it or set policy to Spread"
type BuiltinScheduler struct {
	// policy is how the master places the framework's Tasks that name no
	// offer, in creation order.
	// +required
	Policy SchedulingPolicy `json:"policy"`

	// spreadAttribute is the agent attribute whose values Spread balances
	// over. Defaults to kubernetes.io/hostname.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	SpreadAttribute string `json:"spreadAttribute,omitempty"`
}

// FrameworkSpec is a framework's registration: who it is, how it shares the
// cluster, and what it wants to be offered.
type FrameworkSpec struct {
	// role is the role the framework is offered resources as. Defaults to
	// "default". It cannot change: move a framework by creating a new one.
	// +optional
	// +kubebuilder:default=default
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="role is immutable: create a new Framework to use another role"
	Role string `json:"role,omitempty"`

	// failoverTimeout is how long the framework's scheduler may stay
	// disconnected (heartbeat Lease not renewed) before the master tears the
	// framework down: kills its tasks and rescinds its offers. Defaults to 1h.
	// Frameworks with a built-in scheduler never disconnect.
	// Between 1s and 8760h (365 days); 0s is refused because the Framework
	// exists before its scheduler first connects, so it would be torn down
	// at creation (use 1s for Mesos's "tear down as soon as it disconnects").
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('8760h')",message="failoverTimeout must be between 1s and 8760h (365 days)"
	FailoverTimeout *metav1.Duration `json:"failoverTimeout,omitempty"`

	// refuseDuration is how long the master hides an agent from this
	// framework after it declines an offer of it without saying how long
	// (including by deleting the offer). Defaults to 5s, Mesos's default.
	// Between 0s and 8760h (365 days), Mesos's bounds on refuse_seconds.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('8760h')",message="refuseDuration must be between 0s and 8760h (365 days), as Mesos bounds refuse_seconds"
	RefuseDuration *metav1.Duration `json:"refuseDuration,omitempty"`

	// offers says whether the framework wants offers: Suppressed stops them
	// (Mesos's SUPPRESS), Active resumes them. Defaults to Active.
	// +optional
	// +kubebuilder:default=Active
	Offers OfferMode `json:"offers,omitempty"`

	// revivedAt is Mesos's REVIVE: setting it to the current time drops every
	// decline filter the framework installed before that time, so declined
	// agents are offered again at once.
	// +optional
	RevivedAt *metav1.Time `json:"revivedAt,omitempty"`

	// offerConstraints narrow what the framework is offered.
	// +optional
	OfferConstraints *OfferConstraints `json:"offerConstraints,omitempty"`

	// capabilities the framework opts in to.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	Capabilities []FrameworkCapability `json:"capabilities,omitempty"`

	// scheduler, when set, makes the master schedule this framework's Tasks
	// with a built-in policy, so plain `kubectl apply` of Tasks runs them.
	// +optional
	Scheduler *BuiltinScheduler `json:"scheduler,omitempty"`
}

// FrameworkStatus is the master's view of a framework.
type FrameworkStatus struct {
	// frameworkID is the ID the master gave the framework when it registered
	// (the object's UID; stable across scheduler failovers).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	FrameworkID string `json:"frameworkID,omitempty"`

	// conditions are Registered, Connected, Suppressed and TornDown.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// allocated is the sum of the resources of the framework's non-terminal,
	// bound tasks.
	// +optional
	Allocated corev1.ResourceList `json:"allocated,omitempty"`

	// offered is the sum of the resources of the framework's outstanding offers.
	// +optional
	Offered corev1.ResourceList `json:"offered,omitempty"`

	// dominantShare is the framework's dominant share of the cluster, a
	// decimal between 0 and 1 (e.g. "0.250").
	// +optional
	// +kubebuilder:validation:MaxLength=16
	DominantShare string `json:"dominantShare,omitempty"`

	// activeTasks is how many of the framework's tasks are not terminal.
	// +optional
	ActiveTasks int32 `json:"activeTasks,omitempty"`

	// taskCounts is how many of the framework's tasks are in each state.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	TaskCounts map[TaskState]int32 `json:"taskCounts,omitempty"`

	// observedGeneration is the spec generation the master last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Framework is a scheduler that shares the cluster: it is offered resources
// as its role and accepts them by creating Tasks. Its scheduler runs outside
// the master (using the SDK) or inside it (spec.scheduler).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fw,categories=kubeoffer
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="a Framework's name must be at most 63 characters: it labels the framework's offers and Pods, and a label value holds at most 63"
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Connected",type=string,JSONPath=`.status.conditions[?(@.type=="Connected")].status`
// +kubebuilder:printcolumn:name="Offers",type=string,JSONPath=`.spec.offers`
// +kubebuilder:printcolumn:name="Tasks",type=integer,JSONPath=`.status.activeTasks`,description="Non-terminal tasks"
// +kubebuilder:printcolumn:name="Share",type=string,JSONPath=`.status.dominantShare`,description="Dominant resource share"
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.scheduler.policy`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Framework struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the framework's registration.
	// +optional
	Spec FrameworkSpec `json:"spec,omitempty"`

	// status is the master's view of the framework.
	// +optional
	Status FrameworkStatus `json:"status,omitempty"`
}

// FrameworkList is a list of Frameworks.
//
// +kubebuilder:object:root=true
type FrameworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Framework `json:"items"`
}

func init() {
	register(&Framework{}, &FrameworkList{})
}
