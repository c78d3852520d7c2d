// Package controlplane starts the real kube-apiserver and etcd that every
// kubeoffer integration test runs against (controller-runtime's envtest),
// with the kubeoffer CRDs installed, and the ValidatingAdmissionPolicies
// that complete them (config/crd/policy: a Task's spec is immutable, its
// Pod template cannot bypass the offer). The binaries are the ones
// hack/envtest-assets.sh builds from source into bin/envtest; nothing is
// downloaded.
//
// A test package starts one control plane in TestMain and gives each test
// its own namespace:
//
//	var cp *controlplane.ControlPlane
//
//	func TestMain(m *testing.M) { os.Exit(controlplane.Run(m, &cp)) }
//
//	func TestX(t *testing.T) { ns := cp.Namespace(t); … }
package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	kubeofferv1alpha1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// ControlPlane is a running kube-apiserver + etcd with the kubeoffer CRDs
// and their policy.
type ControlPlane struct {
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
	// Client is a direct (uncached) client for the API server.
	Client client.Client
	// Scheme knows the core kinds and kubeoffer's.
	Scheme *k8sruntime.Scheme
	// KubeconfigPath is a kubeconfig file for kubectl.
	KubeconfigPath string

	env *envtest.Environment
}

// RepoRoot returns the kubeoffer checkout this package was built from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Scheme returns a scheme with the core kinds and kubeoffer's registered.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := kubeofferv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Start brings up a control plane with the CRDs from config/crd/bases and
// the policies of config/crd/policy, in force when it returns.
// KUBEBUILDER_ASSETS overrides where the binaries are (default bin/envtest).
func Start() (*ControlPlane, error) {
	root := RepoRoot()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin", "envtest")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run `make envtest-assets` (it builds one from source): %w", assets, err)
	}
	scheme := Scheme()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	cp := &ControlPlane{Config: cfg, Scheme: scheme, env: env}
	if cp.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("creating client: %w", err)
	}
	if cp.KubeconfigPath, err = cp.writeKubeconfig(); err != nil {
		_ = env.Stop()
		return nil, err
	}
	if err := cp.installAPIPolicies(); err != nil {
		_ = cp.Stop()
		return nil, err
	}
	return cp, nil
}

// installAPIPolicies creates the policies of config/crd/policy, which are
// part of the Task API as the CRDs are (kubeoffer-task-spec: the spec is
// immutable; kubeoffer-task-template: the Pod template cannot bypass the
// offer), and waits until they judge: a policy takes effect a moment after
// it is created, once the API server's policy informer has it.
func (cp *ControlPlane) installAPIPolicies() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	files, err := filepath.Glob(filepath.Join(RepoRoot(), "config", "crd", "policy", "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := cp.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("%s: creating %s %s: %w", f, u.GetKind(), u.GetName(), err)
			}
		}
	}
	// The probes: a dry run that each policy refuses once it judges.
	probe := &kubeofferv1alpha1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeoffer-policy-probe", Namespace: metav1.NamespaceDefault},
		Spec: kubeofferv1alpha1.TaskSpec{
			FrameworkName: "probe",
			Resources:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("1Mi")},
			Template:      corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "probe"}}}},
		},
	}
	probes := []struct {
		policy string
		try    func(ctx context.Context) error
		want   string
	}{
		{"kubeoffer-task-spec", func(ctx context.Context) error {
			changed := probe.DeepCopy()
			changed.Spec.FrameworkName = "other"
			return cp.Client.Update(ctx, changed, client.DryRunAll)
		}, "frameworkName is immutable"},
		{"kubeoffer-task-template", func(ctx context.Context) error {
			hostNetwork := probe.DeepCopy()
			hostNetwork.ResourceVersion = ""
			hostNetwork.Name += "-host-network"
			hostNetwork.Spec.Template.Spec.HostNetwork = true
			return cp.Client.Create(ctx, hostNetwork, client.DryRunAll)
		}, "hostNetwork is not allowed"},
	}
	defer func() { _ = cp.Client.Delete(context.Background(), probe) }()
	for _, p := range probes {
		err = wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			if probe.ResourceVersion == "" {
				_ = cp.Client.Create(ctx, probe) // the default namespace may not be there yet: again
				return false, nil
			}
			err := p.try(ctx)
			return err != nil && strings.Contains(err.Error(), p.want), nil
		})
		if err != nil {
			return fmt.Errorf("waiting for policy %s to take effect: %w", p.policy, err)
		}
	}
	return nil
}

// Stop shuts the control plane down. It is safe to call more than once.
func (cp *ControlPlane) Stop() error {
	if cp == nil || cp.env == nil {
		return nil
	}
	env := cp.env
	cp.env = nil
	if cp.KubeconfigPath != "" {
		_ = os.RemoveAll(filepath.Dir(cp.KubeconfigPath))
	}
	return env.Stop()
}

// Run starts a control plane into *cp, runs the package's tests and stops
// it; use it as TestMain's body.
func Run(m *testing.M, cp **ControlPlane) int {
	started, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		return 1
	}
	*cp = started
	code := m.Run()
	if err := started.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane: stopping:", err)
	}
	return code
}

// Namespace creates a namespace of its own for t, deleted when t ends.
func (cp *ControlPlane) Namespace(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: strings.Trim(name, "-") + "-"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cp.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cp.emptyNamespace(ctx, ns.Name); err != nil {
			t.Errorf("emptying namespace %s: %v", ns.Name, err)
		}
		if err := cp.Client.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// emptyNamespace removes the kubeoffer objects, Pods and Leases in ns. envtest
// has no namespace controller, so a deleted namespace keeps its objects
// forever; left behind, one test's frameworks would compete for the next
// test's offers. Finalizers are dropped: the master that would honour them
// has stopped by now. Idempotent.
func (cp *ControlPlane) emptyNamespace(ctx context.Context, ns string) error {
	var fws kubeofferv1alpha1.FrameworkList
	if err := cp.Client.List(ctx, &fws, client.InNamespace(ns)); err != nil {
		return err
	}
	var tasks kubeofferv1alpha1.TaskList
	if err := cp.Client.List(ctx, &tasks, client.InNamespace(ns)); err != nil {
		return err
	}
	var objs []client.Object
	for i := range fws.Items {
		objs = append(objs, &fws.Items[i])
	}
	for i := range tasks.Items {
		objs = append(objs, &tasks.Items[i])
	}
	for _, o := range objs {
		if len(o.GetFinalizers()) > 0 {
			patch := client.MergeFrom(o.DeepCopyObject().(client.Object))
			o.SetFinalizers(nil)
			if err := cp.Client.Patch(ctx, o, patch); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	for _, kind := range []client.Object{&kubeofferv1alpha1.Framework{}, &kubeofferv1alpha1.Task{}, &kubeofferv1alpha1.ResourceOffer{}, &coordinationv1.Lease{}} {
		if err := cp.Client.DeleteAllOf(ctx, kind, client.InNamespace(ns)); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	// No kubelet confirms a graceful Pod deletion here: delete at once.
	if err := cp.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func (cp *ControlPlane) writeKubeconfig() (string, error) {
	user, err := cp.env.ControlPlane.AddUser(envtest.User{Name: "kubeoffer-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("adding kubeconfig user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("rendering kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "kubeoffer-envtest-")
	if err != nil {
		return "", fmt.Errorf("creating kubeconfig dir: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("writing kubeconfig: %w", err)
	}
	return path, nil
}
