package sdk_test

import (
	"context"
	"fmt"
	"log"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/sdk"
)

// A framework that runs one "hello" task per offer until it has run three,
// then suppresses offers. Run it against a cluster with kubeoffer installed.
func Example() {
	launched := 0
	hello := sdk.Funcs{
		OnResourceOffers: func(ctx context.Context, d *sdk.Driver, offers []*kov1.ResourceOffer) {
			for _, o := range offers {
				g, ok := sdk.NewBudget(o).Take(sdk.Needs{Resources: sdk.Resources("cpu", "100m", "memory", "64Mi")})
				if !ok || launched == 3 {
					_ = d.Decline(ctx, o.Name, nil)
					continue
				}
				launched++
				task := &kov1.Task{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("hello-%d", launched)},
					Spec: kov1.TaskSpec{Resources: g.Resources, Ports: g.Ports, Template: corev1.PodTemplateSpec{
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox:stable",
							Command: []string{"echo", "hello from kubeoffer"}}}},
					}},
				}
				if err := d.Accept(ctx, o, task); err != nil {
					log.Print(err)
				}
			}
			if launched == 3 {
				_ = d.Suppress(ctx)
			}
		},
		OnStatusUpdate: func(ctx context.Context, d *sdk.Driver, t *kov1.Task) {
			log.Printf("task %s: %s %s", t.Name, t.Status.State, t.Status.Message)
		},
	}
	d, err := sdk.New(ctrl.GetConfigOrDie(), sdk.Config{Namespace: "default", Name: "hello"}, hello)
	if err != nil {
		log.Fatal(err)
	}
	if err := d.Run(ctrl.SetupSignalHandler()); err != nil {
		log.Fatal(err)
	}
}
