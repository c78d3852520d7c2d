package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

var expiry = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func validOffer(ns string) *kov1.ResourceOffer {
	return b.MakeOffer("offer", ns, "fw", "node-a").
		Resources(b.Resources("cpu", "2", "memory", "1Gi")).
		Ports(kov1.PortRange{Begin: 31000, End: 31010}).
		Attribute("zone", "a").
		Expires(expiry).Obj()
}

// TestValidObjectsAccepted creates a valid object of every kind, with every
// optional field set, so the schema accepts what the docs promise.
func TestValidObjectsAccepted(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	suffix := strings.TrimPrefix(ns, "testvalidobjectsaccepted-")
	objs := []client.Object{
		b.MakeRole("parent-"+suffix).Weight(3).Quota(b.Resources("cpu", "1"), b.Resources("cpu", "4", "nvidia.com/gpu", "2")).Obj(),
		b.MakeRole("child-"+suffix).Parent("parent-"+suffix).Namespaces(ns).
			MatchLabels("team", "a").MatchExpression("tier", kov1.RoleNamespaceIn, "gold").MatchExpression("frozen", kov1.RoleNamespaceDoesNotExist).Obj(),
		b.MakeAgent("node-"+suffix).Attribute("rack", "r1").Reserve("parent-"+suffix, b.Resources("cpu", "1")).Maintenance(kov1.AgentMaintenanceDrain).Obj(),
		b.MakeFramework("fw", ns).Role("child-"+suffix).FailoverTimeout(time.Minute).RefuseDuration(10*time.Second).
			Offers(kov1.OfferModeSuppressed).MinResources(b.Resources("cpu", "100m")).Selector(map[string]string{"zone": "a"}).
			Capability(kov1.CapabilityPartitionAware).Policy(kov1.SchedulingPolicySpread).SpreadAttribute("zone").
			MinAllocatable(b.Resources("cpu", "2", "memory", "4Gi"), b.Resources("nvidia.com/gpu", "1")).Obj(),
		validOffer(ns),
		b.MakeTask("task", ns, "fw").Offer("offer").Ports(kov1.PortRange{Begin: 31000, End: 31000}).KillGracePeriod(5).Obj(),
	}
	for _, obj := range objs {
		if err := cp.Client.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
		t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), obj) })
	}

	// Defaults land as documented.
	fw := &kov1.Framework{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fw"}, fw); err != nil {
		t.Fatal(err)
	}
	defaulted := b.MakeFramework("defaults", ns).Obj()
	if err := cp.Client.Create(ctx, defaulted); err != nil {
		t.Fatal(err)
	}
	if defaulted.Spec.Role != kov1.DefaultRole || defaulted.Spec.Offers != kov1.OfferModeActive ||
		defaulted.Spec.RefuseDuration.Duration != 5*time.Second || defaulted.Spec.FailoverTimeout.Duration != time.Hour {
		t.Errorf("framework defaults = %+v, want role default, offers Active, refuse 5s, failover 1h", defaulted.Spec)
	}
	task := &kov1.Task{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "task"}, task); err != nil {
		t.Fatal(err)
	}
	if got := task.Spec.KillGracePeriodSeconds; got == nil || *got != 5 {
		t.Errorf("killGracePeriodSeconds = %v, want 5", got)
	}
	plain := b.MakeTask("plain", ns, "fw").Obj()
	if err := cp.Client.Create(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if got := plain.Spec.KillGracePeriodSeconds; got == nil || *got != 30 {
		t.Errorf("default killGracePeriodSeconds = %v, want 30", got)
	}
	role := b.MakeRole("weightless-" + suffix).Obj()
	if err := cp.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), role) })
	if role.Spec.Weight != 1 {
		t.Errorf("default role weight = %d, want 1", role.Spec.Weight)
	}
}

// TestCreateRejected checks that each creation-time rule rejects a bad
// object with its message.
func TestCreateRejected(t *testing.T) {
	ns := cp.Namespace(t)
	cases := map[string]struct {
		obj  client.Object
		want string
	}{
		"port range backwards": {
			obj:  b.MakeOffer("o", ns, "fw", "a").Resources(b.Resources("cpu", "1")).Ports(kov1.PortRange{Begin: 32000, End: 31000}).Obj(),
			want: "port range begin must not be greater than end",
		},
		"port out of range": {
			obj:  b.MakeTask("t", ns, "fw").Ports(kov1.PortRange{Begin: 0, End: 10}).Obj(),
			want: "should be greater than or equal to 1",
		},
		"negative task resources": {
			obj:  b.MakeTask("t", ns, "fw").Resources(b.Resources("cpu", "-1")).Obj(),
			want: "resource quantities must not be negative",
		},
		"empty task resources": {
			obj:  b.MakeTask("t", ns, "fw").Resources(corev1.ResourceList{}).Obj(),
			want: "should have at least 1 properties",
		},
		"negative offer resources": {
			obj:  b.MakeOffer("o", ns, "fw", "a").Resources(b.Resources("memory", "-1Gi")).Obj(),
			want: "resource quantities must not be negative",
		},
		"negative reservation": {
			obj:  b.MakeAgent("bad-reservation").Reserve("r", b.Resources("cpu", "-2")).Obj(),
			want: "resource quantities must not be negative",
		},
		"negative quota guarantee": {
			obj:  b.MakeRole("bad-guarantee").Quota(b.Resources("cpu", "-1"), nil).Obj(),
			want: "resource quantities must not be negative",
		},
		"negative quota limit": {
			obj:  b.MakeRole("bad-limit").Quota(nil, b.Resources("memory", "-5")).Obj(),
			want: "resource quantities must not be negative",
		},
		"guarantee above limit": {
			obj:  b.MakeRole("greedy").Quota(b.Resources("cpu", "4"), b.Resources("cpu", "2")).Obj(),
			want: "quota guarantee must not exceed limit for any resource",
		},
		"role its own parent": {
			obj:  b.MakeRole("narcissus").Parent("narcissus").Obj(),
			want: "a role cannot be its own parent",
		},
		"default role as parent": {
			obj:  b.MakeRole("under-default").Parent("default").Obj(),
			want: "parent must not be the default role",
		},
		"role namespace not a namespace name": {
			obj:  b.MakeRole("bad-namespace").Namespaces("Team_A").Obj(),
			want: "spec.namespaces[0] in body should match",
		},
		"role namespace selector unknown operator": {
			obj:  b.MakeRole("bad-operator").MatchExpression("tier", "Near", "gold").Obj(),
			want: `supported values: "In", "NotIn", "Exists", "DoesNotExist"`,
		},
		"role namespace selector In without values": {
			obj:  b.MakeRole("bad-in").MatchExpression("tier", kov1.RoleNamespaceIn).Obj(),
			want: "values must be non-empty for the operators In and NotIn",
		},
		"role namespace selector Exists with values": {
			obj:  b.MakeRole("bad-exists").MatchExpression("tier", kov1.RoleNamespaceExists, "gold").Obj(),
			want: "and empty for Exists and DoesNotExist",
		},
		"role namespace selector label value too long": {
			obj:  b.MakeRole("bad-label").MatchLabels("tier", strings.Repeat("g", 64)).Obj(),
			want: "label keys must be at most 317 characters and label values at most 63",
		},
		"role weight zero": {
			obj:  &kov1.Role{ObjectMeta: metav1.ObjectMeta{Name: "zero"}, Spec: kov1.RoleSpec{Weight: -1}},
			want: "should be greater than or equal to 1",
		},
		"negative min resources": {
			obj:  b.MakeFramework("fw", ns).MinResources(b.Resources("cpu", "-100m")).Obj(),
			want: "resource quantities must not be negative",
		},
		"negative min allocatable": {
			obj:  b.MakeFramework("fw", ns).MinAllocatable(b.Resources("cpu", "1"), b.Resources("memory", "-1Gi")).Obj(),
			want: "resource quantities must not be negative",
		},
		"too many min allocatable alternatives": {
			obj: b.MakeFramework("fw", ns).MinAllocatable(b.Resources("cpu", "1"), b.Resources("cpu", "2"), b.Resources("cpu", "3"),
				b.Resources("cpu", "4"), b.Resources("cpu", "5"), b.Resources("cpu", "6"), b.Resources("cpu", "7"), b.Resources("cpu", "8"),
				b.Resources("cpu", "9")).Obj(),
			want: "must have at most 8 items",
		},
		"spread attribute without spread": {
			obj:  b.MakeFramework("fw", ns).Policy(kov1.SchedulingPolicyBinPack).SpreadAttribute("zone").Obj(),
			want: "spreadAttribute applies only to the Spread policy",
		},
		"unknown policy": {
			obj:  b.MakeFramework("fw", ns).Policy("Random").Obj(),
			want: `supported values: "FirstFit", "BinPack", "Spread"`,
		},
		"unknown capability": {
			obj:  b.MakeFramework("fw", ns).Capability("Telepathy").Obj(),
			want: `supported values: "PartitionAware", "GPUResources"`,
		},
		"unknown maintenance": {
			obj:  b.MakeAgent("bad-maintenance").Maintenance("Sideways").Obj(),
			want: `supported values: "None", "Drain", "Down"`,
		},
		"task cpu past the bound": {
			obj:  b.MakeTask("t", ns, "fw").Resources(b.Resources("cpu", "10P", "memory", "1Gi")).Obj(),
			want: "resource quantities must be at most 1M for cpu (cores) and 1Pi",
		},
		"task memory past the bound": {
			obj:  b.MakeTask("t", ns, "fw").Resources(b.Resources("cpu", "1", "memory", "2Pi")).Obj(),
			want: "resource quantities must be at most 1M for cpu (cores) and 1Pi",
		},
		"role limit past the bound": {
			obj:  b.MakeRole("boundless").Quota(nil, b.Resources("cpu", "10P")).Obj(),
			want: "resource quantities must be at most 1M for cpu (cores) and 1Pi",
		},
		"reservation past the bound": {
			obj:  b.MakeAgent("boundless").Reserve("r", b.Resources("nvidia.com/gpu", "1E")).Obj(),
			want: "resource quantities must be at most 1M for cpu (cores) and 1Pi",
		},
		"min resources past the bound": {
			obj:  b.MakeFramework("fw", ns).MinResources(b.Resources("memory", "8Ei")).Obj(),
			want: "resource quantities must be at most 1M for cpu (cores) and 1Pi",
		},
		"offer past the bound": {
			obj:  b.MakeOffer("o", ns, "fw", "a").Resources(b.Resources("cpu", "2M")).Obj(),
			want: "resource quantities must be at most 1M for cpu (cores) and 1Pi",
		},
		"task without memory": {
			obj:  b.MakeTask("t", ns, "fw").Resources(b.Resources("cpu", "1")).Obj(),
			want: "resources must name both cpu and memory",
		},
		"task without cpu": {
			obj:  b.MakeTask("t", ns, "fw").Resources(b.Resources("memory", "1Gi")).Obj(),
			want: "resources must name both cpu and memory",
		},
		"task with zero cpu": {
			obj:  b.MakeTask("t", ns, "fw").Resources(b.Resources("cpu", "0", "memory", "1Gi")).Obj(),
			want: "resources.cpu must be more than 0",
		},
		"task with zero memory": {
			obj:  b.MakeTask("t", ns, "fw").Resources(b.Resources("cpu", "1", "memory", "0")).Obj(),
			want: "resources.memory must be more than 0",
		},
		"framework name too long for a label": {
			obj:  b.MakeFramework(strings.Repeat("f", 64), ns).Obj(),
			want: "a Framework's name must be at most 63 characters",
		},
		"selector In without values": {
			obj:  b.MakeFramework("fw", ns).SelectorExpression(metav1.LabelSelectorRequirement{Key: "zone", Operator: metav1.LabelSelectorOpIn}).Obj(),
			want: "In and NotIn need at least one value",
		},
		"selector Exists with values": {
			obj:  b.MakeFramework("fw", ns).SelectorExpression(metav1.LabelSelectorRequirement{Key: "zone", Operator: metav1.LabelSelectorOpExists, Values: []string{"a"}}).Obj(),
			want: "Exists and DoesNotExist take no values",
		},
		"selector unknown operator": {
			obj:  b.MakeFramework("fw", ns).SelectorExpression(metav1.LabelSelectorRequirement{Key: "zone", Operator: "Near", Values: []string{"a"}}).Obj(),
			want: "operator must be one of In, NotIn, Exists, DoesNotExist",
		},
		"selector bad key": {
			obj:  b.MakeFramework("fw", ns).SelectorExpression(metav1.LabelSelectorRequirement{Key: "no spaces/allowed here", Operator: metav1.LabelSelectorOpExists}).Obj(),
			want: "keys must be qualified names",
		},
		"selector bad label value": {
			obj:  b.MakeFramework("fw", ns).Selector(map[string]string{"zone": "a b"}).Obj(),
			want: "keys must be qualified names",
		},
		"negative refuse duration": {
			obj:  b.MakeFramework("fw", ns).RefuseDuration(-5 * time.Second).Obj(),
			want: "refuseDuration must be between 0s and 8760h",
		},
		"refuse duration over a year": {
			obj:  b.MakeFramework("fw", ns).RefuseDuration(366 * 24 * time.Hour).Obj(),
			want: "refuseDuration must be between 0s and 8760h",
		},
		"zero failover timeout": {
			obj:  b.MakeFramework("fw", ns).FailoverTimeout(0).Obj(),
			want: "failoverTimeout must be between 1s and 8760h",
		},
		"negative decline refuse duration": {
			obj:  b.MakeOffer("o", ns, "fw", "a").Resources(b.Resources("cpu", "1")).Decline(-time.Second).Obj(),
			want: "decline.refuseDuration must be between 0s and 8760h",
		},
		"template pins a node": {
			obj:  b.MakeTask("t", ns, "fw").PodSpec(func(s *corev1.PodSpec) { s.NodeName = "elsewhere" }).Obj(),
			want: "template.spec.nodeName must be empty",
		},
		"template selects nodes": {
			obj:  b.MakeTask("t", ns, "fw").PodSpec(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"zone": "a"} }).Obj(),
			want: "template.spec.nodeSelector and affinity are not allowed",
		},
		"template with a priority class": {
			obj:  b.MakeTask("t", ns, "fw").PodSpec(func(s *corev1.PodSpec) { s.PriorityClassName = "system-node-critical" }).Obj(),
			want: "template.spec.priorityClassName, priority and preemptionPolicy are not allowed",
		},
		"template on the host network": {
			obj:  b.MakeTask("t", ns, "fw").PodSpec(func(s *corev1.PodSpec) { s.HostNetwork = true }).Obj(),
			want: "template.spec.hostNetwork is not allowed",
		},
		"template with overhead": {
			obj:  b.MakeTask("t", ns, "fw").PodSpec(func(s *corev1.PodSpec) { s.Overhead = b.Resources("cpu", "1") }).Obj(),
			want: "template.spec.overhead is set by the cluster",
		},
		"task without containers": {
			obj:  b.MakeTask("t", ns, "fw").NoContainers().Obj(),
			want: "template.spec.containers must list at least one container",
		},
		// The template's schema keeps its types, so every stored Task
		// decodes into the Go types that the master and agentd read.
		"template field of the wrong type": {
			obj:  wrongType(t, b.MakeTask("t", ns, "fw").Obj(), `"true"`, "spec", "template", "spec", "containers", "0", "command"),
			want: "spec.template.spec.containers[0].command in body must be of type array",
		},
		"template quantity that is not one": {
			obj:  wrongType(t, b.MakeTask("t", ns, "fw").Obj(), `{"cpu": "lots"}`, "spec", "template", "spec", "containers", "0", "resources", "limits"),
			want: "spec.template.spec.containers[0].resources.limits.cpu in body should match",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := cp.Client.Create(context.Background(), tc.obj)
			if err == nil {
				_ = cp.Client.Delete(context.Background(), tc.obj)
				t.Fatalf("created, want rejection with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestUpdateRejected checks the transition rules: immutable fields and
// set-once fields reject changes with their messages.
func TestUpdateRejected(t *testing.T) {
	type mutation struct {
		create func(ns string) client.Object
		mutate func(client.Object)
		status bool
		want   string
	}
	offer := func(f func(o *kov1.ResourceOffer)) func(client.Object) {
		return func(o client.Object) { f(o.(*kov1.ResourceOffer)) }
	}
	task := func(f func(t *kov1.Task)) func(client.Object) {
		return func(o client.Object) { f(o.(*kov1.Task)) }
	}
	newOffer := func(ns string) client.Object { return validOffer(ns) }
	newTask := func(ns string) client.Object {
		return b.MakeTask("task", ns, "fw").Offer("offer").Ports(kov1.PortRange{Begin: 31000, End: 31001}).Obj()
	}
	newPendingTask := func(ns string) client.Object { return b.MakeTask("task", ns, "fw").Obj() }
	cases := map[string]mutation{
		"offer frameworkName": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.FrameworkName = "other" }),
			want: "frameworkName is immutable"},
		"offer agentName": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.AgentName = "node-b" }),
			want: "agentName is immutable"},
		"offer nodeName": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.NodeName = "node-b" }),
			want: "nodeName is immutable"},
		"offer nodeName removed": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.NodeName = "" }),
			want: "nodeName, ports, attributes and expirationTime cannot be added or removed"},
		"offer role": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.Role = "other" }),
			want: "role is immutable"},
		"offer resources": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.Resources = b.Resources("cpu", "3", "memory", "1Gi") }),
			want: "resources are immutable"},
		"offer ports": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.Ports[0].End = 31020 }),
			want: "ports are immutable"},
		"offer ports removed": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.Ports = nil }),
			want: "nodeName, ports, attributes and expirationTime cannot be added or removed"},
		"offer attributes": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.Attributes["zone"] = "b" }),
			want: "attributes are immutable"},
		"offer expirationTime": {create: newOffer, mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.ExpirationTime = &metav1.Time{Time: expiry.Add(time.Hour)} }),
			want: "expirationTime is immutable"},
		"offer decline changed": {
			create: func(ns string) client.Object {
				o := validOffer(ns)
				o.Spec.Decline = &kov1.OfferDecline{RefuseDuration: &metav1.Duration{Duration: time.Minute}}
				return o
			},
			mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.Decline.RefuseDuration.Duration = time.Hour }),
			want:   "decline can be set only once"},
		"offer decline removed": {
			create: func(ns string) client.Object {
				o := validOffer(ns)
				o.Spec.Decline = &kov1.OfferDecline{}
				return o
			},
			mutate: offer(func(o *kov1.ResourceOffer) { o.Spec.Decline = nil }),
			want:   "decline can be set only once"},
		"task offerName changed": {create: newTask, mutate: task(func(t *kov1.Task) { t.Spec.OfferName = "another" }),
			want: "offerName cannot change once set"},
		"task offerName cleared": {create: newTask, mutate: task(func(t *kov1.Task) { t.Spec.OfferName = "" }),
			want: "offerName cannot change once set"},
		"task frameworkName": {create: newTask, mutate: task(func(t *kov1.Task) { t.Spec.FrameworkName = "other" }),
			want: "frameworkName is immutable"},
		"task resources": {create: newTask, mutate: task(func(t *kov1.Task) { t.Spec.Resources = b.Resources("cpu", "2", "memory", "64Mi") }),
			want: "resources are immutable"},
		"task ports": {create: newTask, mutate: task(func(t *kov1.Task) { t.Spec.Ports = []kov1.PortRange{{Begin: 31005, End: 31005}} }),
			want: "ports are immutable"},
		"task ports removed": {create: newTask, mutate: task(func(t *kov1.Task) { t.Spec.Ports = nil }),
			want: "ports are immutable"},
		"task template": {create: newTask, mutate: task(func(t *kov1.Task) { t.Spec.Template.Spec.Containers[0].Image = "other:latest" }),
			want: "template is immutable"},
		"task leaves terminal state": {
			create: newPendingTask,
			mutate: task(func(t *kov1.Task) { t.Status.State = kov1.TaskRunning }),
			status: true,
			want:   "a task in a terminal state cannot change state"},
		"framework role": {
			create: func(ns string) client.Object { return b.MakeFramework("fw", ns).Role("a").Obj() },
			mutate: func(o client.Object) { o.(*kov1.Framework).Spec.Role = "b" },
			want:   "role is immutable: create a new Framework"},
		"agent leaves Gone": {
			create: func(ns string) client.Object {
				return b.MakeAgent(ns + "-gone").Maintenance(kov1.AgentMaintenanceGone).Obj()
			},
			mutate: func(o client.Object) { o.(*kov1.Agent).Spec.Maintenance = kov1.AgentMaintenanceNone },
			want:   "maintenance cannot leave Gone: a gone agent never comes back; delete the Agent"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ns := cp.Namespace(t)
			obj := tc.create(ns)
			if err := cp.Client.Create(ctx, obj); err != nil {
				t.Fatalf("creating: %v", err)
			}
			if obj.GetNamespace() == "" { // cluster-scoped: not removed with the namespace
				t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), obj) })
			}
			if tc.status {
				// Put the task in a terminal state first; that must be allowed.
				tk := obj.(*kov1.Task)
				tk.Status.State = kov1.TaskFinished
				if err := cp.Client.Status().Update(ctx, tk); err != nil {
					t.Fatalf("setting terminal state: %v", err)
				}
			}
			tc.mutate(obj)
			var err error
			if tc.status {
				err = cp.Client.Status().Update(ctx, obj)
			} else {
				err = cp.Client.Update(ctx, obj)
			}
			if err == nil {
				t.Fatalf("updated, want rejection with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestAllowedUpdates checks that what the contract allows to change does:
// a framework declines its offer once, a task accepts an offer once, an
// agent's maintenance changes freely until it is Gone.
func TestAllowedUpdates(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	o := validOffer(ns)
	if err := cp.Client.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	o.Spec.Decline = &kov1.OfferDecline{RefuseDuration: &metav1.Duration{Duration: time.Minute}}
	if err := cp.Client.Update(ctx, o); err != nil {
		t.Fatalf("declining an offer: %v", err)
	}
	tk := b.MakeTask("t", ns, "fw").Obj()
	if err := cp.Client.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	tk.Spec.OfferName = "offer"
	if err := cp.Client.Update(ctx, tk); err != nil {
		t.Fatalf("setting offerName on a task that had none: %v", err)
	}
	tk.Status.State = kov1.TaskStaging
	if err := cp.Client.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}
	tk.Status.State = kov1.TaskRunning
	if err := cp.Client.Status().Update(ctx, tk); err != nil {
		t.Fatalf("moving a live task on: %v", err)
	}
	a := b.MakeAgent(ns + "-node").Obj()
	if err := cp.Client.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), a) })
	for _, m := range []kov1.AgentMaintenance{kov1.AgentMaintenanceDrain, kov1.AgentMaintenanceNone, kov1.AgentMaintenanceGone, kov1.AgentMaintenanceGone} {
		a.Spec.Maintenance = m
		if err := cp.Client.Update(ctx, a); err != nil {
			t.Fatalf("setting an agent's maintenance to %s: %v", m, err)
		}
	}
}

// TestStatusWritesSkipSpecRules: the rules that hold a Task's spec
// immutable are not in the CRD's schema, which the API server evaluates on
// every status write too, but in the kubeoffer-task-spec policy, which
// judges writes of tasks and not of tasks/status (TestUpdateRejected shows
// it refuses what the schema refused).
func TestStatusWritesSkipSpecRules(t *testing.T) {
	ctx := context.Background()
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: "tasks.kubeoffer.io"}, crd); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		spec, _, _ := unstructured.NestedMap(v.(map[string]any), "schema", "openAPIV3Schema", "properties", "spec")
		if spec == nil {
			t.Fatal("the Task CRD has no spec schema")
		}
		for _, rule := range rules(spec, "spec") {
			if strings.Contains(rule, "oldSelf") {
				t.Errorf("the Task CRD has a transition rule on its spec, which every status write evaluates: %s", rule)
			}
		}
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Name: "kubeoffer-task-spec"}, policy); err != nil {
		t.Fatal(err)
	}
	for _, r := range policy.Spec.MatchConstraints.ResourceRules {
		if !slices.Equal(r.Resources, []string{"tasks"}) {
			t.Errorf("kubeoffer-task-spec matches %v, want tasks only: tasks/status writes cannot change the spec", r.Resources)
		}
	}
}

// rules lists the x-kubernetes-validations rules in a schema and below it,
// each prefixed with its path.
func rules(s map[string]any, path string) []string {
	var out []string
	vs, _, _ := unstructured.NestedSlice(s, "x-kubernetes-validations")
	for _, v := range vs {
		out = append(out, path+": "+fmt.Sprint(v.(map[string]any)["rule"]))
	}
	props, _, _ := unstructured.NestedMap(s, "properties")
	for name, p := range props {
		if m, ok := p.(map[string]any); ok {
			out = append(out, rules(m, path+"."+name)...)
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if m, ok := s[k].(map[string]any); ok {
			out = append(out, rules(m, path+"[]")...)
		}
	}
	return out
}

// wrongType returns obj as an unstructured object whose field at path (list
// indices as numbers) is replaced by the JSON value, which the Go types
// could not hold.
func wrongType(t *testing.T, obj client.Object, value string, path ...string) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		t.Fatal(err)
	}
	var cur any = m
	for i, p := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = v
			} else {
				cur = c[p]
			}
		case []any:
			k, err := strconv.Atoi(p)
			if err != nil {
				t.Fatalf("path %v: %q is not an index", path, p)
			}
			if last {
				c[k] = v
			} else {
				cur = c[k]
			}
		default:
			t.Fatalf("path %v: nothing at %q", path, p)
		}
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(kov1.GroupVersion.WithKind("Task"))
	return u
}
