package frameworks

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/sdk"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// recorder is a Scheduler that records what the driver delivers; the test
// decides what to do with offers through onOffer.
type recorder struct {
	mu         sync.Mutex
	registered []*kov1.Framework
	offers     []*kov1.ResourceOffer
	rescinded  []string
	updates    map[string][]kov1.TaskState
	onOffer    func(ctx context.Context, d *sdk.Driver, o *kov1.ResourceOffer)
}

func newRecorder() *recorder { return &recorder{updates: map[string][]kov1.TaskState{}} }

func (r *recorder) Registered(_ context.Context, _ *sdk.Driver, fw *kov1.Framework) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.registered = append(r.registered, fw)
}

func (r *recorder) ResourceOffers(ctx context.Context, d *sdk.Driver, offers []*kov1.ResourceOffer) {
	r.mu.Lock()
	r.offers = append(r.offers, offers...)
	on := r.onOffer
	r.mu.Unlock()
	for _, o := range offers {
		if on != nil {
			on(ctx, d, o)
		}
	}
}

func (r *recorder) OfferRescinded(_ context.Context, _ *sdk.Driver, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rescinded = append(r.rescinded, name)
}

func (r *recorder) StatusUpdate(_ context.Context, _ *sdk.Driver, t *kov1.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates[t.Name] = append(r.updates[t.Name], t.Status.State)
}

func (r *recorder) FrameworkUpdated(context.Context, *sdk.Driver, *kov1.Framework) {}

func (r *recorder) setOnOffer(f func(ctx context.Context, d *sdk.Driver, o *kov1.ResourceOffer)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onOffer = f
}

// saw reports whether task went through states, in order (others may come between).
func (r *recorder) saw(task string, states ...kov1.TaskState) (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.updates[task]
	i := 0
	for _, s := range got {
		if i < len(states) && s == states[i] {
			i++
		}
	}
	return i == len(states), fmt.Sprintf("%s saw %v", task, got)
}

func (r *recorder) offerCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.offers)
}

// TestSDK drives a framework through the SDK: subscribe, offers, accept
// (with the rest declined), task updates to Finished, kill, suppress and
// revive, rescind, and failover to a new driver that adopts the tasks.
func TestSDK(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	nodes := cluster(t, ns, b.Resources("cpu", "4", "memory", "4Gi"), "node")
	rec := newRecorder()
	var once sync.Once
	rec.setOnOffer(func(ctx context.Context, d *sdk.Driver, o *kov1.ResourceOffer) {
		once.Do(func() {
			budget := sdk.NewBudget(o)
			short, _ := budget.Take(sdk.Needs{Resources: sdk.Resources("cpu", "1", "memory", "1Gi")})
			long, _ := budget.Take(sdk.Needs{Resources: sdk.Resources("cpu", "1", "memory", "1Gi"), Ports: 1})
			t1 := b.MakeTask("short", "", "").Resources(short.Resources).Obj()
			t1.Spec.Template.Annotations = map[string]string{harness.AnnotationExit: "0", harness.AnnotationOutput: "42"}
			t2 := b.MakeTask("long", "", "").Resources(long.Resources).Ports(long.Ports...).Obj()
			if err := d.Accept(ctx, o, t1, t2); err != nil {
				t.Errorf("accept: %v", err)
			}
		})
	})
	cfg := sdk.Config{Namespace: ns, Name: "fw", HeartbeatInterval: time.Second,
		Spec: kov1.FrameworkSpec{RefuseDuration: &metav1.Duration{Duration: time.Second}}}
	d, err := sdk.New(cp.Config, cfg, rec)
	harness.Must(t, err)
	stop := runDriver(t, d)

	// Subscribed, connected, offered; the tasks run; the rest of the offer is
	// declined and offered again.
	harness.Eventually(t, "Registered", func() (bool, string) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.registered) == 1, "not yet"
	})
	fw := &kov1.Framework{}
	harness.Eventually(t, "Connected", func() (bool, string) {
		harness.Must(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fw"}, fw))
		return meta.IsStatusConditionTrue(fw.Status.Conditions, kov1.FrameworkConnectedCondition), fmt.Sprint(fw.Status.Conditions)
	})
	harness.Eventually(t, "short to finish", func() (bool, string) {
		return rec.saw("short", kov1.TaskStaging, kov1.TaskStarting, kov1.TaskRunning, kov1.TaskFinished)
	})
	if tk := harness.WaitTask(t, cp.Client, ns, "short", kov1.TaskFinished); tk.Status.Message != "42" {
		t.Errorf("short's result %q, want 42 (its termination message)", tk.Status.Message)
	}
	harness.Eventually(t, "long to run", func() (bool, string) { return rec.saw("long", kov1.TaskStaging, kov1.TaskRunning) })
	if tk := harness.WaitTask(t, cp.Client, ns, "long", kov1.TaskRunning); len(tk.Spec.Ports) != 1 || tk.Spec.Ports[0].Begin != 31000 {
		t.Errorf("long's ports %v, want 31000 from the budget", tk.Spec.Ports)
	}
	first := rec.offers[0].Name
	harness.Eventually(t, "the accepted offer's rest to be declined and offered again", func() (bool, string) {
		return len(harness.Offers(t, cp.Client, ns, "fw")) == 1 && harness.Offers(t, cp.Client, ns, "fw")[0].Name != first,
			harness.DescribeOffers(harness.Offers(t, cp.Client, ns, "fw"))
	})

	// Kill: Killing, then Killed.
	harness.Must(t, d.Kill(ctx, "long"))
	harness.Eventually(t, "long to be killed", func() (bool, string) { return rec.saw("long", kov1.TaskKilling, kov1.TaskKilled) })

	// Suppress: the master says so; revive: offers come again.
	harness.Must(t, d.Suppress(ctx))
	harness.Eventually(t, "Suppressed", func() (bool, string) {
		harness.Must(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(fw), fw))
		return meta.IsStatusConditionTrue(fw.Status.Conditions, kov1.FrameworkSuppressedCondition), "not yet"
	})
	for _, o := range harness.Offers(t, cp.Client, ns, "fw") {
		harness.Must(t, d.Decline(ctx, o.Name, nil))
	}
	seen := rec.offerCount()
	harness.Must(t, d.Revive(ctx))
	harness.Eventually(t, "an offer after revive", func() (bool, string) { return rec.offerCount() > seen, "none" })

	// Rescind: the agent goes into maintenance; its offer is withdrawn.
	harness.Must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		a := &kov1.Agent{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: nodes[0]}, a); err != nil {
			return err
		}
		a.Spec.Maintenance = kov1.AgentMaintenanceDrain
		return cp.Client.Update(ctx, a)
	}))
	harness.Eventually(t, "OfferRescinded", func() (bool, string) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.rescinded) > 0, "no rescind"
	})

	// Failover: a new driver for the same framework adopts it and hears
	// about its tasks; Reconcile lists them.
	stop()
	again := newRecorder()
	d2, err := sdk.New(cp.Config, cfg, again)
	harness.Must(t, err)
	runDriver(t, d2)
	harness.Eventually(t, "the new driver to adopt the framework", func() (bool, string) {
		again.mu.Lock()
		defer again.mu.Unlock()
		return len(again.registered) == 1 && again.registered[0].UID == fw.UID, "not yet"
	})
	harness.Eventually(t, "the adopted task's state", func() (bool, string) { return again.saw("short", kov1.TaskFinished) })
	tasks, err := d2.Reconcile(ctx)
	harness.Must(t, err)
	var names []string
	for _, tk := range tasks {
		names = append(names, tk.Name+"="+string(tk.Status.State))
	}
	if got := strings.Join(names, ","); got != "short=Finished" {
		t.Errorf("Reconcile = %s, want short=Finished (long was killed and deleted)", got)
	}
}

// TestSDKFailoverKeepsPendingAccepts: a restarted scheduler (Mesos's
// framework failover) is offered what is left of an offer after the tasks
// its previous run accepted on it, even before the master has bound them —
// it may be busy, or failing over itself. Otherwise the scheduler would pack
// the same resources again and the master would drop the extra tasks
// (InsufficientResources). No master runs here, so nothing is bound. Found
// by the chaos run.
func TestSDKFailoverKeepsPendingAccepts(t *testing.T) {
	ctx := context.Background()
	ns := cp.Namespace(t)
	// What the previous run left: an offer of 2 cpu and two ports, and a
	// task it created on it, not bound yet.
	o := b.MakeOffer("o1", ns, "fw", ns+"-node").Resources(b.Resources("cpu", "2", "memory", "2Gi")).
		Ports(kov1.PortRange{Begin: 31000, End: 31001}).Obj()
	o.Labels = map[string]string{kov1.LabelFramework: "fw"}
	harness.Must(t, cp.Client.Create(ctx, o))
	harness.Must(t, cp.Client.Create(ctx, b.MakeTask("before", ns, "fw").Offer("o1").Resources(b.Resources("cpu", "1500m", "memory", "1Gi")).
		Ports(kov1.PortRange{Begin: 31000, End: 31000}).Obj()))

	rec := newRecorder()
	got := make(chan *kov1.ResourceOffer, 1)
	rec.setOnOffer(func(_ context.Context, _ *sdk.Driver, o *kov1.ResourceOffer) {
		select {
		case got <- o.DeepCopy():
		default:
		}
	})
	d, err := sdk.New(cp.Config, sdk.Config{Namespace: ns, Name: "fw", HeartbeatInterval: time.Second}, rec)
	harness.Must(t, err)
	runDriver(t, d)
	var offered *kov1.ResourceOffer
	select {
	case offered = <-got:
	case <-time.After(45 * time.Second):
		t.Fatal("the restarted scheduler was not offered o1")
	}
	budget := sdk.NewBudget(offered)
	left := budget.Left()
	if cpu, mem := left.Cpu(), left.Memory(); cpu.String() != "500m" || mem.String() != "1Gi" {
		t.Errorf("budget left cpu %s, memory %s; want 500m and 1Gi (2 cpu, 2Gi minus the pending task's 1500m, 1Gi)", cpu, mem)
	}
	if g, ok := budget.Take(sdk.Needs{Ports: 1}); !ok || len(g.Ports) != 1 || g.Ports[0].Begin != 31001 {
		t.Errorf("port grant %v (%v), want 31001: 31000 went to the pending task", g.Ports, ok)
	}
}
