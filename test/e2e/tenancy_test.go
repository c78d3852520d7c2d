//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/sdk"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

// nodeNameKey is the user extra in which the API server names the node of
// a Pod-bound service account token.
const nodeNameKey = "authentication.kubernetes.io/node-name"

// tokenConfig is the cluster's address and CA with a bearer token instead
// of the admin's client certificate.
func tokenConfig(token string) *rest.Config {
	tc := rest.AnonymousClientConfig(cfg)
	tc.BearerToken = token
	return tc
}

func tokenClient(t *testing.T, tc *rest.Config) client.Client {
	t.Helper()
	cl, err := client.New(tc, client.Options{Scheme: controlplane.Scheme()})
	must(t, err)
	return cl
}

// refused fails the test unless err is a refusal (Forbidden, or Invalid
// from the CRD's own rules) whose message contains want.
func refused(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: allowed, want refused with %q", what, want)
	case !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err):
		t.Errorf("%s: %v is not a refusal", what, err)
	case !strings.Contains(err.Error(), want):
		t.Errorf("%s: refused with %v\nwant the message to contain %q", what, err, want)
	}
}

// TestTenantConfined: a framework scheduler running with its namespace's
// service account, bound to kubeoffer-framework as the examples do, runs
// on the SDK and declines an offer, but cannot name a Role closed to its
// namespace, write any status, or change an offer beyond declining it.
func TestTenantConfined(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := namespace(t, nil)
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "scheduler"}}, metav1.CreateOptions{})
	must(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "scheduler"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubeoffer-framework"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scheduler", Namespace: ns}}}, metav1.CreateOptions{})
	must(t, err)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "scheduler",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	must(t, err)
	tenantCfg := tokenConfig(tr.Status.Token)
	tenant := tokenClient(t, tenantCfg)

	// A Role closed to this namespace.
	closed := b.MakeRole("closed-" + ns).Namespaces(releaseNS).Obj()
	must(t, c.Create(ctx, closed))
	t.Cleanup(func() { _ = c.Delete(context.Background(), closed) })
	want := fmt.Sprintf("Role %s does not admit Frameworks from namespace %s: ask the cluster admin to add %s to spec.namespaces of Role %s", closed.Name, ns, ns, closed.Name)
	eventually(t, "the policy to see Role "+closed.Name, time.Minute, func() (bool, string) {
		err := tenant.Create(ctx, b.MakeFramework("probe", ns).Role(closed.Name).Obj(), client.DryRunAll)
		return apierrors.IsForbidden(err), fmt.Sprintf("%v", err)
	})
	refused(t, "a Framework naming a closed Role", tenant.Create(ctx, b.MakeFramework("closed", ns).Role(closed.Name).Obj()), want)

	// The scheduler itself, on the SDK with the tenant's token.
	offered := make(chan *kov1.ResourceOffer, 16)
	d, err := sdk.New(tenantCfg, sdk.Config{Namespace: ns, Name: "fw", HeartbeatInterval: time.Second}, sdk.Funcs{
		OnResourceOffers: func(_ context.Context, _ *sdk.Driver, offers []*kov1.ResourceOffer) {
			for _, o := range offers {
				select {
				case offered <- o:
				default:
				}
			}
		}})
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var o *kov1.ResourceOffer
	select {
	case o = <-offered:
	case <-time.After(time.Minute):
		t.Fatal("the tenant's scheduler got no offer within a minute")
	}

	fw := &kov1.Framework{}
	must(t, tenant.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fw"}, fw))
	fw.Status.DominantShare = "0.000"
	refused(t, "writing its Framework's status", tenant.Status().Update(ctx, fw), `cannot update resource "frameworks/status"`)

	fresh := func() *kov1.ResourceOffer {
		cur := &kov1.ResourceOffer{}
		must(t, tenant.Get(ctx, client.ObjectKeyFromObject(o), cur))
		return cur
	}
	grown := fresh()
	grown.Spec.Resources = sdk.Resources("cpu", "1000", "memory", "1Ti")
	refused(t, "growing an offer", tenant.Update(ctx, grown), "resources are immutable")
	relabelled := fresh()
	relabelled.Labels[kov1.LabelFramework] = "someone-else"
	refused(t, "relabelling an offer", tenant.Update(ctx, relabelled),
		"only the master may change the labels, annotations, finalizers and owner references of ResourceOffer "+o.Name)
	pinned := fresh()
	pinned.Finalizers = append(pinned.Finalizers, "tenant.example/keep")
	refused(t, "pinning an offer with a finalizer", tenant.Update(ctx, pinned), "only the master may change")
	status := fresh()
	status.Status.Remaining = sdk.Resources("cpu", "1000")
	refused(t, "writing an offer's status", tenant.Status().Update(ctx, status), `cannot update resource "resourceoffers/status"`)

	declined := fresh()
	declined.Spec.Decline = &kov1.OfferDecline{RefuseDuration: &metav1.Duration{Duration: time.Minute}}
	must(t, tenant.Update(ctx, declined))
	eventually(t, "the master to retire the declined offer", time.Minute, func() (bool, string) {
		err := tenant.Get(ctx, client.ObjectKeyFromObject(o), &kov1.ResourceOffer{})
		return apierrors.IsNotFound(err), fmt.Sprintf("%v", err)
	})
}

// TestNodeConfined: a token of agentd's service account bound to the
// agentd Pod names the Pod's node; with it, agentd's own node's Agent and
// Lease can be written, and another node's Agent, Lease, Task and Pods
// cannot.
func TestNodeConfined(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, nil)
	pods, err := cs.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agentd"})
	must(t, err)
	var pod *corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			pod = p
		}
	}
	if pod == nil {
		t.Fatalf("no running agentd Pod among %d", len(pods.Items))
	}
	mine, fake := pod.Spec.NodeName, "fake-"+ns
	tr, err := cs.CoreV1().ServiceAccounts(releaseNS).CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600),
			BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}}}, metav1.CreateOptions{})
	must(t, err)
	nodeCfg := tokenConfig(tr.Status.Token)
	node := tokenClient(t, nodeCfg)

	// The API server puts the Pod's node into the token's user extra.
	review, err := kubernetes.NewForConfigOrDie(nodeCfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	must(t, err)
	if got := review.Status.UserInfo.Extra[nodeNameKey]; len(got) != 1 || got[0] != mine {
		t.Fatalf("the Pod-bound token's %s = %v, want [%s] (user %+v)", nodeNameKey, got, mine, review.Status.UserInfo)
	}

	// Another (fake) node's objects, made by the admin.
	fakeAgent := b.MakeAgent(fake).Obj()
	must(t, c.Create(ctx, fakeAgent))
	t.Cleanup(func() { _ = c.Delete(context.Background(), fakeAgent) })
	fakeLease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: releaseNS, Name: fake},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(fake), LeaseDurationSeconds: ptr.To[int32](10)}}
	must(t, c.Create(ctx, fakeLease))
	t.Cleanup(func() { _ = c.Delete(context.Background(), fakeLease) })
	fakeTask := b.MakeTask("elsewhere", ns, "nobody").Obj()
	must(t, c.Create(ctx, fakeTask))
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(fakeTask), fakeTask); err != nil {
			return err
		}
		fakeTask.Status.AgentName, fakeTask.Status.NodeName = fake, fake
		return c.Status().Update(ctx, fakeTask)
	}))

	refusal := "agentd on node " + mine + " may write only the Agent, heartbeat Lease, Tasks and Pods of that node"
	agent := &kov1.Agent{}
	must(t, node.Get(ctx, client.ObjectKey{Name: fake}, agent))
	agent.Status.Allocatable = sdk.Resources("cpu", "1000")
	refused(t, "writing another Agent's status", node.Status().Update(ctx, agent), refusal+"; refused UPDATE of Agent "+fake)

	l := &coordinationv1.Lease{}
	must(t, node.Get(ctx, client.ObjectKeyFromObject(fakeLease), l))
	l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	refused(t, "renewing another node's Lease", node.Update(ctx, l), refusal+"; refused UPDATE of Lease "+releaseNS+"/"+fake)

	// Only the message changes: the master may already have ended the
	// task (its agent never heartbeats), and a change of state out of a
	// terminal one is refused by the schema before any policy judges it.
	tk := &kov1.Task{}
	must(t, c.Get(ctx, client.ObjectKeyFromObject(fakeTask), tk))
	tk.Status.Message = "running, says the wrong agent"
	refused(t, "reporting a task bound to another agent", node.Status().Update(ctx, tk), `refused UPDATE of Task `+ns+`/elsewhere, bound to agent "`+fake+`"`)

	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "elsewhere"}, Spec: corev1.PodSpec{NodeName: fake,
		Containers: []corev1.Container{{Name: "main", Image: "busybox:e2e"}}}}
	refused(t, "creating a Pod on another node", node.Create(ctx, p), `refused CREATE of Pod `+ns+`/elsewhere, on node "`+fake+`"`)

	// Its own node's objects it may write, as agentd does all along.
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		own := &coordinationv1.Lease{}
		if err := node.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: mine}, own); err != nil {
			return err
		}
		return node.Update(ctx, own)
	}))
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		own := &kov1.Agent{}
		if err := node.Get(ctx, client.ObjectKey{Name: mine}, own); err != nil {
			return err
		}
		return node.Status().Update(ctx, own)
	}))
}
