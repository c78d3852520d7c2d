package main

import (
	"fmt"
	"math/rand"
	"sort"
	"time"
)

// faultKind is one kind of fault the chaos run injects.
type faultKind string

const (
	// faultLeaderKill SIGKILLs the master replica holding the leader Lease;
	// it is started again (as a Deployment would) after the fault's
	// duration.
	faultLeaderKill faultKind = "leader-kill"
	// faultAgentdRestart stops one simulated agent's agentd (heartbeat and
	// task handling; its kubelet keeps running the Pods) for a few seconds.
	faultAgentdRestart faultKind = "agentd-restart"
	// faultPartitionShort cuts one agent (agentd and kubelet) off the API
	// server for less than the agent timeout.
	faultPartitionShort faultKind = "partition-short"
	// faultPartitionLong cuts one agent off for longer than the agent
	// timeout: the master marks it unreachable and its tasks Lost
	// (Unreachable for partition-aware frameworks) before it returns.
	faultPartitionLong faultKind = "partition-long"
	// faultDisconnect stops one SDK framework's scheduler (its driver, so
	// its heartbeat) and starts it again after the fault's duration, within
	// its failover timeout: Mesos's framework failover.
	faultDisconnect faultKind = "framework-disconnect"
	// faultFailover stops one SDK framework's scheduler for good: the master
	// tears the framework down when its failover timeout passes.
	faultFailover faultKind = "framework-failover-timeout"
	// faultTeardown deletes one Framework (built-in or SDK) while its tasks
	// run.
	faultTeardown faultKind = "framework-teardown"
	// faultConflicts runs concurrent writers that touch the annotations of
	// live Tasks and Frameworks for the fault's duration, so the master's
	// and agentd's optimistic writes meet 409 Conflicts.
	faultConflicts faultKind = "api-conflicts"
)

// faultKinds in the order the schedule gives every kind once, with their
// weights for the faults beyond that.
var faultKinds = []struct {
	kind   faultKind
	weight int
}{
	{faultLeaderKill, 4},
	{faultAgentdRestart, 2},
	{faultPartitionShort, 2},
	{faultPartitionLong, 2},
	{faultDisconnect, 2},
	{faultFailover, 1},
	{faultTeardown, 2},
	{faultConflicts, 2},
}

// fault is one planned fault.
type fault struct {
	Kind faultKind
	// AtTask: the fault fires once this many tasks have been created, so a
	// seed gives the same schedule of faults against the workload on a
	// fast or a slow machine.
	AtTask int
	// Pick chooses the target: an agent (Pick mod agents) or a framework
	// (Pick mod the eligible frameworks, in name order).
	Pick int
	// Duration is how long the fault lasts: an outage, a disconnection, a
	// storm of writes, or how long a killed master replica stays down.
	Duration time.Duration
}

func (f fault) String() string {
	return fmt.Sprintf("%s at task %d (pick %d, %s)", f.Kind, f.AtTask, f.Pick, f.Duration)
}

// scheduleOptions bound the durations a schedule draws.
type scheduleOptions struct {
	Seed   int64
	Faults int
	Tasks  int
	// AgentTimeout is the master's: short partitions stay below it, long
	// ones go past it.
	AgentTimeout time.Duration
	// FailoverTimeout is the SDK frameworks': disconnections stay below it.
	FailoverTimeout time.Duration
	// HeartbeatInterval is the simulated agents': a short partition also
	// leaves room for the heartbeat renewed just before it began.
	HeartbeatInterval time.Duration
}

// schedule plans the faults of a run from a seed: the same options give
// the same faults. Every kind comes once (when there are at least as many
// faults as kinds), the rest by weight; they fire between 5% and 85% of
// the tasks, so the run starts clean and drains clean.
func schedule(o scheduleOptions) []fault {
	rng := rand.New(rand.NewSource(o.Seed))
	kinds := make([]faultKind, 0, o.Faults)
	total := 0
	for _, k := range faultKinds {
		total += k.weight
	}
	for i := 0; i < o.Faults; i++ {
		if i < len(faultKinds) {
			kinds = append(kinds, faultKinds[i].kind)
			continue
		}
		n := rng.Intn(total)
		for _, k := range faultKinds {
			if n < k.weight {
				kinds = append(kinds, k.kind)
				break
			}
			n -= k.weight
		}
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	between := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int63n(int64(hi-lo)))
	}
	first, last := o.Tasks*5/100, o.Tasks*85/100
	out := make([]fault, len(kinds))
	for i, k := range kinds {
		f := fault{Kind: k, AtTask: first + rng.Intn(max(1, last-first)), Pick: rng.Intn(1 << 20)}
		switch k {
		case faultLeaderKill:
			f.Duration = between(2*time.Second, 10*time.Second)
		case faultAgentdRestart:
			f.Duration = between(2*time.Second, 8*time.Second)
		case faultPartitionShort:
			f.Duration = between(o.AgentTimeout/5, o.AgentTimeout-2*o.HeartbeatInterval-2*time.Second)
		case faultPartitionLong:
			f.Duration = between(o.AgentTimeout+5*time.Second, 2*o.AgentTimeout+5*time.Second)
		case faultDisconnect:
			f.Duration = between(o.FailoverTimeout/4, o.FailoverTimeout*2/3)
		case faultConflicts:
			f.Duration = between(5*time.Second, 15*time.Second)
		}
		out[i] = f
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AtTask < out[j].AtTask })
	return out
}
