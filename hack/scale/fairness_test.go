package main

import (
	"math"
	"testing"
)

func TestJudgeShares(t *testing.T) {
	fair := map[string]float64{"a": 0.25, "b": 0.75}
	samples := map[string][]float64{
		"a": {0.5, 0.5, 0.2, 0.3}, // the first fill, then around the fair share
		"b": {0.5, 0.5, 0.8, 0.7},
	}
	mean, maxErr := judgeShares(samples, fair, 2)
	if math.Abs(mean["a"]-0.25) > 1e-9 || math.Abs(mean["b"]-0.75) > 1e-9 {
		t.Errorf("means over the last two samples = %v, want a 0.25, b 0.75", mean)
	}
	if maxErr > 1e-6 {
		t.Errorf("max error = %.3f%%, want 0", maxErr)
	}
	// Over every sample the first fill counts: a is 50 % above its share.
	if _, maxErr := judgeShares(samples, fair, 10); math.Abs(maxErr-50) > 1e-6 {
		t.Errorf("max error over all samples = %.3f%%, want 50%%", maxErr)
	}
	// A framework never sampled is 100 % off.
	if _, maxErr := judgeShares(map[string][]float64{"b": {0.75}}, fair, 2); math.Abs(maxErr-100) > 1e-6 {
		t.Errorf("max error with a framework unsampled = %.3f%%, want 100%%", maxErr)
	}
}
