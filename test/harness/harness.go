// Package harness is what kubeoffer's integration tests share on top of
// test/controlplane: polling with generous deadlines (never sleeps as
// assertions), heartbeat Leases as agentd and the SDK write them, waiting
// for task states and Events, and running a master or an agentd in-process
// for the length of one test.
package harness

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	coordinationv1 "k8s.io/api/coordination/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// Deadline is how long Eventually waits: generous, so a slow CI machine
// under -race never fails a test that would pass.
const Deadline = 45 * time.Second

// LogLevel is quiet unless KUBEOFFER_TEST_VERBOSE is set.
func LogLevel() zapcore.Level {
	if os.Getenv("KUBEOFFER_TEST_VERBOSE") != "" {
		return -2
	}
	return 2
}

// ControllerConfig lets several managers in one test process register
// controllers of the same name.
func ControllerConfig() config.Controller {
	return config.Controller{SkipNameValidation: ptr.To(true)}
}

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Eventually polls cond until it holds or Deadline passes; cond's string
// says what it saw, for the failure message.
func Eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	var last string
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// Heartbeat creates or renews a heartbeat Lease as agentd or the SDK would;
// kind is kov1.HeartbeatAgent or kov1.HeartbeatFramework.
func Heartbeat(t testing.TB, c client.Client, ns, name, kind string, seconds int32) {
	t.Helper()
	ctx := context.Background()
	now := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, l)
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{kov1.LabelHeartbeat: kind}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("test"), LeaseDurationSeconds: ptr.To(seconds), RenewTime: &now, AcquireTime: &now}}
		Must(t, c.Create(ctx, l))
		t.Cleanup(func() { _ = c.Delete(context.Background(), l) })
		return
	}
	Must(t, err)
	l.Spec.RenewTime = &now
	Must(t, c.Update(ctx, l))
}

// KeepBeating renews a heartbeat Lease every 500ms until the returned
// function is called (which waits for the last renewal to finish).
func KeepBeating(c client.Client, ns, name string) (cut func()) {
	cut, _ = KeepBeatingSkewed(c, ns, name, 0)
	return cut
}

// KeepBeatingSkewed renews a heartbeat Lease every 500ms, as a writer
// whose clock is skew ahead of this machine's (behind, if negative) would,
// until cut is called (which waits for the last renewal to finish; calling
// it again does nothing). renewals counts the renewals written so far.
func KeepBeatingSkewed(c client.Client, ns, name string, skew time.Duration) (cut func(), renewals func() int) {
	stop, done := make(chan struct{}), make(chan struct{})
	var n atomic.Int64
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
				l := &coordinationv1.Lease{}
				if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, l); err != nil {
					continue
				}
				at := metav1.NewMicroTime(time.Now().Add(skew))
				l.Spec.RenewTime = &at
				if c.Update(context.Background(), l) == nil {
					n.Add(1)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop); <-done }) }, func() int { return int(n.Load()) }
}

// HeartbeatSkewed creates a heartbeat Lease (deleted when the test ends)
// as a writer whose clock is skew off this machine's would: acquired and
// renewed at its own now.
func HeartbeatSkewed(t testing.TB, c client.Client, ns, name, kind string, seconds int32, skew time.Duration) {
	t.Helper()
	at := metav1.NewMicroTime(time.Now().Add(skew))
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{kov1.LabelHeartbeat: kind}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("test"), LeaseDurationSeconds: ptr.To(seconds), RenewTime: &at, AcquireTime: &at}}
	Must(t, c.Create(context.Background(), l))
	t.Cleanup(func() { _ = c.Delete(context.Background(), l) })
}

// RemoveAgent deletes an Agent and drops its finalizers, since the master
// that would honour them may have stopped. Idempotent.
func RemoveAgent(c client.Client, name string) {
	ctx := context.Background()
	a := &kov1.Agent{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_ = c.Delete(ctx, a)
	if err := c.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil || len(a.Finalizers) == 0 {
		return
	}
	patch := client.MergeFrom(a.DeepCopy())
	a.Finalizers = nil
	_ = c.Patch(ctx, a, patch)
}

// WaitTask waits for task ns/name to reach state and returns it.
func WaitTask(t testing.TB, c client.Client, ns, name string, state kov1.TaskState) *kov1.Task {
	t.Helper()
	tk := &kov1.Task{}
	Eventually(t, fmt.Sprintf("task %s to be %s", name, state), func() (bool, string) {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, tk); err != nil {
			return false, err.Error()
		}
		return tk.Status.State == state, fmt.Sprintf("state %q reason %q message %q", tk.Status.State, tk.Status.Reason, tk.Status.Message)
	})
	return tk
}

// HasEvent reports whether an Event with reason regards object name in ns.
func HasEvent(t testing.TB, c client.Client, ns, name, reason string) (bool, string) {
	t.Helper()
	var l eventsv1.EventList
	Must(t, c.List(context.Background(), &l, client.InNamespace(ns)))
	var seen []string
	for _, e := range l.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			return true, ""
		}
		seen = append(seen, e.Regarding.Name+":"+e.Reason)
	}
	return false, "events: " + strings.Join(seen, ", ")
}
