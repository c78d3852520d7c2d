package allocation

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// now is the tests' fixed time.
var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// recordingWriter is the Writer of the pass's table tests: it records each
// write as one line and fails those named in fail.
type recordingWriter struct {
	mu     sync.Mutex
	writes []string
	// fail maps a write's line to the error it gets.
	fail map[string]error
	// made counts offers created, to name them.
	made int
}

func (r *recordingWriter) do(line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, line)
	return r.fail[line]
}

func (r *recordingWriter) UpdateTaskStatus(_ context.Context, t *kov1.Task) error {
	line := fmt.Sprintf("status task %s/%s %s", t.Namespace, t.Name, stateOf(t))
	if t.Status.Reason != "" {
		line += " " + t.Status.Reason
	}
	if t.Status.AgentName != "" {
		line += " on " + t.Status.AgentName
	}
	if t.Status.OfferName != "" {
		line += " from " + t.Status.OfferName
	}
	return r.do(line)
}

func (r *recordingWriter) DeleteOffer(_ context.Context, o *kov1.ResourceOffer) error {
	return r.do(fmt.Sprintf("delete offer %s/%s", o.Namespace, o.Name))
}

func (r *recordingWriter) CreateOffer(_ context.Context, o *kov1.ResourceOffer) error {
	r.mu.Lock()
	r.made++
	o.Name = fmt.Sprintf("%s%d", o.GenerateName, r.made)
	o.UID = types.UID("uid-" + o.Name)
	r.mu.Unlock()
	return r.do(fmt.Sprintf("create offer %s/%s for %s: %s", o.Namespace, o.Name, o.Spec.FrameworkName, describe(o.Spec.Resources)))
}

func (r *recordingWriter) PatchStatus(_ context.Context, obj client.Object, _ client.Patch) error {
	kind := strings.TrimPrefix(fmt.Sprintf("%T", obj), "*v1alpha1.")
	name := obj.GetName()
	if obj.GetNamespace() != "" {
		name = obj.GetNamespace() + "/" + name
	}
	return r.do(fmt.Sprintf("patch status %s %s", kind, name))
}

func stateOf(t *kov1.Task) kov1.TaskState {
	if t.Status.State == "" {
		return kov1.TaskPending
	}
	return t.Status.State
}

// eventLog is an events.EventRecorder that keeps each Event as one line:
// "<type> <reason> <kind> <name>: <note>".
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (e *eventLog) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	m, _ := meta.Accessor(regarding)
	kind := strings.TrimPrefix(fmt.Sprintf("%T", regarding), "*v1alpha1.")
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, fmt.Sprintf("%s %s %s %s: %s", eventtype, reason, kind, m.GetName(), fmt.Sprintf(note, args...)))
}

// newTestLoop is a Loop writing to w and recording Events in ev, with its
// own metrics registry and a fake clock at now.
func newTestLoop(w Writer, ev *eventLog, opts Options) *Loop {
	l := New(nil, nil, ev, clocktesting.NewFakeClock(now), opts, NewMetrics(prometheus.NewRegistry()))
	l.Writer = w
	return l
}

// metaNow is now as an API time.
var metaNow = metav1.NewTime(now)

// tornDown marks f torn down, as the framework controller leaves it.
func tornDown(f *kov1.Framework) *kov1.Framework {
	meta.SetStatusCondition(&f.Status.Conditions, metav1.Condition{Type: kov1.FrameworkTornDownCondition, Status: metav1.ConditionTrue,
		Reason: kov1.FrameworkTornDownFailoverTimeoutReason})
	return f
}

// markedWaiting is t as the built-in schedulers leave it once they marked
// it waiting for an offer.
func markedWaiting(t *kov1.Task) *kov1.Task {
	return waitingStatus(&world{now: now}, t).next
}
