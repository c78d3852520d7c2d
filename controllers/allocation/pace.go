package allocation

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// statusPace spaces out the rewrites of Frameworks' and Roles' usage
// figures (allocated, offered, dominant share, task counts). During a
// burst every pass changes them, and a pass runs on every event, so
// without a pace each framework's status would be rewritten several
// times a second: with ten frameworks sharing a burst that was a tenth of
// the API server's writes. A change of anything else the loop writes (a
// role's conditions or observed generation) is written at once, and so is
// the first status of an object this master has not written yet. A change
// held back is written by the first pass after the interval; the loop runs
// a pass at least every allocation interval, so a figure is at most
// max(interval, allocation interval) behind.
type statusPace struct {
	// interval is the least time between two usage rewrites of one
	// object; 0 writes every change at once.
	interval time.Duration
	// written is when this master last wrote each object's status, by its
	// own clock.
	written map[types.UID]time.Time
}

func newStatusPace(interval time.Duration) *statusPace {
	return &statusPace{interval: interval, written: map[types.UID]time.Time{}}
}

// due says whether a status change of the object uid may be written at
// now: urgent changes always, others once interval has passed since the
// last write (or if there was none, or the clock went back).
func (s *statusPace) due(uid types.UID, urgent bool, now time.Time) bool {
	if urgent || s == nil || s.interval <= 0 {
		return true
	}
	last, seen := s.written[uid]
	return !seen || now.Before(last) || now.Sub(last) >= s.interval
}

// wrote records that the object's status was written at now.
func (s *statusPace) wrote(uid types.UID, now time.Time) {
	if s != nil && uid != "" {
		s.written[uid] = now
	}
}

// retain forgets the objects not in live.
func (s *statusPace) retain(live map[types.UID]bool) {
	if s == nil {
		return
	}
	for uid := range s.written {
		if !live[uid] {
			delete(s.written, uid)
		}
	}
}
