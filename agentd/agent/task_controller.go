package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// conflictRetry is how soon a step that lost an optimistic-concurrency race
// (the master wrote the task meanwhile) is retried, from fresh cache state.
const conflictRetry = 200 * time.Millisecond

// TaskReconciler launches, watches and stops the Pods of the tasks bound to
// this agent. Its cache holds only those tasks (a field selector on
// status.agentName) and the Pods on this node.
type TaskReconciler struct {
	Client client.Client
	// APIReader reads past the cache: a Pod the cache does not have yet may
	// exist, and agentd must be sure before it reports a task Lost or lets
	// its finalizer go. A launch needs no such read: the create is the
	// check.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Node      string
	Metrics   *Metrics
}

// +kubebuilder:rbac:groups=kubeoffer.io,resources=tasks,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=tasks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=tasks/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile takes one step (Next) for one task.
func (r *TaskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	t := &kov1.Task{}
	if err := r.Client.Get(ctx, req.NamespacedName, t); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if t.Status.AgentName != r.Node {
		return ctrl.Result{}, nil
	}
	pod, err := r.cachedPod(ctx, t)
	if err != nil {
		return ctrl.Result{}, err
	}
	act := Next(t, pod)
	if pod == nil && !safeWithoutPod(act.Verb) {
		// The step would act on the Pod being absent (report it Lost,
		// release the finalizer): be sure, since the cache may lag behind
		// a Pod agentd just created.
		if pod, err = r.livePod(ctx, t); err != nil {
			return ctrl.Result{}, err
		}
		act = Next(t, pod)
	}
	log.FromContext(ctx).V(1).Info("Task step", "state", t.Status.State, "action", act.String())
	switch act.Verb {
	case AddFinalizer:
		next := t.DeepCopy()
		controllerutil.AddFinalizer(next, kov1.TaskKillFinalizer)
		return r.patchFinalizers(ctx, t, next)
	case ReleaseFinalizer:
		next := t.DeepCopy()
		controllerutil.RemoveFinalizer(next, kov1.TaskKillFinalizer)
		return r.patchFinalizers(ctx, t, next)
	case Launch:
		return r.launch(ctx, t)
	case StopPod:
		return r.stop(ctx, t, pod, act.Message)
	case Report:
		return r.report(ctx, t, pod, act)
	}
	return ctrl.Result{}, nil
}

// cachedPod returns the task's Pod as the cache has it (nil when it has
// none).
func (r *TaskReconciler) cachedPod(ctx context.Context, t *kov1.Task) (*corev1.Pod, error) {
	return r.getPod(ctx, r.Client, t)
}

// livePod returns the task's Pod as the API server has it (nil when there
// is none).
func (r *TaskReconciler) livePod(ctx context.Context, t *kov1.Task) (*corev1.Pod, error) {
	return r.getPod(ctx, r.APIReader, t)
}

func (r *TaskReconciler) getPod(ctx context.Context, reader client.Reader, t *kov1.Task) (*corev1.Pod, error) {
	key := types.NamespacedName{Namespace: t.Namespace, Name: PodName(t)}
	pod := &corev1.Pod{}
	if err := reader.Get(ctx, key, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading pod %s: %w", key, err)
	}
	return pod, nil
}

// safeWithoutPod reports whether a step Next chose without a Pod in the
// cache may go ahead without asking the API server. A launch may: creating
// the Pod is itself the check (AlreadyExists requeues until the cache shows
// the Pod). Adding the finalizer and waiting do not depend on the Pod.
// Every other step acts on the Pod's absence and is confirmed first.
func safeWithoutPod(v Verb) bool {
	return v == Launch || v == AddFinalizer || v == Wait
}

// patchFinalizers writes next's finalizers with a patch guarded by the
// resourceVersion. Not an Update: that would resend the whole spec, and a
// template written without metadata (kubectl) would come back with an empty
// one, which the API's immutability rule refuses.
func (r *TaskReconciler) patchFinalizers(ctx context.Context, t, next *kov1.Task) (ctrl.Result, error) {
	if err := r.Client.Patch(ctx, next, client.MergeFromWithOptions(t, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// launch creates the task's Pod. A Pod the API server refuses for good
// (Pod Security admission, a ResourceQuota, an invalid template) ends the
// task in Error with the API server's message; transient errors retry.
func (r *TaskReconciler) launch(ctx context.Context, t *kov1.Task) (ctrl.Result, error) {
	pod, err := BuildPod(t, r.Node)
	if err != nil {
		return r.report(ctx, t, nil, Action{Verb: Report, State: kov1.TaskError, Reason: kov1.TaskReasonInvalid, Message: err.Error()})
	}
	if err := r.Client.Create(ctx, pod); err != nil {
		switch {
		case apierrors.IsAlreadyExists(err):
			return ctrl.Result{RequeueAfter: conflictRetry}, nil // launched already; the cache will show it
		case refused(err):
			r.Metrics.Launches.WithLabelValues("rejected").Inc()
			return r.report(ctx, t, nil, Action{Verb: Report, State: kov1.TaskError, Reason: kov1.TaskReasonPodRejected,
				Message: "The API server refused the task's Pod: " + err.Error()})
		}
		return ctrl.Result{}, fmt.Errorf("creating pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	r.Metrics.Launches.WithLabelValues("created").Inc()
	return r.report(ctx, t, pod, Action{Verb: Report, State: kov1.TaskStarting,
		Message: "Pod " + pod.Name + " created on node " + r.Node})
}

// refused reports whether the API server refused a Pod for good: admission
// (Forbidden, e.g. Pod Security or quota), validation (Invalid), or a bad
// request.
func refused(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) ||
		apierrors.IsRequestEntityTooLargeError(err) || apierrors.IsNotFound(err) // the namespace is gone
}

// stop deletes the task's Pod with the kill grace period; the kubelet sends
// SIGTERM, then SIGKILL after the grace.
func (r *TaskReconciler) stop(ctx context.Context, t *kov1.Task, pod *corev1.Pod, why string) (ctrl.Result, error) {
	grace := killGrace(t)
	err := r.Client.Delete(ctx, pod, client.GracePeriodSeconds(grace), client.Preconditions{UID: &pod.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return ctrl.Result{}, fmt.Errorf("stopping pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	r.Recorder.Eventf(t, pod, corev1.EventTypeNormal, "StoppingPod", "Kill", "%s: Pod %s gets %ds to stop", why, pod.Name, grace)
	return ctrl.Result{}, nil
}

// report writes the task's new state. A change of state is a transition:
// recorded in the history and announced with an Event. A new message in
// the same state (a container waiting for its image) only updates the
// message.
func (r *TaskReconciler) report(ctx context.Context, t *kov1.Task, pod *corev1.Pod, act Action) (ctrl.Result, error) {
	now := r.Clock.Now()
	prev := t.Status.State
	next := t.DeepCopy()
	st := &next.Status
	if act.State != prev {
		taskstatus.Transition(st, act.State, act.Reason, act.Message, now)
	} else {
		st.Reason, st.Message = act.Reason, act.Message
	}
	if pod != nil {
		st.PodName = pod.Name
	}
	if obs := act.Observation; obs != nil {
		if obs.ExitCode != nil {
			st.ExitCode = obs.ExitCode
		}
		if st.StartTime == nil && obs.StartTime != nil {
			st.StartTime = obs.StartTime
		}
	}
	if act.State == kov1.TaskRunning && st.StartTime == nil {
		st.StartTime = &metav1.Time{Time: now}
	}
	if st.NodeName == "" {
		st.NodeName = r.Node
	}
	if err := r.Client.Status().Update(ctx, next); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if act.State == prev {
		return ctrl.Result{}, nil
	}
	if act.State == kov1.TaskRunning {
		if staged, ok := stagedAt(t); ok {
			r.Metrics.LaunchLatency.Observe(now.Sub(staged).Seconds())
		}
	}
	eventType := corev1.EventTypeNormal
	switch act.State {
	case kov1.TaskFailed, kov1.TaskError, kov1.TaskLost:
		eventType = corev1.EventTypeWarning
	}
	reason := act.Reason
	if reason == "" {
		reason = string(act.State)
	}
	var related *corev1.Pod
	if pod != nil && pod.UID != "" {
		related = pod
	}
	r.Recorder.Eventf(next, relatedObject(related), eventType, reason, "Task"+string(act.State), "Task %s: %s", act.State, act.Message)
	return ctrl.Result{}, nil
}

// relatedObject avoids passing a typed nil as the Event's related object.
func relatedObject(p *corev1.Pod) client.Object {
	if p == nil {
		return nil
	}
	return p
}

// stagedAt is when the task was bound (its last Staging transition).
func stagedAt(t *kov1.Task) (time.Time, bool) {
	for i := len(t.Status.History) - 1; i >= 0; i-- {
		if t.Status.History[i].State == kov1.TaskStaging {
			return t.Status.History[i].Time.Time, true
		}
	}
	return time.Time{}, false
}

// SetupWithManager registers the controller: a task is reconciled when it
// or the Pod it controls changes.
func (r *TaskReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&kov1.Task{}).
		Owns(&corev1.Pod{}).
		Named("task").
		Complete(r)
}
