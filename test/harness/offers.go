package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Offers lists the live offers to framework fw in ns.
func Offers(t testing.TB, c client.Client, ns, fw string) []kov1.ResourceOffer {
	t.Helper()
	var l kov1.ResourceOfferList
	Must(t, c.List(context.Background(), &l, client.InNamespace(ns)))
	var out []kov1.ResourceOffer
	for _, o := range l.Items {
		if o.Spec.FrameworkName == fw && o.DeletionTimestamp == nil {
			out = append(out, o)
		}
	}
	return out
}

// WaitOffer waits for an offer to fw matching ok (any, if nil).
func WaitOffer(t testing.TB, c client.Client, ns, fw string, ok func(kov1.ResourceOffer) bool) kov1.ResourceOffer {
	t.Helper()
	var got kov1.ResourceOffer
	Eventually(t, "an offer to "+fw, func() (bool, string) {
		os := Offers(t, c, ns, fw)
		for _, o := range os {
			if ok == nil || ok(o) {
				got = o
				return true, ""
			}
		}
		return false, DescribeOffers(os)
	})
	return got
}

// DescribeOffers prints offers for failure messages.
func DescribeOffers(os []kov1.ResourceOffer) string {
	var parts []string
	for _, o := range os {
		cpu, mem := o.Spec.Resources[corev1.ResourceCPU], o.Spec.Resources[corev1.ResourceMemory]
		parts = append(parts, fmt.Sprintf("%s(%s cpu %s mem %s)", o.Name, o.Spec.AgentName, cpu.String(), mem.String()))
	}
	return "offers: [" + strings.Join(parts, ", ") + "]"
}

// Decline declines an offer for refuse, as a framework does: setting
// spec.decline, retrying when the master wrote the offer's status meanwhile.
// It returns when the decline was written; an offer already gone (rescinded)
// needs no decline.
func Decline(t testing.TB, c client.Client, o kov1.ResourceOffer, refuse time.Duration) time.Time {
	t.Helper()
	at := time.Now()
	Must(t, client.IgnoreNotFound(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &kov1.ResourceOffer{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(&o), cur); err != nil {
			return err
		}
		cur.Spec.Decline = &kov1.OfferDecline{RefuseDuration: &metav1.Duration{Duration: refuse}}
		return c.Update(context.Background(), cur)
	})))
	return at
}
