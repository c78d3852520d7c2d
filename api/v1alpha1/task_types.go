package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TaskState is where a task is in its life. The names and meanings are
// Mesos's (TASK_STAGING …), plus Pending for a task not yet bound to an agent.
// +kubebuilder:validation:Enum=Pending;Staging;Starting;Running;Killing;Finished;Failed;Killed;Error;Lost;Dropped;Unreachable;Gone
type TaskState string

const (
	// TaskPending: the task exists but is not bound to an agent yet (it waits
	// for the master to admit it, or for a built-in scheduler to place it).
	TaskPending TaskState = "Pending"
	// TaskStaging: bound to an agent, which has not launched it yet.
	TaskStaging TaskState = "Staging"
	// TaskStarting: the Pod exists; its containers are not all running yet.
	TaskStarting TaskState = "Starting"
	// TaskRunning: the task's containers are running.
	TaskRunning TaskState = "Running"
	// TaskKilling: the task is being stopped within its grace period.
	TaskKilling TaskState = "Killing"
	// TaskFinished: every container exited 0. Terminal.
	TaskFinished TaskState = "Finished"
	// TaskFailed: a container exited non-zero or was killed by the system
	// (e.g. OOMKilled). Terminal.
	TaskFailed TaskState = "Failed"
	// TaskKilled: stopped because it was asked to be. Terminal.
	TaskKilled TaskState = "Killed"
	// TaskError: the task could not be launched as described (bad template,
	// refused by admission). Terminal.
	TaskError TaskState = "Error"
	// TaskLost: the task's agent or Pod vanished; it may or may not still run.
	// Terminal.
	TaskLost TaskState = "Lost"
	// TaskDropped: the task was never launched because its offer was gone,
	// expired, not the framework's, or too small. Terminal.
	TaskDropped TaskState = "Dropped"
	// TaskUnreachable: the agent is unreachable; the task may come back
	// (partition-aware frameworks only).
	TaskUnreachable TaskState = "Unreachable"
	// TaskGone: the agent is known to be gone for good, and the task with it
	// (partition-aware frameworks; others see Lost): the agent was marked
	// Gone or deleted, or stayed unreachable past the master's agent gone
	// timeout. Terminal.
	TaskGone TaskState = "Gone"
)

// Charged is what the task holds on its agent once bound: its resources
// plus the RuntimeClass overhead the master recorded when it bound it.
func (t *Task) Charged() corev1.ResourceList {
	return AddResources(t.Spec.Resources, t.Status.Overhead)
}

// BoundOffer is the offer a bound task was bound from: status.offerName,
// or spec.offerName for a task bound before the master recorded it there.
func (t *Task) BoundOffer() string {
	if t.Status.OfferName != "" {
		return t.Status.OfferName
	}
	return t.Spec.OfferName
}

// AddResources returns a + b; it returns a itself (not a copy) when b is
// empty, so callers must not modify the result.
func AddResources(a, b corev1.ResourceList) corev1.ResourceList {
	if len(b) == 0 {
		return a
	}
	out := make(corev1.ResourceList, len(a)+len(b))
	for name, q := range a {
		out[name] = q.DeepCopy()
	}
	for name, q := range b {
		sum := out[name]
		sum.Add(q)
		out[name] = sum
	}
	return out
}

// IsTerminal reports whether a task in state s will never change state again.
func (s TaskState) IsTerminal() bool {
	switch s {
	case TaskFinished, TaskFailed, TaskKilled, TaskError, TaskLost, TaskDropped, TaskGone:
		return true
	}
	return false
}

// Task reasons, after Mesos's TaskStatus.Reason (named TaskReason<Why>, as
// Mesos names them REASON_<WHY>). They say why a task is in
// its state.
const (
	TaskReasonOfferNotFound         = "OfferNotFound"
	TaskReasonOfferExpired          = "OfferExpired"
	TaskReasonOfferNotOwned         = "OfferNotOwnedByFramework"
	TaskReasonInsufficientResources = "InsufficientResources"
	TaskReasonFrameworkNotFound     = "FrameworkNotFound"
	TaskReasonFrameworkTornDown     = "FrameworkTornDown"
	TaskReasonInvalid               = "TaskInvalid"
	TaskReasonPodRejected           = "PodRejected"
	TaskReasonContainersCompleted   = "ContainersCompleted"
	TaskReasonContainerOOMKilled    = "ContainerOOMKilled"
	TaskReasonContainerFailed       = "ContainerFailed"
	TaskReasonKilledByRequest       = "KilledByRequest"
	TaskReasonAgentUnreachable      = "AgentUnreachable"
	TaskReasonAgentMaintenance      = "AgentMaintenance"
	TaskReasonPodVanished           = "PodVanished"
	// TaskReasonNotLaunched: the task was bound to an agent that was cut
	// off before it launched the Pod; the task never ran (Dropped).
	TaskReasonNotLaunched     = "NotLaunched"
	TaskReasonWaitingForOffer = "WaitingForOffer"

	// TaskReasonAgentRemoved: the agent stayed unreachable past the master's
	// agent gone timeout (Mesos's REASON_SLAVE_REMOVED).
	TaskReasonAgentRemoved = "AgentRemoved"
	// TaskReasonAgentRemovedByOperator: the operator marked the agent Gone
	// or deleted it (Mesos's REASON_SLAVE_REMOVED_BY_OPERATOR).
	TaskReasonAgentRemovedByOperator = "AgentRemovedByOperator"
)

// Task condition types.
const (
	// TaskBoundCondition is True once the task is bound to an agent; while
	// False its reason says why it waits (e.g. WaitingForOffer) or why it
	// was refused (a task reason).
	TaskBoundCondition = "Bound"
)

// TaskBoundOfferAcceptedReason: the master bound the task to the agent of
// the offer it accepted (Bound=True). While Bound is False, its reason is
// one of the task reasons above.
const TaskBoundOfferAcceptedReason = "Bound"

// MaxTaskHistory bounds status.history; older transitions are dropped first.
const MaxTaskHistory = 16

// TaskSpec is what a framework asks to run, and from which offer. It is
// immutable, except offerName, which may be set once, and its Pod template
// cannot bypass the offer. Two ValidatingAdmissionPolicies hold those rules
// (config/crd/policy, installed with the CRDs), not the schema: the API
// server validates the whole object on every status write, and the rules
// here would run, and compare the whole template, each time.
// kubeoffer-task-spec judges updates of the task (not of its status),
// kubeoffer-task-template its creation.
type TaskSpec struct {
	// frameworkName is the Framework, in this namespace, the task belongs to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	FrameworkName string `json:"frameworkName"`

	// offerName is the ResourceOffer, in this namespace, the task accepts.
	// Setting it is Mesos's ACCEPT. Leave it empty for a framework with a
	// built-in scheduler: the master places and binds the task itself, and
	// this field stays empty (status.offerName and status.agentName say
	// where it went). It cannot change once set.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	OfferName string `json:"offerName,omitempty"`

	// resources the task needs; they become the Pod's requests and limits,
	// so the kubelet's cgroups hold the task to them. cpu and memory are
	// required and must be positive: a container without a CPU or memory
	// limit would escape the node's isolation and be charged nothing.
	// Quantities are at most 1M cpu and 1Pi of anything else.
	// +required
	// +kubebuilder:validation:XValidation:rule="'cpu' in self && 'memory' in self",message="resources must name both cpu and memory (e.g. {cpu: 500m, memory: 256Mi}): the task runs with limits equal to them, and without a memory limit it would escape memory isolation"
	// +kubebuilder:validation:XValidation:rule="!('cpu' in self) || !isQuantity(string(self['cpu'])) || quantity(string(self['cpu'])).isGreaterThan(quantity('0'))",message="resources.cpu must be more than 0: a zero CPU limit means no limit at all; ask for at least 1m"
	// +kubebuilder:validation:XValidation:rule="!('memory' in self) || !isQuantity(string(self['memory'])) || quantity(string(self['memory'])).isGreaterThan(quantity('0'))",message="resources.memory must be more than 0: a zero memory limit means no limit at all; ask for at least 1Mi"
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !string(self[k]).startsWith('-'))",message="resource quantities must not be negative"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !isQuantity(string(self[k])) || quantity(string(self[k])).compareTo(quantity(k == 'cpu' ? '1M' : '1Pi')) <= 0)",message="resource quantities must be at most 1M for cpu (cores) and 1Pi for any other resource (in its base unit): no node is that large; lower the quantity"
	Resources corev1.ResourceList `json:"resources"`

	// ports are the host ports the task takes from its offer's port ranges.
	// They are passed to the containers as PORT0, PORT1, … env vars.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Ports []PortRange `json:"ports,omitempty"`

	// template is the Pod the task runs. Several containers make a Mesos
	// task group. agentd pins it to the agent's node and sets requests and
	// limits from resources. Its schema keeps only the Pod spec's types:
	// the Pod API checks the rest (required fields, names, duplicate
	// containers) when agentd creates the Pod, and a Pod it refuses ends
	// the task in Error (PodRejected) with its message before anything runs.
	// +required
	Template corev1.PodTemplateSpec `json:"template"`

	// killGracePeriodSeconds is how long a killed task's containers get to
	// stop after SIGTERM before SIGKILL. Defaults to 30.
	// +optional
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	KillGracePeriodSeconds *int64 `json:"killGracePeriodSeconds,omitempty"`
}

// TaskTransition is one entry of a task's history.
type TaskTransition struct {
	// state the task entered.
	// +required
	State TaskState `json:"state"`

	// reason is a CamelCase word saying why.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// message is a human-readable explanation.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// time the task entered the state.
	// +required
	Time metav1.Time `json:"time"`
}

// TaskStatus is what the master and agentd observe of a task.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.state) || !(oldSelf.state in ['Finished', 'Failed', 'Killed', 'Error', 'Lost', 'Dropped', 'Gone']) || self.state == oldSelf.state",message="a task in a terminal state cannot change state: create a new Task to run it again"
type TaskStatus struct {
	// state is where the task is in its life (Mesos's task states).
	// +optional
	State TaskState `json:"state,omitempty"`

	// reason is a CamelCase word saying why the task is in its state.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// message is a human-readable explanation of the state.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// agentName is the Agent the task is bound to.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	AgentName string `json:"agentName,omitempty"`

	// offerName is the ResourceOffer the master bound the task from:
	// spec.offerName, or, for a task of a built-in scheduler (spec.offerName
	// left empty), the offer object of the framework the master placed it
	// on, if the offer was an object; empty when the master placed the task
	// on an offer that lived in the master only. Either way the master binds
	// a built-in task in one status write.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	OfferName string `json:"offerName,omitempty"`

	// nodeName is the node the task runs on.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName,omitempty"`

	// podName is the Pod, in this namespace, that runs the task.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PodName string `json:"podName,omitempty"`

	// startTime is when the task's containers started running.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the task reached a terminal state.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// overhead is the Pod overhead of the template's RuntimeClass
	// (spec.template.spec.runtimeClassName), which the master charges on top
	// of resources from the moment it binds the task: the kubelet reserves
	// it for the Pod's sandbox, so the offer must hold resources + overhead.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Overhead corev1.ResourceList `json:"overhead,omitempty"`

	// exitCode is the exit code of the first container that failed, or 0.
	// +optional
	ExitCode *int32 `json:"exitCode,omitempty"`

	// history is the task's last transitions, oldest first, at most 16.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	History []TaskTransition `json:"history,omitempty"`

	// conditions describe the task's progress (Bound).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Task is work a framework runs on resources it was offered: one Pod on the
// offer's node, held to the task's resources. Deleting a Task kills it.
//
// The Pod template cannot bypass the offer: nodeName, nodeSelector, affinity,
// priority, hostNetwork and overhead are refused (by the
// kubeoffer-task-template policy, when the task is created), and host ports
// a container asks for must be among spec.ports (a task that asks for
// others ends in Error before anything runs). A template the Pod API
// refuses ends the task in Error with the API server's message.
//
// Tasks can be listed by field: spec.frameworkName, status.agentName and
// status.state (e.g. kubectl get tasks --field-selector status.state=Running);
// agentd watches only the tasks whose status.agentName is its own.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=kubeoffer
// +kubebuilder:selectablefield:JSONPath=`.spec.frameworkName`
// +kubebuilder:selectablefield:JSONPath=`.status.agentName`
// +kubebuilder:selectablefield:JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Framework",type=string,JSONPath=`.spec.frameworkName`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`,priority=1
// +kubebuilder:printcolumn:name="Offer",type=string,JSONPath=`.status.offerName`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Task struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what to run and from which offer.
	// +required
	Spec TaskSpec `json:"spec"`

	// status is what the master and agentd observe.
	// +optional
	Status TaskStatus `json:"status,omitempty"`
}

// TaskList is a list of Tasks.
//
// +kubebuilder:object:root=true
type TaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Task `json:"items"`
}

func init() {
	register(&Task{}, &TaskList{})
}
