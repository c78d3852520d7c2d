package mesosapi

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
)

// taskShelf is a client.Reader of a few Tasks: a cache that lags (empty)
// or the API server (has them).
type taskShelf []kov1.Task

func (s taskShelf) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	for _, t := range s {
		if t.Namespace == key.Namespace && t.Name == key.Name {
			*obj.(*kov1.Task) = t
			return nil
		}
	}
	return apierrors.NewNotFound(schema.GroupResource{Group: "kubeoffer.io", Resource: "tasks"}, key.Name)
}

func (s taskShelf) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	list.(*kov1.TaskList).Items = append([]kov1.Task(nil), s...)
	return nil
}

// TestFindTaskBehindACache: a Task the cache does not have yet (created a
// moment ago) is found in the API server, so a KILL or RECONCILE right after
// a launch does not report it lost; a group's second task is found by its
// Task's ids.
func TestFindTaskBehindACache(t *testing.T) {
	fw := types.NamespacedName{Namespace: "ns", Name: "fw"}
	single := *mesosTask("t1", kov1.TaskRunning)
	group := *mesosTask("g1,g2", kov1.TaskRunning)
	group.Name = TaskName("fw", "g1")
	single.Name = TaskName("fw", "t1")
	api := taskShelf{single, group}
	sources := []taskSource{{taskShelf{}, indexTaskFramework}, {api, "spec.frameworkName"}}
	for id, want := range map[string]string{"t1": single.Name, "g2": group.Name, "nope": ""} {
		got, err := findTaskAmong(context.Background(), sources, fw, id)
		name := ""
		if got != nil {
			name = got.Name
		}
		if err != nil || name != want {
			t.Errorf("task %s: found %q, %v; want %q", id, name, err, want)
		}
	}
	other := types.NamespacedName{Namespace: "ns", Name: "other"}
	if got, _ := findTaskAmong(context.Background(), sources, other, "t1"); got != nil {
		t.Errorf("another framework found task t1: %s", got.Name)
	}
}
