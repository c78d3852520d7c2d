package tenancy

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubeoffer/kubeoffer/test/harness"
)

// nodeNameKey is the user extra in which the API server names the node of
// a Pod-bound service account token.
const nodeNameKey = "authentication.kubernetes.io/node-name"

// serviceAccount returns a client that acts as the service account
// ns/name, as a token of that account would authenticate (its groups, and
// extra such as the node name of a Pod-bound token).
func serviceAccount(t *testing.T, ns, name string, extra map[string][]string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":" + name,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		Extra:    extra,
	}
	c, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	harness.Must(t, err)
	return c
}

// frameworkScheduler binds the kubeoffer-framework ClusterRole to the
// service account "scheduler" in ns, as examples/*/deploy.yaml does, and
// returns a client acting as it.
func frameworkScheduler(t *testing.T, ns string) client.Client {
	t.Helper()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "scheduler", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubeoffer-framework"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scheduler", Namespace: ns}},
	}
	harness.Must(t, cp.Client.Create(context.Background(), rb))
	return serviceAccount(t, ns, "scheduler", nil)
}

// master returns a client acting as the master's service account.
func master(t *testing.T) client.Client {
	return serviceAccount(t, releaseNS, "kubeoffer-master", nil)
}

// agentd returns a client acting as agentd's service account with a token
// bound to a Pod on node (no node name if node is empty).
func agentd(t *testing.T, node string) client.Client {
	var extra map[string][]string
	if node != "" {
		extra = map[string][]string{nodeNameKey: {node}}
	}
	return serviceAccount(t, releaseNS, "kubeoffer-agentd", extra)
}

// judge checks err against want: nil when want is empty, otherwise a
// refusal (Forbidden or Invalid) whose message contains want.
func judge(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused, want allowed: %v", err)
	case want == "":
	case err == nil:
		t.Fatalf("allowed, want refused with %q", want)
	case !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err):
		t.Fatalf("error %v is not a refusal (Forbidden or Invalid)", err)
	case !strings.Contains(err.Error(), want):
		t.Fatalf("refused with %v\nwant the message to contain %q", err, want)
	}
}
