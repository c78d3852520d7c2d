package master

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
)

// roleState is what a test waits for on a Role: "Status Reason" by
// condition type.
type roleState map[string]string

// waitRole waits until the role's conditions read as want, with their
// observedGeneration and the status's at the role's generation, and
// returns it.
func waitRole(t *testing.T, name string, want roleState) *kov1.Role {
	t.Helper()
	r := &kov1.Role{}
	eventually(t, "role "+name+" conditions", func() (bool, string) {
		must(t, cp.Client.Get(context.Background(), client.ObjectKey{Name: name}, r))
		var seen []string
		ok := r.Status.ObservedGeneration == r.Generation
		for typ, w := range want {
			c := meta.FindStatusCondition(r.Status.Conditions, typ)
			if c == nil || string(c.Status)+" "+c.Reason != w || c.ObservedGeneration != r.Generation {
				ok = false
			}
		}
		for _, c := range r.Status.Conditions {
			seen = append(seen, fmt.Sprintf("%s=%s %s (gen %d)", c.Type, c.Status, c.Reason, c.ObservedGeneration))
		}
		return ok, fmt.Sprintf("generation %d observed %d, %s", r.Generation, r.Status.ObservedGeneration, strings.Join(seen, "; "))
	})
	return r
}

// roleEvent waits for an Event of type and reason about a Role (Events
// about cluster-scoped objects go to the default namespace).
func roleEvent(t *testing.T, name, eventType, reason string) {
	t.Helper()
	eventually(t, fmt.Sprintf("a %s %s Event for role %s", eventType, reason, name), func() (bool, string) {
		return hasEvent(t, metav1.NamespaceDefault, name, reason)
	})
}

// kubectl runs the machine's kubectl against the test API server.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", cp.KubeconfigPath}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// row returns the line of kubectl get output that starts with name.
func row(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return l
		}
	}
	return ""
}

// cells reads the named columns of name's row in kubectl get output: the
// columns are aligned, so each value starts where its header does.
func cells(out, name string, columns ...string) map[string]string {
	header := strings.SplitN(out, "\n", 2)[0]
	line := row(out, name)
	got := map[string]string{}
	for _, c := range columns {
		i := strings.Index(header, c)
		if i < 0 || i >= len(line) {
			got[c] = ""
			continue
		}
		got[c] = strings.Fields(line[i:] + " ")[0]
		if line[i] == ' ' {
			got[c] = ""
		}
	}
	return got
}

// TestRoleStatusConditions: Roles say what is wrong with them — a parent
// with no Role object, a loop of parents, a guarantee no offerable agents
// can hold — with a Warning Event each, and that all is well otherwise;
// fixing the problem makes them Ready again.
func TestRoleStatusConditions(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	name := func(r string) string { return ns + "-" + r }
	// Guarantees are judged against offerable agents: this one is from the
	// master's first pass.
	addAgentWith(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), agentSetup{beforeMaster: true,
		reservations: []kov1.Reservation{{Role: name("healthy"), Resources: b.Resources("cpu", "1", "memory", "1Gi")}}})
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	createRoles(t,
		b.MakeRole(name("orphan")).Parent(name("ghost")).Obj(),
		b.MakeRole(name("loop-a")).Parent(name("loop-b")).Obj(),
		b.MakeRole(name("loop-b")).Parent(name("loop-a")).Obj(),
		b.MakeRole(name("greedy")).Quota(b.Resources("cpu", "1000"), nil).Obj(),
		b.MakeRole(name("healthy")).Obj())

	ready := "True " + kov1.RoleReadyAsExpectedReason
	waitRole(t, name("orphan"), roleState{kov1.RoleReadyCondition: "False " + kov1.RoleParentResolvedNotFoundReason,
		kov1.RoleParentResolvedCondition: "False " + kov1.RoleParentResolvedNotFoundReason})
	for _, r := range []string{"loop-a", "loop-b"} {
		waitRole(t, name(r), roleState{kov1.RoleReadyCondition: "False " + kov1.RoleParentResolvedLoopReason,
			kov1.RoleParentResolvedCondition: "False " + kov1.RoleParentResolvedLoopReason})
	}
	greedy := waitRole(t, name("greedy"), roleState{kov1.RoleReadyCondition: "False " + kov1.RoleGuaranteeSatisfiableExceedsClusterReason,
		kov1.RoleParentResolvedCondition:       "True " + kov1.RoleParentResolvedTopLevelReason,
		kov1.RoleGuaranteeSatisfiableCondition: "False " + kov1.RoleGuaranteeSatisfiableExceedsClusterReason})
	if c := meta.FindStatusCondition(greedy.Status.Conditions, kov1.RoleGuaranteeSatisfiableCondition); !strings.Contains(c.Message, "cpu: need 1k, have 4") {
		t.Errorf("GuaranteeSatisfiable message = %q, want the shortfall against the agent's 4 cpu", c.Message)
	}
	healthy := waitRole(t, name("healthy"), roleState{kov1.RoleReadyCondition: ready,
		kov1.RoleParentResolvedCondition:       "True " + kov1.RoleParentResolvedTopLevelReason,
		kov1.RoleGuaranteeSatisfiableCondition: "True " + kov1.RoleGuaranteeSatisfiableNoGuaranteeReason})
	// An unused reservation is consumed all the same.
	eventually(t, "healthy's reserved and consumed", func() (bool, string) {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(healthy), healthy))
		want := b.Resources("cpu", "1", "memory", "1Gi")
		return hasResources(healthy.Status.Reserved, want) && hasResources(healthy.Status.Consumed, want),
			fmt.Sprintf("reserved %v consumed %v", healthy.Status.Reserved, healthy.Status.Consumed)
	})
	roleEvent(t, name("orphan"), corev1.EventTypeWarning, kov1.RoleParentResolvedNotFoundReason)
	roleEvent(t, name("loop-a"), corev1.EventTypeWarning, kov1.RoleParentResolvedLoopReason)
	roleEvent(t, name("greedy"), corev1.EventTypeWarning, kov1.RoleGuaranteeSatisfiableExceedsClusterReason)

	out := kubectl(t, "get", "korole", name("orphan"), name("greedy"), name("healthy"))
	for _, col := range []string{"WEIGHT", "PARENT", "READY", "REASON", "GUARANTEE", "CPU-USED", "MEMORY-USED", "SHARE", "FRAMEWORKS"} {
		if !strings.Contains(out, col) {
			t.Errorf("kubectl get korole lacks column %s:\n%s", col, out)
		}
	}
	for r, want := range map[string]map[string]string{
		"orphan": {"PARENT": name("ghost"), "READY": "False", "REASON": kov1.RoleParentResolvedNotFoundReason, "GUARANTEE": "True"},
		"greedy": {"READY": "False", "REASON": kov1.RoleGuaranteeSatisfiableExceedsClusterReason, "GUARANTEE": "False"},
		"healthy": {"READY": "True", "REASON": kov1.RoleReadyAsExpectedReason, "GUARANTEE": "True", "CPU-USED": "",
			"SHARE": "0.000", "FRAMEWORKS": ""},
	} {
		if diff := cmp.Diff(want, cells(out, name(r), slices.Collect(maps.Keys(want))...)); diff != "" {
			t.Errorf("kubectl get korole, row %s (-want +got):\n%s\n%s", r, diff, out)
		}
	}
	wide := kubectl(t, "get", "korole", name("greedy"), "-o", "wide")
	if got := cells(wide, name("greedy"), "CPU-GUARANTEE")["CPU-GUARANTEE"]; got != "1k" {
		t.Errorf("kubectl get korole -o wide shows CPU-GUARANTEE %q, want 1k:\n%s", got, wide)
	}

	// Fixed, they are Ready again, and say so.
	createRoles(t, b.MakeRole(name("ghost")).Obj())
	waitRole(t, name("orphan"), roleState{kov1.RoleReadyCondition: ready,
		kov1.RoleParentResolvedCondition: "True " + kov1.RoleParentResolvedFoundReason})
	roleEvent(t, name("orphan"), corev1.EventTypeNormal, kov1.RoleParentResolvedFoundReason)
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(greedy), greedy))
		greedy.Spec.Quota.Guarantee = b.Resources("cpu", "2")
		return cp.Client.Update(ctx, greedy)
	}))
	waitRole(t, name("greedy"), roleState{kov1.RoleReadyCondition: ready,
		kov1.RoleGuaranteeSatisfiableCondition: "True " + kov1.RoleGuaranteeSatisfiableFitsReason})
	roleEvent(t, name("greedy"), corev1.EventTypeNormal, kov1.RoleGuaranteeSatisfiableFitsReason)
}

// TestRoleStatusConsumption: a Role's status shows what its frameworks
// hold (allocated, offered), what Agents reserve for it, and what counts
// against its quota: allocated and offered plus reservations no task or
// offer uses. A role with only a reservation consumes it.
func TestRoleStatusConsumption(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	team, idle := ns+"-team", ns+"-idle"
	createRoles(t, b.MakeRole(team).Obj(), b.MakeRole(idle).Obj())
	a := addAgentWith(t, ns, "node", b.Resources("cpu", "4", "memory", "4Gi"), agentSetup{beforeMaster: true, reservations: []kov1.Reservation{
		{Role: team, Resources: b.Resources("cpu", "1", "memory", "1Gi")},
		{Role: idle, Resources: b.Resources("cpu", "1", "memory", "1Gi")},
	}})
	startMaster(t, masterConfig{offerTimeout: time.Hour})
	addFramework(t, b.MakeFramework("fw", ns).Role(team).Obj())

	o := waitOfferOn(t, ns, "fw", a.Name)
	if !hasResources(o.Spec.Resources, b.Resources("cpu", "3", "memory", "3Gi")) {
		t.Fatalf("offer = %s, want all but idle's reservation", describeOffers([]kov1.ResourceOffer{o}))
	}
	must(t, cp.Client.Create(ctx, b.MakeTask("t", ns, "fw").Offer(o.Name).Resources(b.Resources("cpu", "2", "memory", "1Gi")).Obj()))
	waitTask(t, ns, "t", kov1.TaskStaging)

	type usage struct{ allocated, offered, reserved, consumed corev1.ResourceList }
	for role, want := range map[string]usage{
		team: {allocated: b.Resources("cpu", "2", "memory", "1Gi"), offered: b.Resources("cpu", "1", "memory", "2Gi"),
			reserved: b.Resources("cpu", "1", "memory", "1Gi"), consumed: b.Resources("cpu", "3", "memory", "3Gi")},
		idle: {reserved: b.Resources("cpu", "1", "memory", "1Gi"), consumed: b.Resources("cpu", "1", "memory", "1Gi")},
	} {
		r := &kov1.Role{}
		eventually(t, "role "+role+" usage", func() (bool, string) {
			must(t, cp.Client.Get(ctx, client.ObjectKey{Name: role}, r))
			s := r.Status
			return hasResources(s.Allocated, want.allocated) && hasResources(s.Offered, want.offered) &&
					hasResources(s.Reserved, want.reserved) && hasResources(s.Consumed, want.consumed),
				fmt.Sprintf("allocated %v offered %v reserved %v consumed %v", s.Allocated, s.Offered, s.Reserved, s.Consumed)
		})
	}
	r := &kov1.Role{}
	must(t, cp.Client.Get(ctx, client.ObjectKey{Name: team}, r))
	if r.Status.DominantShare != "0.750" || r.Status.Frameworks != 1 {
		t.Errorf("team share %q frameworks %d, want 0.750 and 1", r.Status.DominantShare, r.Status.Frameworks)
	}

	out := kubectl(t, "get", "korole", team, "-o", "wide")
	want := map[string]string{"READY": "True", "GUARANTEE": "True", "CPU-USED": "2", "MEMORY-USED": "1Gi", "SHARE": "0.750",
		"FRAMEWORKS": "1", "CPU-CONSUMED": "3", "MEMORY-CONSUMED": "3Gi", "CPU-LIMIT": ""}
	if diff := cmp.Diff(want, cells(out, team, slices.Collect(maps.Keys(want))...)); diff != "" {
		t.Errorf("kubectl get korole -o wide (-want +got):\n%s\n%s", diff, out)
	}
}
