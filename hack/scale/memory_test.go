package main

import "testing"

func TestParseMemory(t *testing.T) {
	for _, tc := range []struct {
		in            string
		agents, tasks int
		wantErr       bool
	}{
		{in: ""},
		{in: "10000x100000", agents: 10000, tasks: 100000},
		{in: "2x1", agents: 2, tasks: 1},
		{in: "1x10", wantErr: true}, // one agent is the real agentd: at least one must be simulated
		{in: "10000", wantErr: true},
		{in: "x100", wantErr: true},
		{in: "100x0", wantErr: true},
		{in: "100x-5", wantErr: true},
		{in: "ax1", wantErr: true},
	} {
		a, k, err := parseMemory(tc.in)
		if (err != nil) != tc.wantErr || a != tc.agents || k != tc.tasks {
			t.Errorf("parseMemory(%q) = %d, %d, %v; want %d, %d, error %v", tc.in, a, k, err, tc.agents, tc.tasks, tc.wantErr)
		}
	}
}
