package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/controllers/allocation"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// taskEndEvent is how the Event of each task endTasks moves reads: its
// type and action, and the object it names beside the task (the Agent or
// Framework; nil for none).
type taskEndEvent struct {
	eventType, action string
	related           runtime.Object
}

// endTasks is the one way the master ends tasks, for a torn-down framework
// and for an agent that is partitioned, Down for maintenance or gone: each
// live task of tasks moves to its fate under end (aware says whether its
// framework is partition-aware), then, when end says so, agentd's kill
// finalizer is released from every task, live or not. At most
// allocation.DefaultConcurrentWrites writes are in flight; a task deleted meanwhile is
// not an error, and every other failure is returned, joined.
func endTasks(ctx context.Context, c client.Client, rec events.EventRecorder, tasks []kov1.Task, end taskEnd,
	aware func(*kov1.Task) bool, ev taskEndEvent, now time.Time) error {
	var work []*kov1.Task
	awareOf := map[*kov1.Task]bool{}
	for i := range tasks {
		t := &tasks[i]
		changes := end.releaseFinalizer && controllerutil.ContainsFinalizer(t, kov1.TaskKillFinalizer)
		if !t.Status.State.IsTerminal() && end.fate != nil {
			awareOf[t] = aware(t)
			_, _, _, ok := end.fate(t, awareOf[t])
			changes = changes || ok
		}
		if changes {
			work = append(work, t)
		}
	}
	errs := make([]error, len(work))
	workqueue.ParallelizeUntil(ctx, allocation.DefaultConcurrentWrites, len(work), func(i int) {
		errs[i] = endTask(ctx, c, rec, work[i], end, awareOf[work[i]], ev, now)
	})
	return errors.Join(errs...)
}

// endTask moves one live task to its fate, then releases agentd's finalizer
// if end says so.
func endTask(ctx context.Context, c client.Client, rec events.EventRecorder, t *kov1.Task, end taskEnd, partitionAware bool, ev taskEndEvent, now time.Time) error {
	if end.fate != nil && !t.Status.State.IsTerminal() {
		if state, reason, msg, ok := end.fate(t, partitionAware); ok {
			next := t.DeepCopy()
			taskstatus.Transition(&next.Status, state, reason, msg, now)
			if err := c.Status().Update(ctx, next); err != nil {
				return client.IgnoreNotFound(fmt.Errorf("moving task %s to %s: %w", t.Name, state, err))
			}
			rec.Eventf(next, ev.related, ev.eventType, reason, ev.action, "Task %s: %s", state, msg)
			t = next
		}
	}
	if !end.releaseFinalizer || !controllerutil.ContainsFinalizer(t, kov1.TaskKillFinalizer) {
		return nil
	}
	next := t.DeepCopy()
	controllerutil.RemoveFinalizer(next, kov1.TaskKillFinalizer)
	if err := c.Patch(ctx, next, client.MergeFromWithOptions(t, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("releasing the kill finalizer of task %s: %w", t.Name, err))
	}
	return nil
}

// killed: the framework is torn down. Its bound tasks go Killing (their
// agent stops the Pod and reports Killed); unbound ones are Killed at once.
// A task already Killing, or deleted (its agent kills it, and agentd's
// finalizer holds it until the Pod is gone), is left alone.
func killed(reason, msg string) taskFate {
	return func(t *kov1.Task, _ bool) (kov1.TaskState, string, string, bool) {
		switch {
		case t.Status.State == kov1.TaskKilling || t.DeletionTimestamp != nil:
			return "", "", "", false
		case t.Status.AgentName != "":
			return kov1.TaskKilling, reason, msg, true
		}
		return kov1.TaskKilled, reason, msg, true
	}
}
