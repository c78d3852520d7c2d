package v1alpha1

// Labels and finalizers kubeoffer puts on objects. They are part of the API:
// framework schedulers, agentd and the master select objects by them.
const (
	// LabelFramework names the Framework an offer is for, or a Pod's task
	// belongs to.
	LabelFramework = "kubeoffer.io/framework"
	// LabelAgent names the Agent an offer is on, or a Pod runs on.
	LabelAgent = "kubeoffer.io/agent"
	// LabelTask names the Task a Pod runs.
	LabelTask = "kubeoffer.io/task"
	// LabelTaskUID is the UID of the Task a Pod runs. Pods with it were
	// launched by agentd; agentd does not count them as foreign load.
	LabelTaskUID = "kubeoffer.io/task-uid"
	// LabelHeartbeat marks the Leases kubeoffer heartbeats through (value
	// HeartbeatFramework or HeartbeatAgent), so the master caches only those.
	LabelHeartbeat = "kubeoffer.io/heartbeat"

	// HeartbeatFramework is LabelHeartbeat's value on a framework's Lease.
	HeartbeatFramework = "framework"
	// HeartbeatAgent is LabelHeartbeat's value on an agent's Lease.
	HeartbeatAgent = "agent"

	// TaskKillFinalizer holds a deleted Task until agentd has stopped its
	// Pod. agentd adds it before it launches the Pod.
	TaskKillFinalizer = "kubeoffer.io/kill"

	// AgentFinalizer holds a deleted Agent until the master has ended the
	// tasks bound to it (Gone or Lost) and released their TaskKillFinalizer.
	// The master adds it to every Agent.
	AgentFinalizer = "kubeoffer.io/end-tasks"
)
