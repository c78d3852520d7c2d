// Package tenancy tests, on a real kube-apiserver, the ValidatingAdmission
// Policies of config/policy together with the RBAC of config/rbac: a
// Framework may name a Role only from a namespace the Role admits; a
// framework scheduler's service account writes no status and changes an
// offer only by declining it; agentd's service account writes only its own
// node's objects. Users are impersonated (with the node name a Pod-bound
// token carries), so RBAC and the policies judge them as they would judge
// the real thing.
package tenancy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

var cp *controlplane.ControlPlane

// releaseNS is the namespace config/ installs kubeoffer into.
const releaseNS = "kubeoffer-system"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if cp, err = controlplane.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		return 1
	}
	defer func() {
		if err := cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "controlplane: stopping:", err)
		}
	}()
	if err := install(); err != nil {
		fmt.Fprintln(os.Stderr, "tenancy: installing RBAC and policies:", err)
		return 1
	}
	return m.Run()
}

// install applies what `make deploy` would of RBAC and policies: the
// master's, agentd's and the framework's roles and bindings, and every
// policy in config/policy.
func install() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, f := range []string{
		"config/default/namespace.yaml",
		"config/rbac/service_account.yaml",
		"config/rbac/role.yaml",
		"config/rbac/role_binding.yaml",
		"config/rbac/framework_role.yaml",
		"config/rbac/agentd/service_account.yaml",
		"config/rbac/agentd/role.yaml",
		"config/rbac/agentd/role_binding.yaml",
		"config/policy/role_namespaces.yaml",
		"config/policy/offers.yaml",
		"config/policy/agentd_node.yaml",
	} {
		if err := apply(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// apply creates every object in a YAML file of config/, in releaseNS when
// the object is namespaced and names none (as kustomize would set it).
func apply(ctx context.Context, file string) error {
	data, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), file))
	if err != nil {
		return err
	}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		namespaced, err := cp.Client.IsObjectNamespaced(u)
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", file, u.GetKind(), u.GetName(), err)
		}
		if namespaced && u.GetNamespace() == "" {
			u.SetNamespace(releaseNS)
		}
		if err := cp.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: creating %s %s: %w", file, u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}
