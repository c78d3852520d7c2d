// Package v1alpha1 contains the kubeoffer.io/v1alpha1 API: the five kinds that
// carry Mesos-style two-level scheduling on Kubernetes (Agent, Role,
// Framework, ResourceOffer and Task).
//
// +kubebuilder:object:generate=true
// +groupName=kubeoffer.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "kubeoffer.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
