package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
)

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

// maxLabelValue is the longest label value Kubernetes accepts.
const maxLabelValue = 63

// LabelValue is the value the labels above carry for an object name: the
// name itself when it fits a label value (63 characters), otherwise its
// first 52 characters, '-', and 10 hex digits of its SHA-256, so two long
// names sharing a prefix still get different values. Task and node names
// may be up to 253 characters; a label must always be writable, or the
// object it marks could never be made. Select by LabelValue(name), never by
// the raw name.
func LabelValue(name string) string {
	if len(name) <= maxLabelValue {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:maxLabelValue-11] + "-" + hex.EncodeToString(sum[:])[:10]
}
