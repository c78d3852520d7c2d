package tenancy

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// offer creates an offer of node-a to framework fw in ns, as the master
// would, declined already if declined is set, owned by owner if given.
func offer(t *testing.T, ns, name string, declined bool, owner *kov1.Framework) *kov1.ResourceOffer {
	t.Helper()
	o := b.MakeOffer(name, ns, "fw", "node-a").Resources(b.Resources("cpu", "2", "memory", "1Gi")).
		Expires(time.Now().Add(time.Hour)).Obj()
	o.Labels = map[string]string{kov1.LabelFramework: "fw", kov1.LabelAgent: "node-a"}
	if declined {
		o.Spec.Decline = &kov1.OfferDecline{}
	}
	if owner != nil {
		o.OwnerReferences = []metav1.OwnerReference{{APIVersion: kov1.GroupVersion.String(), Kind: "Framework", Name: owner.Name, UID: owner.UID}}
	}
	harness.Must(t, cp.Client.Create(context.Background(), o))
	return o
}

// waitOfferPolicy waits until the offer policy refuses what it must, so
// that the acts below are judged by it rather than by a policy not loaded
// yet.
func waitOfferPolicy(t *testing.T, ns string) {
	t.Helper()
	o := offer(t, ns, "probe", false, nil)
	harness.Eventually(t, "the offer policy to refuse a label change", func() (bool, string) {
		o.Labels["probe"] = "x"
		err := cp.Client.Update(context.Background(), o, client.DryRunAll)
		return apierrors.IsForbidden(err), fmt.Sprintf("%v", err)
	})
}

// TestFrameworkServiceAccount: a framework scheduler's service account,
// bound to the kubeoffer-framework ClusterRole in its namespace, writes no
// status, changes an offer only by declining it (once) and may delete it;
// anyone but the master is held to the same on offers, and the master is
// not.
func TestFrameworkServiceAccount(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	tenant := frameworkScheduler(t, ns)
	waitOfferPolicy(t, ns)
	fw := b.MakeFramework("fw", ns).Obj()
	harness.Must(t, cp.Client.Create(ctx, fw))
	harness.Must(t, cp.Client.Create(ctx, b.MakeTask("task", ns, "fw").Obj()))

	// Acts on the offer each case gets, declined first if declined is set.
	offerActs := map[string]struct {
		as       func(t *testing.T) client.Client
		declined bool
		owned    bool
		act      func(c client.Client, o *kov1.ResourceOffer) error
		want     string
	}{
		"tenant declines": {as: func(*testing.T) client.Client { return tenant }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Spec.Decline = &kov1.OfferDecline{RefuseDuration: &metav1.Duration{Duration: time.Minute}}
			return c.Update(ctx, o)
		}},
		"tenant deletes": {as: func(*testing.T) client.Client { return tenant }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			return c.Delete(ctx, o)
		}},
		"tenant deletes a declined offer": {as: func(*testing.T) client.Client { return tenant }, declined: true, act: func(c client.Client, o *kov1.ResourceOffer) error {
			return c.Delete(ctx, o)
		}},
		"tenant declines again": {as: func(*testing.T) client.Client { return tenant }, declined: true, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Spec.Decline.RefuseDuration = &metav1.Duration{Duration: time.Hour}
			return c.Update(ctx, o)
		}, want: "decline can be set only once"},
		"tenant grows the offer": {as: func(*testing.T) client.Client { return tenant }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Spec.Resources = b.Resources("cpu", "64", "memory", "1Gi")
			return c.Update(ctx, o)
		}, want: "resources are immutable"},
		"tenant relabels": {as: func(*testing.T) client.Client { return tenant }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Labels[kov1.LabelFramework] = "someone-else"
			return c.Update(ctx, o)
		}, want: "only the master may change the labels, annotations, finalizers and owner references of ResourceOffer"},
		"tenant annotates": {as: func(*testing.T) client.Client { return tenant }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Annotations = map[string]string{"mine": "yes"}
			return c.Update(ctx, o)
		}, want: "only the master may change the labels, annotations, finalizers and owner references"},
		"tenant pins with a finalizer": {as: func(*testing.T) client.Client { return tenant }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Finalizers = append(o.Finalizers, "tenant.example/keep")
			return c.Update(ctx, o)
		}, want: "only the master may change the labels, annotations, finalizers and owner references"},
		"tenant writes the offer's status": {as: func(*testing.T) client.Client { return tenant }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Status.Remaining = b.Resources("cpu", "64")
			return c.Status().Update(ctx, o)
		}, want: `cannot update resource "resourceoffers/status"`},
		"an admin relabels": {as: func(*testing.T) client.Client { return cp.Client }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Labels[kov1.LabelFramework] = "someone-else"
			return c.Update(ctx, o)
		}, want: "only the master may change the labels"},
		"an admin writes the offer's status": {as: func(*testing.T) client.Client { return cp.Client }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Status.Remaining = b.Resources("cpu", "1")
			return c.Status().Update(ctx, o)
		}, want: "the status of ResourceOffer offer-"},
		"tenant adds an owner reference": {as: func(*testing.T) client.Client { return tenant }, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.OwnerReferences = []metav1.OwnerReference{{APIVersion: kov1.GroupVersion.String(), Kind: "Framework", Name: fw.Name, UID: fw.UID}}
			return c.Update(ctx, o)
		}, want: "only the master may change the labels, annotations, finalizers and owner references"},
		"the garbage collector orphans the offer": {as: func(*testing.T) client.Client { return cp.Client }, owned: true, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.OwnerReferences = nil
			return c.Update(ctx, o)
		}},
		"the master writes the offer's status": {as: master, act: func(c client.Client, o *kov1.ResourceOffer) error {
			o.Status.Remaining = b.Resources("cpu", "1")
			o.Status.AcceptedTasks = []string{"task"}
			return c.Status().Update(ctx, o)
		}},
		"the master deletes": {as: master, act: func(c client.Client, o *kov1.ResourceOffer) error {
			return c.Delete(ctx, o)
		}},
	}
	i := 0
	for name, tc := range offerActs {
		i++
		var owner *kov1.Framework
		if tc.owned {
			owner = fw
		}
		o := offer(t, ns, fmt.Sprintf("offer-%d", i), tc.declined, owner)
		t.Run(name, func(t *testing.T) {
			judge(t, tc.act(tc.as(t), o), tc.want)
		})
	}

	// The tenant writes no status at all (RBAC).
	statusActs := map[string]struct {
		obj  client.Object
		edit func(client.Object)
		want string
	}{
		"framework": {obj: &kov1.Framework{}, edit: func(o client.Object) { o.(*kov1.Framework).Status.DominantShare = "0.000" },
			want: `cannot update resource "frameworks/status"`},
		"task": {obj: &kov1.Task{}, edit: func(o client.Object) { o.(*kov1.Task).Status.State = kov1.TaskFinished },
			want: `cannot update resource "tasks/status"`},
	}
	for name, tc := range statusActs {
		t.Run("tenant writes the status of its "+name, func(t *testing.T) {
			key := client.ObjectKey{Namespace: ns, Name: name}
			if name == "framework" {
				key.Name = "fw"
			}
			harness.Must(t, tenant.Get(ctx, key, tc.obj))
			tc.edit(tc.obj)
			judge(t, tenant.Status().Update(ctx, tc.obj), tc.want)
		})
	}
}
