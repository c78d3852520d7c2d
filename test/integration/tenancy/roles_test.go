package tenancy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// labelNamespace sets labels on a test's namespace.
func labelNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{}
	harness.Must(t, cp.Client.Get(context.Background(), client.ObjectKey{Name: name}, ns))
	patch := client.MergeFrom(ns.DeepCopy())
	ns.Labels = labels
	harness.Must(t, cp.Client.Patch(context.Background(), ns, patch))
}

// createRoles creates roles (removed when the test ends) and waits until
// the policy sees them: it creates one more Role, closed to every
// namespace, last, and waits until that one refuses a Framework; the
// policy's informer delivers Roles in order, so it has the others too.
func createRoles(t *testing.T, ns string, roles ...*kov1.Role) {
	t.Helper()
	ctx := context.Background()
	sentinel := b.MakeRole("sentinel-" + ns).Namespaces("no-such-namespace").Obj()
	for _, r := range append(roles, sentinel) {
		harness.Must(t, cp.Client.Create(ctx, r))
		t.Cleanup(func() { _ = cp.Client.Delete(context.Background(), r) })
	}
	harness.Eventually(t, "the policy to see Role "+sentinel.Name, func() (bool, string) {
		err := cp.Client.Create(ctx, b.MakeFramework("probe", ns).Role(sentinel.Name).Obj(), client.DryRunAll)
		return apierrors.IsForbidden(err), fmt.Sprintf("creating a Framework with role %s: %v", sentinel.Name, err)
	})
}

// TestRoleNamespaces: a Framework naming a Role is refused, with a message
// that says which Role and how to fix it, when its namespace is neither in
// the Role's spec.namespaces nor selected by its spec.namespaceSelector; a
// Role with neither, the default role and a role without a Role object
// admit every namespace.
func TestRoleNamespaces(t *testing.T) {
	gold, bronze, plain := cp.Namespace(t), cp.Namespace(t), cp.Namespace(t)
	labelNamespace(t, gold, map[string]string{"team": "a", "tier": "gold"})
	labelNamespace(t, bronze, map[string]string{"tier": "bronze", "frozen": "yes"})
	s := strings.TrimPrefix(gold, "testrolenamespaces-")
	role := func(name string) *b.RoleWrapper { return b.MakeRole(name + "-" + s) }
	createRoles(t, gold,
		role("open").Obj(),
		role("listed").Namespaces(gold).Obj(),
		role("labels").MatchLabels("team", "a").Obj(),
		role("in").MatchExpression("tier", kov1.RoleNamespaceIn, "gold", "silver").Obj(),
		role("notin").MatchExpression("tier", kov1.RoleNamespaceNotIn, "gold").Obj(),
		role("exists").MatchExpression("frozen", kov1.RoleNamespaceExists).Obj(),
		role("doesnotexist").MatchExpression("frozen", kov1.RoleNamespaceDoesNotExist).Obj(),
		role("anded").MatchLabels("tier", "gold").MatchExpression("team", kov1.RoleNamespaceIn, "b").Obj(),
		role("everyone").AnyNamespace().Obj(),
		role("either").Namespaces(plain).MatchLabels("frozen", "yes").Obj(),
	)
	// Which of the three namespaces each role admits.
	cases := map[string]struct {
		role  string
		admit map[string]bool
	}{
		"default role":                {role: kov1.DefaultRole, admit: map[string]bool{gold: true, bronze: true, plain: true}},
		"role without a Role object":  {role: "nobody-made-" + s, admit: map[string]bool{gold: true, bronze: true, plain: true}},
		"Role with no namespaces":     {role: "open-" + s, admit: map[string]bool{gold: true, bronze: true, plain: true}},
		"listed namespace":            {role: "listed-" + s, admit: map[string]bool{gold: true}},
		"matchLabels":                 {role: "labels-" + s, admit: map[string]bool{gold: true}},
		"In":                          {role: "in-" + s, admit: map[string]bool{gold: true}},
		"NotIn, or no such label":     {role: "notin-" + s, admit: map[string]bool{bronze: true, plain: true}},
		"Exists":                      {role: "exists-" + s, admit: map[string]bool{bronze: true}},
		"DoesNotExist":                {role: "doesnotexist-" + s, admit: map[string]bool{gold: true, plain: true}},
		"matchLabels and expressions": {role: "anded-" + s},
		"empty selector":              {role: "everyone-" + s, admit: map[string]bool{gold: true, bronze: true, plain: true}},
		"listed or selected (either)": {role: "either-" + s, admit: map[string]bool{bronze: true, plain: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, ns := range []string{gold, bronze, plain} {
				err := cp.Client.Create(context.Background(), b.MakeFramework("fw", ns).Role(tc.role).Obj(), client.DryRunAll)
				want := ""
				if !tc.admit[ns] {
					want = fmt.Sprintf("Role %s does not admit Frameworks from namespace %s: ask the cluster admin to add %s to spec.namespaces of Role %s",
						tc.role, ns, ns, tc.role)
				}
				judge(t, err, want)
			}
		})
	}
}

// TestRoleNarrowed: narrowing a Role's namespaces refuses new Frameworks
// from the namespaces it no longer admits, and leaves the Frameworks it
// admitted before alone: they keep their role and can still be updated.
func TestRoleNarrowed(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	name := "narrowed-" + strings.TrimPrefix(ns, "testrolenarrowed-")
	createRoles(t, ns, b.MakeRole(name).Obj())
	fw := b.MakeFramework("before", ns).Role(name).Obj()
	harness.Must(t, cp.Client.Create(ctx, fw))

	r := &kov1.Role{}
	harness.Must(t, cp.Client.Get(ctx, client.ObjectKey{Name: name}, r))
	r.Spec.Namespaces = []string{"elsewhere"}
	harness.Must(t, cp.Client.Update(ctx, r))
	harness.Eventually(t, "new Frameworks refused", func() (bool, string) {
		err := cp.Client.Create(ctx, b.MakeFramework("after", ns).Role(name).Obj(), client.DryRunAll)
		return apierrors.IsForbidden(err), fmt.Sprintf("%v", err)
	})

	harness.Must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(fw), fw))
	fw.Spec.Offers = kov1.OfferModeSuppressed
	if err := cp.Client.Update(ctx, fw); err != nil {
		t.Fatalf("updating a Framework admitted before its Role was narrowed: %v", err)
	}
}

// TestDefaultRoleClosable: a Role named default restricts the default
// role like any other (Mesos's ACLs cover its default role too); without
// it the default role is open.
func TestDefaultRoleClosable(t *testing.T) {
	ctx := context.Background()
	ns, other := cp.Namespace(t), cp.Namespace(t)
	def := b.MakeRole(kov1.DefaultRole).Namespaces(ns).Obj()
	harness.Must(t, cp.Client.Create(ctx, def))
	t.Cleanup(func() {
		_ = cp.Client.Delete(context.Background(), def)
		// Leave the default role open for the tests that follow.
		harness.Eventually(t, "the default role open again", func() (bool, string) {
			err := cp.Client.Create(context.Background(), b.MakeFramework("fw", other).Obj(), client.DryRunAll)
			return err == nil, fmt.Sprintf("%v", err)
		})
	})
	harness.Eventually(t, "a Framework with the default role refused in "+other, func() (bool, string) {
		err := cp.Client.Create(ctx, b.MakeFramework("fw", other).Obj(), client.DryRunAll)
		return apierrors.IsForbidden(err), fmt.Sprintf("%v", err)
	})
	judge(t, cp.Client.Create(ctx, b.MakeFramework("fw", other).Obj(), client.DryRunAll),
		"Role default does not admit Frameworks from namespace "+other)
	judge(t, cp.Client.Create(ctx, b.MakeFramework("fw", ns).Obj(), client.DryRunAll), "")
}
