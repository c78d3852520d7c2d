// Package api tests the kubeoffer CRDs on a real kube-apiserver: they
// install, accept valid objects of every kind, reject bad ones with
// messages that say what is wrong, and document their fields.
package api

import (
	"os"
	"testing"

	"github.com/kubeoffer/kubeoffer/test/controlplane"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) { os.Exit(controlplane.Run(m, &cp)) }
