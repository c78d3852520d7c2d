package master

import (
	"go.uber.org/zap/zapcore"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/config"
)

type eventsList = eventsv1.EventList

type zapLevelT = zapcore.Level

// ctrlConfig lets several test masters register controllers of the same
// name in one process.
func ctrlConfig() config.Controller {
	return config.Controller{SkipNameValidation: ptrTrue()}
}

func ptrTrue() *bool { b := true; return &b }
