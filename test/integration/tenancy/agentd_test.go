package tenancy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// cleanup deletes obj when the test ends (cluster-scoped objects and the
// release namespace's Leases outlive the test's namespace).
func cleanup(t *testing.T, obj client.Object) {
	t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), obj) })
}

func pod(ns, name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{
		NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}
}

func lease(name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: releaseNS,
		Labels: map[string]string{kov1.LabelHeartbeat: kov1.HeartbeatAgent}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](50)}}
}

// TestAgentdNode: agentd's service account, with a token bound to a Pod on
// its node, writes that node's Agent, heartbeat Lease, Tasks and Pods and
// nothing of another node's; without a node name it writes nothing.
func TestAgentdNode(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	s := strings.TrimPrefix(ns, "testagentdnode-")
	mine, theirs := "mine-"+s, "theirs-"+s
	node := agentd(t, mine)

	// Another node's objects, as its own agentd and the master made them.
	their := b.MakeAgent(theirs).Obj()
	harness.Must(t, cp.Client.Create(ctx, their))
	cleanup(t, their)
	theirLease := lease(theirs)
	harness.Must(t, cp.Client.Create(ctx, theirLease))
	cleanup(t, theirLease)
	theirPod := pod(ns, "their-pod", theirs)
	harness.Must(t, cp.Client.Create(ctx, theirPod))
	for name, agent := range map[string]string{"their-task": theirs, "my-task": mine} {
		tk := b.MakeTask(name, ns, "fw").Obj()
		harness.Must(t, cp.Client.Create(ctx, tk))
		tk.Status = b.MakeTask(name, ns, "fw").Bound(agent, kov1.TaskStaging).Obj().Status
		harness.Must(t, cp.Client.Status().Update(ctx, tk))
	}
	harness.Eventually(t, "the agentd policy to refuse another node's Agent", func() (bool, string) {
		err := node.Create(ctx, b.MakeAgent(theirs+"-probe").Obj(), client.DryRunAll)
		return apierrors.IsForbidden(err), fmt.Sprintf("%v", err)
	})

	refusal := func(what string) string {
		return "agentd on node " + mine + " may write only the Agent, heartbeat Lease, Tasks and Pods of that node; refused " + what
	}
	task := func(name string) *kov1.Task {
		tk := &kov1.Task{}
		harness.Must(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tk))
		return tk
	}
	steps := []struct {
		name string
		act  func(c client.Client) error
		want string
	}{
		{"creates its own Agent", func(c client.Client) error {
			a := b.MakeAgent(mine).Obj()
			cleanup(t, a)
			return c.Create(ctx, a)
		}, ""},
		{"writes its own Agent's status", func(c client.Client) error {
			a := &kov1.Agent{}
			harness.Must(t, cp.Client.Get(ctx, client.ObjectKey{Name: mine}, a))
			a.Status.Allocatable = b.Resources("cpu", "1")
			return c.Status().Update(ctx, a)
		}, ""},
		{"creates another node's Agent", func(c client.Client) error {
			return c.Create(ctx, b.MakeAgent(theirs+"-new").Obj())
		}, refusal("CREATE of Agent " + theirs + "-new")},
		{"writes another node's Agent's status", func(c client.Client) error {
			harness.Must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(their), their))
			their.Status.Allocatable = b.Resources("cpu", "64")
			return c.Status().Update(ctx, their)
		}, refusal("UPDATE of Agent " + theirs)},
		{"creates its own heartbeat Lease", func(c client.Client) error {
			l := lease(mine)
			cleanup(t, l)
			return c.Create(ctx, l)
		}, ""},
		{"renews its own heartbeat Lease", func(c client.Client) error {
			l := &coordinationv1.Lease{}
			harness.Must(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: mine}, l))
			l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
			return c.Update(ctx, l)
		}, ""},
		{"renews another node's Lease", func(c client.Client) error {
			harness.Must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(theirLease), theirLease))
			theirLease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
			return c.Update(ctx, theirLease)
		}, refusal("UPDATE of Lease " + releaseNS + "/" + theirs)},
		{"creates a Lease for another node", func(c client.Client) error {
			return c.Create(ctx, lease(theirs+"-new"))
		}, refusal("CREATE of Lease " + releaseNS + "/" + theirs + "-new")},
		{"reports a task bound to it", func(c client.Client) error {
			tk := task("my-task")
			tk.Status.State, tk.Status.Message = kov1.TaskStarting, "Pod created"
			return c.Status().Update(ctx, tk)
		}, ""},
		{"adds its finalizer to a task bound to it", func(c client.Client) error {
			tk := task("my-task")
			next := tk.DeepCopy()
			next.Finalizers = append(next.Finalizers, kov1.TaskKillFinalizer)
			return c.Patch(ctx, next, client.MergeFrom(tk))
		}, ""},
		{"hands a task bound to it to another agent", func(c client.Client) error {
			tk := task("my-task")
			tk.Status.AgentName = theirs
			return c.Status().Update(ctx, tk)
		}, refusal(`UPDATE of Task ` + ns + `/my-task, bound to agent "` + theirs + `"`)},
		{"reports a task bound to another agent", func(c client.Client) error {
			tk := task("their-task")
			tk.Status.State = kov1.TaskFailed
			return c.Status().Update(ctx, tk)
		}, refusal(`UPDATE of Task ` + ns + `/their-task, bound to agent "` + theirs + `"`)},
		{"adds a finalizer to a task bound to another agent", func(c client.Client) error {
			tk := task("their-task")
			next := tk.DeepCopy()
			next.Finalizers = append(next.Finalizers, kov1.TaskKillFinalizer)
			return c.Patch(ctx, next, client.MergeFrom(tk))
		}, refusal(`UPDATE of Task ` + ns + `/their-task`)},
		{"creates a Pod on its node", func(c client.Client) error {
			return c.Create(ctx, pod(ns, "my-pod", mine))
		}, ""},
		{"deletes a Pod on its node", func(c client.Client) error {
			return c.Delete(ctx, pod(ns, "my-pod", mine))
		}, ""},
		{"creates a Pod on another node", func(c client.Client) error {
			return c.Create(ctx, pod(ns, "sneaky", theirs))
		}, refusal(`CREATE of Pod ` + ns + `/sneaky, on node "` + theirs + `"`)},
		{"creates a Pod for the scheduler to place", func(c client.Client) error {
			return c.Create(ctx, pod(ns, "unplaced", ""))
		}, refusal(`CREATE of Pod ` + ns + `/unplaced, on node ""`)},
		{"deletes a Pod on another node", func(c client.Client) error {
			return c.Delete(ctx, theirPod)
		}, refusal(`DELETE of Pod ` + ns + `/their-pod, on node "` + theirs + `"`)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) { judge(t, st.act(node), st.want) })
	}

	// A token of agentd's service account that names no node (not bound
	// to a Pod) writes nothing, not even what agentd may write for a node.
	t.Run("writes without a node name", func(t *testing.T) {
		judge(t, agentd(t, "").Create(ctx, b.MakeAgent(mine+"-nameless").Obj()), "agentd's credentials name no node")
	})
}
