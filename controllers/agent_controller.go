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
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// DefaultAgentTimeout is Mesos's agent timeout: 15s ping × 5.
const DefaultAgentTimeout = 75 * time.Second

// AgentReconciler judges agents reachable from their heartbeat Lease (a
// Lease named after the agent in LeaseNamespace), timed by when the master
// saw each renewal. An agent it has not seen renewed for the agent timeout
// becomes Reachable=False and its tasks go Unreachable (partition-aware
// frameworks) or Lost; the scheduler rescinds its offers. An agent put Down
// for maintenance has its tasks killed.
type AgentReconciler struct {
	Client         client.Client
	Recorder       events.EventRecorder
	Clock          clock.PassiveClock
	LeaseNamespace string
	Timeout        time.Duration

	sightings *heartbeatSightings
}

// +kubebuilder:rbac:groups=kubeoffer.io,resources=agents,verbs=get;list;watch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=agents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=roles,verbs=get;list;watch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=roles/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=resourceoffers,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=kubeoffer.io,resources=resourceoffers/status,verbs=get;update;patch

// Reconcile converges one Agent.
func (r *AgentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	a := &kov1.Agent{}
	if err := r.Client.Get(ctx, req.NamespacedName, a); err != nil {
		if apierrors.IsNotFound(err) {
			r.sightings.forget(types.NamespacedName{Namespace: r.LeaseNamespace, Name: req.Name})
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	lease := &coordinationv1.Lease{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: r.LeaseNamespace, Name: a.Name}, lease); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading heartbeat lease: %w", err)
		}
		lease = nil
	}
	now := r.Clock.Now()
	leaseKey := types.NamespacedName{Namespace: r.LeaseNamespace, Name: a.Name}
	seenAt := r.sightings.observe(leaseKey, lease, now,
		firstSight(now, meta.FindStatusCondition(a.Status.Conditions, kov1.AgentReachableCondition), r.Timeout))
	reachable, recheck := agentReachable(seenAt, now, r.Timeout)
	ctrl.LoggerFrom(ctx).V(1).Info("Judged agent heartbeat", "reachable", reachable, "seenRenewedAt", seenAt,
		"leaseRenewTime", renewalOf(lease).renewed)
	cond := metav1.Condition{Type: kov1.AgentReachableCondition, Status: metav1.ConditionTrue, Reason: kov1.AgentHeartbeatFreshReason,
		Message: "agentd renewed its heartbeat Lease", ObservedGeneration: a.Generation, LastTransitionTime: metav1.NewTime(now)}
	if !reachable {
		cond.Status, cond.Reason = metav1.ConditionFalse, kov1.AgentHeartbeatExpiredReason
		cond.Message = fmt.Sprintf("No heartbeat seen on Lease %s/%s for longer than the agent timeout %s", r.LeaseNamespace, a.Name, r.Timeout)
	}
	next := a.DeepCopy()
	if meta.SetStatusCondition(&next.Status.Conditions, cond) {
		// Guarded by the resourceVersion: a merge patch replaces the whole
		// conditions list, and agentd's Ready may have changed since the
		// cache showed the Agent.
		if err := r.Client.Status().Patch(ctx, next, client.MergeFromWithOptions(a, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: conflictRetryDelay}, nil
			}
			// Gone since the cache showed it: nothing to mark.
			return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("writing Reachable condition: %w", err))
		}
		eventType := corev1.EventTypeNormal
		if !reachable {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(next, nil, eventType, cond.Reason, "Heartbeat", "Reachable=%s: %s", cond.Status, cond.Message)
	}
	switch {
	case !reachable:
		if err := r.markTasks(ctx, a, now, partitioned); err != nil {
			return ctrl.Result{}, err
		}
	case a.Spec.Maintenance == kov1.AgentMaintenanceDown:
		if err := r.markTasks(ctx, a, now, maintenanceDown); err != nil {
			return ctrl.Result{}, err
		}
	}
	if recheck > 0 {
		return ctrl.Result{RequeueAfter: recheck}, nil
	}
	return ctrl.Result{}, nil
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

func (r *AgentReconciler) markTasks(ctx context.Context, a *kov1.Agent, now time.Time, fate taskFate) error {
	var tasks kov1.TaskList
	if err := r.Client.List(ctx, &tasks, client.MatchingFields{IndexTaskAgent: a.Name}); err != nil {
		return fmt.Errorf("listing tasks of agent %s: %w", a.Name, err)
	}
	aware := map[types.NamespacedName]bool{}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if t.Status.State.IsTerminal() {
			continue
		}
		fk := types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.FrameworkName}
		pa, seen := aware[fk]
		if !seen {
			pa = r.partitionAware(ctx, fk)
			aware[fk] = pa
		}
		state, reason, msg, ok := fate(t, pa)
		if !ok {
			continue
		}
		next := t.DeepCopy()
		setTerminal(&next.Status, state, reason, msg, now)
		if err := r.Client.Status().Update(ctx, next); err != nil {
			return fmt.Errorf("moving task %s to %s: %w", t.Name, state, err)
		}
		r.Recorder.Eventf(next, a, corev1.EventTypeWarning, reason, "Agent", "Task %s: %s", state, msg)
	}
	return nil
}

func (r *AgentReconciler) partitionAware(ctx context.Context, fk types.NamespacedName) bool {
	f := &kov1.Framework{}
	if err := r.Client.Get(ctx, fk, f); err != nil {
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
// heartbeat Lease changes.
func (r *AgentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.sightings == nil {
		r.sightings = newHeartbeatSightings()
	}
	leaseToAgent := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if o.GetNamespace() != r.LeaseNamespace || o.GetLabels()[kov1.LabelHeartbeat] != kov1.HeartbeatAgent {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetName()}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&kov1.Agent{}).
		Watches(&coordinationv1.Lease{}, leaseToAgent).
		Named("agent").
		Complete(r)
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
