package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// FrameworkFinalizer holds a deleted Framework until its tasks are killed.
const FrameworkFinalizer = "kubeoffer.io/teardown"

// IndexTaskFramework indexes Tasks by spec.frameworkName.
const IndexTaskFramework = "spec.frameworkName"

// IndexTaskAgent indexes Tasks by status.agentName.
const IndexTaskAgent = "status.agentName"

// FrameworkReconciler registers frameworks, tracks whether their scheduler
// is connected (heartbeat Lease), and tears them down when it stays away
// past the failover timeout or the Framework is deleted.
type FrameworkReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock

	sightings *heartbeatSightings
}

// +kubebuilder:rbac:groups=kubeoffer.io,resources=frameworks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=frameworks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=frameworks/finalizers,verbs=update
// +kubebuilder:rbac:groups=kubeoffer.io,resources=tasks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=tasks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile converges one Framework.
func (r *FrameworkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return requeueOnConflict(r.reconcile(ctx, req))
}

func (r *FrameworkReconciler) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	f := &kov1.Framework{}
	if err := r.Client.Get(ctx, req.NamespacedName, f); err != nil {
		if apierrors.IsNotFound(err) {
			r.sightings.forget(types.NamespacedName{Namespace: req.Namespace, Name: kov1.HeartbeatLeaseName(req.Name)})
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if f.DeletionTimestamp != nil {
		return ctrl.Result{}, r.finalize(ctx, f)
	}
	if controllerutil.AddFinalizer(f, FrameworkFinalizer) {
		if err := r.Client.Update(ctx, f); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	leaseKey := types.NamespacedName{Namespace: f.Namespace, Name: kov1.HeartbeatLeaseName(f.Name)}
	lease := &coordinationv1.Lease{}
	if err := r.Client.Get(ctx, leaseKey, lease); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading heartbeat lease: %w", err)
		}
		lease = nil
	}
	alreadyDown := meta.IsStatusConditionTrue(f.Status.Conditions, kov1.FrameworkTornDownCondition)
	now := r.Clock.Now()
	ttl := leaseTTL(lease)
	connected := meta.FindStatusCondition(f.Status.Conditions, kov1.FrameworkConnectedCondition)
	seenAt := r.sightings.observe(leaseKey, lease, now, firstSight(now, connected, ttl))
	firstSeen := r.sightings.ownerSeen(leaseKey, ownerFirstSight(now, connected))
	link := judgeFramework(f, seenAt, firstSeen, ttl, now)
	ctrl.LoggerFrom(ctx).V(1).Info("Judged framework link", "connected", link.Connected, "tornDown", link.TornDown,
		"reason", link.Reason, "seenRenewedAt", seenAt, "leaseRenewTime", renewalOf(lease).renewed)
	next := f.DeepCopy()
	r.setConditions(next, link, alreadyDown, now)
	if link.TornDown || alreadyDown {
		if err := r.killTasks(ctx, f, kov1.TaskReasonFrameworkTornDown, "framework torn down: "+link.Message); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !equality.Semantic.DeepEqual(f.Status, next.Status) {
		if err := r.Client.Status().Patch(ctx, next, client.MergeFrom(f)); err != nil {
			return ctrl.Result{}, fmt.Errorf("writing status: %w", err)
		}
		r.recordTransitions(f, next)
	}
	if link.TornDown || alreadyDown || link.RecheckAfter == 0 {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: link.RecheckAfter}, nil
}

// setConditions computes every condition from what the pass learned; a
// condition that changes status changes at now (the master's clock, which
// the next leader reads back through firstSight).
func (r *FrameworkReconciler) setConditions(f *kov1.Framework, link frameworkLink, alreadyDown bool, now time.Time) {
	g := f.Generation
	at := metav1.NewTime(now)
	f.Status.FrameworkID = string(f.UID)
	f.Status.ObservedGeneration = g
	meta.SetStatusCondition(&f.Status.Conditions, metav1.Condition{Type: kov1.FrameworkRegisteredCondition, Status: metav1.ConditionTrue,
		Reason: kov1.FrameworkRegisteredAcceptedReason, Message: "Framework ID " + string(f.UID), ObservedGeneration: g, LastTransitionTime: at})
	connected := metav1.ConditionFalse
	if link.Connected && !alreadyDown {
		connected = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&f.Status.Conditions, metav1.Condition{Type: kov1.FrameworkConnectedCondition, Status: connected,
		Reason: link.Reason, Message: link.Message, ObservedGeneration: g, LastTransitionTime: at})
	suppressed, reason, msg := metav1.ConditionFalse, kov1.FrameworkSuppressedOffersActiveReason, "The framework is offered resources"
	if f.Spec.Offers == kov1.OfferModeSuppressed {
		suppressed, reason, msg = metav1.ConditionTrue, kov1.FrameworkSuppressedOffersSuppressedReason, "spec.offers is Suppressed: no offers until it is Active"
	}
	meta.SetStatusCondition(&f.Status.Conditions, metav1.Condition{Type: kov1.FrameworkSuppressedCondition, Status: suppressed,
		Reason: reason, Message: msg, ObservedGeneration: g, LastTransitionTime: at})
	if link.TornDown && !alreadyDown {
		meta.SetStatusCondition(&f.Status.Conditions, metav1.Condition{Type: kov1.FrameworkTornDownCondition, Status: metav1.ConditionTrue,
			Reason: kov1.FrameworkTornDownFailoverTimeoutReason, Message: link.Message + "; tasks killed, offers rescinded", ObservedGeneration: g, LastTransitionTime: at})
	} else if !alreadyDown {
		meta.SetStatusCondition(&f.Status.Conditions, metav1.Condition{Type: kov1.FrameworkTornDownCondition, Status: metav1.ConditionFalse,
			Reason: "Active", Message: "The framework is registered", ObservedGeneration: g, LastTransitionTime: at})
	}
}

func (r *FrameworkReconciler) recordTransitions(old, cur *kov1.Framework) {
	for _, c := range cur.Status.Conditions {
		prev := meta.FindStatusCondition(old.Status.Conditions, c.Type)
		if prev != nil && prev.Status == c.Status {
			continue
		}
		if prev == nil && c.Status == metav1.ConditionFalse {
			continue
		}
		eventType := corev1.EventTypeNormal
		if (c.Type == kov1.FrameworkTornDownCondition && c.Status == metav1.ConditionTrue) ||
			(c.Type == kov1.FrameworkConnectedCondition && c.Status == metav1.ConditionFalse) {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(cur, nil, eventType, c.Reason, c.Type, "%s=%s: %s", c.Type, c.Status, c.Message)
	}
}

// finalize tears a deleted framework down: its tasks are killed (the
// master's allocation loop rescinds its offers, which the garbage collector also
// removes), then the finalizer goes. It does not wait for agents to stop
// the containers: a Killing task is killed by its agent on its own.
func (r *FrameworkReconciler) finalize(ctx context.Context, f *kov1.Framework) error {
	if !controllerutil.ContainsFinalizer(f, FrameworkFinalizer) {
		return nil
	}
	if err := r.killTasks(ctx, f, kov1.TaskReasonFrameworkTornDown, "framework deleted"); err != nil {
		return err
	}
	r.Recorder.Eventf(f, nil, corev1.EventTypeNormal, kov1.FrameworkTornDownDeletedReason, "TearDown", "Framework deleted: tasks killed, offers rescinded")
	r.sightings.forget(types.NamespacedName{Namespace: f.Namespace, Name: kov1.HeartbeatLeaseName(f.Name)})
	controllerutil.RemoveFinalizer(f, FrameworkFinalizer)
	return client.IgnoreNotFound(r.Client.Update(ctx, f))
}

// killTasks asks for every live task of f to be killed (see killed).
func (r *FrameworkReconciler) killTasks(ctx context.Context, f *kov1.Framework, reason, msg string) error {
	var tasks kov1.TaskList
	if err := r.Client.List(ctx, &tasks, client.InNamespace(f.Namespace), client.MatchingFields{IndexTaskFramework: f.Name}); err != nil {
		return fmt.Errorf("listing tasks: %w", err)
	}
	notAware := func(*kov1.Task) bool { return false }
	return endTasks(ctx, r.Client, r.Recorder, tasks.Items, taskEnd{fate: killed(reason, msg)}, notAware,
		taskEndEvent{eventType: corev1.EventTypeNormal, action: "Kill", related: f}, r.Clock.Now())
}

// requeueOnConflict turns a conflict (the object changed since the cache
// showed it) into a quiet retry instead of a logged error.
func requeueOnConflict(res ctrl.Result, err error) (ctrl.Result, error) {
	if err != nil && apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: conflictRetryDelay}, nil
	}
	return res, err
}

// conflictRetryDelay is how soon a reconcile that hit a conflict runs
// again.
const conflictRetryDelay = 100 * time.Millisecond

// SetupWithManager registers the controller, waking a framework when its
// heartbeat Lease or its tasks change.
func (r *FrameworkReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.sightings == nil {
		r.sightings = newHeartbeatSightings()
	}
	leaseToFramework := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		name, ok := strings.CutPrefix(o.GetName(), kov1.HeartbeatLeaseName(""))
		if !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
	})
	taskToFramework := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		t := o.(*kov1.Task)
		return []reconcile.Request{{NamespacedName: t.FrameworkKey().NamespacedName()}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&kov1.Framework{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionPredicate()))).
		Watches(&coordinationv1.Lease{}, leaseToFramework).
		Watches(&kov1.Task{}, taskToFramework, builder.WithPredicates(taskCreatedPredicate())).
		Named("framework").
		Complete(r)
}

// deletionPredicate passes updates that start a deletion.
func deletionPredicate() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e eventUpdate) bool { return e.ObjectNew.GetDeletionTimestamp() != nil }}
}

// taskCreatedPredicate passes task creations, so a task created for a torn
// down framework is killed.
func taskCreatedPredicate() predicate.Funcs {
	return predicate.Funcs{
		CreateFunc:  func(eventCreate) bool { return true },
		UpdateFunc:  func(eventUpdate) bool { return false },
		DeleteFunc:  func(eventDelete) bool { return false },
		GenericFunc: func(eventGeneric) bool { return false },
	}
}
