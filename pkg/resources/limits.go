package resources

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// GPU is the resource name of an NVIDIA GPU, the one the allocator keeps
// GPU agents for (Mesos's GPU_RESOURCES capability).
const GPU corev1.ResourceName = "nvidia.com/gpu"

// Limit turns a limit (a role's quota) into a Vec that holds -1, unlimited,
// for every resource rl does not name, registering the names it does.
func (d *Dims) Limit(rl corev1.ResourceList) Vec {
	v := d.FromList(rl)
	out := make(Vec, d.Len())
	for i := range out {
		out[i] = -1
	}
	for name := range rl {
		i := d.Index(name)
		out[i] = v[i]
	}
	return out
}

// HasGPU reports whether rl names a positive quantity of GPU.
func HasGPU(rl corev1.ResourceList) bool {
	q, ok := rl[GPU]
	return ok && q.Cmp(resource.Quantity{}) > 0
}

// AddTo adds v to m[k], starting m[k] as a zero Vec of length n. v is copied,
// never kept.
func AddTo(m map[string]Vec, k string, v Vec, n int) {
	cur, ok := m[k]
	if !ok {
		cur = make(Vec, n)
		m[k] = cur
	}
	cur.Add(v)
}
