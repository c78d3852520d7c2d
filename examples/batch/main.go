// Command batch is an example kubeoffer framework: it estimates π by the
// Monte-Carlo method in N shards, one task per shard. It shows the moves a
// batch framework makes:
//
//   - it packs as many shards into each offer as fit, and declines offers it
//     cannot use with a long refuse time, so other frameworks get them;
//   - it suppresses offers when nothing is left to launch;
//   - it relaunches a failed shard on a new offer, up to a retry limit
//     (reviving offers to get one);
//   - on restart it adopts the shards already launched (failover);
//   - it reports the job's result: printed, and as an annotation on its
//     Framework (kubectl get framework pi -o yaml).
//
// Each task writes "hits=<n>" to its termination message; agentd passes it
// on as the finished task's message.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/examples/internal/flags"
	"github.com/kubeoffer/kubeoffer/sdk"
)

// AnnotationResult is where the job's result is written on the Framework.
const AnnotationResult = "batch.examples.kubeoffer.io/result"

// the awk program each shard runs: count random points inside the unit
// quarter circle.
const piProgram = `awk -v n="$SAMPLES" -v seed="$SHARD" 'BEGIN { srand(seed + 1); c = 0;
  for (i = 0; i < n; i++) { x = rand(); y = rand(); if (x*x + y*y <= 1) c++ }
  printf "hits=%d\n", c > "/dev/termination-log"; printf "shard %s: %d of %d\n", seed, c, n }'`

type shard struct {
	attempt int
	task    string // the live task running it, if any
	hits    int64
	done    bool
}

// job is the framework's state. The driver calls it from one goroutine.
type job struct {
	name, image    string
	samples        int64
	retries        int
	needs          sdk.Needs
	refuse         time.Duration
	podAnnotations map[string]string
	shards         []shard
	suppressed     bool
	finish         func(err error)
}

func main() {
	var (
		j           job
		ns, role    string
		tasks       int
		cpu, mem    string
		annotations = flags.KeyValues{}
	)
	flag.StringVar(&ns, "namespace", "default", "Namespace of the framework and its tasks.")
	flag.StringVar(&j.name, "name", "pi", "Name of the Framework.")
	flag.StringVar(&role, "role", kov1.DefaultRole, "Role of the framework (set once, when the Framework is created).")
	flag.IntVar(&tasks, "tasks", 8, "Number of shards (tasks).")
	flag.Int64Var(&j.samples, "samples", 1_000_000, "Random points per shard.")
	flag.IntVar(&j.retries, "retries", 3, "How often a failed shard is relaunched.")
	flag.StringVar(&j.image, "image", "busybox:stable", "Image with a POSIX shell and awk.")
	flag.StringVar(&cpu, "cpu", "250m", "CPU per task.")
	flag.StringVar(&mem, "memory", "64Mi", "Memory per task.")
	flag.DurationVar(&j.refuse, "refuse", time.Minute, "How long an offer the job cannot use is refused.")
	flag.Var(annotations, "pod-annotation", "key=value annotation for the tasks' Pods (repeatable).")
	zapOpts := zap.Options{Development: true}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("batch")

	j.podAnnotations = annotations
	j.shards = make([]shard, tasks)
	j.needs = sdk.Needs{Resources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}
	ctx, cancel := context.WithCancel(ctrl.SetupSignalHandler())
	var result error
	j.finish = func(err error) { result = err; cancel() }

	d, err := sdk.New(ctrl.GetConfigOrDie(), sdk.Config{Namespace: ns, Name: j.name, Logger: log,
		Spec: kov1.FrameworkSpec{Role: role, RefuseDuration: &metav1.Duration{Duration: j.refuse}}}, &j)
	if err != nil {
		log.Error(err, "Creating the driver")
		os.Exit(1)
	}
	if err := d.Run(ctx); err != nil {
		log.Error(err, "The driver stopped")
		os.Exit(1)
	}
	if result != nil {
		log.Error(result, "The job failed")
		os.Exit(1)
	}
}

func (j *job) taskName(i int) string {
	return fmt.Sprintf("%s-shard-%d-%d", j.name, i, j.shards[i].attempt)
}

// Registered adopts the shards a previous run launched.
func (j *job) Registered(ctx context.Context, d *sdk.Driver, fw *kov1.Framework) {
	tasks, err := d.Reconcile(ctx)
	if err != nil {
		j.finish(err)
		return
	}
	for i := range tasks {
		j.StatusUpdate(ctx, d, &tasks[i])
	}
	fmt.Printf("job %s: %d shards of %d samples, framework %s\n", j.name, len(j.shards), j.samples, fw.UID)
}

// ResourceOffers packs waiting shards into each offer.
func (j *job) ResourceOffers(ctx context.Context, d *sdk.Driver, offers []*kov1.ResourceOffer) {
	for _, o := range offers {
		b := sdk.NewBudget(o)
		var launch []*kov1.Task
		for i := range j.shards {
			s := &j.shards[i]
			if s.done || s.task != "" || s.attempt > j.retries {
				continue
			}
			g, ok := b.Take(j.needs)
			if !ok {
				break
			}
			s.task = j.taskName(i)
			launch = append(launch, j.task(i, g))
		}
		if len(launch) == 0 {
			_ = d.Decline(ctx, o.Name, &j.refuse)
			continue
		}
		if err := d.Accept(ctx, o, launch...); err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
		}
	}
	if !j.waiting() && !j.suppressed {
		j.suppressed = d.Suppress(ctx) == nil
	}
}

func (j *job) task(i int, g sdk.Grant) *kov1.Task {
	return &kov1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: j.taskName(i), Labels: map[string]string{"batch.examples.kubeoffer.io/job": j.name}},
		Spec: kov1.TaskSpec{Resources: g.Resources, Ports: g.Ports, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: j.podAnnotations},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "shard", Image: j.image, Command: []string{"sh", "-c", piProgram},
				Env: []corev1.EnvVar{{Name: "SHARD", Value: strconv.Itoa(i)}, {Name: "SAMPLES", Value: strconv.FormatInt(j.samples, 10)}},
			}}},
		}},
	}
}

func (j *job) waiting() bool {
	for _, s := range j.shards {
		if !s.done && s.task == "" && s.attempt <= j.retries {
			return true
		}
	}
	return false
}

// OfferRescinded needs nothing: tasks not yet bound on it come back Dropped.
func (j *job) OfferRescinded(context.Context, *sdk.Driver, string) {}

// FrameworkUpdated needs nothing.
func (j *job) FrameworkUpdated(context.Context, *sdk.Driver, *kov1.Framework) {}

// StatusUpdate records finished shards and relaunches failed ones.
func (j *job) StatusUpdate(ctx context.Context, d *sdk.Driver, t *kov1.Task) {
	i, attempt, ok := j.parse(t.Name)
	if !ok {
		return
	}
	s := &j.shards[i]
	if attempt > s.attempt {
		s.attempt = attempt // adopted from an earlier run
	}
	if attempt < s.attempt || s.done {
		return
	}
	switch st := t.Status.State; {
	case st == kov1.TaskFinished:
		hits, err := strconv.ParseInt(strings.TrimPrefix(t.Status.Message, "hits="), 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "shard %d finished without a result (%q); relaunching\n", i, t.Status.Message)
			j.relaunch(ctx, d, i)
			return
		}
		s.done, s.hits, s.task = true, hits, ""
		fmt.Printf("shard %d finished: %d hits\n", i, hits)
		j.maybeDone(ctx, d)
	case st.IsTerminal():
		fmt.Printf("shard %d %s (%s: %s)\n", i, st, t.Status.Reason, t.Status.Message)
		j.relaunch(ctx, d, i)
	default:
		s.task = t.Name
	}
}

func (j *job) relaunch(ctx context.Context, d *sdk.Driver, i int) {
	s := &j.shards[i]
	s.task = ""
	s.attempt++
	if s.attempt > j.retries {
		j.finish(fmt.Errorf("shard %d failed %d times", i, s.attempt))
		return
	}
	if err := d.Revive(ctx); err == nil {
		j.suppressed = false
	}
}

func (j *job) maybeDone(ctx context.Context, d *sdk.Driver) {
	var hits int64
	for _, s := range j.shards {
		if !s.done {
			return
		}
		hits += s.hits
	}
	pi := 4 * float64(hits) / float64(j.samples*int64(len(j.shards)))
	result := fmt.Sprintf("pi=%.6f from %d samples", pi, j.samples*int64(len(j.shards)))
	fmt.Println("job done:", result)
	fw := &kov1.Framework{}
	if err := d.Client().Get(ctx, client.ObjectKey{Namespace: d.Namespace(), Name: j.name}, fw); err == nil {
		patch := client.MergeFrom(fw.DeepCopy())
		if fw.Annotations == nil {
			fw.Annotations = map[string]string{}
		}
		fw.Annotations[AnnotationResult] = result
		_ = d.Client().Patch(ctx, fw, patch)
	}
	j.finish(nil)
}

// parse reads "<name>-shard-<i>-<attempt>".
func (j *job) parse(task string) (int, int, bool) {
	rest, ok := strings.CutPrefix(task, j.name+"-shard-")
	if !ok {
		return 0, 0, false
	}
	is, as, ok := strings.Cut(rest, "-")
	i, err1 := strconv.Atoi(is)
	a, err2 := strconv.Atoi(as)
	if !ok || err1 != nil || err2 != nil || i < 0 || i >= len(j.shards) {
		return 0, 0, false
	}
	return i, a, true
}
