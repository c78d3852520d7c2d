package invariants

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Options tune a Checker.
type Options struct {
	// Namespaces restricts the namespaced kinds watched; empty watches all.
	Namespaces []string
	// Confirm is how long a booking violation must last before it counts
	// (default 2s). Each kind arrives on its own watch, so for a moment the
	// checker may see an offer the master made after a task ended before it
	// sees that task end; a real double booking lasts until the tasks end.
	// Per-task rules (rebound, changed after terminal, launched twice) are
	// exact: one object's versions arrive in order.
	Confirm time.Duration
	// Clock is the checker's clock (default real time).
	Clock clock.WithTicker
}

// Checker watches the API server and records every violation of the rules
// in this package. It is safe for concurrent use.
type Checker struct {
	opts Options

	mu         sync.Mutex
	world      *World
	lastTask   map[types.UID]*kov1.Task
	firstPod   map[string]*corev1.Pod // by task UID
	suspects   map[string]suspect
	violations []Violation
	seen       map[string]bool
	dirty      bool
	stats      Stats
	offersSeen map[types.UID]bool
}

// Stats say how much the checker looked at, so that a run without
// violations can be told from a run the checker did not see.
type Stats struct {
	// Events is how many watch events the checker applied.
	Events int
	// Tasks and Offers are how many distinct ones (by UID) it saw.
	Tasks, Offers int
	// Launched is how many tasks it saw a Pod for.
	Launched int
	// BookingChecks is how many times it evaluated the booking rules over
	// the whole world.
	BookingChecks int
}

type suspect struct {
	since time.Time
	v     Violation
}

// Start begins watching through cfg and returns once the watches have
// synced. The checker runs until ctx ends.
func Start(ctx context.Context, cfg *rest.Config, opts Options) (*Checker, error) {
	if opts.Confirm <= 0 {
		opts.Confirm = 2 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	if err := kov1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	launched, err := labels.NewRequirement(kov1.LabelTaskUID, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("building pod selector: %w", err)
	}
	copts := cache.Options{Scheme: scheme, ByObject: map[client.Object]cache.ByObject{
		&corev1.Pod{}: {Label: labels.NewSelector().Add(*launched)},
	}}
	if len(opts.Namespaces) > 0 {
		copts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range opts.Namespaces {
			copts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	ca, err := cache.New(cfg, copts)
	if err != nil {
		return nil, fmt.Errorf("creating cache: %w", err)
	}
	c := &Checker{opts: opts, world: NewWorld(), lastTask: map[types.UID]*kov1.Task{}, firstPod: map[string]*corev1.Pod{},
		suspects: map[string]suspect{}, seen: map[string]bool{}, offersSeen: map[types.UID]bool{}}
	for _, obj := range []client.Object{&kov1.Agent{}, &kov1.ResourceOffer{}, &kov1.Task{}, &kov1.Framework{}, &corev1.Pod{}} {
		inf, err := ca.GetInformer(ctx, obj)
		if err != nil {
			return nil, fmt.Errorf("watching %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.observe(o, false) },
			UpdateFunc: func(_, o any) { c.observe(o, false) },
			DeleteFunc: func(o any) { c.observe(o, true) },
		}); err != nil {
			return nil, fmt.Errorf("watching %T: %w", obj, err)
		}
	}
	go func() { _ = ca.Start(ctx) }()
	if !ca.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the checker's watches did not sync")
	}
	go c.run(ctx)
	return c, nil
}

// observe applies one watch event to the world and checks the per-object
// rules.
func (c *Checker) observe(obj any, deleted bool) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dirty = true
	c.stats.Events++
	switch o := obj.(type) {
	case *kov1.Agent:
		if deleted {
			delete(c.world.Agents, o.Name)
		} else {
			c.world.Agents[o.Name] = o
		}
	case *kov1.ResourceOffer:
		k := types.NamespacedName{Namespace: o.Namespace, Name: o.Name}
		c.offersSeen[o.UID] = true
		if deleted {
			delete(c.world.Offers, k)
		} else {
			c.world.Offers[k] = o
		}
	case *kov1.Framework:
		k := types.NamespacedName{Namespace: o.Namespace, Name: o.Name}
		if deleted {
			delete(c.world.Frameworks, k)
		} else {
			c.world.Frameworks[k] = o
		}
	case *kov1.Task:
		k := types.NamespacedName{Namespace: o.Namespace, Name: o.Name}
		c.record(Transition(c.lastTask[o.UID], o)...)
		c.lastTask[o.UID] = o
		if deleted {
			delete(c.world.Tasks, k)
		} else {
			c.world.Tasks[k] = o
		}
	case *corev1.Pod:
		k := types.NamespacedName{Namespace: o.Namespace, Name: o.Name}
		uid := o.Labels[kov1.LabelTaskUID]
		c.record(Launch(c.firstPod[uid], o)...)
		if c.firstPod[uid] == nil {
			c.firstPod[uid] = o
			c.stats.Launched++
		}
		if deleted {
			delete(c.world.Pods, k)
		} else {
			c.world.Pods[k] = o
		}
	}
}

// record keeps violations, each once. The caller holds c.mu.
func (c *Checker) record(vs ...Violation) {
	for _, v := range vs {
		if c.seen[v.key()] {
			continue
		}
		c.seen[v.key()] = true
		c.violations = append(c.violations, v)
	}
}

// run re-checks the booking rules whenever the world changed, confirming
// violations that outlast opts.Confirm.
func (c *Checker) run(ctx context.Context) {
	tick := c.opts.Clock.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
		c.checkBooking()
	}
}

func (c *Checker) checkBooking() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Clock.Now()
	if c.dirty {
		c.dirty = false
		current := map[string]bool{}
		c.stats.BookingChecks++
		for _, v := range Booking(c.world) {
			current[v.key()] = true
			if _, ok := c.suspects[v.key()]; !ok {
				c.suspects[v.key()] = suspect{since: now, v: v}
			}
		}
		for k := range c.suspects {
			if !current[k] {
				delete(c.suspects, k)
			}
		}
	}
	for _, s := range c.suspects {
		if now.Sub(s.since) >= c.opts.Confirm {
			c.record(s.v)
		}
	}
}

// Violations returns what was recorded so far.
func (c *Checker) Violations() []Violation {
	c.checkBooking()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Violation(nil), c.violations...)
}

// Finish runs the end-of-run rules on the world as it is now (call it once
// the run has settled) and returns every violation of the run.
func (c *Checker) Finish() []Violation {
	c.mu.Lock()
	c.record(Final(c.world)...)
	c.mu.Unlock()
	return c.Violations()
}

// Counts returns how many tasks the checker saw and how many of them are
// terminal, by state.
func (c *Checker) Counts() (tasks int, byState map[kov1.TaskState]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byState = map[kov1.TaskState]int{}
	for _, t := range c.lastTask {
		byState[t.Status.State]++
	}
	return len(c.lastTask), byState
}

// Stats returns what the checker has looked at so far.
func (c *Checker) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Tasks, s.Offers = len(c.lastTask), len(c.offersSeen)
	return s
}

// Report writes the violations, one per line, or that there were none.
func Report(w io.Writer, vs []Violation) {
	if len(vs) == 0 {
		fmt.Fprintln(w, "invariants: no violations")
		return
	}
	fmt.Fprintf(w, "invariants: %d violations\n", len(vs))
	for _, v := range vs {
		fmt.Fprintln(w, "  "+v.String())
	}
}
