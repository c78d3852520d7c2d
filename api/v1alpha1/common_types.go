package v1alpha1

// DefaultRole is the role of a Framework that names none. A role without a
// Role object has weight 1 and no quota.
const DefaultRole = "default"

// PortRange is an inclusive range of TCP/UDP host ports, Mesos's "ranges"
// resource type: {begin: 31000, end: 32000} is 1001 ports.
//
// +kubebuilder:validation:XValidation:rule="self.begin <= self.end",message="port range begin must not be greater than end: write the lower port in begin"
type PortRange struct {
	// begin is the first port of the range.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Begin int32 `json:"begin"`

	// end is the last port of the range (inclusive).
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	End int32 `json:"end"`
}

// Size returns how many ports the range holds.
func (r PortRange) Size() int64 {
	if r.End < r.Begin {
		return 0
	}
	return int64(r.End) - int64(r.Begin) + 1
}

// Condition types shared by several kinds live next to the kind they describe
// (see agent_types.go, framework_types.go, task_types.go).
