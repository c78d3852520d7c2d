package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OfferDecline is a framework's answer that it will not use (the rest of) an
// offer.
type OfferDecline struct {
	// refuseDuration is how long the master must not offer this agent to the
	// framework again. Defaults to the framework's spec.refuseDuration.
	// Between 0s and 8760h (365 days), Mesos's bounds on refuse_seconds.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('8760h')",message="decline.refuseDuration must be between 0s and 8760h (365 days), as Mesos bounds refuse_seconds"
	RefuseDuration *metav1.Duration `json:"refuseDuration,omitempty"`
}

// ResourceOfferSpec is what is offered, to whom, until when. The master
// writes it once; only decline may be set afterwards, once, by the framework.
//
// +kubebuilder:validation:XValidation:rule="self.frameworkName == oldSelf.frameworkName",message="frameworkName is immutable: an offer belongs to one framework for its whole life"
// +kubebuilder:validation:XValidation:rule="self.agentName == oldSelf.agentName",message="agentName is immutable: an offer covers one agent for its whole life"
// +kubebuilder:validation:XValidation:rule="self.role == oldSelf.role",message="role is immutable: an offer is made to one role for its whole life"
// +kubebuilder:validation:XValidation:rule="self.resources == oldSelf.resources",message="resources are immutable: accept part of the offer with Tasks instead of editing it"
// +kubebuilder:validation:XValidation:rule="has(self.nodeName) == has(oldSelf.nodeName) && has(self.ports) == has(oldSelf.ports) && has(self.attributes) == has(oldSelf.attributes) && has(self.expirationTime) == has(oldSelf.expirationTime)",message="nodeName, ports, attributes and expirationTime cannot be added or removed after the offer is made"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.decline) || (has(self.decline) && self.decline == oldSelf.decline)",message="decline can be set only once: the offer is already declined and the master will delete it"
type ResourceOfferSpec struct {
	// frameworkName is the Framework, in this namespace, the offer is made to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	FrameworkName string `json:"frameworkName"`

	// agentName is the Agent whose resources are offered.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	AgentName string `json:"agentName"`

	// nodeName is the node the agent runs on (the same as agentName today).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="nodeName is immutable: an offer covers one node for its whole life"
	NodeName string `json:"nodeName,omitempty"`

	// role is the role the resources are offered as.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Role string `json:"role"`

	// resources are the quantities offered.
	// +required
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="resource quantities must not be negative"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !isQuantity(string(self[k])) || quantity(string(self[k])).compareTo(quantity(k == 'cpu' ? '1M' : '1Pi')) <= 0)",message="resource quantities must be at most 1M for cpu (cores) and 1Pi for any other resource (in its base unit): no node is that large; lower the quantity"
	Resources corev1.ResourceList `json:"resources"`

	// ports are the host port ranges offered.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="ports are immutable: accept part of the offer with Tasks instead of editing it"
	Ports []PortRange `json:"ports,omitempty"`

	// attributes are the agent's attributes when the offer was made.
	// +optional
	// +kubebuilder:validation:MaxProperties=128
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="attributes are immutable: they describe the agent as it was offered"
	Attributes map[string]string `json:"attributes,omitempty"`

	// expirationTime is when the master rescinds the offer if it has not
	// been declined or used up.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="expirationTime is immutable: the master rescinds the offer when it passes"
	ExpirationTime *metav1.Time `json:"expirationTime,omitempty"`

	// decline is the framework's answer that it is done with the offer.
	// Setting it returns what is left to the pool and hides the agent from
	// the framework for the refuse duration. It can be set only once.
	// Deleting the offer declines it with the framework's default refuse
	// duration.
	// +optional
	Decline *OfferDecline `json:"decline,omitempty"`
}

// ResourceOfferStatus is what is left of an offer as Tasks accept it.
type ResourceOfferStatus struct {
	// remaining is what tasks may still draw from the offer: spec.resources
	// minus the resources of the tasks that accepted it. The status stays
	// empty until a task accepts the offer: all of spec.resources (and
	// spec.ports) remains. Empty with acceptedTasks set, nothing remains.
	// +optional
	Remaining corev1.ResourceList `json:"remaining,omitempty"`

	// remainingPorts are the offered ports no accepted task holds.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	RemainingPorts []PortRange `json:"remainingPorts,omitempty"`

	// acceptedTasks are the names of the Tasks bound from this offer.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	AcceptedTasks []string `json:"acceptedTasks,omitempty"`
}

// ResourceOffer offers one agent's free resources to exactly one framework,
// until it expires. Accept it by creating Tasks whose spec.offerName names
// it; decline it by setting spec.decline or deleting it. The master rescinds
// (deletes, with an Event) offers that expire or whose agent is lost.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=offer,categories=kubeoffer
// +kubebuilder:printcolumn:name="Framework",type=string,JSONPath=`.spec.frameworkName`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.spec.resources.cpu`
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.spec.resources.memory`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expirationTime`
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceOffer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what is offered, to whom, until when.
	// +required
	Spec ResourceOfferSpec `json:"spec"`

	// status is what is left of the offer.
	// +optional
	Status ResourceOfferStatus `json:"status,omitempty"`
}

// ResourceOfferList is a list of ResourceOffers.
//
// +kubebuilder:object:root=true
type ResourceOfferList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceOffer `json:"items"`
}

func init() {
	register(&ResourceOffer{}, &ResourceOfferList{})
}
