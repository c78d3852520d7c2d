// Package sdk is the Go SDK for kubeoffer framework schedulers — what
// mesos-go's scheduler API is to Mesos.
//
// A framework implements Scheduler (or fills in Funcs) and runs a Driver:
//
//	d, _ := sdk.New(restConfig, sdk.Config{Namespace: "team-a", Name: "batch",
//		Spec: kov1.FrameworkSpec{Role: "analytics"}}, sdk.Funcs{
//		OnResourceOffers: func(ctx context.Context, d *sdk.Driver, offers []*kov1.ResourceOffer) {
//			for _, o := range offers {
//				b := sdk.NewBudget(o)
//				g, ok := b.Take(sdk.Needs{Resources: sdk.Resources("cpu", "1", "memory", "256Mi")})
//				if !ok {
//					_ = d.Decline(ctx, o.Name, nil)
//					continue
//				}
//				_ = d.Accept(ctx, o, &kov1.Task{ /* name, g.Resources, g.Ports, a Pod template */ })
//			}
//		},
//		OnStatusUpdate: func(ctx context.Context, d *sdk.Driver, t *kov1.Task) {
//			log.Printf("%s is %s", t.Name, t.Status.State)
//		},
//	})
//	err := d.Run(ctx)
//
// Run subscribes: it creates the Framework object or, when the scheduler
// restarts, adopts the existing one with its tasks (Mesos's failover). It
// renews the framework's heartbeat Lease, on which the master's Connected
// condition and failover timeout rest, and delivers events from informers
// restricted to the framework's own objects — offers by label, tasks by the
// spec.frameworkName field — one at a time, in order, never by polling.
//
// The calls are Mesos's: Accept (create Tasks naming the offer; the rest of
// the offer is declined with the framework's refuse duration once the
// master has bound them), Decline, Suppress, Revive, Kill and Reconcile.
// Budget does the fitting of tasks into an offer (resources, ports,
// attributes).
//
// examples/batch and examples/service are complete frameworks built on it.
package sdk
