// Command service is an example kubeoffer framework: it keeps N instances
// of a long-running container alive, spread across agents by an attribute
// (the hostname by default). It shows the moves a service framework makes:
//
//   - it places a new instance on the offer whose attribute value runs the
//     fewest instances, and declines the rest;
//   - it replaces instances that end (Failed, Lost, Killed, …), reviving
//     offers to get room;
//   - it scales when N changes: kubectl annotate framework web
//     service.examples.kubeoffer.io/instances=5 --overwrite
//   - it suppresses offers while it runs N instances;
//   - on restart it adopts the instances already running (failover).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/examples/internal/flags"
	"github.com/kubeoffer/kubeoffer/sdk"
)

// AnnotationInstances on the Framework overrides --instances: set it to scale.
const AnnotationInstances = "service.examples.kubeoffer.io/instances"

// service is the framework's state. The driver calls it from one goroutine.
type service struct {
	name, image, spreadBy string
	command               []string
	desired               int
	needs                 sdk.Needs
	refuse                time.Duration
	podAnnotations        map[string]string
	// live are the instances not yet ended, by task name, with the value of
	// the spread attribute on their agent.
	live map[string]string
	// seen are the spread values of agents lately offered or lately running
	// an instance, with when: an instance that just ended on an agent whose
	// new offer has not arrived yet is not replaced on a busier agent.
	seen       map[string]time.Time
	next       int
	suppressed bool
}

// seenFor is how long a spread value counts after it was last seen.
const seenFor = time.Minute

func main() {
	var (
		s           service
		ns, role    string
		cpu, mem    string
		command     string
		annotations = flags.KeyValues{}
	)
	flag.StringVar(&ns, "namespace", "default", "Namespace of the framework and its tasks.")
	flag.StringVar(&s.name, "name", "web", "Name of the Framework.")
	flag.StringVar(&role, "role", kov1.DefaultRole, "Role of the framework (set once, when the Framework is created).")
	flag.IntVar(&s.desired, "instances", 3, "Instances to keep running (the Framework's "+AnnotationInstances+" annotation overrides it).")
	flag.StringVar(&s.spreadBy, "spread-attribute", "kubernetes.io/hostname", "Agent attribute to spread instances over.")
	flag.StringVar(&s.image, "image", "busybox:stable", "Image of the instances.")
	flag.StringVar(&command, "command", "while true; do echo serving on port $PORT0; sleep 30; done", "Shell command each instance runs.")
	flag.StringVar(&cpu, "cpu", "100m", "CPU per instance.")
	flag.StringVar(&mem, "memory", "64Mi", "Memory per instance.")
	flag.DurationVar(&s.refuse, "refuse", time.Minute, "How long an offer the service does not need is refused.")
	flag.Var(annotations, "pod-annotation", "key=value annotation for the instances' Pods (repeatable).")
	zapOpts := zap.Options{Development: true}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("service")

	s.command = []string{"sh", "-c", command}
	s.podAnnotations = annotations
	s.live = map[string]string{}
	s.seen = map[string]time.Time{}
	s.needs = sdk.Needs{Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}, Ports: 1}
	d, err := sdk.New(ctrl.GetConfigOrDie(), sdk.Config{Namespace: ns, Name: s.name, Logger: log,
		Spec: kov1.FrameworkSpec{Role: role, RefuseDuration: &metav1.Duration{Duration: s.refuse}}}, &s)
	if err != nil {
		log.Error(err, "Creating the driver")
		os.Exit(1)
	}
	if err := d.Run(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "The driver stopped")
		os.Exit(1)
	}
}

// Registered adopts the instances a previous run started.
func (s *service) Registered(ctx context.Context, d *sdk.Driver, fw *kov1.Framework) {
	s.readDesired(fw)
	tasks, err := d.Reconcile(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reconcile:", err)
	}
	for i := range tasks {
		s.StatusUpdate(ctx, d, &tasks[i])
	}
	fmt.Printf("service %s: %d instances wanted, %d running\n", s.name, s.desired, len(s.live))
	s.converge(ctx, d, true)
}

// ResourceOffers starts missing instances, one per offer, on the offers
// whose spread value runs the fewest.
func (s *service) ResourceOffers(ctx context.Context, d *sdk.Driver, offers []*kov1.ResourceOffer) {
	perValue := map[string]int{}
	for _, v := range s.live {
		perValue[v]++
	}
	now := time.Now()
	for _, o := range offers {
		s.seen[o.Spec.Attributes[s.spreadBy]] = now
	}
	sort.SliceStable(offers, func(i, j int) bool {
		return perValue[offers[i].Spec.Attributes[s.spreadBy]] < perValue[offers[j].Spec.Attributes[s.spreadBy]]
	})
	for _, o := range offers {
		value := o.Spec.Attributes[s.spreadBy]
		if len(s.live) >= s.desired || perValue[value] > s.minCount(perValue, now) {
			_ = d.Decline(ctx, o.Name, &s.refuse)
			continue
		}
		g, ok := sdk.NewBudget(o).Take(s.needs)
		if !ok {
			_ = d.Decline(ctx, o.Name, &s.refuse)
			continue
		}
		name := fmt.Sprintf("%s-%d", s.name, s.next)
		s.next++
		if err := d.Accept(ctx, o, s.task(name, g)); err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
			continue
		}
		s.live[name] = value
		perValue[value]++
		fmt.Printf("starting %s on %s (%s=%s)\n", name, o.Spec.AgentName, s.spreadBy, value)
	}
	s.converge(ctx, d, false)
}

// minCount is the fewest instances on any spread value lately seen (in
// running instances, offers, or instances that ended).
func (s *service) minCount(perValue map[string]int, now time.Time) int {
	least := -1
	for v, at := range s.seen {
		if now.Sub(at) > seenFor {
			delete(s.seen, v)
			continue
		}
		if n := perValue[v]; least < 0 || n < least {
			least = n
		}
	}
	for _, n := range perValue {
		if least < 0 || n < least {
			least = n
		}
	}
	return max(least, 0)
}

func (s *service) task(name string, g sdk.Grant) *kov1.Task {
	return &kov1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"service.examples.kubeoffer.io/service": s.name}},
		Spec: kov1.TaskSpec{Resources: g.Resources, Ports: g.Ports, KillGracePeriodSeconds: ptrInt64(10), Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: s.podAnnotations, Labels: map[string]string{"app": s.name}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: s.image, Command: s.command}}},
		}},
	}
}

// StatusUpdate forgets instances that ended and replaces them.
func (s *service) StatusUpdate(ctx context.Context, d *sdk.Driver, t *kov1.Task) {
	if t.Labels["service.examples.kubeoffer.io/service"] != s.name {
		return
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(t.Name, s.name+"-")); err == nil && n >= s.next {
		s.next = n + 1
	}
	if t.Status.State.IsTerminal() {
		if value, ok := s.live[t.Name]; ok {
			if value != "" {
				s.seen[value] = time.Now()
			}
			delete(s.live, t.Name)
			fmt.Printf("%s ended %s (%s: %s); %d of %d running\n", t.Name, t.Status.State, t.Status.Reason, t.Status.Message, len(s.live), s.desired)
			s.converge(ctx, d, true)
		}
		return
	}
	if _, ok := s.live[t.Name]; !ok && t.DeletionTimestamp == nil {
		s.live[t.Name] = "" // adopted; its spread value is unknown until it ends
	}
}

// FrameworkUpdated picks up a new instance count.
func (s *service) FrameworkUpdated(ctx context.Context, d *sdk.Driver, fw *kov1.Framework) {
	if s.readDesired(fw) {
		fmt.Printf("scaling to %d instances\n", s.desired)
		s.converge(ctx, d, true)
	}
}

func (s *service) readDesired(fw *kov1.Framework) bool {
	v, ok := fw.Annotations[AnnotationInstances]
	if !ok {
		return false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n == s.desired {
		return false
	}
	s.desired = n
	return true
}

// OfferRescinded needs nothing: a task not yet bound on it comes back Dropped.
func (s *service) OfferRescinded(context.Context, *sdk.Driver, string) {}

// converge kills surplus instances (newest first) and suppresses offers
// while the service is complete. When it is not and revive is set (an
// instance ended, or the service grew) it revives offers, which also lifts
// the refuse filters of offers it declined while complete.
func (s *service) converge(ctx context.Context, d *sdk.Driver, revive bool) {
	if extra := len(s.live) - s.desired; extra > 0 {
		names := make([]string, 0, len(s.live))
		for n := range s.live {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool { return instanceNumber(names[i]) > instanceNumber(names[j]) })
		for _, n := range names[:extra] {
			fmt.Printf("scaling down: killing %s\n", n)
			_ = d.Kill(ctx, n)
			delete(s.live, n)
		}
	}
	complete := len(s.live) >= s.desired
	switch {
	case complete && !s.suppressed:
		s.suppressed = d.Suppress(ctx) == nil
	case !complete && (revive || s.suppressed):
		if d.Revive(ctx) == nil {
			s.suppressed = false
		}
	}
}

func instanceNumber(name string) int {
	i := strings.LastIndex(name, "-")
	n, _ := strconv.Atoi(name[i+1:])
	return n
}

func ptrInt64(v int64) *int64 { return &v }
