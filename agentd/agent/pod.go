package agent

import (
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// PodName is the name of the Pod that runs a task: the task's own name, in
// the task's namespace. One name per task is what makes a launch
// idempotent: the API server refuses a second Pod of the same name, so no
// restart of agentd can run a task twice.
func PodName(t *kov1.Task) string { return t.Name }

// PortEnv is the environment variables a task's granted ports become:
// PORT0, PORT1, … in the order of spec.ports, and PORT (= PORT0), as
// Marathon and Aurora set them on Mesos.
func PortEnv(ports []kov1.PortRange) []corev1.EnvVar {
	var env []corev1.EnvVar
	i := 0
	for _, r := range ports {
		for p := r.Begin; p <= r.End; p++ { // End ≤ 65535: p cannot overflow
			env = append(env, corev1.EnvVar{Name: "PORT" + strconv.Itoa(i), Value: strconv.Itoa(int(p))})
			i++
		}
	}
	if len(env) > 0 {
		env = append(env, corev1.EnvVar{Name: "PORT", Value: env[0].Value})
	}
	return env
}

// BuildPod returns the Pod agentd creates for a task bound to node:
//
//   - in the task's namespace, named PodName(t), controlled by the Task
//     (so deleting the Task garbage-collects a Pod agentd could not stop);
//   - labelled with the task, its UID, framework and agent, on top of the
//     template's labels;
//   - pinned to the node (spec.nodeName: no kube-scheduler involved);
//   - restartPolicy Never: a task runs once, as a Mesos task does;
//   - terminationGracePeriodSeconds = the task's kill grace period;
//   - every container with requests = limits, so the Pod is Guaranteed and
//     the kubelet's cgroups hold the task to exactly what it was granted
//     (see containerResources for how a task's resources are split);
//   - PORT0… env vars for the granted ports in every container.
//
// It refuses a template pinned to another node, without containers, or
// asking for what would escape the offer (escapesOffer).
func BuildPod(t *kov1.Task, node string) (*corev1.Pod, error) {
	if n := t.Spec.Template.Spec.NodeName; n != "" && n != node {
		return nil, fmt.Errorf("the template pins the Pod to node %q but the task is bound to node %q", n, node)
	}
	if len(t.Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("the template has no containers")
	}
	if why := escapesOffer(&t.Spec.Template.Spec); why != "" {
		return nil, fmt.Errorf("the template %s, which would let the task's Pod escape its offer", why)
	}
	tpl := t.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        PodName(t),
			Namespace:   t.Namespace,
			Labels:      maps.Clone(tpl.Labels),
			Annotations: maps.Clone(tpl.Annotations),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: kov1.GroupVersion.String(), Kind: "Task", Name: t.Name, UID: t.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: tpl.Spec,
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[kov1.LabelTask] = kov1.LabelValue(t.Name)
	pod.Labels[kov1.LabelTaskUID] = string(t.UID)
	pod.Labels[kov1.LabelFramework] = kov1.LabelValue(t.Spec.FrameworkName)
	pod.Labels[kov1.LabelAgent] = kov1.LabelValue(t.Status.AgentName)
	pod.Spec.NodeName = node
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(killGrace(t))

	app, initRes := containerResources(t.Spec.Resources, pod.Spec.Containers, pod.Spec.InitContainers)
	env := PortEnv(t.Spec.Ports)
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		c.Resources.Requests, c.Resources.Limits = app[i], app[i].DeepCopy()
		c.Env = append(append([]corev1.EnvVar(nil), env...), c.Env...)
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		c.Resources.Requests, c.Resources.Limits = initRes[i], initRes[i].DeepCopy()
		c.Env = append(append([]corev1.EnvVar(nil), env...), c.Env...)
	}
	return pod, nil
}

// escapesOffer says what in a Pod spec would let the Pod bypass the offer
// its task was bound from, or "". The kubeoffer-task-template admission
// policy refuses such a task when it is created; agentd checks again
// because a policy judges only once the API server has loaded it, and a
// task created before (just after an install) or with the policy removed
// must not launch on the host network or with a priority all the same.
func escapesOffer(s *corev1.PodSpec) string {
	switch {
	case s.HostNetwork:
		return "asks for the host network"
	case s.PriorityClassName != "" || s.Priority != nil || s.PreemptionPolicy != nil:
		return "sets a priority"
	case len(s.NodeSelector) > 0 || s.Affinity != nil:
		return "selects nodes"
	case len(s.Overhead) > 0:
		return "sets its own overhead"
	}
	return ""
}

// killGrace is the task's kill grace period in seconds (default 30).
func killGrace(t *kov1.Task) int64 {
	if t.Spec.KillGracePeriodSeconds != nil {
		return *t.Spec.KillGracePeriodSeconds
	}
	return 30
}

// containerResources splits a task's resources over its Pod's containers so
// that the Pod's effective request is exactly the task's resources and every
// container has requests = limits (Guaranteed QoS):
//
//   - the app containers that run together (and sidecars, init containers
//     with restartPolicy Always) share CPU and memory evenly; the first gets
//     the remainder of the division;
//   - every other resource (ephemeral-storage, GPUs, extended resources) is
//     given whole to the first app container: such resources are usually
//     indivisible;
//   - a plain init container runs alone before the app containers, so it
//     may use all of the task's CPU and memory; it gets no other resource.
//
// Resources written in the template's containers are replaced: the task's
// resources are what was granted. The split is returned per container, app
// containers first, then init containers, in template order.
func containerResources(task corev1.ResourceList, containers, initContainers []corev1.Container) (app, init []corev1.ResourceList) {
	sidecars := 0
	for _, c := range initContainers {
		if isSidecar(c) {
			sidecars++
		}
	}
	n := int64(len(containers) + sidecars)
	shares := make([]corev1.ResourceList, n)
	for i := range shares {
		shares[i] = corev1.ResourceList{}
	}
	for name, q := range task {
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			shares[0][name] = q.DeepCopy()
			continue
		}
		split(name, q, shares)
	}
	app = shares[:len(containers)]
	next := len(containers)
	init = make([]corev1.ResourceList, len(initContainers))
	for i, c := range initContainers {
		if isSidecar(c) {
			init[i] = shares[next]
			next++
			continue
		}
		init[i] = corev1.ResourceList{}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := task[name]; ok {
				init[i][name] = q.DeepCopy()
			}
		}
	}
	return app, init
}

// split divides q evenly over shares, the first share taking the remainder.
// CPU is divided in millicores, memory in bytes.
func split(name corev1.ResourceName, q resource.Quantity, shares []corev1.ResourceList) {
	n := int64(len(shares))
	if n == 1 {
		shares[0][name] = q.DeepCopy()
		return
	}
	total := resources.ToInt(name, q) // bounded: the split cannot overflow
	format := q.Format
	each, rest := total/n, total%n
	for i := range shares {
		v := each
		if i == 0 {
			v += rest
		}
		if name == corev1.ResourceCPU {
			shares[i][name] = *resource.NewMilliQuantity(v, resource.DecimalSI)
		} else {
			shares[i][name] = *resource.NewQuantity(v, format)
		}
	}
}

func isSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}
