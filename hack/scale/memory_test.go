package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

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

func TestOOMKills(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		v1                  bool
		want                int
	}{
		{name: "v2", file: "memory.events", content: "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\n", want: 1},
		{name: "v1", file: "memory.oom_control", content: "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", v1: true, want: 3},
		{name: "none yet", file: "memory.events", content: "low 0\noom 0\noom_kill 0\n"},
		{name: "no file", file: "other", content: "oom_kill 5\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			g := &memoryCgroup{dir: dir, v1: tc.v1}
			if got := g.oomKills(); got != tc.want {
				t.Errorf("oomKills = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestParallelErrorsOfTwoTypes: workers failing with errors of different
// concrete types at once return one of them (an atomic.Value panicked).
func TestParallelErrorsOfTwoTypes(t *testing.T) {
	err := parallel(context.Background(), 64, 8, func(i int) error {
		if i%2 == 0 {
			return fmt.Errorf("wrapped %d", i)
		}
		return errors.New("plain")
	})
	if err == nil {
		t.Fatal("parallel returned no error")
	}
}
