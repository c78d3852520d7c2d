//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/sdk"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

// builtin creates a Framework with a built-in policy, whose tasks need no
// scheduler process.
func builtin(t *testing.T, ns, name string) {
	t.Helper()
	must(t, c.Create(context.Background(), b.MakeFramework(name, ns).Policy(kov1.SchedulingPolicyFirstFit).Obj()))
}

// task is a busybox task running sh -c script, with requests = limits.
func task(name, ns, fw, cpu, mem, script string) *kov1.Task {
	tk := b.MakeTask(name, ns, fw).Resources(b.Resources("cpu", cpu, "memory", mem)).Command("sh", "-c", script).KillGracePeriod(5).Obj()
	return tk
}

func waitTask(t *testing.T, ns, name string, deadline time.Duration, states ...kov1.TaskState) *kov1.Task {
	t.Helper()
	tk := &kov1.Task{}
	eventually(t, fmt.Sprintf("task %s to be %v", name, states), deadline, func() (bool, string) {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, tk); err != nil {
			return false, err.Error()
		}
		for _, s := range states {
			if tk.Status.State == s {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s %s: %s", tk.Status.State, tk.Status.Reason, tk.Status.Message)
	})
	return tk
}

// TestInstall: helm install brought up both master replicas, Ready, with
// one leader, and an Agent for the node that agentd reports Ready and the
// master Reachable, with the node's real capacity.
func TestInstall(t *testing.T) {
	ctx := context.Background()
	dep, err := cs.AppsV1().Deployments(releaseNS).Get(ctx, "kubeoffer-master", metav1.GetOptions{})
	must(t, err)
	if dep.Status.ReadyReplicas != 2 {
		t.Errorf("master ready replicas %d, want 2", dep.Status.ReadyReplicas)
	}
	pods, err := cs.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=master"})
	must(t, err)
	eventually(t, "one leader", time.Minute, func() (bool, string) {
		l := &coordinationv1.Lease{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: "kubeoffer-master"}, l); err != nil {
			return false, err.Error()
		}
		holder := ptr.Deref(l.Spec.HolderIdentity, "")
		for _, p := range pods.Items {
			if strings.HasPrefix(holder, p.Name) {
				return true, ""
			}
		}
		return false, "holder " + holder
	})
	eventually(t, "the node's Agent", time.Minute, func() (bool, string) {
		var agents kov1.AgentList
		must(t, c.List(ctx, &agents))
		for _, a := range agents.Items {
			if meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReadyCondition) &&
				meta.IsStatusConditionTrue(a.Status.Conditions, kov1.AgentReachableCondition) &&
				!a.Status.Capacity.Cpu().IsZero() && !a.Status.Allocatable.Memory().IsZero() {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d agents, none Ready and Reachable", len(agents.Items))
	})
}

// TestSeedExample is the design's seed on a real node: a framework (the
// SDK) accepts two tasks from one offer, the rest is offered again, and the
// tasks run real containers to Finished.
func TestSeedExample(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := namespace(t, nil)
	accepted := make(chan string, 1)
	offered := make(chan *kov1.ResourceOffer, 16)
	var first string
	sched := sdk.Funcs{OnResourceOffers: func(ctx context.Context, d *sdk.Driver, offers []*kov1.ResourceOffer) {
		for _, o := range offers {
			if first != "" {
				offered <- o
				continue
			}
			first = o.Name
			budget := sdk.NewBudget(o)
			var tasks []*kov1.Task
			for i, need := range []corev1.ResourceList{sdk.Resources("cpu", "200m", "memory", "64Mi"), sdk.Resources("cpu", "100m", "memory", "32Mi")} {
				g, ok := budget.Take(sdk.Needs{Resources: need})
				if !ok {
					t.Errorf("the first offer %v cannot hold task %d", o.Spec.Resources, i)
					return
				}
				tk := task(fmt.Sprintf("task%d", i+1), "", "", "1", "1Mi", "echo hello; sleep 1")
				tk.Spec.Resources = g.Resources
				tasks = append(tasks, tk)
			}
			if err := d.Accept(ctx, o, tasks...); err != nil {
				t.Errorf("accept: %v", err)
			}
			accepted <- o.Name
		}
	}}
	d, err := sdk.New(cfg, sdk.Config{Namespace: ns, Name: "seed", HeartbeatInterval: time.Second}, sched)
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	select {
	case <-accepted:
	case <-time.After(time.Minute):
		t.Fatal("no offer within a minute")
	}
	for _, name := range []string{"task1", "task2"} {
		tk := waitTask(t, ns, name, 2*time.Minute, kov1.TaskFinished, kov1.TaskFailed, kov1.TaskError, kov1.TaskLost)
		if tk.Status.State != kov1.TaskFinished {
			t.Errorf("%s ended %s (%s: %s)", name, tk.Status.State, tk.Status.Reason, tk.Status.Message)
		}
	}
	select {
	case o := <-offered:
		if o.Name == first {
			t.Error("the accepted offer was delivered again")
		}
	case <-time.After(time.Minute):
		t.Error("the rest of the offer was not offered again")
	}
}

// TestIsolation: the kubelet's cgroups hold each task to its resources. A
// task that allocates past its memory is OOMKilled; a busy loop is throttled
// at its CPU limit (read from its own cgroup); a task cannot see another
// task's processes.
func TestIsolation(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	builtin(t, ns, "iso")
	// 100 MiB into a 32 MiB limit: dd into memory (a shell variable grows
	// without bound in busybox's ash).
	must(t, c.Create(ctx, task("hog", ns, "iso", "100m", "32Mi", `x=$(head -c 104857600 /dev/zero | tr '\0' 'x'); echo ${#x}`)))
	// A busy loop for 3s under a 100m limit, then report the cgroup's
	// quota and throttling.
	must(t, c.Create(ctx, task("spin", ns, "iso", "100m", "32Mi",
		`timeout 3 sh -c 'while :; do :; done'; d=/sys/fs/cgroup/cpu,cpuacct; [ -d $d ] || d=/sys/fs/cgroup/cpu; `+
			`echo "quota=$(cat $d/cpu.cfs_quota_us) period=$(cat $d/cpu.cfs_period_us) $(grep nr_throttled $d/cpu.stat | tr ' ' '=')" > /dev/termination-log`)))
	// One task runs a marker process; the other looks for it.
	must(t, c.Create(ctx, task("marker", ns, "iso", "50m", "16Mi", "exec sleep 4242")))
	waitTask(t, ns, "marker", 2*time.Minute, kov1.TaskRunning)
	must(t, c.Create(ctx, task("peek", ns, "iso", "50m", "16Mi",
		`n=$(ps -o args | grep -c 'sleep 424[2]'); echo "seen=$n pids=$(ls /proc | grep -c '^[0-9]')" > /dev/termination-log`)))

	hog := waitTask(t, ns, "hog", 2*time.Minute, kov1.TaskFailed, kov1.TaskFinished)
	if hog.Status.State != kov1.TaskFailed || hog.Status.Reason != kov1.TaskReasonContainerOOMKilled || ptr.Deref(hog.Status.ExitCode, 0) != 137 {
		t.Errorf("hog: %s %s exit %v (%s); want Failed ContainerOOMKilled 137", hog.Status.State, hog.Status.Reason, hog.Status.ExitCode, hog.Status.Message)
	}
	spin := waitTask(t, ns, "spin", 2*time.Minute, kov1.TaskFinished, kov1.TaskFailed)
	fields := map[string]int{}
	for _, kv := range strings.Fields(spin.Status.Message) {
		k, v, _ := strings.Cut(kv, "=")
		fields[k], _ = strconv.Atoi(v)
	}
	if fields["period"] == 0 || fields["quota"]*10 != fields["period"] {
		t.Errorf("spin's CPU quota: %q; want a quota of 1/10 of the period (100m)", spin.Status.Message)
	}
	if fields["nr_throttled"] == 0 {
		t.Errorf("spin was never throttled: %q", spin.Status.Message)
	}
	peek := waitTask(t, ns, "peek", 2*time.Minute, kov1.TaskFinished, kov1.TaskFailed)
	if !strings.HasPrefix(peek.Status.Message, "seen=0 ") {
		t.Errorf("peek saw another task's process: %q", peek.Status.Message)
	}
	t.Logf("spin: %s; peek: %s", spin.Status.Message, peek.Status.Message)
}

// TestKill: deleting a running Task stops its container within the grace
// period; the Task ends Killed (then goes).
func TestKill(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	builtin(t, ns, "k")
	tk := task("victim", ns, "k", "50m", "16Mi", "trap 'exit 0' TERM; while :; do sleep 1; done")
	tk.Spec.KillGracePeriodSeconds = ptr.To[int64](10)
	must(t, c.Create(ctx, tk))
	running := waitTask(t, ns, "victim", 2*time.Minute, kov1.TaskRunning)
	// The Task goes as soon as it is Killed: watch it to see the states.
	w, err := c.Watch(ctx, &kov1.TaskList{}, client.InNamespace(ns))
	must(t, err)
	defer w.Stop()
	start := time.Now()
	must(t, c.Delete(ctx, running))
	var states []kov1.TaskState
	timeout := time.After(time.Minute)
	for gone := false; !gone; {
		select {
		case ev := <-w.ResultChan():
			tk, ok := ev.Object.(*kov1.Task)
			if !ok || tk.Name != "victim" {
				continue
			}
			if n := len(states); n == 0 || states[n-1] != tk.Status.State {
				states = append(states, tk.Status.State)
			}
			gone = ev.Type == "DELETED"
		case <-timeout:
			t.Fatalf("the Task was not gone within a minute; states seen %v", states)
		}
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the kill took %s, more than the 10s grace", took)
	}
	if n := len(states); n < 2 || states[n-1] != kov1.TaskKilled || states[n-2] != kov1.TaskKilling {
		t.Errorf("states seen %v, want Killing then Killed", states)
	}
	eventually(t, "the Pod to be gone", time.Minute, func() (bool, string) {
		_, perr := cs.CoreV1().Pods(ns).Get(ctx, "victim", metav1.GetOptions{})
		return perr != nil, fmt.Sprintf("pod err %v", perr)
	})
}

// TestSecurity: a privileged task in a namespace enforcing the restricted
// Pod Security level ends Error with the admission message; a task naming
// another framework's offer is dropped.
func TestSecurity(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	builtin(t, ns, "sec")
	bad := task("root", ns, "sec", "50m", "16Mi", "id")
	bad.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	must(t, c.Create(ctx, bad))
	tk := waitTask(t, ns, "root", 2*time.Minute, kov1.TaskError, kov1.TaskRunning, kov1.TaskFinished)
	if tk.Status.State != kov1.TaskError || tk.Status.Reason != kov1.TaskReasonPodRejected || !strings.Contains(tk.Status.Message, "violates PodSecurity") {
		t.Errorf("root: %s %s %q; want Error PodRejected with the admission message", tk.Status.State, tk.Status.Reason, tk.Status.Message)
	}

	// Another framework's offer: "sec" holds one while its task waits.
	other := namespace(t, nil)
	builtin(t, other, "a")
	must(t, c.Create(ctx, b.MakeFramework("b", other).Obj()))
	stopBeat := heartbeat(t, other, "b")
	defer stopBeat()
	var offer kov1.ResourceOffer
	eventually(t, "an offer to b", time.Minute, func() (bool, string) {
		var l kov1.ResourceOfferList
		must(t, c.List(ctx, &l, client.InNamespace(other), client.MatchingLabels{kov1.LabelFramework: "b"}))
		if len(l.Items) > 0 {
			offer = l.Items[0]
			return true, ""
		}
		return false, "none"
	})
	thief := task("thief", other, "a", "50m", "16Mi", "true")
	thief.Spec.OfferName = offer.Name
	must(t, c.Create(ctx, thief))
	tk = waitTask(t, other, "thief", time.Minute, kov1.TaskDropped, kov1.TaskError, kov1.TaskStaging, kov1.TaskRunning)
	if tk.Status.State != kov1.TaskDropped || tk.Status.Reason != kov1.TaskReasonOfferNotOwned {
		t.Errorf("thief: %s %s; want Dropped OfferNotOwnedByFramework", tk.Status.State, tk.Status.Reason)
	}
}

// heartbeat keeps a framework connected as the SDK would, until stopped.
func heartbeat(t *testing.T, ns, fw string) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			renewLease(ctx, ns, kov1.HeartbeatLeaseName(fw))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return func() { cancel(); <-done }
}

func renewLease(ctx context.Context, ns, name string) {
	now := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, l); err != nil {
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{kov1.LabelHeartbeat: kov1.HeartbeatFramework}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("e2e"), LeaseDurationSeconds: ptr.To[int32](10), RenewTime: &now}}
		_ = c.Create(ctx, l)
		return
	}
	l.Spec.RenewTime = &now
	_ = c.Update(ctx, l)
}
