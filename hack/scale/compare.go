package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// clientLimits is one setting of the client rate limits that the master and
// kube-scheduler run with, both the same, so that the comparison measures
// the two systems and not two different limiters.
type clientLimits struct {
	// Name is "default" (each at its shipped default) or "unthrottled".
	Name string
	// QPS and Burst are passed to both as --kube-api-qps and
	// --kube-api-burst; 0 passes nothing (the shipped default).
	QPS   float64
	Burst int
}

// limitSettings are the settings -limits may name.
var limitSettings = map[string]clientLimits{
	"default":     {Name: "default"},
	"unthrottled": {Name: "unthrottled", QPS: 5000, Burst: 10000},
}

// args are the flags that apply the setting, to the master or kube-scheduler.
func (l clientLimits) args() []string {
	if l.QPS == 0 {
		return nil
	}
	return []string{fmt.Sprintf("--kube-api-qps=%g", l.QPS), fmt.Sprintf("--kube-api-burst=%d", l.Burst)}
}

func parseLimits(s string) ([]clientLimits, error) {
	var out []clientLimits
	for name := range strings.SplitSeq(s, ",") {
		l, ok := limitSettings[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("unknown client limit setting %q (want default or unthrottled)", name)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no client limit setting in %q", s)
	}
	return out, nil
}

// rateLimit is a client's effective queries per second and burst.
type rateLimit struct {
	QPS   float64 `json:"qps"`
	Burst int     `json:"burst"`
}

func (r rateLimit) String() string {
	if r.QPS == 0 {
		return "its default (unknown)"
	}
	return fmt.Sprintf("%g/s burst %d", r.QPS, r.Burst)
}

// shippedLimit reads a binary's default --kube-api-qps and --kube-api-burst
// from its --help, so the report says what "default" was, whatever it is
// today.
func shippedLimit(bin string) rateLimit {
	out, _ := exec.Command(bin, "--help").CombinedOutput() // Go's flag package exits 0 on --help, cobra too; the text is what matters
	return rateLimit{QPS: helpDefault(string(out), "kube-api-qps"), Burst: int(helpDefault(string(out), "kube-api-burst"))}
}

// helpDefault finds "(default N)" in the usage of flag name: Go's flag
// package prints it on the line after "-name type", cobra on the same line.
func helpDefault(help, name string) float64 {
	re := regexp.MustCompile(`-` + regexp.QuoteMeta(name) + ` [a-z0-9]+\s+[^\n]*\(default ([0-9.]+)\)`)
	m := re.FindStringSubmatch(help)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// effectiveLimit is what a process runs with: the last of args that sets
// the limit (--kube-api-qps=N), else def.
func effectiveLimit(def rateLimit, args []string) rateLimit {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "kube-api-qps="); ok {
			def.QPS, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(a, "kube-api-burst="); ok {
			def.Burst, _ = strconv.Atoi(v)
		}
	}
	return def
}

// unthrottled is cfg with no client-side rate limiter: the harness's own
// clients must never cap what it measures.
func unthrottled(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	return c
}

// Comparison is one client-limit setting's comparison of kubeoffer with
// kube-scheduler: create→bound against create→bound, and what each cost.
type Comparison struct {
	Limits         string    `json:"limits"`
	Master         rateLimit `json:"masterClientLimit"`
	KubeScheduler  rateLimit `json:"kubeSchedulerClientLimit"`
	Builtin        Path      `json:"builtin"`
	SDK            Path      `json:"sdk"`
	KubeSched      Path      `json:"kubeScheduler"`
	BuiltinToKubeS float64   `json:"builtinToKubeSchedulerRatio"`
	SDKToKubeS     float64   `json:"sdkToKubeSchedulerRatio"`
}

// ratios sets the two throughput ratios, create→bound over create→bound.
func (c *Comparison) ratios() {
	if c.KubeSched.BoundPerSec > 0 {
		c.BuiltinToKubeS = c.Builtin.BoundPerSec / c.KubeSched.BoundPerSec
		c.SDKToKubeS = c.SDK.BoundPerSec / c.KubeSched.BoundPerSec
	}
}

// Path is one way of placing a burst: kubeoffer's built-in scheduler, an
// SDK framework, or kube-scheduler.
type Path struct {
	// BoundPerSec is tasks (pods) bound per second, from the first create
	// to the last bind; RunningPerSec to the last Running (kubeoffer only:
	// kube-scheduler's fake Nodes run nothing).
	BoundPerSec   float64 `json:"createToBoundPerSec"`
	RunningPerSec float64 `json:"createToRunningPerSec,omitempty"`
	Bound         latency `json:"createToBoundMs"`
	Running       latency `json:"createToRunningMs"`
	Cost          Cost    `json:"cost"`
}

// Cost is what a burst cost the whole system, per task: from just before
// the first create until every task was Running (kubeoffer) or bound
// (kube-scheduler) and the writes it set off (Events, offer returns) had
// stopped.
type Cost struct {
	Tasks     int     `json:"tasks"`
	WindowSec float64 `json:"windowSeconds"`
	// CPUMs is CPU-ms per task by process: kube-apiserver, etcd, master,
	// kube-scheduler, harness (this process: the load generator, the
	// simulated agents, the SDK framework and the watches).
	CPUMs      map[string]float64 `json:"cpuMsPerTask"`
	TotalCPUMs float64            `json:"totalCpuMsPerTask"`
	// Writes and Reads are the API server's requests per task by verb and
	// resource ("PUT tasks/status"), from apiserver_request_total.
	Writes      map[string]float64 `json:"writesPerTask"`
	TotalWrites float64            `json:"totalWritesPerTask"`
	// LeaseWrites is the part of TotalWrites that renews heartbeat Leases
	// (agents', frameworks'): it runs whatever the burst does.
	LeaseWrites float64            `json:"leaseWritesPerTask"`
	Reads       map[string]float64 `json:"readsPerTask"`
	// MasterRequests is the master's own requests per task (its client's
	// rest_client_requests_total), and MasterRequestRate their rate over
	// the window: set against the master's client limit, it shows whether
	// the limit could have capped the burst.
	MasterRequests    float64 `json:"masterRequestsPerTask,omitempty"`
	MasterRequestRate float64 `json:"masterRequestsPerSecond,omitempty"`
}

// APIServerShare is the API server's part of the CPU.
func (c Cost) APIServerShare() float64 {
	if c.TotalCPUMs == 0 {
		return 0
	}
	return c.CPUMs["kube-apiserver"] / c.TotalCPUMs
}

// costMeter samples the CPU of every process of the system and the API
// server's request counts.
type costMeter struct {
	cfg *rest.Config
	// pids are the processes beyond the API server, etcd and this one:
	// the master or kube-scheduler, whichever runs.
	pids map[string]int
	// master is the running master, if one runs: its client's requests
	// are counted too.
	master *masterProc
}

type costSample struct {
	at        time.Time
	cpu       map[string]float64 // CPU seconds by process
	req       map[string]float64 // requests by "VERB resource[/subresource]"
	masterReq float64            // the master's own requests, -1 if unknown
}

func (m *costMeter) sample() costSample {
	s := costSample{at: time.Now(), cpu: childCPU(), masterReq: -1}
	for name, pid := range m.pids {
		s.cpu[name], _ = procStats(pid)
	}
	s.cpu["harness"], _ = procStats(os.Getpid())
	s.req, _ = apiRequests(m.cfg)
	if m.master != nil {
		if mm, err := m.master.metrics(); err == nil {
			s.masterReq = 0
			for k, v := range mm {
				if strings.HasPrefix(k, "rest_client_requests_total{") {
					s.masterReq += v
				}
			}
		}
	}
	return s
}

// settle waits until the API server has seen no write other than Lease
// renewals for a second (at most 10s), so that the writes a burst set off
// after its last task (Events, offers returned) count in its cost.
func (m *costMeter) settle(ctx context.Context) {
	last, quietSince := -1.0, time.Now()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		req, _ := apiRequests(m.cfg)
		w := 0.0
		for k, v := range req {
			if isWrite(k) && !isLease(k) {
				w += v
			}
		}
		if w != last {
			last, quietSince = w, time.Now()
		} else if time.Since(quietSince) >= time.Second {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// costBetween divides what happened between two samples by tasks.
func costBetween(s0, s1 costSample, tasks int) Cost {
	c := Cost{Tasks: tasks, WindowSec: s1.at.Sub(s0.at).Seconds(), CPUMs: map[string]float64{}, Writes: map[string]float64{}, Reads: map[string]float64{}}
	if tasks == 0 {
		return c
	}
	per := 1 / float64(tasks)
	for name, v := range s1.cpu {
		if v0, ok := s0.cpu[name]; ok && v >= v0 {
			c.CPUMs[name] = (v - v0) * 1000 * per
			c.TotalCPUMs += c.CPUMs[name]
		}
	}
	for k, v := range s1.req {
		d := (v - s0.req[k]) * per
		if d <= 0 {
			continue
		}
		if isWrite(k) {
			c.Writes[k] = d
			c.TotalWrites += d
			if isLease(k) {
				c.LeaseWrites += d
			}
		} else {
			c.Reads[k] = d
		}
	}
	if s0.masterReq >= 0 && s1.masterReq >= s0.masterReq {
		c.MasterRequests = (s1.masterReq - s0.masterReq) * per
		if c.WindowSec > 0 {
			c.MasterRequestRate = (s1.masterReq - s0.masterReq) / c.WindowSec
		}
	}
	return c
}

func isWrite(key string) bool {
	verb, _, _ := strings.Cut(key, " ")
	switch verb {
	case "POST", "PUT", "PATCH", "DELETE", "APPLY":
		return true
	}
	return false
}

func isLease(key string) bool {
	_, res, _ := strings.Cut(key, " ")
	return res == "leases"
}

// apiRequests is the API server's request count by verb and resource
// ("PUT tasks/status"), every response code included (a conflict costs
// too); watches are left out.
func apiRequests(cfg *rest.Config) (map[string]float64, error) {
	m, err := apiServerMetrics(cfg)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for k, v := range m {
		if !strings.HasPrefix(k, "apiserver_request_total{") {
			continue
		}
		verb := label(k, "verb")
		if verb == "WATCH" || verb == "WATCHLIST" || verb == "CONNECT" || verb == "" {
			continue
		}
		res := label(k, "resource")
		if sub := label(k, "subresource"); sub != "" {
			res += "/" + sub
		}
		out[verb+" "+res] += v
	}
	return out, nil
}

// masterProc is the master binary running for one client-limit setting.
type masterProc struct {
	cmd  *exec.Cmd
	port int
}

func startMaster(ctx context.Context, bin string, cp *controlplane.ControlPlane, args []string) (*masterProc, error) {
	return startMasterIn(ctx, bin, cp, args, nil)
}

// startMasterIn starts the master in cgroup g (none if nil): a shell joins
// it and then execs the master, so the master starts inside it and sees
// its limit, as in a container.
func startMasterIn(ctx context.Context, bin string, cp *controlplane.ControlPlane, args []string, g *memoryCgroup) (*masterProc, error) {
	port := freePort()
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", cp.KubeconfigPath, "--agent-lease-namespace", leaseNS,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port), "--health-probe-bind-address", "0", "--zap-log-level", "error")
	cmd.Args = append(cmd.Args, args...)
	if g != nil {
		cmd = exec.CommandContext(ctx, "sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, g.procs()}, cmd.Args...)...)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &masterProc{cmd: cmd, port: port}, nil
}

func (m *masterProc) metrics() (map[string]float64, error) {
	return scrape(func() (*http.Response, error) { return http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", m.port)) })
}

func (m *masterProc) stop() {
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
}

// waitReady waits until the master can take a burst at once: every one of
// the n agents is Reachable (the master's verdict on its heartbeat), and
// the master, leading, has completed two allocation passes since, so at
// least one whole pass saw them all. The allocator runs on the leader
// only, so passes mean it leads; with leader election on, its
// leader_election_master_status must also say so.
func (m *masterProc) waitReady(ctx context.Context, c client.Reader, n int) error {
	// Publishing an agent and marking it Reachable take a few writes
	// each: allow 2 minutes and 30 ms an agent (7 minutes at 10,000).
	if err := waitFor(ctx, 2*time.Minute+time.Duration(n)*30*time.Millisecond, func() bool {
		var l kov1.AgentList
		if c.List(ctx, &l, client.UnsafeDisableDeepCopy) != nil {
			return false
		}
		reachable := 0
		for i := range l.Items {
			if meta.IsStatusConditionTrue(l.Items[i].Status.Conditions, kov1.AgentReachableCondition) {
				reachable++
			}
		}
		return reachable >= n
	}); err != nil {
		return fmt.Errorf("waiting for %d agents to be Reachable: %w", n, err)
	}
	passes := func() (float64, bool) {
		mm, err := m.metrics()
		if err != nil {
			return 0, false
		}
		for k, v := range mm {
			if strings.HasPrefix(k, "leader_election_master_status") && v != 1 {
				return 0, false
			}
		}
		return mm["kubeoffer_allocation_run_seconds_count"], true
	}
	var first float64
	if err := waitFor(ctx, time.Minute, func() bool { var ok bool; first, ok = passes(); return ok }); err != nil {
		return fmt.Errorf("waiting for the master's metrics: %w", err)
	}
	if err := waitFor(ctx, time.Minute, func() bool { n, ok := passes(); return ok && n >= first+2 }); err != nil {
		return fmt.Errorf("waiting for the master's first passes: %w", err)
	}
	return nil
}

// costLine is one Cost on one line: CPU by process and writes by verb and
// resource, largest first.
func costLine(c Cost) string {
	procs := []string{"kube-apiserver", "etcd", "master", "kube-scheduler", "harness"}
	var cpu []string
	for _, p := range procs {
		if v, ok := c.CPUMs[p]; ok {
			cpu = append(cpu, fmt.Sprintf("%s %.1f", p, v))
		}
	}
	line := fmt.Sprintf("%.1f CPU-ms (%s; API server %.0f%%), %.2f writes (%.2f Lease renewals): %s",
		c.TotalCPUMs, strings.Join(cpu, ", "), 100*c.APIServerShare(), c.TotalWrites, c.LeaseWrites, byVerb(c.Writes, 0.01))
	if c.MasterRequests > 0 {
		line += fmt.Sprintf("; the master's own requests %.2f per task, %.0f/s", c.MasterRequests, c.MasterRequestRate)
	}
	return line
}

// byVerb lists a per-task request map, largest first, leaving out entries
// below atLeast.
func byVerb(m map[string]float64, atLeast float64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v >= atLeast {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.2f", k, m[k])
	}
	return strings.Join(parts, ", ")
}
