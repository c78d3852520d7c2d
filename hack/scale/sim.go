package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// leaseNS is where the simulated agents heartbeat.
const leaseNS = "kubeoffer-system"

// fleet simulates N agents in one process, as kwok does for nodes: it
// publishes each Agent (Ready, with capacity and attributes), renews their
// heartbeat Leases, and plays agentd + kubelet for the tasks bound to them:
// Staging → Running at once, and Running → Finished after the task's
// duration (0: it runs until the run ends).
type fleet struct {
	c client.Client
	// cache is the harness's informer cache of Tasks: the agents read from
	// it, as agentd reads from its own, and write with the resourceVersion
	// they read.
	cache    client.Reader
	n        int
	duration time.Duration
	cpu, mem string

	mu       sync.Mutex
	running  map[string]time.Time // task key → when it went Running
	finished map[string]time.Time // agent → when a task on it last finished
	writes   atomic.Int64
}

// groupAttribute splits the agents into groups of groupSize, so a phase
// can run on the same number of agents whatever N is.
const (
	groupAttribute = "scale.kubeoffer.io/group"
	groupSize      = 100
)

func agentName(i int) string { return fmt.Sprintf("sim-agent-%05d", i) }

func (f *fleet) publish(ctx context.Context) error {
	if err := f.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNS}}); err != nil && client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	return parallel(ctx, f.n, 16, func(i int) error {
		name := agentName(i)
		now := metav1.NewMicroTime(time.Now())
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: leaseNS, Name: name, Labels: map[string]string{kov1.LabelHeartbeat: kov1.HeartbeatAgent}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](75), RenewTime: &now}}
		if err := f.c.Create(ctx, l); err != nil && client.IgnoreAlreadyExists(err) != nil {
			return err
		}
		a := &kov1.Agent{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := f.c.Create(ctx, a); err != nil && client.IgnoreAlreadyExists(err) != nil {
			return err
		}
		alloc := corev1.ResourceList{corev1.ResourceCPU: mustQ(f.cpu), corev1.ResourceMemory: mustQ(f.mem)}
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := f.c.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
				return err
			}
			a.Status.Capacity, a.Status.Allocatable = alloc, alloc
			a.Status.Ports = []kov1.PortRange{{Begin: 31000, End: 32000}}
			a.Status.Attributes = map[string]string{corev1.LabelHostname: name, corev1.LabelTopologyZone: "zone-" + strconv.Itoa(i%3),
				groupAttribute: strconv.Itoa(i / groupSize)}
			meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kov1.AgentReadyCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentReadyNodeReadyReason})
			return f.c.Status().Update(ctx, a)
		})
	})
}

// heartbeat renews every agent's Lease every 15s until ctx ends.
func (f *fleet) heartbeat(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(15 * time.Second):
		}
		// Every agentd renews its own Lease: enough in flight that a
		// round of 10,000 on a busy API server stays well inside the
		// agent timeout.
		_ = parallel(ctx, f.n, 64, func(i int) error {
			l := &coordinationv1.Lease{}
			if err := f.c.Get(ctx, client.ObjectKey{Namespace: leaseNS, Name: agentName(i)}, l); err != nil {
				return nil
			}
			now := metav1.NewMicroTime(time.Now())
			l.Spec.RenewTime = &now
			_ = f.c.Update(ctx, l)
			return nil
		})
	}
}

// onTask is called for every task event: it runs bound tasks and finishes
// them after the duration. t is the informer's object, shared: it is
// copied before it is changed.
func (f *fleet) onTask(ctx context.Context, t *kov1.Task) {
	key := t.Namespace + "/" + t.Name
	switch t.Status.State {
	case kov1.TaskStaging:
		// From the cached object, as agentd writes: a conflict means a
		// newer version is on its way through the informer, and its event
		// brings the task back here if it is still Staging.
		_ = f.transition(ctx, t.DeepCopy(), kov1.TaskRunning, "simulated agent started it")
	case kov1.TaskRunning:
		f.mu.Lock()
		if _, seen := f.running[key]; seen {
			f.mu.Unlock()
			return
		}
		f.running[key] = time.Now()
		f.mu.Unlock()
		if f.duration > 0 {
			go func() {
				select {
				case <-ctx.Done():
				case <-time.After(f.duration):
					f.finish(ctx, client.ObjectKeyFromObject(t))
				}
			}()
		}
	}
}

// finish moves a Running task to Finished, reading it from the cache first
// and past it only after a conflict.
func (f *fleet) finish(ctx context.Context, key client.ObjectKey) {
	reader := f.cache
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &kov1.Task{}
		if err := reader.Get(ctx, key, cur); err != nil {
			return err
		}
		reader = f.c
		if cur.Status.State != kov1.TaskRunning {
			return nil
		}
		if err := f.transition(ctx, cur, kov1.TaskFinished, "simulated task finished"); err != nil {
			return err
		}
		f.mu.Lock()
		f.finished[cur.Status.AgentName] = time.Now()
		f.mu.Unlock()
		return nil
	})
}

// transition writes t (the caller's copy) in its new state, guarded by the
// resourceVersion t was read at.
func (f *fleet) transition(ctx context.Context, t *kov1.Task, state kov1.TaskState, msg string) error {
	if t.Status.State == state || t.Status.State.IsTerminal() {
		return nil
	}
	now := time.Now()
	taskstatus.Transition(&t.Status, state, "", msg, now)
	if state == kov1.TaskRunning {
		t.Status.StartTime = &metav1.Time{Time: now}
	}
	f.writes.Add(1)
	return f.c.Status().Update(ctx, t)
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var wg sync.WaitGroup
	// The first error, whatever its type (an atomic.Value would panic on
	// a second error of another concrete type).
	var mu sync.Mutex
	var first error
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
