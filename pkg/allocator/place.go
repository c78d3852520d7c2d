package allocator

import (
	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/resources"
)

// Candidate is one of a framework's offers a built-in scheduler may place
// a task on.
type Candidate struct {
	Offer     string
	Remaining resources.Vec
	Ports     resources.PortSet
	// SpreadValue is the agent's value of the Spread policy's attribute.
	SpreadValue string
}

// Place picks the candidate a built-in policy puts a task needing needs
// and ports on, or -1 when none fits. Candidates come in a stable order
// (by agent). spread counts the framework's live tasks per SpreadValue;
// total is the cluster's allocatable, for BinPack's measure of fullness.
func Place(policy kov1.SchedulingPolicy, needs resources.Vec, ports resources.PortSet, cands []Candidate, spread map[string]int, total resources.Vec) int {
	best := -1
	var bestScore float64
	for i, c := range cands {
		if !needs.Fits(c.Remaining) || !c.Ports.Contains(ports) {
			continue
		}
		var score float64
		switch policy {
		case kov1.SchedulingPolicyFirstFit:
			return i
		case kov1.SchedulingPolicyBinPack:
			// The fullest offer: least left after placing the task.
			left := c.Remaining.Clone(len(needs))
			left.Sub(needs)
			score = left.DominantShare(total)
		case kov1.SchedulingPolicySpread:
			score = float64(spread[c.SpreadValue])
		default:
			return -1
		}
		if best < 0 || score < bestScore {
			best, bestScore = i, score
		}
	}
	return best
}
