// Package chart lints and renders the Helm chart (charts/kubeoffer) with
// the Helm CLI built from the module proxy (hack/helm), checks what it
// renders, and has the real API server validate every rendered object
// (server-side dry run). Installing it on a real cluster is the end-to-end
// tests' job.
package chart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) { os.Exit(controlplane.Run(m, &cp)) }

func helm(t *testing.T, args ...string) string {
	t.Helper()
	root := controlplane.RepoRoot()
	dir, err := exec.Command(filepath.Join(root, "hack", "build-binaries.sh"), "--print-dir", "helm").Output()
	if err != nil {
		t.Fatalf("locating helm: %v", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(dir)), "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no helm at %s: run `hack/build-binaries.sh helm` (make test does)", bin)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

// render renders the chart into namespace ns with extra --set values.
func render(t *testing.T, ns string, sets ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", "ko", "charts/kubeoffer", "-n", ns, "--kube-version", "1.36.3"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(helm(t, args...), "\n---") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string, into any) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			data, _ := yaml.Marshal(o.Object)
			if err := yaml.Unmarshal(data, into); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("the chart renders no %s %s", kind, name)
}

func TestLint(t *testing.T) {
	helm(t, "lint", "--strict", "charts/kubeoffer")
}

func TestRenderDefaults(t *testing.T) {
	objs := render(t, "kubeoffer-system")
	var master appsv1.Deployment
	find(t, objs, "Deployment", "ko-kubeoffer-master", &master)
	if *master.Spec.Replicas != 2 {
		t.Errorf("master replicas %d, want 2", *master.Spec.Replicas)
	}
	args := strings.Join(master.Spec.Template.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--leader-elect=true", "--leader-election-namespace=kubeoffer-system", "--agent-lease-namespace=kubeoffer-system"} {
		if !strings.Contains(args, want) {
			t.Errorf("master args %q lack %s", args, want)
		}
	}
	if master.Spec.Template.Spec.Affinity == nil || master.Spec.Template.Spec.Affinity.PodAntiAffinity == nil {
		t.Error("master replicas must prefer different nodes")
	}
	c := master.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe == nil || c.LivenessProbe == nil || c.Resources.Requests.Cpu().IsZero() {
		t.Error("master needs probes and resource requests")
	}
	if sc := c.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("master security context %+v: want non-root, no privilege escalation", sc)
	}

	var agentd appsv1.DaemonSet
	find(t, objs, "DaemonSet", "ko-kubeoffer-agentd", &agentd)
	ac := agentd.Spec.Template.Spec.Containers[0]
	var nodeName *corev1.EnvVar
	for i := range ac.Env {
		if ac.Env[i].Name == "NODE_NAME" {
			nodeName = &ac.Env[i]
		}
	}
	if nodeName == nil || nodeName.ValueFrom == nil || nodeName.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("agentd NODE_NAME must come from the downward API: %+v", nodeName)
	}
	if agentd.Spec.Template.Spec.HostNetwork || len(agentd.Spec.Template.Spec.Volumes) > 0 {
		t.Error("agentd needs no host network or host paths")
	}
	if tol := agentd.Spec.Template.Spec.Tolerations; len(tol) != 1 || tol[0].Operator != corev1.TolerationOpExists {
		t.Errorf("agentd tolerations %+v, want to run on every node", tol)
	}
	if !strings.Contains(strings.Join(ac.Args, " "), "--lease-namespace=kubeoffer-system") {
		t.Errorf("agentd args %v: its Lease must be where the master looks", ac.Args)
	}

	// RBAC: what config/rbac generated from the markers.
	for name, file := range map[string]string{"ko-kubeoffer-master": "config/rbac/role.yaml", "ko-kubeoffer-agentd": "config/rbac/agentd/role.yaml"} {
		var got, want rbacv1.ClusterRole
		find(t, objs, "ClusterRole", name, &got)
		data, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(bytes.Split(data, []byte("\n---\n"))[0], &want); err != nil {
			t.Fatal(err)
		}
		if len(got.Rules) == 0 || len(got.Rules) != len(want.Rules) {
			t.Errorf("%s has %d rules, %s has %d: run make manifests", name, len(got.Rules), file, len(want.Rules))
		}
	}
	var framework, wantFramework rbacv1.ClusterRole
	find(t, objs, "ClusterRole", "kubeoffer-framework", &framework)
	data, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "config/rbac/framework_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &wantFramework); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(framework.Rules, wantFramework.Rules) {
		t.Errorf("kubeoffer-framework rules %+v, config/rbac/framework_role.yaml has %+v: run make manifests", framework.Rules, wantFramework.Rules)
	}
	checkPolicies(t, objs, "config/policy", "kubeoffer-system", "ko-kubeoffer", 3)
	checkPolicies(t, objs, "config/crd/policy", "kubeoffer-system", "ko-kubeoffer", 2)
	var leases rbacv1.Role
	find(t, objs, "Role", "ko-kubeoffer-agentd-leases", &leases)
	if leases.Namespace != "kubeoffer-system" || len(leases.Rules) != 1 || leases.Rules[0].Resources[0] != "leases" {
		t.Errorf("agentd's Lease access must be a Role in the release namespace: %+v", leases)
	}
	for _, o := range objs {
		if o.GetKind() == "ServiceMonitor" {
			t.Error("a ServiceMonitor is rendered by default; it needs prometheus-operator")
		}
	}
}

func TestRenderValues(t *testing.T) {
	objs := render(t, "ops", "master.replicas=1", "agentd.attributes.rack=r1", "agentd.attributes.disk=ssd",
		"agentd.systemReserved=cpu=100m", "metrics.serviceMonitor.enabled=true", "master.offerTimeout=30s")
	var master appsv1.Deployment
	find(t, objs, "Deployment", "ko-kubeoffer-master", &master)
	args := strings.Join(master.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "--leader-elect=false") || !strings.Contains(args, "--offer-timeout=30s") {
		t.Errorf("master args %q", args)
	}
	var agentd appsv1.DaemonSet
	find(t, objs, "DaemonSet", "ko-kubeoffer-agentd", &agentd)
	aargs := strings.Join(agentd.Spec.Template.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--attributes=disk=ssd,rack=r1", "--system-reserved=cpu=100m", "--lease-namespace=ops"} {
		if !strings.Contains(aargs, want) {
			t.Errorf("agentd args %q lack %s", aargs, want)
		}
	}
	monitors := 0
	for _, o := range objs {
		if o.GetKind() == "ServiceMonitor" {
			monitors++
		}
	}
	if monitors != 2 {
		t.Errorf("%d ServiceMonitors, want one for the master and one for agentd", monitors)
	}
	checkPolicies(t, objs, "config/policy", "ops", "ko-kubeoffer", 3)
	checkPolicies(t, objs, "config/crd/policy", "ops", "ko-kubeoffer", 2)

	// admissionPolicies.enabled=false leaves out the policies that confine
	// tenants and nodes, not those that complete the Task CRD.
	off := render(t, "ops", "admissionPolicies.enabled=false")
	for _, o := range off {
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") && !strings.HasPrefix(o.GetName(), "kubeoffer-task-") {
			t.Errorf("admissionPolicies.enabled=false renders %s %s", o.GetKind(), o.GetName())
		}
	}
	checkPolicies(t, off, "config/crd/policy", "ops", "ko-kubeoffer", 2)
}

// checkPolicies checks that the chart renders every policy and binding of
// dir (config/policy or config/crd/policy) as it is there, except for the
// service accounts, which are the release's (ns, prefix-master and
// prefix-agentd), and that dir holds that many policies.
func checkPolicies(t *testing.T, objs []*unstructured.Unstructured, dir, ns, prefix string, policies int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(controlplane.RepoRoot(), dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte("system:serviceaccount:kubeoffer-system:kubeoffer"), []byte("system:serviceaccount:"+ns+":"+prefix))
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			want := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &want.Object); err != nil {
				t.Fatal(err)
			}
			got := &unstructured.Unstructured{}
			find(t, objs, want.GetKind(), want.GetName(), &got.Object)
			if !equality.Semantic.DeepEqual(got.Object["spec"], want.Object["spec"]) {
				t.Errorf("the chart's %s %s differs from %s: run make manifests\nchart:  %v\nconfig: %v",
					want.GetKind(), want.GetName(), f, got.Object["spec"], want.Object["spec"])
			}
			n++
		}
	}
	if n != 2*policies {
		t.Errorf("%s has %d policies and bindings, want %d of each", dir, n, policies)
	}
	for _, o := range objs {
		spec, _ := yaml.Marshal(o.Object["spec"])
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") && bytes.Contains(spec, []byte("kubeoffer-system:kubeoffer")) && ns != "kubeoffer-system" {
			t.Errorf("%s %s names config's service accounts, not the release's: %s", o.GetKind(), o.GetName(), spec)
		}
	}
}

// TestRenderFairSharingExclusions: the master is told the resources left
// out of fair sharing only when some are given.
func TestRenderFairSharingExclusions(t *testing.T) {
	for name, tc := range map[string]struct {
		sets []string
		want string // "" for no flag
	}{
		"none by default": {},
		"a list":          {sets: []string{"master.fairSharingExcludedResourceNames={nvidia.com/gpu,example.com/fpga}"}, want: "--fair-sharing-excluded-resource-names=nvidia.com/gpu,example.com/fpga"},
	} {
		t.Run(name, func(t *testing.T) {
			var master appsv1.Deployment
			find(t, render(t, "ops", tc.sets...), "Deployment", "ko-kubeoffer-master", &master)
			var got string
			for _, a := range master.Spec.Template.Spec.Containers[0].Args {
				if strings.HasPrefix(a, "--fair-sharing-excluded-resource-names") {
					got = a
				}
			}
			if got != tc.want {
				t.Errorf("master flag = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestServerSideDryRun has the API server validate every rendered object.
func TestServerSideDryRun(t *testing.T) {
	ns := cp.Namespace(t)
	out := helm(t, "template", "ko", "charts/kubeoffer", "-n", ns, "--kube-version", "1.36.3", "--include-crds")
	f := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	// The control plane has the chart's kubeoffer-task-* policies already
	// (test/controlplane installs them with the CRDs); their
	// matchConstraints is an atomic struct, which the API server's defaults
	// make differ from the chart's, so the dry run takes them over instead
	// of conflicting.
	cmd := exec.Command("kubectl", "--kubeconfig", cp.KubeconfigPath, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-n", ns, "-f", f)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the API server refused the chart: %v\n%s", err, b)
	}
}
