package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

func node(ready corev1.ConditionStatus) *corev1.Node {
	n := &corev1.Node{}
	n.Name = "node"
	n.Labels = map[string]string{"topology.kubernetes.io/zone": "z1", "kubernetes.io/hostname": "node", "team": "x"}
	n.Status.Allocatable = b.Resources("cpu", "4", "memory", "8Gi", "pods", "110", "nvidia.com/gpu", "2", "hugepages-1Gi", "0")
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Message: "kubelet says so"}}
	return n
}

func podOn(name string, requests corev1.ResourceList, labels map[string]string, phase corev1.PodPhase) corev1.Pod {
	p := corev1.Pod{Spec: corev1.PodSpec{NodeName: "node", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: requests}}}}}
	p.Name, p.Labels, p.Status.Phase = name, labels, phase
	return p
}

func TestComputeStatus(t *testing.T) {
	now := metav1.Time{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	live := b.MakeTask("live", "ns", "fw").UID("live").Bound("node", kov1.TaskRunning).Resources(b.Resources("cpu", "1", "memory", "1Gi")).Obj()
	done := b.MakeTask("done", "ns", "fw").UID("done").Bound("node", kov1.TaskFinished).Resources(b.Resources("cpu", "1", "memory", "1Gi")).Obj()
	lost := b.MakeTask("lost", "ns", "fw").UID("lost").Bound("node", kov1.TaskLost).Resources(b.Resources("cpu", "1", "memory", "1Gi")).Obj()
	in := StatusInput{
		Node: node(corev1.ConditionTrue),
		Pods: []corev1.Pod{
			podOn("foreign", b.Resources("cpu", "500m", "memory", "512Mi"), nil, corev1.PodRunning),
			podOn("foreign-done", b.Resources("cpu", "2"), nil, corev1.PodSucceeded),
			podOn("live", b.Resources("cpu", "1", "memory", "1Gi"), map[string]string{kov1.LabelTaskUID: "live"}, corev1.PodRunning),
			podOn("done", b.Resources("cpu", "1", "memory", "1Gi"), map[string]string{kov1.LabelTaskUID: "done"}, corev1.PodSucceeded),
			// A Lost task's Pod that still runs holds resources the master
			// no longer counts: it is foreign load until it stops.
			podOn("lost", b.Resources("cpu", "250m"), map[string]string{kov1.LabelTaskUID: "lost"}, corev1.PodRunning),
		},
		Tasks:           []kov1.Task{*live, *done, *lost},
		Spec:            kov1.AgentSpec{Attributes: map[string]string{"rack": "r9"}},
		AttributeLabels: []string{"topology.kubernetes.io/zone", "kubernetes.io/hostname", "absent"},
		Attributes:      map[string]string{"rack": "r1", "disk": "ssd"},
		Ports:           []kov1.PortRange{{Begin: 31000, End: 32000}},
		SystemReserved:  b.Resources("cpu", "250m", "memory", "512Mi"),
	}
	prev := kov1.AgentStatus{Conditions: []metav1.Condition{{Type: kov1.AgentReachableCondition, Status: metav1.ConditionTrue, Reason: "HeartbeatFresh"}}}
	st := ComputeStatus(in, prev, 3, now)

	for _, tc := range []struct {
		what      string
		got, want corev1.ResourceList
	}{
		{"capacity", st.Capacity, b.Resources("cpu", "4", "memory", "8Gi", "nvidia.com/gpu", "2")},
		{"allocatable", st.Allocatable, b.Resources("cpu", "3", "memory", "7Gi", "nvidia.com/gpu", "2")},
		{"allocated", st.Allocated, b.Resources("cpu", "1", "memory", "1Gi")},
	} {
		if !equalLists(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	wantAttrs := map[string]string{"topology.kubernetes.io/zone": "z1", "kubernetes.io/hostname": "node", "rack": "r9", "disk": "ssd"}
	if d := cmp.Diff(wantAttrs, st.Attributes); d != "" {
		t.Errorf("attributes (-want +got):\n%s", d)
	}
	if !meta.IsStatusConditionTrue(st.Conditions, kov1.AgentReadyCondition) {
		t.Errorf("Ready should be True on a Ready node: %+v", st.Conditions)
	}
	if !meta.IsStatusConditionTrue(st.Conditions, kov1.AgentReachableCondition) {
		t.Error("the master's Reachable condition must be kept")
	}
	if st.ObservedGeneration != 3 || len(st.Ports) != 1 {
		t.Errorf("observedGeneration %d ports %v", st.ObservedGeneration, st.Ports)
	}

	// Unchanged input, unchanged status: nothing to write.
	if again := ComputeStatus(in, st, 3, metav1.Time{Time: now.Add(time.Hour)}); !cmp.Equal(again, st) {
		t.Errorf("recomputing changed the status:\n%s", cmp.Diff(st, again))
	}
}

func TestComputeStatusNotReady(t *testing.T) {
	now := metav1.Time{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := ComputeStatus(StatusInput{Node: node(corev1.ConditionFalse)}, kov1.AgentStatus{}, 1, now)
	c := meta.FindStatusCondition(st.Conditions, kov1.AgentReadyCondition)
	if c == nil || c.Status != metav1.ConditionFalse || c.Message != "Node node is not Ready: kubelet says so" {
		t.Errorf("Ready = %+v", c)
	}
	cordoned := node(corev1.ConditionTrue)
	cordoned.Spec.Unschedulable = true
	st = ComputeStatus(StatusInput{Node: cordoned}, kov1.AgentStatus{}, 1, now)
	if meta.IsStatusConditionTrue(st.Conditions, kov1.AgentReadyCondition) {
		t.Error("a cordoned node must not be Ready for new tasks")
	}
	// Foreign load beyond the node's allocatable leaves zero, not less.
	over := StatusInput{Node: node(corev1.ConditionTrue), Pods: []corev1.Pod{podOn("big", b.Resources("cpu", "16"), nil, corev1.PodRunning)}}
	if q := ComputeStatus(over, kov1.AgentStatus{}, 1, now).Allocatable[corev1.ResourceCPU]; q.Sign() != 0 {
		t.Errorf("allocatable cpu = %s, want 0", q.String())
	}
}
