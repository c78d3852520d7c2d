// Command demowatch is `make demo`'s live view: agents, offers and tasks
// of the given namespaces, redrawn every second, until every task has
// ended (with --until-done).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

func main() {
	namespaces := flag.String("namespaces", "default", "Comma-separated namespaces to show.")
	untilDone := flag.Bool("until-done", false, "Stop once every task has ended (and at least one exists).")
	waitResult := flag.String("until-result", "", "With --until-done, also wait for this framework's result annotation: namespace/framework=annotation.")
	timeout := flag.Duration("timeout", 10*time.Minute, "Stop after this long.")
	flag.Parse()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = kov1.AddToScheme(scheme)
	c, err := client.New(ctrl.GetConfigOrDie(), client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, *timeout)
	defer cancel()
	nss := strings.Split(*namespaces, ",")
	for {
		screen, done := draw(ctx, c, nss)
		result, haveResult := annotation(ctx, c, *waitResult)
		if *waitResult != "" {
			screen += fmt.Sprintf("\n%s: %s\n", *waitResult, orDash(result))
		}
		fmt.Print("\033[H\033[2J" + screen)
		if *untilDone && done && (*waitResult == "" || haveResult) {
			fmt.Println("\nEvery task has ended.")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func draw(ctx context.Context, c client.Client, nss []string) (string, bool) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 2, 2, ' ', 0)
	fmt.Fprintf(w, "kubeoffer — %s\n\n", time.Now().Format(time.TimeOnly))

	var agents kov1.AgentList
	_ = c.List(ctx, &agents)
	fmt.Fprintln(w, "AGENT\tREADY\tREACHABLE\tCPU OFFERABLE\tCPU IN TASKS\tMEMORY OFFERABLE\tMEMORY IN TASKS")
	for _, a := range agents.Items {
		st := a.Status
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, cond(st.Conditions, kov1.AgentReadyCondition), cond(st.Conditions, kov1.AgentReachableCondition),
			st.Allocatable.Cpu(), st.Allocated.Cpu(), st.Allocatable.Memory(), st.Allocated.Memory())
	}

	total, ended := 0, 0
	for _, ns := range nss {
		var offers kov1.ResourceOfferList
		var tasks kov1.TaskList
		_ = c.List(ctx, &offers, client.InNamespace(ns))
		_ = c.List(ctx, &tasks, client.InNamespace(ns))
		fmt.Fprintf(w, "\nnamespace %s\n", ns)
		fmt.Fprintln(w, "  OFFER\tFRAMEWORK\tAGENT\tCPU\tMEMORY\tLEFT CPU")
		for _, o := range offers.Items {
			left := o.Spec.Resources.Cpu()
			if o.Status.Remaining != nil {
				left = o.Status.Remaining.Cpu()
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", o.Name, o.Spec.FrameworkName, o.Spec.AgentName, o.Spec.Resources.Cpu(), o.Spec.Resources.Memory(), left)
		}
		if len(offers.Items) == 0 {
			fmt.Fprintln(w, "  (no outstanding offers)")
		}
		sort.Slice(tasks.Items, func(i, j int) bool { return tasks.Items[i].CreationTimestamp.Before(&tasks.Items[j].CreationTimestamp) })
		fmt.Fprintln(w, "  TASK\tFRAMEWORK\tSTATE\tCPU\tMEMORY\tMESSAGE")
		for _, t := range tasks.Items {
			total++
			if t.Status.State.IsTerminal() {
				ended++
			}
			msg := t.Status.Message
			if len(msg) > 60 {
				msg = msg[:57] + "..."
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Spec.FrameworkName, orDash(string(t.Status.State)), t.Spec.Resources.Cpu(), t.Spec.Resources.Memory(), msg)
		}
	}
	fmt.Fprintf(w, "\n%d of %d tasks ended\n", ended, total)
	_ = w.Flush()
	return b.String(), total > 0 && ended == total
}

// annotation reads "namespace/framework=key" off a Framework.
func annotation(ctx context.Context, c client.Client, spec string) (string, bool) {
	ref, key, ok := strings.Cut(spec, "=")
	ns, name, ok2 := strings.Cut(ref, "/")
	if !ok || !ok2 {
		return "", false
	}
	fw := &kov1.Framework{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, fw); err != nil {
		return "", false
	}
	v, ok := fw.Annotations[key]
	return v, ok
}

func cond(cs []metav1.Condition, t string) string {
	if c := meta.FindStatusCondition(cs, t); c != nil {
		return string(c.Status)
	}
	return "-"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
