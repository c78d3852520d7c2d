// Package agent is agentd, kubeoffer's node agent (Mesos's agent): it
// publishes its node's capacity as an Agent, heartbeats through a Lease,
// launches the Tasks bound to its node as Pods pinned to the node and held
// to the task's resources, and turns Pod status into Task status.
//
// The decisions are pure functions (BuildPod, Observe, Next, ComputeStatus),
// table-tested; the reconcilers only move data between the API server and
// them. Setup wires everything into a controller-runtime manager whose
// caches hold only this node's objects (NewManagerOptions).
package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/clock"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Defaults of the agent's settings.
const (
	// DefaultHeartbeatInterval is how often the heartbeat Lease is renewed;
	// the master's agent timeout (75s) is five of Mesos's 15s pings.
	DefaultHeartbeatInterval = 10 * time.Second
	// DefaultLeaseNamespace holds the agents' heartbeat Leases.
	DefaultLeaseNamespace = "kubeoffer-system"
	// DefaultStatusResync is how often the Agent status is recomputed even
	// when no watched object changed.
	DefaultStatusResync = time.Minute
)

// DefaultAttributeLabels are the node labels offered as attributes unless
// --attribute-labels says otherwise.
var DefaultAttributeLabels = []string{
	"kubernetes.io/hostname",
	"kubernetes.io/arch",
	"kubernetes.io/os",
	"topology.kubernetes.io/region",
	"topology.kubernetes.io/zone",
	"node.kubernetes.io/instance-type",
}

// DefaultPorts is Mesos's default agent port range.
var DefaultPorts = []kov1.PortRange{{Begin: 31000, End: 32000}}

// Options configure agentd.
type Options struct {
	// NodeName is the node this agent runs on; its Agent has the same name.
	NodeName string
	// Identity is written as the heartbeat Lease's holder (the Pod name, or
	// the host name out of cluster).
	Identity string
	// LeaseNamespace holds the heartbeat Lease (named after the node).
	LeaseNamespace string
	// HeartbeatInterval is how often the Lease is renewed.
	HeartbeatInterval time.Duration
	// StatusResync is how often the Agent status is recomputed without events.
	StatusResync time.Duration
	// AttributeLabels are the node label keys published as attributes.
	AttributeLabels []string
	// Attributes are static attributes added to every offer of this agent.
	Attributes map[string]string
	// Ports are the host port ranges the agent offers.
	Ports []kov1.PortRange
	// SystemReserved is held back from what the node can offer.
	SystemReserved corev1.ResourceList
	// Clock is real time unless a test injects another.
	Clock clock.WithTicker
	// Metrics, when nil, are registered in controller-runtime's registry.
	Metrics *Metrics
}

// defaulted returns o with zero fields set to their defaults.
func (o Options) defaulted() Options {
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = DefaultLeaseNamespace
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.StatusResync <= 0 {
		o.StatusResync = DefaultStatusResync
	}
	if o.AttributeLabels == nil {
		o.AttributeLabels = DefaultAttributeLabels
	}
	if o.Ports == nil {
		o.Ports = DefaultPorts
	}
	if o.Identity == "" {
		o.Identity = o.NodeName
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	return o
}

// ParsePorts parses port ranges written as "31000-32000,8080".
func ParsePorts(s string) ([]kov1.PortRange, error) {
	var out []kov1.PortRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		b, err := parsePort(lo)
		if err != nil {
			return nil, fmt.Errorf("port range %q: %w", part, err)
		}
		e := b
		if isRange {
			if e, err = parsePort(hi); err != nil {
				return nil, fmt.Errorf("port range %q: %w", part, err)
			}
		}
		if e < b {
			return nil, fmt.Errorf("port range %q: the first port must not be greater than the last", part)
		}
		out = append(out, kov1.PortRange{Begin: b, End: e})
	}
	return out, nil
}

func parsePort(s string) (int32, error) {
	p, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port between 1 and 65535", s)
	}
	return int32(p), nil
}

// ParseResourceList parses "cpu=100m,memory=256Mi".
func ParseResourceList(s string) (corev1.ResourceList, error) {
	pairs, err := parsePairs(s, "write resources as name=quantity, e.g. cpu=100m,memory=256Mi")
	if err != nil {
		return nil, err
	}
	out := corev1.ResourceList{}
	for k, v := range pairs {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k+"="+v, err)
		}
		if q.Sign() < 0 {
			return nil, fmt.Errorf("%q: quantities must not be negative", k+"="+v)
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}

// ParseAttributes parses "rack=r1,disk=ssd".
func ParseAttributes(s string) (map[string]string, error) {
	return parsePairs(s, "write attributes as key=value, e.g. rack=r1,disk=ssd")
}

// parsePairs splits "k=v,k=v" into a map, trimming spaces; hint says how to
// write it when a part has no key.
func parsePairs(s, hint string) (map[string]string, error) {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q: %s", part, hint)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}
