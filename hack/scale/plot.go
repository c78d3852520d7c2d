package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plots draws throughput and latency against agents (one framework), and
// the dominant shares over time of the fairness run.
func plots(dir string, rep *Report) error {
	if len(rep.Points) == 0 {
		return nil // a memory point alone has nothing to plot
	}
	var one []Point
	for _, p := range rep.Points {
		if p.Frameworks == rep.Points[0].Frameworks {
			one = append(one, p)
		}
	}
	sort.Slice(one, func(i, j int) bool { return one[i].Agents < one[j].Agents })
	line := func(get func(Point) float64) plotter.XYs {
		xys := make(plotter.XYs, len(one))
		for i, p := range one {
			xys[i].X, xys[i].Y = float64(p.Agents), get(p)
		}
		return xys
	}

	tp := plot.New()
	tp.Title.Text = fmt.Sprintf("Throughput, %d tasks (%d framework)", one[0].Tasks, one[0].Frameworks)
	tp.X.Label.Text, tp.Y.Label.Text = "agents (nodes)", "tasks (pods) per second"
	tp.X.Scale, tp.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
	if err := plotutil.AddLinePoints(tp,
		"kubeoffer built-in, create→Running", line(func(p Point) float64 { return p.BuiltinTasksPerSec }),
		"kubeoffer SDK framework, create→Running", line(func(p Point) float64 { return p.SDKTasksPerSec }),
		"kube-scheduler, create→bound", line(func(p Point) float64 { return p.KubeSchedPodsPerSec })); err != nil {
		return err
	}
	if err := tp.Save(7*vg.Inch, 4*vg.Inch, filepath.Join(dir, "throughput.png")); err != nil {
		return err
	}

	lp := plot.New()
	lp.Title.Text = "Latency (built-in scheduler)"
	lp.X.Label.Text, lp.Y.Label.Text = "agents (nodes)", "milliseconds"
	lp.X.Scale, lp.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
	if err := plotutil.AddLinePoints(lp,
		"create→Running p50", line(func(p Point) float64 { return p.BuiltinRunning.P50 }),
		"create→Running p99", line(func(p Point) float64 { return p.BuiltinRunning.P99 }),
		"create→bound p99", line(func(p Point) float64 { return p.BuiltinBound.P99 }),
		"kube-scheduler create→bound p99", line(func(p Point) float64 { return p.KubeSchedBound.P99 })); err != nil {
		return err
	}
	if err := lp.Save(7*vg.Inch, 4*vg.Inch, filepath.Join(dir, "latency.png")); err != nil {
		return err
	}

	for _, p := range rep.Points {
		if p.Shares == nil {
			continue
		}
		sp := plot.New()
		sp.Title.Text = fmt.Sprintf("Dominant shares over time: %d frameworks in roles weighted 1:2:3, %d agents", p.Frameworks, p.Agents)
		sp.X.Label.Text, sp.Y.Label.Text = "seconds", "dominant share"
		names := make([]string, 0, len(p.Shares))
		for n := range p.Shares {
			names = append(names, n)
		}
		sort.Strings(names)
		for i, n := range names {
			xys := make(plotter.XYs, len(p.Shares[n]))
			for j, v := range p.Shares[n] {
				xys[j].X, xys[j].Y = float64(j)/2, v
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(i)
			sp.Add(l)
			sp.Legend.Add(fmt.Sprintf("%s (fair %.3f)", n, p.FairShares[n]), l)
			fairLine, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: p.FairShares[n]}, {X: float64(len(xys)) / 2, Y: p.FairShares[n]}})
			fairLine.Color = color.Gray{Y: 160}
			fairLine.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
			sp.Add(fairLine)
		}
		sp.Legend.Top = true
		if err := sp.Save(7*vg.Inch, 4*vg.Inch, filepath.Join(dir, fmt.Sprintf("shares-%d-agents-%d-frameworks.png", p.Agents, p.Frameworks))); err != nil {
			return err
		}
	}
	return nil
}

func markdown(rep *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# kubeoffer scale run, %s\n\nMachine: %s. One kube-apiserver v1.36.3 + etcd v3.6.16 per grid point; the master is the built binary; agents are simulated in one process (kwok-style: Agent objects, heartbeat Leases, task status as agentd would write it).\n\n", rep.Date, rep.Machine)
	if len(rep.MasterArgs) > 0 {
		fmt.Fprintf(&b, "Master flags beyond the defaults: `%s`.\n\n", strings.Join(rep.MasterArgs, " "))
	}
	if len(rep.Points) == 0 {
		memorySection(&b, rep)
		return b.String()
	}
	fmt.Fprintf(&b, "API server write ceiling on this machine (%d writers creating ConfigMaps, no client-side rate limit): **%.0f writes/s**; a write cost %s. kube-scheduler runs once per agent count and client-limit setting (the same K plain Pods on as many fake Nodes); its figures are repeated for each framework count.\n\n",
		ceilingWriters, rep.APIWriteCeiling, costLine(rep.APIWriteCeilingCost))
	comparisons(&b, rep)
	first := "the first setting"
	if len(rep.Points) > 0 && len(rep.Points[0].Comparisons) > 0 {
		first = "the " + rep.Points[0].Comparisons[0].Limits + " setting"
	}
	fmt.Fprintf(&b, "**All phases** at %s (throughput here is create→Running; the ratio is create→bound over create→bound):\n\n", first)
	b.WriteString("| agents | frameworks | tasks | built-in tasks/s | create→bound p50/p90/p99 ms | create→Running p50/p90/p99 ms | SDK tasks/s | SDK create→Running p50/p99 ms | kube-scheduler pods/s | create→bound p50/p99 ms | built-in ÷ kube-scheduler | offer after free p50/p99 ms | allocation cycle mean / p99 ms | API writes per task | master CPU s / peak MiB |\n")
	b.WriteString("|---:|---:|---:|---:|---|---|---:|---|---:|---|---:|---|---|---:|---|\n")
	for _, p := range rep.Points {
		fmt.Fprintf(&b, "| %d | %d | %d | %.0f | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %.0f | %.0f / %.0f | %.0f | %.0f / %.0f | %.2f | %.0f / %.0f | %.1f / ≤%.0f | %.1f | %.1f / %.0f |\n",
			p.Agents, p.Frameworks, p.Tasks, p.BuiltinTasksPerSec, p.BuiltinBound.P50, p.BuiltinBound.P90, p.BuiltinBound.P99,
			p.BuiltinRunning.P50, p.BuiltinRunning.P90, p.BuiltinRunning.P99, p.SDKTasksPerSec, p.SDKRunning.P50, p.SDKRunning.P99,
			p.KubeSchedPodsPerSec, p.KubeSchedBound.P50, p.KubeSchedBound.P99, p.RatioToKubeSched, p.OfferLatency.P50, p.OfferLatency.P99,
			p.AllocationMeanMs, p.AllocationP99Ms, p.WritesPerTask, p.MasterCPUSec, p.MasterPeakMiB)
	}
	b.WriteString("\n**Steady stream** (tasks of 500m / 1Gi submitted at a fixed rate for 20 s through a built-in FirstFit framework, each running 5 s):\n\n| agents | frameworks | submitted tasks/s | started tasks/s | create→Running p50 / p90 / p99 ms |\n|---:|---:|---:|---:|---|\n")
	for _, p := range rep.Points {
		fmt.Fprintf(&b, "| %d | %d | %d | %.1f | %.0f / %.0f / %.0f |\n", p.Agents, p.Frameworks, p.StreamRate, p.StreamTasksPerSec,
			p.StreamRunning.P50, p.StreamRunning.P90, p.StreamRunning.P99)
	}
	for _, p := range rep.Points {
		if p.FairShares == nil {
			continue
		}
		fmt.Fprintf(&b, "\n**Fairness** (%d agents, %d frameworks in roles weighted 1:2:3, every framework wanting the whole cluster all along, its %s tasks topped up as they end): largest error of a dominant share, averaged over the last %s of a %s window from the cluster's first fill, against its weighted fair share **%.1f%%**.\n\n| framework | mean share | fair share |\n|---|---:|---:|\n", p.Agents, p.Frameworks, fairLifetime, fairWindow/2, fairWindow, p.MaxFairErr)
		names := make([]string, 0, len(p.FairShares))
		for n := range p.FairShares {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "| %s | %.3f | %.3f |\n", n, p.MeanShares[n], p.FairShares[n])
		}
	}
	b.WriteString("\n![throughput](throughput.png)\n\n![latency](latency.png)\n")
	for _, p := range rep.Points {
		if p.Shares != nil {
			fmt.Fprintf(&b, "\n![shares](shares-%d-agents-%d-frameworks.png)\n", p.Agents, p.Frameworks)
		}
	}
	memorySection(&b, rep)
	b.WriteString("\n**Simulated agents** (this harness's process, which also creates the tasks and watches them; from the start of each point to the end of the steady stream):\n\n| agents | frameworks | CPU-s | peak MiB |\n|---:|---:|---:|---:|\n")
	for _, p := range rep.Points {
		fmt.Fprintf(&b, "| %d | %d | %.1f | %.0f |\n", p.Agents, p.Frameworks, p.SimCPUSec, p.SimPeakMiB)
	}
	return b.String()
}

// memorySection writes the memory point, if it ran.
func memorySection(b *strings.Builder, rep *Report) {
	if m := rep.Memory; m != nil {
		fmt.Fprintf(b, "\n**Memory point** (%d agents of 1 cpu / 4 GiB, one of them a real agentd process, the others simulated; %d tasks of 100m / 128Mi through one built-in FirstFit framework, which fills the cluster; the master at its shipped client limit): %s%d created, %d bound (%d on the real agentd, which stay Staging: no kubelet runs their Pods), %d Running, in %.0f s (%.0f tasks/s create→bound). Peak resident memory (VmHWM): **master %.0f MiB**%s (Go heap in use at the end %.0f MiB; %.0f CPU-s), **agentd %.0f MiB** (%.1f CPU-s).\n",
			m.Agents, m.Tasks, capped(*m), m.Created, m.Bound, m.AgentdTasks, m.Running, m.Seconds, m.TasksPerSec, m.MasterPeakMiB, limited(*m), m.MasterHeapMiB, m.MasterCPUSec, m.AgentdPeakMiB, m.AgentdCPUSec)
	}
}

// comparisons writes the comparison with kube-scheduler at each client
// limit setting, and what a task cost on each path.
func comparisons(b *strings.Builder, rep *Report) {
	b.WriteString("**Against kube-scheduler, at the same client limits** (create→bound throughput over create→bound throughput; \"default\" is each at its shipped default, \"unthrottled\" both at `--kube-api-qps=5000 --kube-api-burst=10000`):\n\n")
	b.WriteString("| agents | frameworks | limits | master client limit | kube-scheduler client limit | built-in tasks/s | SDK tasks/s | kube-scheduler pods/s | **built-in ÷ kube-scheduler** | **SDK ÷ kube-scheduler** | create→bound p50 / p99 ms: built-in | SDK | kube-scheduler |\n")
	b.WriteString("|---:|---:|---|---|---|---:|---:|---:|---:|---:|---|---|---|\n")
	for _, p := range rep.Points {
		for _, c := range p.Comparisons {
			fmt.Fprintf(b, "| %d | %d | %s | %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.0f / %.0f | %.0f / %.0f | %.0f / %.0f |\n",
				p.Agents, p.Frameworks, c.Limits, c.Master, c.KubeScheduler, c.Builtin.BoundPerSec, c.SDK.BoundPerSec, c.KubeSched.BoundPerSec,
				c.BuiltinToKubeS, c.SDKToKubeS, c.Builtin.Bound.P50, c.Builtin.Bound.P99, c.SDK.Bound.P50, c.SDK.Bound.P99, c.KubeSched.Bound.P50, c.KubeSched.Bound.P99)
		}
	}
	b.WriteString("\n**Cost per task** (from just before the first create until every task was Running — kube-scheduler: bound — and the writes it set off had stopped; CPU of every process: kube-apiserver, etcd, the master or kube-scheduler, and the harness, which creates the tasks, plays the agents, runs the SDK framework and watches; requests from the API server's `apiserver_request_total`; Lease renewals of the simulated agents run throughout and are counted in both):\n\n")
	b.WriteString("| agents | frameworks | limits | path | CPU-ms / task | kube-apiserver (share) | etcd | master | kube-scheduler | harness | writes / task | of which Lease renewals | writes by verb and resource | reads by verb and resource | the master's own requests / task, and per s |\n")
	b.WriteString("|---:|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|\n")
	for _, p := range rep.Points {
		for _, c := range p.Comparisons {
			for _, path := range []struct {
				name string
				cost Cost
			}{{"built-in", c.Builtin.Cost}, {"SDK", c.SDK.Cost}, {"kube-scheduler", c.KubeSched.Cost}} {
				k := path.cost
				master := ""
				if k.MasterRequests > 0 {
					master = fmt.Sprintf("%.2f, %.0f/s", k.MasterRequests, k.MasterRequestRate)
				}
				fmt.Fprintf(b, "| %d | %d | %s | %s | %.1f | %.1f (%.0f%%) | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %s | %s | %s |\n",
					p.Agents, p.Frameworks, c.Limits, path.name, k.TotalCPUMs, k.CPUMs["kube-apiserver"], 100*k.APIServerShare(), k.CPUMs["etcd"],
					k.CPUMs["master"], k.CPUMs["kube-scheduler"], k.CPUMs["harness"], k.TotalWrites, k.LeaseWrites, byVerb(k.Writes, 0.01), byVerb(k.Reads, 0.01), master)
			}
		}
	}
	b.WriteString("\n")
}
