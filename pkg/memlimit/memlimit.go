// Package memlimit gives the Go runtime a soft memory limit below the
// container's, so that the garbage collector works harder as a process
// nears its memory limit instead of letting its heap grow to twice what is
// live and being killed for it.
//
// The Go runtime reads GOMEMLIMIT but not the cgroup's limit. A master
// holding every Task, Agent and offer of a large cluster keeps most of its
// heap live; with the default GOGC=100 it may take twice that before a
// collection, which is what the kubelet's OOM killer sees.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Fraction of the cgroup's limit given to the Go runtime: the rest is for
// what the runtime does not count (thread stacks outside Go, the binary)
// and the time a collection takes to catch up.
const Fraction = 0.9

// unlimited is the value above which a cgroup v1 limit means none (the
// kernel writes the largest page-aligned int64).
const unlimited = 1 << 62

// CgroupLimit reads the memory limit of the cgroup the process runs in:
// the smallest limit of that cgroup and its ancestors, cgroup v2's
// memory.max or cgroup v1's memory.limit_in_bytes. root is where cgroups
// are mounted (/sys/fs/cgroup) and self the process's /proc/self/cgroup. A
// container sees its own cgroup at the mount's root, so that is read too.
// ok is false when no limit is set.
func CgroupLimit(root, self string) (limit int64, ok bool, err error) {
	for _, line := range strings.Split(strings.TrimSpace(self), "\n") {
		// hierarchy-ID:controllers:path; v2's line is "0::path".
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var dir, file string
		switch {
		case f[0] == "0" && f[1] == "":
			dir, file = root, "memory.max"
		case slices.Contains(strings.Split(f[1], ","), "memory"):
			dir, file = filepath.Join(root, "memory"), "memory.limit_in_bytes"
		default:
			continue
		}
		for p := filepath.Clean("/" + f[2]); ; p = filepath.Dir(p) {
			n, found, err := readLimit(filepath.Join(dir, p, file))
			if err != nil {
				return 0, false, err
			}
			if found && (!ok || n < limit) {
				limit, ok = n, true
			}
			if p == "/" {
				break
			}
		}
	}
	return limit, ok, nil
}

// readLimit reads one cgroup limit file; found is false when the file
// does not exist or says there is no limit.
func readLimit(path string) (n int64, found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("reading %s: %w", path, err)
	}
	if n <= 0 || n >= unlimited {
		return 0, false, nil
	}
	return n, true, nil
}

// SoftLimit is the soft limit for a cgroup limit: Fraction of it.
func SoftLimit(cgroup int64) int64 {
	return int64(math.Floor(float64(cgroup) * Fraction))
}

// Set gives the runtime SoftLimit of the cgroup's limit, unless GOMEMLIMIT
// is set (the runtime honours that itself) or there is no limit. It
// returns the limit it set, 0 for none.
func Set() (int64, error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // not Linux
	}
	if err != nil {
		return 0, err
	}
	n, ok, err := CgroupLimit("/sys/fs/cgroup", string(self))
	if err != nil || !ok {
		return 0, err
	}
	soft := SoftLimit(n)
	debug.SetMemoryLimit(soft)
	return soft, nil
}
