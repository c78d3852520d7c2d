package sdk

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// Scheduler is what a framework implements (mesos-go's Scheduler). The
// Driver calls it from one goroutine, one event at a time, in the order the
// events happened; a method may call the Driver.
type Scheduler interface {
	// Registered is called once Run has subscribed: with a new framework, or
	// an existing one this process takes over (failover).
	Registered(ctx context.Context, d *Driver, fw *kov1.Framework)
	// ResourceOffers delivers new offers. Answer each: Accept it with tasks,
	// or Decline it; an offer left unanswered is rescinded at its expiry.
	// An offer this framework's tasks have accepted already (a scheduler
	// restarted after it accepted, before the master bound the tasks)
	// comes with those tasks counted in status.remaining and
	// status.acceptedTasks, so NewBudget gives only what is left.
	ResourceOffers(ctx context.Context, d *Driver, offers []*kov1.ResourceOffer)
	// OfferRescinded says the master withdrew an offer (expiry, agent lost,
	// quota); tasks created on it after this are dropped.
	OfferRescinded(ctx context.Context, d *Driver, offerName string)
	// StatusUpdate delivers every change of a task's state (and each task's
	// current state when Run starts).
	StatusUpdate(ctx context.Context, d *Driver, task *kov1.Task)
	// FrameworkUpdated delivers changes to the Framework object (its spec,
	// annotations, or the master's conditions).
	FrameworkUpdated(ctx context.Context, d *Driver, fw *kov1.Framework)
}

// Funcs implements Scheduler with optional functions; nil ones do nothing.
type Funcs struct {
	OnRegistered       func(ctx context.Context, d *Driver, fw *kov1.Framework)
	OnResourceOffers   func(ctx context.Context, d *Driver, offers []*kov1.ResourceOffer)
	OnOfferRescinded   func(ctx context.Context, d *Driver, offerName string)
	OnStatusUpdate     func(ctx context.Context, d *Driver, task *kov1.Task)
	OnFrameworkUpdated func(ctx context.Context, d *Driver, fw *kov1.Framework)
}

var _ Scheduler = Funcs{}

func (f Funcs) Registered(ctx context.Context, d *Driver, fw *kov1.Framework) {
	if f.OnRegistered != nil {
		f.OnRegistered(ctx, d, fw)
	}
}

func (f Funcs) ResourceOffers(ctx context.Context, d *Driver, offers []*kov1.ResourceOffer) {
	if f.OnResourceOffers != nil {
		f.OnResourceOffers(ctx, d, offers)
	}
}

func (f Funcs) OfferRescinded(ctx context.Context, d *Driver, name string) {
	if f.OnOfferRescinded != nil {
		f.OnOfferRescinded(ctx, d, name)
	}
}

func (f Funcs) StatusUpdate(ctx context.Context, d *Driver, t *kov1.Task) {
	if f.OnStatusUpdate != nil {
		f.OnStatusUpdate(ctx, d, t)
	}
}

func (f Funcs) FrameworkUpdated(ctx context.Context, d *Driver, fw *kov1.Framework) {
	if f.OnFrameworkUpdated != nil {
		f.OnFrameworkUpdated(ctx, d, fw)
	}
}

type eventKind int

const (
	evRegistered eventKind = iota
	evOffer
	evRescind
	evTask
	evFramework
	evCheckAccept
)

type event struct {
	kind      eventKind
	offer     *kov1.ResourceOffer
	task      *kov1.Task
	framework *kov1.Framework
	name      string
}

// push queues an event for the loop; it never blocks an informer.
func (d *Driver) push(e event) {
	d.mu.Lock()
	d.queue = append(d.queue, e)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// loop delivers queued events until ctx ends. Consecutive new offers are
// delivered in one ResourceOffers call.
func (d *Driver) loop(ctx context.Context) {
	states := map[string]kov1.TaskState{} // last state delivered, per task
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		}
		d.mu.Lock()
		batch := d.queue
		d.queue = nil
		d.mu.Unlock()
		for i := 0; i < len(batch); i++ {
			if ctx.Err() != nil {
				return
			}
			e := batch[i]
			switch e.kind {
			case evRegistered:
				d.sched.Registered(ctx, d, e.framework)
			case evOffer:
				offers := []*kov1.ResourceOffer{e.offer}
				for i+1 < len(batch) && batch[i+1].kind == evOffer {
					i++
					offers = append(offers, batch[i].offer)
				}
				d.countPendingAccepts(ctx, offers)
				d.sched.ResourceOffers(ctx, d, offers)
			case evRescind:
				d.mu.Lock()
				ours := d.gone[e.name]
				delete(d.gone, e.name)
				delete(d.accepts, e.name)
				d.mu.Unlock()
				if !ours {
					d.sched.OfferRescinded(ctx, d, e.name)
				}
			case evTask:
				d.settleAccepts(ctx, e.task)
				if s := e.task.Status.State; s != "" && s != states[e.task.Name] {
					states[e.task.Name] = s
					d.sched.StatusUpdate(ctx, d, e.task)
				}
			case evFramework:
				d.sched.FrameworkUpdated(ctx, d, e.framework)
			case evCheckAccept:
				d.settleAccepts(ctx, nil)
			}
		}
	}
}

// settleAccepts declines the rest of every accepted offer whose tasks the
// master has all bound or dropped. t is the task that just changed; with
// nil, the tasks are looked up in the informer cache (their updates may
// have been delivered before Accept registered them).
func (d *Driver) settleAccepts(ctx context.Context, t *kov1.Task) {
	d.mu.Lock()
	var done []string
	for offer, names := range d.accepts {
		for name := range names {
			switch {
			case t != nil:
				if t.Name == name && t.Spec.OfferName == offer && taskstatus.IsSettled(t) {
					delete(names, name)
				}
			default:
				cached := &kov1.Task{}
				if d.cache.Get(ctx, types.NamespacedName{Namespace: d.cfg.Namespace, Name: name}, cached) == nil && taskstatus.IsSettled(cached) {
					delete(names, name)
				}
			}
		}
		if len(names) == 0 {
			done = append(done, offer)
		}
	}
	d.mu.Unlock()
	for _, offer := range done {
		if err := d.Decline(ctx, offer, nil); err != nil {
			d.log.Error(err, "Failed to decline the rest of an accepted offer", "offer", offer)
		}
	}
}

// countPendingAccepts folds into each offer's status the framework's own
// tasks that name it and that the master has not bound yet. The master
// records what bound tasks took (status.remaining); a task it has not
// admitted yet — it is busy, or failing over — is only in the framework's
// task list. A scheduler restarted in that window would otherwise be
// offered again what its previous run took, and the master would drop the
// tasks that do not fit.
func (d *Driver) countPendingAccepts(ctx context.Context, offers []*kov1.ResourceOffer) {
	var tasks kov1.TaskList
	if err := d.cache.List(ctx, &tasks, client.InNamespace(d.cfg.Namespace)); err != nil {
		return
	}
	pending := map[string][]*kov1.Task{}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if t.Spec.OfferName != "" && t.DeletionTimestamp == nil && (t.Status.State == "" || t.Status.State == kov1.TaskPending) {
			pending[t.Spec.OfferName] = append(pending[t.Spec.OfferName], t)
		}
	}
	for _, o := range offers {
		ts := pending[o.Name]
		if len(ts) == 0 {
			continue
		}
		left, ports := o.Spec.Resources, o.Spec.Ports
		if o.Status.Remaining != nil || len(o.Status.AcceptedTasks) > 0 {
			left, ports = o.Status.Remaining, o.Status.RemainingPorts
		}
		left = left.DeepCopy()
		if left == nil {
			left = corev1.ResourceList{}
		}
		free := resources.NewPortSet(ports...)
		for _, t := range ts {
			for name, q := range t.Spec.Resources {
				if have, ok := left[name]; ok {
					have.Sub(q)
					if have.Sign() < 0 {
						have = resource.Quantity{}
					}
					left[name] = have
				}
			}
			free = free.Subtract(resources.NewPortSet(t.Spec.Ports...))
			o.Status.AcceptedTasks = append(o.Status.AcceptedTasks, t.Name)
		}
		o.Status.Remaining, o.Status.RemainingPorts = left, []kov1.PortRange(free)
	}
}
