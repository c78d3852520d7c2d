package mesosapi

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
)

// Mesos's names of the resources kubeoffer translates, and kubeoffer's.
const (
	ResourceCPUs  = "cpus"
	ResourceMem   = "mem"
	ResourceDisk  = "disk"
	ResourceGPUs  = "gpus"
	ResourcePorts = "ports"

	// ResourceNvidiaGPU is the Kubernetes name Mesos's gpus map to.
	ResourceNvidiaGPU corev1.ResourceName = "nvidia.com/gpu"
)

// MesosRoleAny is Mesos's default role, "*". kubeoffer calls it "default".
const MesosRoleAny = "*"

// mebibyte is Mesos's "MB": mem and disk are counted in MiB.
const mebibyte = 1 << 20

// KubeRole is the kubeoffer role a Mesos role name means: "*" is
// kubeoffer's default role, every other name is itself.
func KubeRole(mesosRole string) string {
	if mesosRole == MesosRoleAny || mesosRole == "" {
		return kov1.DefaultRole
	}
	return mesosRole
}

// MesosRole is the Mesos name of a kubeoffer role (the inverse of KubeRole).
func MesosRole(kubeRole string) string {
	if kubeRole == kov1.DefaultRole || kubeRole == "" {
		return MesosRoleAny
	}
	return kubeRole
}

// Capabilities are the FrameworkInfo capabilities that change what
// kubeoffer sends a framework.
type Capabilities struct {
	// MultiRole: resources carry allocation_info, offers their role.
	MultiRole bool
	// ReservationRefinement: resources in the post-refinement format (no
	// deprecated role field).
	ReservationRefinement bool
	// PartitionAware: Unreachable, Dropped, Gone and Unknown states are
	// sent as themselves, not as TASK_LOST.
	PartitionAware bool
	// TaskKillingState: a killed task is reported TASK_KILLING first.
	TaskKillingState bool
	// GPUResources: the framework may be offered agents with GPUs.
	GPUResources bool
}

// CapabilitiesOf reads the capabilities a FrameworkInfo declares.
func CapabilitiesOf(fi *mesospb.FrameworkInfo) Capabilities {
	var c Capabilities
	for _, cp := range fi.GetCapabilities() {
		switch cp.GetType() {
		case mesospb.FrameworkInfo_Capability_MULTI_ROLE:
			c.MultiRole = true
		case mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT:
			c.ReservationRefinement = true
		case mesospb.FrameworkInfo_Capability_PARTITION_AWARE:
			c.PartitionAware = true
		case mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE:
			c.TaskKillingState = true
		case mesospb.FrameworkInfo_Capability_GPU_RESOURCES:
			c.GPUResources = true
		}
	}
	return c
}

// AgentAddress is how an offer's url names its agent's node.
type AgentAddress struct {
	// IP is the node's internal address ("" if unknown).
	IP string
}

// agentPort is the port an offer's url names: Mesos's agent port. Nothing
// listens there; the field is required, and clients read only its host.
const agentPort = 5051

// Offer translates a ResourceOffer into a Mesos Offer for framework
// frameworkID: id = the offer's name, agent id = the Agent's name, hostname
// = the node's, resources in Mesos's names and units (cpus in cores, mem and
// disk in MB, gpus, ports as ranges, any other resource as a scalar under
// its Kubernetes name), and attributes as Mesos parses agent attributes
// (numbers are scalars, everything else text).
func Offer(o *kov1.ResourceOffer, frameworkID string, caps Capabilities, addr AgentAddress) *mesospb.Offer {
	role := MesosRole(o.Spec.Role)
	host := o.Spec.NodeName
	if host == "" {
		host = o.Spec.AgentName
	}
	out := &mesospb.Offer{
		Id:          &mesospb.OfferID{Value: proto.String(o.Name)},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(frameworkID)},
		AgentId:     &mesospb.AgentID{Value: proto.String(o.Spec.AgentName)},
		Hostname:    proto.String(host),
		Url: &mesospb.URL{Scheme: proto.String("http"), Path: proto.String("/slave(1)"),
			Address: &mesospb.Address{Hostname: proto.String(host), Port: proto.Int32(agentPort)}},
		Resources:  OfferResources(o.Spec.Resources, o.Spec.Ports, role, caps),
		Attributes: Attributes(o.Spec.Attributes),
	}
	if addr.IP != "" {
		out.Url.Address.Ip = proto.String(addr.IP)
	}
	if caps.MultiRole {
		out.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
	}
	return out
}

// OfferResources translates a ResourceList and ports into Mesos resources
// allocated to role (a Mesos role name), sorted by name. Quantities are
// rounded down to Mesos's three decimals, so a task asking for everything
// an offer shows always fits. Resources of zero are left out.
func OfferResources(rl corev1.ResourceList, ports []kov1.PortRange, role string, caps Capabilities) []*mesospb.Resource {
	var out []*mesospb.Resource
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		q := rl[corev1.ResourceName(n)]
		name, value := mesosScalar(corev1.ResourceName(n), q)
		if value <= 0 {
			continue
		}
		out = append(out, withRole(&mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(),
			Scalar: &mesospb.Value_Scalar{Value: proto.Float64(value)}}, role, caps))
	}
	if len(ports) > 0 {
		r := &mesospb.Resource{Name: proto.String(ResourcePorts), Type: mesospb.Value_RANGES.Enum(), Ranges: &mesospb.Value_Ranges{}}
		for _, p := range ports {
			r.Ranges.Range = append(r.Ranges.Range, &mesospb.Value_Range{Begin: proto.Uint64(uint64(p.Begin)), End: proto.Uint64(uint64(p.End))})
		}
		out = append(out, withRole(r, role, caps))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// mesosScalar is the Mesos name and value of a Kubernetes quantity.
func mesosScalar(n corev1.ResourceName, q resource.Quantity) (string, float64) {
	switch n {
	case corev1.ResourceCPU:
		return ResourceCPUs, float64(q.MilliValue()) / 1000
	case corev1.ResourceMemory:
		return ResourceMem, floor3(float64(q.Value()) / mebibyte)
	case corev1.ResourceEphemeralStorage:
		return ResourceDisk, floor3(float64(q.Value()) / mebibyte)
	case ResourceNvidiaGPU:
		return ResourceGPUs, float64(q.Value())
	}
	return string(n), float64(q.MilliValue()) / 1000
}

// floor3 rounds down to Mesos's fixed point of three decimals.
func floor3(v float64) float64 { return math.Floor(v*1000) / 1000 }

// withRole marks r as allocated to role: allocation_info for MULTI_ROLE
// frameworks, and the deprecated role "*" (unreserved) for frameworks that
// read the pre-refinement format. kubeoffer offers no reserved resources
// to Mesos frameworks (see docs/mesos-api.md).
func withRole(r *mesospb.Resource, role string, caps Capabilities) *mesospb.Resource {
	if caps.MultiRole {
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
	}
	if !caps.ReservationRefinement {
		r.Role = proto.String(MesosRoleAny)
	}
	return r
}

// Attributes translates an offer's attributes, sorted by name: a value that
// parses as a number is a SCALAR, every other a TEXT.
func Attributes(attrs map[string]string) []*mesospb.Attribute {
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []*mesospb.Attribute
	for _, k := range names {
		v := attrs[k]
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			out = append(out, &mesospb.Attribute{Name: proto.String(k), Type: mesospb.Value_SCALAR.Enum(),
				Scalar: &mesospb.Value_Scalar{Value: proto.Float64(f)}})
			continue
		}
		out = append(out, &mesospb.Attribute{Name: proto.String(k), Type: mesospb.Value_TEXT.Enum(),
			Text: &mesospb.Value_Text{Value: proto.String(v)}})
	}
	return out
}

// TaskResources sums Mesos resources into a task's ResourceList and ports:
// cpus in cores become cpu (rounded to the millicore), mem and disk in MB
// become memory and ephemeral-storage, gpus nvidia.com/gpu, ports port
// ranges, and any other scalar the Kubernetes resource of the same name
// (kubeoffer offered it under that name). role is the Mesos role of the
// offer: a resource allocated or reserved to another role, or that is
// revocable, shared, a disk volume or from a resource provider, is not
// something a kubeoffer offer holds, and is refused.
func TaskResources(rs []*mesospb.Resource, role string) (corev1.ResourceList, []kov1.PortRange, error) {
	milli := map[corev1.ResourceName]int64{}
	var ports []kov1.PortRange
	for _, r := range rs {
		name := r.GetName()
		if err := checkResourceShape(r, role); err != nil {
			return nil, nil, err
		}
		if name == ResourcePorts {
			if r.GetType() != mesospb.Value_RANGES {
				return nil, nil, fmt.Errorf("resource ports must be of type RANGES, not %s", r.GetType())
			}
			for _, rg := range r.GetRanges().GetRange() {
				if rg.GetBegin() > rg.GetEnd() || rg.GetEnd() > 65535 {
					return nil, nil, fmt.Errorf("port range [%d-%d] is not a range of ports (0-65535, begin ≤ end)", rg.GetBegin(), rg.GetEnd())
				}
				ports = append(ports, kov1.PortRange{Begin: int32(rg.GetBegin()), End: int32(rg.GetEnd())})
			}
			continue
		}
		if r.GetType() != mesospb.Value_SCALAR {
			return nil, nil, fmt.Errorf("resource %s is of type %s; kubeoffer offers only scalars and ports", name, r.GetType())
		}
		v := r.GetScalar().GetValue()
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > 1e9 {
			return nil, nil, fmt.Errorf("resource %s has value %v; use a non-negative amount of at most 1e9", name, v)
		}
		switch name {
		case ResourceCPUs:
			milli[corev1.ResourceCPU] += int64(math.Round(v * 1000))
		case ResourceMem:
			milli[corev1.ResourceMemory] += int64(math.Round(v*mebibyte)) * 1000
		case ResourceDisk:
			milli[corev1.ResourceEphemeralStorage] += int64(math.Round(v*mebibyte)) * 1000
		case ResourceGPUs:
			if v != math.Trunc(v) {
				return nil, nil, fmt.Errorf("gpus must be a whole number, not %v", v)
			}
			milli[ResourceNvidiaGPU] += int64(v) * 1000
		default:
			milli[corev1.ResourceName(name)] += int64(math.Round(v * 1000))
		}
	}
	rl := corev1.ResourceList{}
	for n, m := range milli {
		switch n {
		case corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
			rl[n] = *resource.NewQuantity(m/1000, resource.BinarySI)
		case ResourceNvidiaGPU:
			rl[n] = *resource.NewQuantity(m/1000, resource.DecimalSI)
		default:
			rl[n] = *resource.NewMilliQuantity(m, resource.DecimalSI)
		}
	}
	return rl, ports, nil
}

// checkResourceShape refuses resources a kubeoffer offer cannot hold.
func checkResourceShape(r *mesospb.Resource, role string) error {
	name := r.GetName()
	switch {
	case name == "":
		return fmt.Errorf("a resource has no name")
	case r.ProviderId != nil:
		return fmt.Errorf("resource %s is from a resource provider; kubeoffer has none", name)
	case r.Disk != nil:
		return fmt.Errorf("resource %s has disk info (volumes, persistence, disk sources); kubeoffer offers plain disk only", name)
	case r.Revocable != nil:
		return fmt.Errorf("resource %s is revocable; kubeoffer offers no revocable resources yet", name)
	case r.Shared != nil:
		return fmt.Errorf("resource %s is shared; kubeoffer offers no shared resources", name)
	case r.Reservation != nil || len(r.GetReservations()) > 0 || (r.Role != nil && r.GetRole() != MesosRoleAny):
		return fmt.Errorf("resource %s is reserved; kubeoffer offers Mesos frameworks unreserved resources only", name)
	case r.AllocationInfo != nil && r.GetAllocationInfo().GetRole() != role:
		return fmt.Errorf("resource %s is allocated to role %q, but the offer was made to role %q", name, r.GetAllocationInfo().GetRole(), role)
	}
	return nil
}

// sanitizeName lowercases s and keeps letters, digits and '-', for names
// built from framework and task names; runs of anything else become '-'.
func sanitizeName(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > max {
		out = strings.Trim(out[:max], "-")
	}
	return out
}
