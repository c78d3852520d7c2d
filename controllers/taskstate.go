package controllers

import (
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/taskstatus"
)

// setTerminal moves a task into a terminal state (or Killing/Unreachable)
// with its reason, message and history entry.
var setTerminal = taskstatus.Transition

// appendHistory records a transition in the task's bounded history.
var appendHistory = taskstatus.AppendHistory

func statusEqual(a, b kov1.TaskStatus) bool { return equality.Semantic.DeepEqual(a, b) }

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
