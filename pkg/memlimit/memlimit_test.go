package memlimit

import (
	"os"
	"path/filepath"
	"testing"
)

// Two processes' /proc/self/cgroup: one on cgroup v2 in a Pod's
// container, one on cgroup v1 with the memory controller's own hierarchy.
const (
	v2Self = "0::/kubepods/pod1/c1\n"
	v1Self = "9:name=systemd:/\n4:memory:/job/a\n1:cpu,cpuacct:/\n"
)

func TestCgroupLimit(t *testing.T) {
	cases := []struct {
		name    string
		self    string
		files   map[string]string
		want    int64
		wantOK  bool
		wantErr bool
	}{
		{name: "no cgroup files", self: v2Self},
		{name: "v2, a container's own cgroup at the root", self: "0::/\n", files: map[string]string{"memory.max": "1073741824\n"}, want: 1 << 30, wantOK: true},
		{name: "v2 without a limit", self: v2Self, files: map[string]string{"memory.max": "max\n", "kubepods/pod1/c1/memory.max": "max"}},
		{name: "v2, the process's cgroup", self: v2Self, files: map[string]string{"memory.max": "max", "kubepods/pod1/c1/memory.max": "536870912"}, want: 512 << 20, wantOK: true},
		{name: "v2, an ancestor's smaller limit", self: v2Self, files: map[string]string{"kubepods/pod1/memory.max": "1048576", "kubepods/pod1/c1/memory.max": "536870912"}, want: 1 << 20, wantOK: true},
		{name: "v1, the process's cgroup", self: v1Self, files: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712", "memory/job/a/memory.limit_in_bytes": "536870912\n"}, want: 512 << 20, wantOK: true},
		{name: "v1 without a limit", self: v1Self, files: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}},
		{name: "v1, a container's own cgroup at the root", self: v1Self, files: map[string]string{"memory/memory.limit_in_bytes": "2097152"}, want: 2 << 20, wantOK: true},
		{name: "garbage", self: v2Self, files: map[string]string{"memory.max": "lots"}, wantErr: true},
		{name: "zero", self: v2Self, files: map[string]string{"memory.max": "0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, ok, err := CgroupLimit(root, tc.self)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("CgroupLimit = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestSoftLimit(t *testing.T) {
	for _, tc := range []struct{ cgroup, want int64 }{
		{1 << 30, 966367641},
		{512 << 20, 483183820},
		{10, 9},
	} {
		if got := SoftLimit(tc.cgroup); got != tc.want {
			t.Errorf("SoftLimit(%d) = %d, want %d", tc.cgroup, got, tc.want)
		}
	}
}
