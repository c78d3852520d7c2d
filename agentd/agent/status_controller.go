package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// StatusReconciler publishes the node as an Agent: it creates the Agent if
// absent (never touching its spec) and writes its status (ComputeStatus)
// whenever the node, a Pod on it, a task bound to it or the Agent changes,
// and at least every Options.StatusResync. It writes only when something
// changed.
type StatusReconciler struct {
	Client  client.Client
	Clock   clock.PassiveClock
	Options Options
}

// +kubebuilder:rbac:groups=kubeoffer.io,resources=agents,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=kubeoffer.io,resources=agents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// Reconcile recomputes the Agent's status.
func (r *StatusReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	node := &corev1.Node{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: r.Options.NodeName}, node); err != nil {
		return ctrl.Result{}, fmt.Errorf("reading node %s (is --node-name right?): %w", r.Options.NodeName, err)
	}
	a, err := r.ensureAgent(ctx)
	if err != nil || a == nil {
		return ctrl.Result{RequeueAfter: conflictRetry}, err
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing pods on node: %w", err)
	}
	var tasks kov1.TaskList
	if err := r.Client.List(ctx, &tasks); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing tasks of agent: %w", err)
	}
	in := StatusInput{Node: node, Pods: pods.Items, Tasks: tasks.Items, Spec: a.Spec,
		AttributeLabels: r.Options.AttributeLabels, Attributes: r.Options.Attributes, Ports: r.Options.Ports, SystemReserved: r.Options.SystemReserved}
	st := ComputeStatus(in, a.Status, a.Generation, metav1.Time{Time: r.Clock.Now()})
	r.record(st, tasks.Items)
	if equality.Semantic.DeepEqual(st, a.Status) {
		return ctrl.Result{RequeueAfter: r.Options.StatusResync}, nil
	}
	next := a.DeepCopy()
	next.Status = st
	if err := r.Client.Status().Update(ctx, next); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, fmt.Errorf("writing agent status: %w", err)
	}
	return ctrl.Result{RequeueAfter: r.Options.StatusResync}, nil
}

// ensureAgent returns the node's Agent, creating it with an empty spec if
// it does not exist. It returns nil (and no error) when the Agent exists
// but the cache has not shown it yet.
func (r *StatusReconciler) ensureAgent(ctx context.Context) (*kov1.Agent, error) {
	a := &kov1.Agent{}
	err := r.Client.Get(ctx, types.NamespacedName{Name: r.Options.NodeName}, a)
	if err == nil {
		return a, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading agent: %w", err)
	}
	a = &kov1.Agent{ObjectMeta: metav1.ObjectMeta{Name: r.Options.NodeName}}
	if err := r.Client.Create(ctx, a); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("creating agent %s: %w", r.Options.NodeName, err)
	}
	return a, nil
}

// record updates the gauges from the computed status and the tasks.
func (r *StatusReconciler) record(st kov1.AgentStatus, tasks []kov1.Task) {
	m := r.Options.Metrics
	counts := map[kov1.TaskState]int{}
	for i := range tasks {
		counts[tasks[i].Status.State]++
	}
	for _, s := range allTaskStates {
		m.Tasks.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
	for kind, list := range map[string]corev1.ResourceList{"capacity": st.Capacity, "allocatable": st.Allocatable, "allocated": st.Allocated} {
		for name, q := range list {
			m.Resources.WithLabelValues(kind, string(name)).Set(q.AsApproximateFloat64())
		}
	}
}

// SetupWithManager registers the controller. Every watched object maps to
// the one Agent this agentd owns; the caches hold only this node's objects.
func (r *StatusReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toAgent := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.Options.NodeName}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&kov1.Agent{}).
		Watches(&corev1.Node{}, toAgent).
		Watches(&corev1.Pod{}, toAgent).
		Watches(&kov1.Task{}, toAgent).
		Named("agent-status").
		Complete(r)
}

// MarkNotReady sets the Agent's Ready condition False when agentd stops,
// so the master stops offering the node at once instead of after the agent
// timeout. Call it after the manager has stopped, so no controller writes
// the status after it; it reads from the API server (reader), not a cache,
// and retries when the master writes the status meanwhile.
func MarkNotReady(ctx context.Context, reader client.Reader, writer client.Client, node string, now time.Time) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		a := &kov1.Agent{}
		if err := reader.Get(ctx, types.NamespacedName{Name: node}, a); err != nil {
			return client.IgnoreNotFound(err)
		}
		next := a.DeepCopy()
		if !meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: kov1.AgentReadyCondition, Status: metav1.ConditionFalse,
			Reason: kov1.AgentReadyNodeNotReadyReason, Message: "agentd on node " + node + " stopped", ObservedGeneration: a.Generation,
			LastTransitionTime: metav1.Time{Time: now}}) {
			return nil
		}
		return writer.Status().Patch(ctx, next, client.MergeFromWithOptions(a, client.MergeFromWithOptimisticLock{}))
	})
}
