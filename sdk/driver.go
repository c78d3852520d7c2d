package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/heartbeat"
)

// DefaultHeartbeatInterval is how often the driver renews the framework's
// heartbeat Lease; the Lease lasts three intervals, so the master sees the
// scheduler disconnected 15s after it stops.
const DefaultHeartbeatInterval = 5 * time.Second

// ErrTornDown is returned by Run when the Framework was torn down (its
// scheduler stayed away past the failover timeout, or it was deleted). A
// torn-down framework never comes back; subscribe under a new name.
var ErrTornDown = errors.New("the framework was torn down; subscribe under a new name")

// Config says which framework a Driver subscribes as.
type Config struct {
	// Namespace and Name of the Framework object. Its tasks and offers live
	// in the same namespace.
	Namespace, Name string
	// Spec is the Framework's spec if the driver creates it. An existing
	// Framework (a restarted scheduler: Mesos's failover) is adopted as it
	// is, with its tasks.
	Spec kov1.FrameworkSpec
	// Identity is written on the heartbeat Lease (default: the host name).
	Identity string
	// HeartbeatInterval defaults to DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// Clock is real time unless a test injects another.
	Clock clock.WithTicker
	// Logger defaults to a discarding logger.
	Logger logr.Logger
}

// Driver connects a Scheduler to kubeoffer: Run subscribes the framework,
// heartbeats, and delivers offers and task updates from informers; the
// other methods are the calls a scheduler makes (mesos-go's
// SchedulerDriver). All methods are safe for concurrent use.
type Driver struct {
	cfg    Config
	client client.Client
	cache  cache.Cache
	sched  Scheduler
	log    logr.Logger

	mu      sync.Mutex
	queue   []event
	wake    chan struct{}
	running bool
	// accepts are the tasks, per offer, that were created by Accept and the
	// master has not bound (or dropped) yet; the offer's remainder is
	// declined once there are none.
	accepts map[string]map[string]bool
	// gone are offers this driver answered (declined); their deletion is
	// not a rescind.
	gone map[string]bool
}

// New returns a Driver for cfg that calls sched. It does not contact the API
// server; Run does.
func New(restConfig *rest.Config, cfg Config, sched Scheduler) (*Driver, error) {
	if cfg.Namespace == "" || cfg.Name == "" {
		return nil, errors.New("sdk: Config.Namespace and Config.Name are required")
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Identity == "" {
		cfg.Identity, _ = os.Hostname()
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = logr.Discard()
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := kov1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("sdk: creating client: %w", err)
	}
	// The informers hold only this framework's objects.
	ca, err := cache.New(restConfig, cache.Options{
		Scheme:            scheme,
		DefaultNamespaces: map[string]cache.Config{cfg.Namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&kov1.Framework{}:     {Field: fields.OneTermEqualSelector("metadata.name", cfg.Name)},
			&kov1.ResourceOffer{}: {Label: labels.SelectorFromSet(labels.Set{kov1.LabelFramework: kov1.LabelValue(cfg.Name)})},
			&kov1.Task{}:          {Field: fields.OneTermEqualSelector("spec.frameworkName", cfg.Name)},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sdk: creating cache: %w", err)
	}
	return &Driver{cfg: cfg, client: c, cache: ca, sched: sched, log: cfg.Logger.WithValues("framework", cfg.Namespace+"/"+cfg.Name),
		wake: make(chan struct{}, 1), accepts: map[string]map[string]bool{}, gone: map[string]bool{}}, nil
}

// Run subscribes the framework (creating or adopting it), renews its
// heartbeat Lease, and delivers events to the Scheduler one at a time, in
// order, until ctx ends. It returns ErrTornDown if the framework was torn
// down, and nil when ctx ends.
func (d *Driver) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return errors.New("sdk: Run called twice")
	}
	d.running = true
	d.mu.Unlock()

	fw, err := d.subscribe(ctx)
	if err != nil {
		return err
	}
	if err := d.renew(ctx); err != nil {
		return err
	}
	d.push(event{kind: evRegistered, framework: fw})
	if err := d.watch(ctx); err != nil {
		return err
	}
	cacheErr := make(chan error, 1)
	go func() { cacheErr <- d.cache.Start(ctx) }()
	if !d.cache.WaitForCacheSync(ctx) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("sdk: informer caches did not sync")
	}
	go d.heartbeat(ctx)
	d.loop(ctx)
	if err := <-cacheErr; err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// subscribe creates the Framework, or adopts an existing one.
func (d *Driver) subscribe(ctx context.Context) (*kov1.Framework, error) {
	fw := &kov1.Framework{}
	key := types.NamespacedName{Namespace: d.cfg.Namespace, Name: d.cfg.Name}
	err := d.client.Get(ctx, key, fw)
	switch {
	case apierrors.IsNotFound(err):
		fw = &kov1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Spec: *d.cfg.Spec.DeepCopy()}
		if err := d.client.Create(ctx, fw); err != nil {
			return nil, fmt.Errorf("sdk: creating framework %s: %w", key, err)
		}
		d.log.Info("Subscribed: created the framework")
	case err != nil:
		return nil, fmt.Errorf("sdk: reading framework %s: %w", key, err)
	default:
		if fw.DeletionTimestamp != nil || meta.IsStatusConditionTrue(fw.Status.Conditions, kov1.FrameworkTornDownCondition) {
			return nil, ErrTornDown
		}
		d.log.Info("Subscribed: adopted the framework (failover)")
	}
	return fw, nil
}

func (d *Driver) lease() heartbeat.Lease {
	return heartbeat.Lease{Key: types.NamespacedName{Namespace: d.cfg.Namespace, Name: kov1.HeartbeatLeaseName(d.cfg.Name)},
		Kind: kov1.HeartbeatFramework, Identity: d.cfg.Identity, Duration: 3 * d.cfg.HeartbeatInterval}
}

func (d *Driver) renew(ctx context.Context) error {
	return heartbeat.Renew(ctx, d.client, d.lease(), d.cfg.Clock.Now())
}

// heartbeat renews the Lease every interval until ctx ends.
func (d *Driver) heartbeat(ctx context.Context) {
	tick := d.cfg.Clock.NewTicker(d.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
			if err := d.renew(ctx); err != nil && ctx.Err() == nil {
				d.log.Error(err, "Failed to renew the heartbeat Lease; retrying")
			}
		}
	}
}

// watch turns informer notifications into events.
func (d *Driver) watch(ctx context.Context) error {
	offers, err := d.cache.GetInformer(ctx, &kov1.ResourceOffer{})
	if err != nil {
		return err
	}
	if _, err := offers.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(*kov1.ResourceOffer); ok && o.Spec.Decline == nil && o.DeletionTimestamp == nil {
				d.push(event{kind: evOffer, offer: o.DeepCopy()})
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if o, ok := obj.(*kov1.ResourceOffer); ok {
				d.push(event{kind: evRescind, name: o.Name})
			}
		},
	}); err != nil {
		return err
	}
	tasks, err := d.cache.GetInformer(ctx, &kov1.Task{})
	if err != nil {
		return err
	}
	onTask := func(obj any) {
		if t, ok := obj.(*kov1.Task); ok {
			d.push(event{kind: evTask, task: t.DeepCopy()})
		}
	}
	if _, err := tasks.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    onTask,
		UpdateFunc: func(_, obj any) { onTask(obj) },
	}); err != nil {
		return err
	}
	fws, err := d.cache.GetInformer(ctx, &kov1.Framework{})
	if err != nil {
		return err
	}
	_, err = fws.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if f, ok := obj.(*kov1.Framework); ok {
				d.push(event{kind: evFramework, framework: f.DeepCopy()})
			}
		},
	})
	return err
}

// Framework returns the framework as the informer last saw it (nil before
// Run synced).
func (d *Driver) Framework() *kov1.Framework {
	fw := &kov1.Framework{}
	if err := d.cache.Get(context.Background(), types.NamespacedName{Namespace: d.cfg.Namespace, Name: d.cfg.Name}, fw); err != nil {
		return nil
	}
	return fw
}

// acceptConcurrency is how many of an Accept's tasks are created at once.
const acceptConcurrency = 16

// Accept launches tasks on an offer — Mesos's ACCEPT with LAUNCH: each task
// is created in the framework's namespace, naming the offer, and the master
// binds it. Once the master has bound (or dropped) them all, the rest of the
// offer is declined with the framework's refuse duration, so it goes back to
// the pool. Accept with no tasks declines the offer.
//
// Fill each task's resources and ports from a Budget so they fit; the master
// drops a task that does not.
func (d *Driver) Accept(ctx context.Context, offer *kov1.ResourceOffer, tasks ...*kov1.Task) error {
	if len(tasks) == 0 {
		return d.Decline(ctx, offer.Name, nil)
	}
	// The tasks are created concurrently: the master binds them in one pass
	// either way, and an offer packed with many tasks would otherwise wait
	// one API round trip per task.
	errs := make([]error, len(tasks))
	for i, t := range tasks {
		// Left as is if ctx ends before the task's turn.
		errs[i] = fmt.Errorf("creating task %s: not attempted", t.Name)
	}
	workqueue.ParallelizeUntil(ctx, acceptConcurrency, len(tasks), func(i int) {
		t := tasks[i]
		t.Namespace = d.cfg.Namespace
		t.Spec.FrameworkName = d.cfg.Name
		t.Spec.OfferName = offer.Name
		errs[i] = nil
		if err := d.client.Create(ctx, t); err != nil {
			errs[i] = fmt.Errorf("creating task %s: %w", t.Name, err)
		}
	})
	names := map[string]bool{}
	for i, t := range tasks {
		if errs[i] == nil {
			names[t.Name] = true // set by now, also for a GenerateName
		}
	}
	d.mu.Lock()
	d.accepts[offer.Name] = names
	d.mu.Unlock()
	d.push(event{kind: evCheckAccept, name: offer.Name})
	return errors.Join(errs...)
}

// Decline answers an offer with "not now": the master withdraws it and does
// not offer the agent to this framework for refuse (nil: the framework's
// spec.refuseDuration, default 5s). An offer already gone needs no answer.
func (d *Driver) Decline(ctx context.Context, offerName string, refuse *time.Duration) error {
	d.mu.Lock()
	d.gone[offerName] = true
	delete(d.accepts, offerName)
	d.mu.Unlock()
	dec := &kov1.OfferDecline{}
	if refuse != nil {
		dec.RefuseDuration = &metav1.Duration{Duration: *refuse}
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		o := &kov1.ResourceOffer{}
		if err := d.client.Get(ctx, types.NamespacedName{Namespace: d.cfg.Namespace, Name: offerName}, o); err != nil {
			return err
		}
		if o.Spec.Decline != nil {
			return nil
		}
		o.Spec.Decline = dec
		return d.client.Update(ctx, o)
	})
	if err = client.IgnoreNotFound(err); err != nil {
		return fmt.Errorf("declining offer %s: %w", offerName, err)
	}
	return nil
}

// Suppress asks for no more offers (Mesos's SUPPRESS) until Revive.
func (d *Driver) Suppress(ctx context.Context) error {
	return d.patchFramework(ctx, func(f *kov1.Framework) { f.Spec.Offers = kov1.OfferModeSuppressed })
}

// Revive asks for offers again and lifts every decline filter (Mesos's
// REVIVE).
func (d *Driver) Revive(ctx context.Context) error {
	now := metav1.NewTime(d.cfg.Clock.Now())
	return d.patchFramework(ctx, func(f *kov1.Framework) {
		f.Spec.Offers = kov1.OfferModeActive
		f.Spec.RevivedAt = &now
	})
}

func (d *Driver) patchFramework(ctx context.Context, mutate func(*kov1.Framework)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		f := &kov1.Framework{}
		if err := d.client.Get(ctx, types.NamespacedName{Namespace: d.cfg.Namespace, Name: d.cfg.Name}, f); err != nil {
			return err
		}
		mutate(f)
		return d.client.Update(ctx, f)
	})
}

// Kill kills a task (Mesos's KILL): the Task is deleted; agentd stops its
// Pod with the task's grace period, and StatusUpdate sees Killing, then
// Killed, before the object goes.
func (d *Driver) Kill(ctx context.Context, taskName string) error {
	t := &kov1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: taskName}}
	if err := client.IgnoreNotFound(d.client.Delete(ctx, t)); err != nil {
		return fmt.Errorf("killing task %s: %w", taskName, err)
	}
	return nil
}

// Reconcile returns the current state of every task of the framework, read
// from the API server (Mesos's explicit reconciliation). A restarted
// scheduler also receives a StatusUpdate for each of its tasks when Run
// starts.
func (d *Driver) Reconcile(ctx context.Context) ([]kov1.Task, error) {
	var l kov1.TaskList
	if err := d.client.List(ctx, &l, client.InNamespace(d.cfg.Namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.frameworkName", d.cfg.Name)}); err != nil {
		return nil, fmt.Errorf("listing tasks: %w", err)
	}
	return l.Items, nil
}

// Namespace is the framework's namespace.
func (d *Driver) Namespace() string { return d.cfg.Namespace }

// Name is the framework's name.
func (d *Driver) Name() string { return d.cfg.Name }

// Client is the driver's (uncached) client, for anything else a scheduler
// needs (e.g. reading a ConfigMap).
func (d *Driver) Client() client.Client { return d.client }

// Resources is a shorthand for a ResourceList: Resources("cpu", "1",
// "memory", "512Mi").
func Resources(pairs ...string) corev1.ResourceList {
	rl := corev1.ResourceList{}
	for i := 0; i+1 < len(pairs); i += 2 {
		rl[corev1.ResourceName(pairs[i])] = Quantity(pairs[i+1])
	}
	return rl
}
