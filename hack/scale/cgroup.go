package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// memoryCgroup is a cgroup with a memory limit, made beside this process's
// own, as the kubelet makes one for a container with resources.limits.memory.
type memoryCgroup struct {
	dir string
	v1  bool
}

// newMemoryCgroup makes cgroup name with a memory limit of limit bytes, on
// cgroup v1's memory hierarchy or on cgroup v2, under this process's own
// cgroup (which the harness, running as root, may divide).
func newMemoryCgroup(name string, limit int64) (*memoryCgroup, error) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(self)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var g memoryCgroup
		var limitFile string
		switch {
		case f[0] == "0" && f[1] == "":
			g, limitFile = memoryCgroup{dir: filepath.Join("/sys/fs/cgroup", f[2], name)}, "memory.max"
		case strings.Contains(","+f[1]+",", ",memory,"):
			g, limitFile = memoryCgroup{dir: filepath.Join("/sys/fs/cgroup/memory", f[2], name), v1: true}, "memory.limit_in_bytes"
		default:
			continue
		}
		if err := os.Mkdir(g.dir, 0o755); err != nil && !os.IsExist(err) {
			return nil, fmt.Errorf("making a cgroup for the master's memory limit: %w", err)
		}
		if err := os.WriteFile(filepath.Join(g.dir, limitFile), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
			g.remove()
			return nil, fmt.Errorf("setting the master's cgroup memory limit: %w", err)
		}
		if g.v1 {
			// Without swap: past the limit the kernel kills, as in a Pod.
			_ = os.WriteFile(filepath.Join(g.dir, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644)
		} else {
			_ = os.WriteFile(filepath.Join(g.dir, "memory.swap.max"), []byte("0"), 0o644)
		}
		return &g, nil
	}
	return nil, fmt.Errorf("no memory cgroup in /proc/self/cgroup")
}

// procs is the file a process joins the cgroup through.
func (g *memoryCgroup) procs() string { return filepath.Join(g.dir, "cgroup.procs") }

// oomKills is how many processes the kernel killed in the cgroup for
// going past its limit.
func (g *memoryCgroup) oomKills() int {
	file, key := "memory.events", "oom_kill"
	if g.v1 {
		file = "memory.oom_control"
	}
	data, err := os.ReadFile(filepath.Join(g.dir, file))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// remove removes the cgroup once its processes have ended.
func (g *memoryCgroup) remove() { _ = os.Remove(g.dir) }
