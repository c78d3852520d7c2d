// Package v1alpha1 contains the kubeoffer.io/v1alpha1 API: the five kinds that
// carry Mesos-style two-level scheduling on Kubernetes (Agent, Role,
// Framework, ResourceOffer and Task).
//
// +kubebuilder:object:generate=true
// +groupName=kubeoffer.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "kubeoffer.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	// It is apimachinery's builder rather than controller-runtime's, so
	// importing the API does not pull in controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	// knownTypes holds the kinds each *_types.go file registers in its init.
	knownTypes []runtime.Object
)

// register records a kind and its list for addKnownTypes.
func register(objects ...runtime.Object) {
	knownTypes = append(knownTypes, objects...)
}

// addKnownTypes adds every registered kind, and the meta/v1 options kinds, to
// the scheme under GroupVersion.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
