package v1alpha1

import "k8s.io/apimachinery/pkg/types"

// FrameworkKey names a framework: its namespace and name. A Task and a
// ResourceOffer name their framework by spec.frameworkName in their own
// namespace; Key and the FrameworkKey methods are the only ways to build one,
// and String its only text form (the allocator's key and the metrics' label).
//
// +kubebuilder:object:generate=false
type FrameworkKey struct {
	// Namespace is the framework's namespace.
	Namespace string
	// Name is the framework's name.
	Name string
}

// String returns "namespace/name".
func (k FrameworkKey) String() string { return k.Namespace + "/" + k.Name }

// NamespacedName returns the key for reading the Framework object.
func (k FrameworkKey) NamespacedName() types.NamespacedName {
	return types.NamespacedName{Namespace: k.Namespace, Name: k.Name}
}

// Key returns the framework's key.
func (f *Framework) Key() FrameworkKey {
	return FrameworkKey{Namespace: f.Namespace, Name: f.Name}
}

// FrameworkKey returns the key of the framework that launched the task.
func (t *Task) FrameworkKey() FrameworkKey {
	return FrameworkKey{Namespace: t.Namespace, Name: t.Spec.FrameworkName}
}

// FrameworkKey returns the key of the framework the offer is made to.
func (o *ResourceOffer) FrameworkKey() FrameworkKey {
	return FrameworkKey{Namespace: o.Namespace, Name: o.Spec.FrameworkName}
}
