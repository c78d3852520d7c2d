// Command taskwritebench measures what writing a Task costs kube-apiserver,
// for several forms of the Task CRD side by side on one envtest API server.
//
// Each variant is a Task CRD file and, optionally, the policy file that
// validates it (a ValidatingAdmissionPolicy and its binding). The variant is
// installed under a group of its own (<name>.bench.kubeoffer.io), so every
// variant runs on the same API server and etcd, and the rounds interleave
// the variants (rotating which goes first) so that warm-up, garbage
// collection and other load on the machine fall on all of them alike.
//
// A round, for each variant: create N tasks, accept an offer on each (a
// merge patch of spec.offerName, as a framework's SDK does), then two
// status writes per task (a bind to Staging, then Running, as the master
// and agentd write them). The CPU that kube-apiserver and etcd used during
// each phase is read from /proc/<pid>/stat and divided by the number of
// writes. Nothing else writes meanwhile.
//
// To compare the Task CRD of an earlier commit (8323eff: the rules in the
// schema, a full PodSpec schema) with the current one:
//
//	git show 8323eff:config/crd/bases/kubeoffer.io_tasks.yaml >/tmp/tasks-old.yaml
//	KUBEBUILDER_ASSETS=$PWD/bin/envtest go run ./hack/taskwritebench \
//	    -variant old=/tmp/tasks-old.yaml \
//	    -variant new=config/crd/bases/kubeoffer.io_tasks.yaml,config/crd/policy/tasks.yaml
//
// With -pods (the default) every round also runs a Pod baseline in the
// same rotation: N Pods with the same container, each then bound by a
// pods/binding subresource and announced by a "Scheduled" Event (what
// kube-scheduler writes per pod), then given a Running status by a status
// patch (a kubelet's first report). The summary sets each task variant's
// writes against kube-scheduler's. A built-in task is bound when it has
// its create and one status write (the bind: agent, Staging), the fewest
// writes that leave `kubectl get tasks` showing where it runs; a pod is
// bound after its create, its Binding and its Event. The ratio of the two
// is the highest built-in ÷ kube-scheduler create→bound throughput the API
// server's CPU allows when it is the bottleneck, as it is in make bench;
// the summary gives it, and again with agentd's Running write counted, as
// it falls inside a make bench burst (kube-scheduler's pods there have no
// kubelet).
//
// docs/performance.md has the figures this gave.
//
// It is not part of make test: it takes minutes and its figures depend on
// the machine.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// variant is one form of the Task CRD under test, or the Pod baseline.
type variant struct {
	name   string
	crd    string // file
	policy string // file, or ""
	group  string
	pod    bool // the Pod baseline: no CRD
}

// phases are the writes of the variant's round, in order.
func (v variant) phases() []string {
	if v.pod {
		return podPhases
	}
	return phases
}

type variants []variant

func (v *variants) String() string { return fmt.Sprint(*v) }

func (v *variants) Set(s string) error {
	name, files, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return errors.New("want name=crd.yaml[,policy.yaml]")
	}
	crd, policy, _ := strings.Cut(files, ",")
	*v = append(*v, variant{name: name, crd: crd, policy: policy, group: name + ".bench.kubeoffer.io"})
	return nil
}

// phases are the writes of a round, in order.
var phases = []string{"create", "spec patch (offerName)", "status write (Staging)", "status write (Running)"}

// podPhases are the Pod baseline's writes: kube-scheduler's three, then
// a kubelet's first status report.
var podPhases = []string{"pod create", "pod binding", "pod Scheduled Event", "pod status (Running)"}

// perTask is the report's line for the writes of one task (or pod)
// together.
const perTask = "all writes, per task"

// benchNode is the Node the Pod baseline binds to; no kubelet runs it.
const benchNode = "bench-node"

func main() {
	var vs variants
	n := flag.Int("n", 300, "tasks per variant per round")
	rounds := flag.Int("rounds", 5, "rounds (each runs every variant once)")
	workers := flag.Int("workers", 4, "concurrent writers")
	flag.Var(&vs, "variant", "name=crd.yaml[,policy.yaml]; repeat for each variant, the first is the baseline")
	pods := flag.Bool("pods", true, "also run the Pod baseline (kube-scheduler's writes per pod, and a kubelet's first status) in every round")
	flag.Parse()
	if len(vs) == 0 {
		fmt.Fprintln(os.Stderr, "taskwritebench: give at least one -variant")
		os.Exit(2)
	}
	if *pods {
		vs = append(vs, variant{name: "pod", pod: true})
	}
	if err := run(vs, *n, *rounds, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "taskwritebench:", err)
		os.Exit(1)
	}
}

func run(vs variants, n, rounds, workers int) error {
	cp, err := controlplane.Start()
	if err != nil {
		return err
	}
	defer func() { _ = cp.Stop() }()
	cfg := *cp.Config
	cfg.QPS, cfg.Burst = 1e6, 1e6 // the API server's cost, not the client's limiter
	c, err := client.New(&cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		return err
	}
	apiserver, err := childPID("kube-apiserver")
	if err != nil {
		return err
	}
	etcd, err := childPID("etcd")
	if err != nil {
		return err
	}
	ctx := context.Background()
	for _, v := range vs {
		if v.pod {
			if err := createNode(ctx, c); err != nil {
				return err
			}
			continue
		}
		if err := install(ctx, c, v); err != nil {
			return fmt.Errorf("variant %s: %w", v.name, err)
		}
	}
	idle, err := idleRate(apiserver, 5*time.Second)
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("kube-apiserver pid %d, etcd pid %d; %d tasks per variant per round, %d rounds, %d writers\n", apiserver, etcd, n, rounds, workers)
	fmt.Printf("kube-apiserver idle: %.1f ms CPU/s; load before: %s", idle*1000, load)

	// cost[variant][phase] holds the per-round ms of CPU per write.
	api := map[string]map[string][]float64{}
	db := map[string]map[string][]float64{}
	for _, v := range vs {
		api[v.name], db[v.name] = map[string][]float64{}, map[string][]float64{}
	}
	for r := range rounds {
		for i := range vs {
			v := vs[(i+r)%len(vs)]
			ns := fmt.Sprintf("r%d-%s", r, v.name)
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				return err
			}
			objs := make([]*unstructured.Unstructured, n)
			pods := make([]*corev1.Pod, n)
			var apiTask, dbTask float64
			for _, ph := range v.phases() {
				a0, e0 := cpu(apiserver), cpu(etcd)
				if err := parallel(n, workers, func(k int) error {
					if v.pod {
						return writePod(ctx, c, ns, pods, k, ph)
					}
					return write(ctx, c, v, ns, objs, k, ph)
				}); err != nil {
					return fmt.Errorf("variant %s, %s: %w", v.name, ph, err)
				}
				a1, e1 := cpu(apiserver), cpu(etcd)
				a, e := (a1-a0)*1000/float64(n), (e1-e0)*1000/float64(n)
				api[v.name][ph] = append(api[v.name][ph], a)
				db[v.name][ph] = append(db[v.name][ph], e)
				apiTask, dbTask = apiTask+a, dbTask+e
			}
			api[v.name][perTask] = append(api[v.name][perTask], apiTask)
			db[v.name][perTask] = append(db[v.name][perTask], dbTask)
			if err := deleteAll(ctx, c, v, ns); err != nil {
				return err
			}
		}
		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("round %d done; load %s", r+1, load)
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("load after: %s\n", load)
	report(vs, api, db)
	return nil
}

// report prints, per write and variant, the median of the per-round
// figures with their range, and the median and the least against the
// baseline's (the least is the round the machine's other load disturbed
// least); then, for each task variant, its writes against the Pod
// baseline's: the bound on their throughput ratio (see the package doc).
func report(vs variants, api, db map[string]map[string][]float64) {
	base := vs[0].name
	fmt.Printf("%-24s %-10s %-31s %-22s %s\n", "write", "variant", "kube-apiserver CPU-ms/write", "vs "+base+": median, least", "etcd CPU-ms/write")
	var pod *variant
	for i, v := range vs {
		if v.pod {
			pod = &vs[i]
		}
	}
	line := func(ph string, v variant, vsBase bool) {
		a := api[v.name][ph]
		if len(a) == 0 {
			return
		}
		cmp := fmt.Sprintf("%22s", "")
		if b := api[base][ph]; vsBase && len(b) > 0 {
			cmp = fmt.Sprintf("%+7.0f%% %+7.0f%%       ", (median(a)/median(b)-1)*100, (minOf(a)/minOf(b)-1)*100)
		}
		fmt.Printf("%-24s %-10s %6.2f (least %5.2f, most %5.2f) %s  %5.2f\n", ph, v.name, median(a), minOf(a), maxOf(a), cmp, median(db[v.name][ph]))
	}
	for _, ph := range append(append([]string(nil), phases...), perTask) {
		for _, v := range vs {
			if !v.pod {
				line(ph, v, true)
			}
		}
	}
	if pod == nil {
		return
	}
	for _, ph := range append(append([]string(nil), podPhases...), perTask) {
		line(ph, *pod, false)
	}
	p := func(ph string) float64 { return median(api[pod.name][ph]) }
	scheduler := p(podPhases[0]) + p(podPhases[1]) + p(podPhases[2])
	fmt.Printf("\nkube-scheduler's writes per pod (create, binding, Event): %.2f kube-apiserver CPU-ms; with a kubelet's first status: %.2f\n", scheduler, scheduler+p(podPhases[3]))
	for _, v := range vs {
		if v.pod {
			continue
		}
		t := func(ph string) float64 { return median(api[v.name][ph]) }
		bound := t(phases[0]) + t(phases[2])
		running := bound + t(phases[3])
		fmt.Printf("%s: create→bound (create, bind) %.2f CPU-ms: built-in ÷ kube-scheduler ≤ %.2f; with agentd's Running write %.2f CPU-ms: ≤ %.2f (while the API server's CPU is the limit)\n",
			v.name, bound, scheduler/bound, running, scheduler/running)
	}
}

// install creates the variant's CRD (and policy) under its own group and
// waits until its immutability rules are in force.
func install(ctx context.Context, c client.Client, v variant) error {
	crd, err := readObjects(v.crd)
	if err != nil {
		return err
	}
	if len(crd) != 1 || crd[0].GetKind() != "CustomResourceDefinition" {
		return fmt.Errorf("%s: want one CustomResourceDefinition", v.crd)
	}
	u := crd[0]
	u.SetName("tasks." + v.group)
	if err := unstructured.SetNestedField(u.Object, v.group, "spec", "group"); err != nil {
		return err
	}
	if err := c.Create(ctx, u); err != nil {
		return fmt.Errorf("creating CRD: %w", err)
	}
	if v.policy != "" {
		objs, err := readObjects(v.policy)
		if err != nil {
			return err
		}
		for _, o := range objs {
			retarget(o, v)
			if err := c.Create(ctx, o); err != nil {
				return fmt.Errorf("creating %s %s: %w", o.GetKind(), o.GetName(), err)
			}
		}
	}
	ns := "probe-" + v.name
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	// The CRD serves once discovery has it; the policy judges once its
	// informer has it. A probe task whose resources are changed until the
	// change is refused proves both.
	probe := task(v, ns, "probe")
	fill(probe, 0)
	cpus := 0
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if probe.GetResourceVersion() == "" {
			if err := c.Create(ctx, probe); err != nil {
				return false, nil
			}
		}
		cpus++
		patch := fmt.Sprintf(`{"spec":{"resources":{"cpu":"%dm"}}}`, 100+cpus)
		err := c.Patch(ctx, probe, client.RawPatch(types.MergePatchType, []byte(patch)))
		if err == nil {
			return false, nil
		}
		if apierrors.IsInvalid(err) || strings.Contains(err.Error(), "immutable") {
			return true, nil
		}
		return false, nil
	})
}

// retarget points a policy or binding of config/ at the variant's group.
func retarget(o *unstructured.Unstructured, v variant) {
	o.SetName(o.GetName() + "-" + v.name)
	switch o.GetKind() {
	case "ValidatingAdmissionPolicy":
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "matchConstraints", "resourceRules")
		for _, r := range rules {
			r.(map[string]any)["apiGroups"] = []any{v.group}
		}
		_ = unstructured.SetNestedSlice(o.Object, rules, "spec", "matchConstraints", "resourceRules")
	case "ValidatingAdmissionPolicyBinding":
		name, _, _ := unstructured.NestedString(o.Object, "spec", "policyName")
		_ = unstructured.SetNestedField(o.Object, name+"-"+v.name, "spec", "policyName")
	}
}

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out, nil
}

// task returns an empty Task of the variant's group.
func task(v variant, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: v.group, Version: "v1alpha1", Kind: "Task"})
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// fill makes u the k-th task of a framework with its own scheduler: one
// container with a command and a few environment variables, as the
// samples and the SDK's examples write them.
func fill(u *unstructured.Unstructured, k int) {
	u.Object["spec"] = map[string]any{
		"frameworkName":          "batch",
		"resources":              map[string]any{"cpu": "100m", "memory": "64Mi"},
		"killGracePeriodSeconds": int64(10),
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": "batch", "shard": strconv.Itoa(k)}},
			"spec": map[string]any{
				"containers": []any{map[string]any{
					"name":    "main",
					"image":   "busybox:stable",
					"command": []any{"sh", "-c", "echo computing; sleep 5; echo done"},
					"env": []any{
						map[string]any{"name": "SHARD", "value": strconv.Itoa(k)},
						map[string]any{"name": "SHARDS", "value": "1000"},
						map[string]any{"name": "MODE", "value": "batch"},
					},
				}},
			},
		},
	}
}

// write performs phase ph for the k-th task of the round. objs[k] holds
// the task as the API server last returned it, so a status write sends
// the whole object without reading it first, as a controller writing from
// its cache does.
func write(ctx context.Context, c client.Client, v variant, ns string, objs []*unstructured.Unstructured, k int, ph string) error {
	u := objs[k]
	switch ph {
	case "create":
		u = task(v, ns, fmt.Sprintf("t-%d", k))
		fill(u, k)
		objs[k] = u
		return c.Create(ctx, u)
	case "spec patch (offerName)":
		return c.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"offerName":"batch-node-1-abcde"}}`)))
	}
	now := time.Now().UTC().Format(time.RFC3339)
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	if st == nil {
		st = map[string]any{}
	}
	hist, _, _ := unstructured.NestedSlice(u.Object, "status", "history")
	switch ph {
	case "status write (Staging)":
		st["state"], st["agentName"], st["nodeName"], st["offerName"] = "Staging", "node-1", "node-1", "batch-node-1-abcde"
		st["conditions"] = []any{map[string]any{"type": "Bound", "status": "True", "reason": "Bound",
			"message": "Bound to agent node-1", "lastTransitionTime": now, "observedGeneration": int64(2)}}
		hist = append(hist, map[string]any{"state": "Staging", "message": "Bound to agent node-1", "time": now})
	default:
		st["state"], st["podName"], st["startTime"] = "Running", u.GetName(), now
		hist = append(hist, map[string]any{"state": "Running", "message": "Pod " + u.GetName() + " is running", "time": now})
	}
	st["history"] = hist
	u.Object["status"] = st
	return c.Status().Update(ctx, u)
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, f func(int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				if err := f(k); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for k := range n {
		next <- k
	}
	close(next)
	wg.Wait()
	return first
}

// childPID finds this process's child running the named command (envtest
// starts kube-apiserver and etcd as children).
func childPID(comm string) (int, error) {
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		name, fields, ok := parseStat(data)
		if !ok || name != comm {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child process %s of pid %d", comm, self)
}

// parseStat splits /proc/<pid>/stat into the command name and the fields
// after it (fields[0] is the state, fields[1] the parent pid, fields[11]
// and [12] utime and stime).
func parseStat(data []byte) (string, []string, bool) {
	s := string(data)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return "", nil, false
	}
	fields := strings.Fields(s[close+1:])
	return s[open+1 : close], fields, len(fields) > 12
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times (100 on
// every Linux architecture Kubernetes builds for).
const clockTicks = 100

// cpu returns the user+system CPU seconds pid has used.
func cpu(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, f, ok := parseStat(data)
	if !ok {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// idleRate is the CPU seconds per second pid uses while nothing writes.
func idleRate(pid int, d time.Duration) (float64, error) {
	c0 := cpu(pid)
	time.Sleep(d)
	return (cpu(pid) - c0) / d.Seconds(), nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// createNode registers the Node the Pod baseline binds to.
func createNode(ctx context.Context, c client.Client) error {
	nd := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: benchNode}}
	return client.IgnoreAlreadyExists(c.Create(ctx, nd))
}

// writePod performs phase ph for the k-th pod of the round: what
// kube-scheduler writes (create is the user's; then the Binding and the
// Scheduled Event), then a kubelet's first status patch.
func writePod(ctx context.Context, c client.Client, ns string, pods []*corev1.Pod, k int, ph string) error {
	switch ph {
	case "pod create":
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("p-%d", k), Labels: map[string]string{"app": "batch", "shard": strconv.Itoa(k)}},
			Spec: corev1.PodSpec{SchedulerName: "nobody", Containers: []corev1.Container{{
				Name: "main", Image: "busybox:stable", Command: []string{"sh", "-c", "echo computing; sleep 5; echo done"},
				Env: []corev1.EnvVar{{Name: "SHARD", Value: strconv.Itoa(k)}, {Name: "SHARDS", Value: "1000"}, {Name: "MODE", Value: "batch"}},
			}}}}
		pods[k] = p
		return c.Create(ctx, p)
	case "pod binding":
		p := pods[k]
		return c.SubResource("binding").Create(ctx, p, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.Name},
			Target: corev1.ObjectReference{Kind: "Node", Name: benchNode}})
	case "pod Scheduled Event":
		p := pods[k]
		return c.Create(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.Name + ".scheduled"},
			EventTime: metav1.NewMicroTime(time.Now()), ReportingController: "default-scheduler", ReportingInstance: "default-scheduler-bench",
			Action: "Binding", Reason: "Scheduled", Type: corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: p.Name, UID: p.UID, APIVersion: "v1"},
			Note:      "Successfully assigned " + ns + "/" + p.Name + " to " + benchNode})
	}
	now := metav1.Now().UTC().Format(time.RFC3339)
	patch := fmt.Sprintf(`{"status":{"phase":"Running","podIP":"10.0.0.%d","hostIP":"10.0.0.1","startTime":%q,`+
		`"conditions":[{"type":"Ready","status":"True","lastTransitionTime":%q},{"type":"ContainersReady","status":"True","lastTransitionTime":%q}],`+
		`"containerStatuses":[{"name":"main","ready":true,"restartCount":0,"image":"busybox:stable","imageID":"","started":true,"state":{"running":{"startedAt":%q}}}]}}`,
		k%250+2, now, now, now, now)
	return c.Status().Patch(ctx, pods[k], client.RawPatch(types.StrategicMergePatchType, []byte(patch)))
}

// deleteAll removes the round's tasks, or pods (at once: no kubelet
// would confirm a graceful deletion).
func deleteAll(ctx context.Context, c client.Client, v variant, ns string) error {
	if v.pod {
		return c.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.GracePeriodSeconds(0))
	}
	return c.DeleteAllOf(ctx, task(v, ns, ""), client.InNamespace(ns))
}
