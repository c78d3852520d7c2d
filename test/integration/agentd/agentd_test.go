package agentd

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/kubeoffer/kubeoffer/agentd/agent"
	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

func sameQty(rl corev1.ResourceList, name corev1.ResourceName, want string) bool {
	q, ok := rl[name]
	return ok && q.Cmp(resource.MustParse(want)) == 0
}

// TestAgentStatus: agentd creates its Agent, reports the node's capacity,
// and offers what foreign Pods and the system reserve leave; allocated
// follows the tasks. It heartbeats through its Lease.
func TestAgentStatus(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "8Gi", "pods", "110", "example.com/fpga", "2"),
		map[string]string{"topology.kubernetes.io/zone": "z1", "kubernetes.io/hostname": "h1", "ignored": "x"})
	// A Pod kubeoffer did not launch, already on the node.
	foreign := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: ns}, Spec: corev1.PodSpec{NodeName: node,
		Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: b.Resources("cpu", "1", "memory", "1Gi")}}}}}
	harness.Must(t, cp.Client.Create(ctx, foreign))
	startAgentd(t, node, func(o *agent.Options) {
		o.SystemReserved = b.Resources("cpu", "500m", "memory", "512Mi")
		o.Attributes = map[string]string{"rack": "r1"}
	})

	harness.Eventually(t, "the Agent's status", func() (bool, string) {
		a := &kov1.Agent{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: node}, a); err != nil {
			return false, err.Error()
		}
		st := a.Status
		return meta.IsStatusConditionTrue(st.Conditions, kov1.AgentReadyCondition) &&
				sameQty(st.Capacity, "cpu", "4") && sameQty(st.Allocatable, "cpu", "2500m") && sameQty(st.Allocatable, "memory", "6656Mi") &&
				sameQty(st.Allocatable, "example.com/fpga", "2"),
			describe(st)
	})
	a := agentOf(t, node)
	if a.Spec.Maintenance != kov1.AgentMaintenanceNone {
		t.Errorf("agentd must create the Agent with the default spec, got maintenance %q", a.Spec.Maintenance)
	}
	if _, ok := a.Status.Capacity["pods"]; ok {
		t.Error("the pod count is not an offerable resource")
	}
	want := map[string]string{"topology.kubernetes.io/zone": "z1", "kubernetes.io/hostname": "h1", "rack": "r1"}
	for k, v := range want {
		if a.Status.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, a.Status.Attributes[k], v, a.Status.Attributes)
		}
	}
	if len(a.Status.Ports) != 1 || a.Status.Ports[0] != (kov1.PortRange{Begin: 31000, End: 32000}) {
		t.Errorf("ports %v, want Mesos's default 31000-32000", a.Status.Ports)
	}
	lease := &coordinationv1.Lease{}
	harness.Eventually(t, "the heartbeat Lease", func() (bool, string) {
		err := cp.Client.Get(ctx, client.ObjectKey{Namespace: leaseNS, Name: node}, lease)
		return err == nil && lease.Labels[kov1.LabelHeartbeat] == kov1.HeartbeatAgent && lease.Spec.RenewTime != nil, errString(err)
	})

	// The foreign Pod finishes: its resources come back.
	harness.Must(t, cp.Client.Delete(ctx, foreign, client.GracePeriodSeconds(0)))
	harness.Eventually(t, "allocatable to grow", func() (bool, string) {
		st := agentOf(t, node).Status
		return sameQty(st.Allocatable, "cpu", "3500m"), describe(st)
	})

	// A task bound here is allocated (and not subtracted from allocatable).
	bind(t, b.MakeTask("t", ns, "fw").Resources(b.Resources("cpu", "1500m", "memory", "1Gi")).Obj(), node)
	harness.Eventually(t, "allocated to include the task", func() (bool, string) {
		st := agentOf(t, node).Status
		return sameQty(st.Allocated, "cpu", "1500m") && sameQty(st.Allocatable, "cpu", "3500m"), describe(st)
	})
	runPod(t, ns, waitPod(t, ns, "t").Name)
	harness.WaitTask(t, cp.Client, ns, "t", kov1.TaskRunning)
	exitPod(t, ns, "t", 0, "Completed")
	harness.WaitTask(t, cp.Client, ns, "t", kov1.TaskFinished)
	harness.Eventually(t, "allocated to drop the finished task", func() (bool, string) {
		st := agentOf(t, node).Status
		return sameQty(st.Allocated, "cpu", "0") || st.Allocated.Cpu().IsZero(), describe(st)
	})
}

// TestTaskLifecycle: a Staging task becomes a Pod pinned to the node with
// requests = limits, then Starting, Running and Finished, with history and
// Events; the finalizer is released at the end.
func TestTaskLifecycle(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	ad := startAgentd(t, node, nil)
	task := b.MakeTask("web", ns, "fw").Resources(b.Resources("cpu", "1", "memory", "256Mi")).Ports(kov1.PortRange{Begin: 31005, End: 31005}).Obj()
	task.Spec.Template.Labels = map[string]string{"app": "web"}
	task.Spec.Template.Annotations = map[string]string{"example.com/note": "kept"}
	bind(t, task, node)

	pod := waitPod(t, ns, "web")
	c := pod.Spec.Containers[0]
	if pod.Spec.NodeName != node || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("pod on %q restart %q; want pinned to %s, Never", pod.Spec.NodeName, pod.Spec.RestartPolicy, node)
	}
	if !sameQty(c.Resources.Requests, "cpu", "1") || !sameQty(c.Resources.Limits, "cpu", "1") || !sameQty(c.Resources.Limits, "memory", "256Mi") {
		t.Errorf("requests %v limits %v; want both the task's resources", c.Resources.Requests, c.Resources.Limits)
	}
	if pod.Status.QOSClass != "" && pod.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("QoS class %s, want Guaranteed", pod.Status.QOSClass)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.Kind != "Task" || ref.Name != "web" {
		t.Errorf("controller %+v, want the Task", ref)
	}
	if pod.Labels[kov1.LabelFramework] != "fw" || pod.Labels[kov1.LabelTask] != "web" || pod.Labels["app"] != "web" || pod.Annotations["example.com/note"] != "kept" {
		t.Errorf("labels %v annotations %v; want kubeoffer's labels and the template's labels and annotations", pod.Labels, pod.Annotations)
	}
	if !hasEnv(c, "PORT0", "31005") {
		t.Errorf("env %v lacks PORT0=31005", c.Env)
	}
	tk := harness.WaitTask(t, cp.Client, ns, "web", kov1.TaskStarting)
	if tk.Status.PodName != "web" || !controllerutil.ContainsFinalizer(tk, kov1.TaskKillFinalizer) {
		t.Errorf("podName %q finalizers %v", tk.Status.PodName, tk.Finalizers)
	}

	runPod(t, ns, "web")
	tk = harness.WaitTask(t, cp.Client, ns, "web", kov1.TaskRunning)
	if tk.Status.StartTime == nil {
		t.Error("a running task has a start time")
	}
	exitPod(t, ns, "web", 0, "Completed")
	tk = harness.WaitTask(t, cp.Client, ns, "web", kov1.TaskFinished)
	if tk.Status.ExitCode == nil || *tk.Status.ExitCode != 0 || tk.Status.CompletionTime == nil {
		t.Errorf("exit code %v completion %v", tk.Status.ExitCode, tk.Status.CompletionTime)
	}
	var states []string
	for _, h := range tk.Status.History {
		states = append(states, string(h.State))
	}
	if got := strings.Join(states, ","); got != "Staging,Starting,Running,Finished" {
		t.Errorf("history %s, want Staging,Starting,Running,Finished", got)
	}
	harness.Eventually(t, "the finalizer to be released", func() (bool, string) {
		harness.Must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(tk), tk))
		return !controllerutil.ContainsFinalizer(tk, kov1.TaskKillFinalizer), "still there"
	})
	for _, reason := range []string{"Starting", "Running", kov1.TaskReasonContainersCompleted} { // a finished task says why: its containers completed
		harness.Eventually(t, "a "+reason+" Event", func() (bool, string) { return harness.HasEvent(t, cp.Client, ns, "web", reason) })
	}
	if got := testutil.ToFloat64(ad.Metrics.Launches.WithLabelValues("created")); got != 1 {
		t.Errorf("launches = %v, want 1", got)
	}
	if testutil.CollectAndCount(ad.Metrics.LaunchLatency) != 1 {
		t.Error("launch latency not observed")
	}
}

// TestLaunchReadsOnlyItsCache: from Staging to Running agentd reads the
// task and its Pod from its cache and writes with the resourceVersion it
// read; it makes no GET past the cache (on a busy API server a GET costs
// about a fifth of a Task write).
func TestLaunchReadsOnlyItsCache(t *testing.T) {
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	reqs := &requestLog{}
	cfg := rest.CopyConfig(cp.Config)
	cfg.Wrap(reqs.wrap)
	harness.StartAgentdWithConfig(t, cp, cfg, node, nil)
	bind(t, b.MakeTask("web", ns, "fw").Resources(b.Resources("cpu", "1", "memory", "256Mi")).Obj(), node)
	waitPod(t, ns, "web")
	harness.WaitTask(t, cp.Client, ns, "web", kov1.TaskStarting)
	runPod(t, ns, "web")
	harness.WaitTask(t, cp.Client, ns, "web", kov1.TaskRunning)
	if got := reqs.objectGets(ns); len(got) > 0 {
		t.Errorf("agentd read past its cache: %v", got)
	}
}

// requestLog records the GETs of single objects a client makes.
type requestLog struct {
	mu   sync.Mutex
	gets []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Method == http.MethodGet && req.URL.Query().Get("watch") == "" {
			l.mu.Lock()
			l.gets = append(l.gets, req.URL.Path)
			l.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

// objectGets are the GETs of objects in namespace ns.
func (l *requestLog) objectGets(ns string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	prefix := "/namespaces/" + ns + "/"
	for _, p := range l.gets {
		// .../namespaces/<ns>/<resource>/<name>, not a list of <resource>.
		if i := strings.Index(p, prefix); i >= 0 && strings.Contains(p[i+len(prefix):], "/") {
			out = append(out, p)
		}
	}
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestTaskFailures: non-zero exits, OOM kills and vanished Pods end the
// task Failed or Lost with the reason and exit code.
func TestTaskFailures(t *testing.T) {
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	startAgentd(t, node, nil)
	cases := []struct {
		name   string
		end    func(name string)
		state  kov1.TaskState
		reason string
		code   int32
		msg    string
	}{
		{"exit-3", func(n string) { exitPod(t, ns, n, 3, "Error") }, kov1.TaskFailed, kov1.TaskReasonContainerFailed, 3, "exited with code 3"},
		{"oom", func(n string) { exitPod(t, ns, n, 137, "OOMKilled") }, kov1.TaskFailed, kov1.TaskReasonContainerOOMKilled, 137, "OOMKilled"},
		{"vanished", func(n string) {
			harness.Must(t, cp.Client.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}}, client.GracePeriodSeconds(0)))
		}, kov1.TaskLost, kov1.TaskReasonPodVanished, -1, "vanished"},
	}
	for _, tc := range cases {
		bind(t, b.MakeTask(tc.name, ns, "fw").Obj(), node)
		waitPod(t, ns, tc.name)
		runPod(t, ns, tc.name)
		harness.WaitTask(t, cp.Client, ns, tc.name, kov1.TaskRunning)
		tc.end(tc.name)
		tk := harness.WaitTask(t, cp.Client, ns, tc.name, tc.state)
		if tk.Status.Reason != tc.reason || !strings.Contains(tk.Status.Message, tc.msg) {
			t.Errorf("%s: reason %q message %q; want %s, %q", tc.name, tk.Status.Reason, tk.Status.Message, tc.reason, tc.msg)
		}
		if tc.code >= 0 && (tk.Status.ExitCode == nil || *tk.Status.ExitCode != tc.code) {
			t.Errorf("%s: exit code %v, want %d", tc.name, tk.Status.ExitCode, tc.code)
		}
		harness.Eventually(t, "a warning Event for "+tc.name, func() (bool, string) { return harness.HasEvent(t, cp.Client, ns, tc.name, tc.reason) })
	}
}

// TestPodSecurityRefusal: a privileged task in a namespace enforcing the
// restricted Pod Security level ends in Error with the admission message.
func TestPodSecurityRefusal(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	nsObj := &corev1.Namespace{}
	harness.Must(t, cp.Client.Get(ctx, client.ObjectKey{Name: ns}, nsObj))
	nsObj.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	harness.Must(t, cp.Client.Update(ctx, nsObj))
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	ad := startAgentd(t, node, nil)
	task := b.MakeTask("root", ns, "fw").Obj()
	task.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	bind(t, task, node)

	tk := harness.WaitTask(t, cp.Client, ns, "root", kov1.TaskError)
	if tk.Status.Reason != kov1.TaskReasonPodRejected || !strings.Contains(tk.Status.Message, "violates PodSecurity") {
		t.Errorf("reason %q message %q; want PodRejected with the admission message", tk.Status.Reason, tk.Status.Message)
	}
	if len(pods(t, ns, "root")) != 0 {
		t.Error("a refused Pod exists")
	}
	if got := testutil.ToFloat64(ad.Metrics.Launches.WithLabelValues("rejected")); got != 1 {
		t.Errorf("rejected launches = %v, want 1", got)
	}
}

// TestPodAPIRefusal: the Task CRD keeps only the template's types, so a
// template the Pod API refuses (duplicate or malformed container names, a
// container without an image) is accepted as a Task; agentd's Pod create
// is refused, and the task ends in Error with the API server's message
// before anything runs.
func TestPodAPIRefusal(t *testing.T) {
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	ad := startAgentd(t, node, nil)
	cases := map[string]struct {
		spec func(s *corev1.PodSpec)
		want string // the Pod API's message
	}{
		"duplicate-names": {func(s *corev1.PodSpec) { s.Containers = append(s.Containers, s.Containers[0]) }, `spec.containers[1].name: Duplicate value: "main"`},
		"bad-name":        {func(s *corev1.PodSpec) { s.Containers[0].Name = "Main_1" }, `spec.containers[0].name: Invalid value: "Main_1"`},
		"no-image":        {func(s *corev1.PodSpec) { s.Containers[0].Image = "" }, "spec.containers[0].image: Required value"},
	}
	for name, tc := range cases {
		bind(t, b.MakeTask(name, ns, "fw").PodSpec(tc.spec).Obj(), node)
	}
	for name, tc := range cases {
		tk := harness.WaitTask(t, cp.Client, ns, name, kov1.TaskError)
		if tk.Status.Reason != kov1.TaskReasonPodRejected || !strings.Contains(tk.Status.Message, "The API server refused the task's Pod") ||
			!strings.Contains(tk.Status.Message, tc.want) {
			t.Errorf("%s: reason %q message %q; want PodRejected with the API server's %q", name, tk.Status.Reason, tk.Status.Message, tc.want)
		}
		if len(pods(t, ns, name)) != 0 {
			t.Errorf("%s: a refused Pod exists", name)
		}
	}
	if got := testutil.ToFloat64(ad.Metrics.Launches.WithLabelValues("rejected")); got != float64(len(cases)) {
		t.Errorf("rejected launches = %v, want %d", got, len(cases))
	}
}

// TestKillWithGrace: deleting a running Task stops its Pod with the task's
// kill grace period; the task is Killing, then Killed, then gone.
func TestKillWithGrace(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	startAgentd(t, node, nil)
	bind(t, b.MakeTask("victim", ns, "fw").KillGracePeriod(7).Obj(), node)
	waitPod(t, ns, "victim")
	runPod(t, ns, "victim")
	tk := harness.WaitTask(t, cp.Client, ns, "victim", kov1.TaskRunning)

	harness.Must(t, cp.Client.Delete(ctx, tk))
	harness.WaitTask(t, cp.Client, ns, "victim", kov1.TaskKilling)
	if grace := reap(t, ns, "victim"); grace != 7 {
		t.Errorf("the Pod was given %ds to stop, want the task's 7", grace)
	}
	harness.Eventually(t, "the Task to be gone", func() (bool, string) {
		err := cp.Client.Get(ctx, client.ObjectKeyFromObject(tk), tk)
		return err != nil && client.IgnoreNotFound(err) == nil, "state " + string(tk.Status.State)
	})
	harness.Eventually(t, "a Killed Event", func() (bool, string) {
		return harness.HasEvent(t, cp.Client, ns, "victim", kov1.TaskReasonKilledByRequest)
	})

	// A kill by state (the master's teardown) keeps the master's reason.
	bind(t, b.MakeTask("torn", ns, "fw").Obj(), node)
	waitPod(t, ns, "torn")
	setTaskState(t, ns, "torn", kov1.TaskKilling, kov1.TaskReasonFrameworkTornDown)
	reap(t, ns, "torn")
	if tk := harness.WaitTask(t, cp.Client, ns, "torn", kov1.TaskKilled); tk.Status.Reason != kov1.TaskReasonFrameworkTornDown {
		t.Errorf("reason %q, want FrameworkTornDown", tk.Status.Reason)
	}
}

// TestRestart: agentd stopped mid-launch (Pod created, task still Staging)
// adopts the Pod when it comes back and never launches twice; a Pod that
// finished while agentd was down is reported.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)

	// Mid-launch: the Pod exists, the task still says Staging (agentd died
	// between the two writes).
	task := b.MakeTask("mid", ns, "fw").Obj()
	bind(t, task, node)
	pod, err := agent.BuildPod(task, node)
	harness.Must(t, err)
	harness.Must(t, cp.Client.Create(ctx, pod))

	first := startAgentd(t, node, nil)
	harness.WaitTask(t, cp.Client, ns, "mid", kov1.TaskStarting)
	runPod(t, ns, "mid")
	harness.WaitTask(t, cp.Client, ns, "mid", kov1.TaskRunning)
	if n := len(pods(t, ns, "mid")); n != 1 {
		t.Fatalf("%d Pods for the task, want 1", n)
	}
	if got := testutil.ToFloat64(first.Metrics.Launches.WithLabelValues("created")); got != 0 {
		t.Errorf("agentd launched %v Pods for a task whose Pod existed", got)
	}

	// Down while the task runs and finishes; up again, it reports it.
	first.Stop()
	exitPod(t, ns, "mid", 0, "Completed")
	second := startAgentd(t, node, nil)
	harness.WaitTask(t, cp.Client, ns, "mid", kov1.TaskFinished)
	if n := len(pods(t, ns, "mid")); n != 1 {
		t.Errorf("%d Pods for the task after restart, want 1", n)
	}
	if got := testutil.ToFloat64(second.Metrics.Launches.WithLabelValues("created")); got != 0 {
		t.Errorf("the restarted agentd launched %v Pods", got)
	}
}

// TestAgentReturns: after a partition, an Unreachable task whose Pod still
// runs is Running again; a Lost task's Pod that still runs is stopped.
func TestAgentReturns(t *testing.T) {
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	startAgentd(t, node, nil)
	for _, name := range []string{"aware", "plain"} {
		bind(t, b.MakeTask(name, ns, "fw").Obj(), node)
		waitPod(t, ns, name)
		runPod(t, ns, name)
		harness.WaitTask(t, cp.Client, ns, name, kov1.TaskRunning)
	}
	// The master marked them while the agent was away (agentd's watch then
	// sees the change as it would on reconnecting).
	setTaskState(t, ns, "aware", kov1.TaskUnreachable, kov1.TaskReasonAgentUnreachable)
	setTaskState(t, ns, "plain", kov1.TaskLost, kov1.TaskReasonAgentUnreachable)
	harness.WaitTask(t, cp.Client, ns, "aware", kov1.TaskRunning)
	reap(t, ns, "plain")
	if tk := harness.WaitTask(t, cp.Client, ns, "plain", kov1.TaskLost); tk.Status.Reason != kov1.TaskReasonAgentUnreachable {
		t.Errorf("a Lost task stays Lost, got reason %q", tk.Status.Reason)
	}
}

// TestNeverLaunchedAfterPartition: a task bound while agentd was cut off,
// and marked Unreachable by the master before agentd came back, never ran:
// agentd reports it Dropped (NotLaunched) and launches nothing, rather than
// Lost with a Pod that "vanished". Found by the chaos run.
func TestNeverLaunchedAfterPartition(t *testing.T) {
	ns := cp.Namespace(t)
	node := addNode(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	startAgentd(t, node, nil).Stop()
	bind(t, b.MakeTask("late", ns, "fw").Obj(), node)
	setTaskState(t, ns, "late", kov1.TaskUnreachable, kov1.TaskReasonAgentUnreachable)
	startAgentd(t, node, nil)
	if tk := harness.WaitTask(t, cp.Client, ns, "late", kov1.TaskDropped); tk.Status.Reason != kov1.TaskReasonNotLaunched {
		t.Errorf("reason %q, want %q", tk.Status.Reason, kov1.TaskReasonNotLaunched)
	}
	if n := len(pods(t, ns, "late")); n != 0 {
		t.Errorf("%d Pods for a task that was never launched, want none", n)
	}
}

// TestOtherNodesIgnored: agentd launches only the tasks bound to its node.
func TestOtherNodesIgnored(t *testing.T) {
	ns := cp.Namespace(t)
	mine := addNode(t, ns, "mine", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	other := addNode(t, ns, "other", b.Resources("cpu", "4", "memory", "4Gi"), nil)
	startAgentd(t, mine, nil)
	bind(t, b.MakeTask("elsewhere", ns, "fw").Obj(), other)
	bind(t, b.MakeTask("here", ns, "fw").Obj(), mine)
	waitPod(t, ns, "here")
	harness.WaitTask(t, cp.Client, ns, "here", kov1.TaskStarting)
	if n := len(pods(t, ns, "elsewhere")); n != 0 {
		t.Errorf("agentd launched a task bound to another node")
	}
	if tk := harness.WaitTask(t, cp.Client, ns, "elsewhere", kov1.TaskStaging); len(tk.Finalizers) != 0 {
		t.Errorf("agentd touched a task of another node: finalizers %v", tk.Finalizers)
	}
}

func hasEnv(c corev1.Container, name, value string) bool {
	for _, e := range c.Env {
		if e.Name == name && e.Value == value {
			return true
		}
	}
	return false
}
