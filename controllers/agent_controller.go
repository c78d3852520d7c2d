package controllers

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// DefaultAgentTimeout is Mesos's agent timeout: 15s ping × 5.
const DefaultAgentTimeout = 75 * time.Second

// DefaultAgentGoneTimeout is how long an agent may stay unreachable before
// it is removed and its tasks end: Mesos's --registry_max_agent_age, how
// long its master remembers an unreachable agent (2 weeks).
const DefaultAgentGoneTimeout = 14 * 24 * time.Hour

// agentWorkers is how many Agents the master reconciles at once.
const agentWorkers = 8

// AgentReconciler judges agents reachable from their heartbeat Lease (a
// Lease named after the agent in LeaseNamespace), timed by when the master
// saw each renewal. An agent it has not seen renewed for the agent timeout
// becomes Reachable=False and its tasks go Unreachable (partition-aware
// frameworks) or Lost; the allocation loop rescinds its offers. An agent put Down
// for maintenance has its tasks killed. An agent that is gone for good —
// unreachable past the gone timeout, marked Gone by the operator, deleted,
// or no longer existing — has its tasks end Gone (partition-aware
// frameworks) or Lost, and agentd's finalizer on them released, since no
// agentd will answer for them. The master's finalizer on every Agent makes
// sure a deletion is seen even if agentd recreates the Agent at once.
type AgentReconciler struct {
	Client client.Client
	// APIReader reads past the cache: the master confirms with the API
	// server that an Agent no longer exists before ending its tasks.
	APIReader      client.Reader
	Recorder       events.EventRecorder
	Clock          clock.PassiveClock
	LeaseNamespace string
	Timeout        time.Duration
	// GoneTimeout is how long an agent may stay unreachable before it is
	// removed (0: never).
	GoneTimeout time.Duration

	sightings *heartbeatSightings
}

// +kubebuilder:rbac:groups=kubeoffer.io,resources=agents,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=agents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=agents/finalizers,verbs=update
// +kubebuilder:rbac:groups=kubeoffer.io,resources=tasks/finalizers,verbs=update

// Reconcile converges one Agent.
func (r *AgentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return requeueOnConflict(r.reconcile(ctx, req))
}

func (r *AgentReconciler) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	leaseKey := types.NamespacedName{Namespace: r.LeaseNamespace, Name: req.Name}
	a := &kov1.Agent{}
	if err := r.Client.Get(ctx, req.NamespacedName, a); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading agent: %w", err)
		}
		return ctrl.Result{}, r.endTasksOfMissingAgent(ctx, req.Name, leaseKey)
	}
	now := r.Clock.Now()
	if a.DeletionTimestamp != nil {
		return ctrl.Result{}, r.finalize(ctx, a, leaseKey, now)
	}
	if !controllerutil.ContainsFinalizer(a, kov1.AgentFinalizer) {
		next := a.DeepCopy()
		controllerutil.AddFinalizer(next, kov1.AgentFinalizer)
		if err := r.Client.Patch(ctx, next, client.MergeFromWithOptions(a, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("adding finalizer: %w", err))
		}
		a = next
	}
	lease := &coordinationv1.Lease{}
	if err := r.Client.Get(ctx, leaseKey, lease); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading heartbeat lease: %w", err)
		}
		lease = nil
	}
	reachable := meta.FindStatusCondition(a.Status.Conditions, kov1.AgentReachableCondition)
	seenAt := r.sightings.observe(leaseKey, lease, now, firstSight(now, reachable, r.Timeout))
	verdict := judgeAgent(seenAt, reachable, now, r.Timeout, r.GoneTimeout)
	ctrl.LoggerFrom(ctx).V(1).Info("Judged agent heartbeat", "liveness", verdict.Liveness, "seenRenewedAt", seenAt,
		"leaseRenewTime", renewalOf(lease).renewed)
	if err := r.writeReachable(ctx, a, verdict, now); err != nil {
		return ctrl.Result{}, err
	}
	if end := agentTaskEnd(a, verdict.Liveness); end.fate != nil {
		if err := r.markTasks(ctx, a.Name, a, now, end); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{RequeueAfter: verdict.RecheckAfter}, nil
}

// writeReachable sets the Reachable condition from the verdict, with an
// Event when it changes.
func (r *AgentReconciler) writeReachable(ctx context.Context, a *kov1.Agent, v agentVerdict, now time.Time) error {
	cond := metav1.Condition{Type: kov1.AgentReachableCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentReachableHeartbeatFreshReason,
		Message: "agentd renewed its heartbeat Lease", ObservedGeneration: a.Generation, LastTransitionTime: metav1.NewTime(now)}
	switch v.Liveness {
	case agentUnreachable:
		cond.Status, cond.Reason = metav1.ConditionFalse, kov1.AgentReachableHeartbeatExpiredReason
		cond.Message = fmt.Sprintf("No heartbeat seen on Lease %s/%s for longer than the agent timeout %s", r.LeaseNamespace, a.Name, r.Timeout)
	case agentTimedOut:
		cond.Status, cond.Reason = metav1.ConditionFalse, kov1.AgentReachableRemovedReason
		cond.Message = fmt.Sprintf("Unreachable since %s, longer than the agent gone timeout %s: removed, its tasks ended Gone or Lost; "+
			"offered again if its heartbeat on Lease %s/%s comes back", v.UnreachableSince.UTC().Format(time.RFC3339), r.GoneTimeout, r.LeaseNamespace, a.Name)
	}
	next := a.DeepCopy()
	if !meta.SetStatusCondition(&next.Status.Conditions, cond) {
		return nil
	}
	// Guarded by the resourceVersion: a merge patch replaces the whole
	// conditions list, and agentd's Ready may have changed since the cache
	// showed the Agent.
	if err := r.Client.Status().Patch(ctx, next, client.MergeFromWithOptions(a, client.MergeFromWithOptimisticLock{})); err != nil {
		// Gone since the cache showed it: nothing to mark.
		return client.IgnoreNotFound(fmt.Errorf("writing Reachable condition: %w", err))
	}
	eventType := corev1.EventTypeNormal
	if cond.Status == metav1.ConditionFalse {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(next, nil, eventType, cond.Reason, "Heartbeat", "Reachable=%s: %s", cond.Status, cond.Message)
	return nil
}

// finalize ends the tasks of a deleted Agent, then lets it go.
func (r *AgentReconciler) finalize(ctx context.Context, a *kov1.Agent, leaseKey types.NamespacedName, now time.Time) error {
	if err := r.markTasks(ctx, a.Name, a, now, agentTaskEnd(a, "")); err != nil {
		return err
	}
	if !controllerutil.ContainsFinalizer(a, kov1.AgentFinalizer) {
		return nil // another finalizer holds it; the master has done its part
	}
	next := a.DeepCopy()
	controllerutil.RemoveFinalizer(next, kov1.AgentFinalizer)
	if err := r.Client.Patch(ctx, next, client.MergeFromWithOptions(a, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("removing finalizer: %w", err))
	}
	r.sightings.forget(leaseKey)
	return nil
}

// endTasksOfMissingAgent ends the tasks still bound to an Agent that no
// longer exists (its finalizer was removed by hand, or it went while no
// master ran), once the API server confirms it is gone.
func (r *AgentReconciler) endTasksOfMissingAgent(ctx context.Context, name string, leaseKey types.NamespacedName) error {
	r.sightings.forget(leaseKey)
	if err := r.APIReader.Get(ctx, types.NamespacedName{Name: name}, &kov1.Agent{}); !apierrors.IsNotFound(err) {
		return client.IgnoreNotFound(err) // it exists: the cache will show it
	}
	return r.markTasks(ctx, name, nil, r.Clock.Now(), agentTaskEnd(nil, ""))
}

// taskEnd is what becomes of the tasks on an agent: fate decides each live
// task's new state; releaseFinalizer also removes agentd's kill finalizer
// from every task (live or not), because no agentd will release it.
type taskEnd struct {
	fate             taskFate
	releaseFinalizer bool
}

// agentTaskEnd decides, from the Agent (nil: it no longer exists) and the
// master's verdict on its heartbeat, what becomes of the tasks bound to it.
// An agent gone for good (no longer existing, deleted, marked Gone, or
// unreachable past the gone timeout) has its tasks end and their finalizers
// released; an unreachable one has them partitioned; one Down for
// maintenance has them killed.
func agentTaskEnd(a *kov1.Agent, liveness agentLiveness) taskEnd {
	switch {
	case a == nil:
		return taskEnd{fate: removed(kov1.TaskReasonAgentRemovedByOperator, "no longer exists"), releaseFinalizer: true}
	case a.DeletionTimestamp != nil:
		return taskEnd{fate: removed(kov1.TaskReasonAgentRemovedByOperator, "was deleted"), releaseFinalizer: true}
	case a.Spec.Maintenance == kov1.AgentMaintenanceGone:
		return taskEnd{fate: removed(kov1.TaskReasonAgentRemovedByOperator, "was marked Gone by the operator"), releaseFinalizer: true}
	case liveness == agentTimedOut:
		return taskEnd{fate: removed(kov1.TaskReasonAgentRemoved, "stayed unreachable longer than the agent gone timeout"), releaseFinalizer: true}
	case liveness == agentUnreachable:
		return taskEnd{fate: partitioned}
	case a.Spec.Maintenance == kov1.AgentMaintenanceDown:
		return taskEnd{fate: maintenanceDown}
	}
	return taskEnd{}
}

// taskFate decides what becomes of a live task on an agent; ok=false
// leaves it alone.
type taskFate func(t *kov1.Task, partitionAware bool) (state kov1.TaskState, reason, msg string, ok bool)

// partitioned: the agent is unreachable. Partition-aware frameworks see
// Unreachable (the task may come back); others see Lost.
func partitioned(t *kov1.Task, partitionAware bool) (kov1.TaskState, string, string, bool) {
	if t.Status.State == kov1.TaskUnreachable {
		return "", "", "", false
	}
	msg := "agent " + t.Status.AgentName + " is unreachable"
	if partitionAware {
		return kov1.TaskUnreachable, kov1.TaskReasonAgentUnreachable, msg + "; the task may come back when it does", true
	}
	return kov1.TaskLost, kov1.TaskReasonAgentUnreachable, msg, true
}

// maintenanceDown: the agent is Down for maintenance; its tasks are killed.
func maintenanceDown(t *kov1.Task, _ bool) (kov1.TaskState, string, string, bool) {
	if t.Status.State == kov1.TaskKilling {
		return "", "", "", false
	}
	return kov1.TaskKilling, kov1.TaskReasonAgentMaintenance, "agent " + t.Status.AgentName + " is Down for maintenance", true
}

// removed: the agent is gone for good, and its tasks with it. As in Mesos,
// partition-aware frameworks see Gone, others Lost (they know no Gone).
func removed(reason, why string) taskFate {
	return func(t *kov1.Task, partitionAware bool) (kov1.TaskState, string, string, bool) {
		msg := "agent " + t.Status.AgentName + " " + why + "; the task is not running there any more"
		if partitionAware {
			return kov1.TaskGone, reason, msg, true
		}
		return kov1.TaskLost, reason, msg, true
	}
}

// markTasks applies end to every task bound to agent (a, nil when the Agent
// no longer exists), writing at most DefaultConcurrentWrites at once.
func (r *AgentReconciler) markTasks(ctx context.Context, agent string, a *kov1.Agent, now time.Time, end taskEnd) error {
	var tasks kov1.TaskList
	if err := r.Client.List(ctx, &tasks, client.MatchingFields{IndexTaskAgent: agent}); err != nil {
		return fmt.Errorf("listing tasks of agent %s: %w", agent, err)
	}
	aware := map[kov1.FrameworkKey]bool{}
	awareOf := func(t *kov1.Task) bool {
		fk := t.FrameworkKey()
		if _, seen := aware[fk]; !seen {
			aware[fk] = r.partitionAware(ctx, fk)
		}
		return aware[fk]
	}
	ev := taskEndEvent{eventType: corev1.EventTypeWarning, action: "Agent"}
	if a != nil {
		ev.related = a
	}
	return endTasks(ctx, r.Client, r.Recorder, tasks.Items, end, awareOf, ev, now)
}

func (r *AgentReconciler) partitionAware(ctx context.Context, fk kov1.FrameworkKey) bool {
	f := &kov1.Framework{}
	if err := r.Client.Get(ctx, fk.NamespacedName(), f); err != nil {
		return false
	}
	for _, c := range f.Spec.Capabilities {
		if c == kov1.CapabilityPartitionAware {
			return true
		}
	}
	return false
}

// SetupWithManager registers the controller, waking an agent when its
// heartbeat Lease changes, and when a task is bound to (or, deleted, still
// held by) an agent that is gone or no longer exists, so no task stays
// bound to an agent that will never answer for it.
func (r *AgentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.sightings == nil {
		r.sightings = newHeartbeatSightings()
	}
	leaseToAgent := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if o.GetNamespace() != r.LeaseNamespace || o.GetLabels()[kov1.LabelHeartbeat] != kov1.HeartbeatAgent {
			return nil
		}
		// A renewal is timed when the master sees it, not when the
		// reconciler gets to it: with 10,000 agents the queue may hold it
		// for longer than the agent timeout.
		if l, isLease := o.(*coordinationv1.Lease); isLease {
			r.sightings.seen(client.ObjectKeyFromObject(l), l, r.Clock.Now())
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetName()}}}
	})
	taskToGoneAgent := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		name := o.(*kov1.Task).Status.AgentName
		if name == "" {
			return nil
		}
		a := &kov1.Agent{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, a); (err != nil && !apierrors.IsNotFound(err)) || (err == nil && !a.IsGone()) {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&kov1.Agent{}).
		Watches(&coordinationv1.Lease{}, leaseToAgent).
		Watches(&kov1.Task{}, taskToGoneAgent, builder.WithPredicates(taskBindingPredicate())).
		Named("agent").
		// Agents are judged independently (the sightings have their own
		// lock); several workers keep up with 10,000 agents renewing
		// every 15 s while some reconciles wait on writes.
		WithOptions(controller.Options{MaxConcurrentReconciles: agentWorkers}).
		Complete(r)
}

// taskBindingPredicate passes the task events after which a task may be
// bound to an agent that is already gone: its creation (which includes
// every task the master finds when it starts), a change of agent, and the
// start of its deletion.
func taskBindingPredicate() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(eventCreate) bool { return true },
		UpdateFunc: func(e eventUpdate) bool {
			old, cur := e.ObjectOld.(*kov1.Task), e.ObjectNew.(*kov1.Task)
			return old.Status.AgentName != cur.Status.AgentName || (old.DeletionTimestamp == nil && cur.DeletionTimestamp != nil)
		},
		DeleteFunc:  func(eventDelete) bool { return false },
		GenericFunc: func(eventGeneric) bool { return false },
	}
}

// SetupIndexes registers the Task field indexes the controllers use.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &kov1.Task{}, IndexTaskFramework, func(o client.Object) []string {
		return []string{o.(*kov1.Task).Spec.FrameworkName}
	}); err != nil {
		return fmt.Errorf("indexing tasks by framework: %w", err)
	}
	if err := idx.IndexField(ctx, &kov1.Task{}, IndexTaskAgent, func(o client.Object) []string {
		if a := o.(*kov1.Task).Status.AgentName; a != "" {
			return []string{a}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing tasks by agent: %w", err)
	}
	return nil
}
