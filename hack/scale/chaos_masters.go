package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// masterManagerPrefix starts the name every master replica runs under.
const masterManagerPrefix = "kubeoffer-master-"

// masters runs the master binary as several replicas with leader election,
// as the chart's Deployment does, and kills and restarts them. Each start
// of a replica runs the binary through a symlink of its own name
// (kubeoffer-master-<replica>-<start>): the API server records that name
// as the field manager of what the process creates, so the harness can
// tell which process made an offer.
type masters struct {
	bin, linkDir, logDir string
	args                 []string

	mu       sync.Mutex
	replicas []*replica
	// unplanned are replicas that exited without being killed.
	unplanned []unplannedExit
	// cpu is the CPU seconds of replicas that are gone.
	cpu float64
}

// replica is one running master process.
type replica struct {
	index, start int
	name         string
	port         int
	cmd          *exec.Cmd
	killed       bool
	done         chan struct{}
	err          error
}

func newMasters(bin, logDir string, n int, args []string) (*masters, error) {
	linkDir, err := os.MkdirTemp("", "kubeoffer-chaos-masters-")
	if err != nil {
		return nil, err
	}
	return &masters{bin: bin, linkDir: linkDir, logDir: logDir, args: args, replicas: make([]*replica, n)}, nil
}

// start runs replica i (again).
func (m *masters) start(i int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := 1
	if prev := m.replicas[i]; prev != nil {
		start = prev.start + 1
	}
	r := &replica{index: i, start: start, name: fmt.Sprintf("%s%d-%d", masterManagerPrefix, i, start), port: freePort(), done: make(chan struct{})}
	link := filepath.Join(m.linkDir, r.name)
	if err := os.Symlink(m.bin, link); err != nil {
		return fmt.Errorf("linking %s: %w", r.name, err)
	}
	logf, err := os.OpenFile(filepath.Join(m.logDir, fmt.Sprintf("master-%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== %s started %s\n", r.name, time.Now().UTC().Format(time.RFC3339Nano))
	r.cmd = exec.Command(link, append([]string{"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", r.port)}, m.args...)...)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	// A replica must not outlive the harness.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", r.name, err)
	}
	m.replicas[i] = r
	go func() {
		r.err = r.cmd.Wait()
		fmt.Fprintf(logf, "==== %s exited %s: %v\n", r.name, time.Now().UTC().Format(time.RFC3339Nano), r.err)
		logf.Close()
		m.mu.Lock()
		if !r.killed {
			m.unplanned = append(m.unplanned, unplannedExit{name: r.name, at: time.Now(), err: r.err,
				lostLease: strings.Contains(logTail(logf.Name(), 4096), "leader election lost")})
		}
		m.mu.Unlock()
		close(r.done)
	}()
	return nil
}

// supervise restarts replicas that exited on their own (as a Deployment's
// ReplicaSet would) until ctx ends.
func (m *masters) supervise(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		for i := range m.replicas {
			m.mu.Lock()
			r := m.replicas[i]
			m.mu.Unlock()
			select {
			case <-r.done:
				if !r.killed {
					_ = m.start(i)
				}
			default:
			}
		}
	}
}

// leader is the replica that says it leads (controller-runtime's
// leader_election_master_status gauge), waiting up to d for one.
func (m *masters) leader(ctx context.Context, d time.Duration) (*replica, error) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		m.mu.Lock()
		live := make([]*replica, 0, len(m.replicas))
		for _, r := range m.replicas {
			if r != nil && !r.killed {
				live = append(live, r)
			}
		}
		m.mu.Unlock()
		for _, r := range live {
			mm, err := scrape(func() (*http.Response, error) {
				return http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.port))
			})
			if err == nil && mm[`leader_election_master_status{name="kubeoffer-master"}`] == 1 {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("no master replica led within %s", d)
}

// kill SIGKILLs a replica (a crash: its Lease is not released) and waits
// for it to be gone.
func (m *masters) kill(r *replica) {
	cpu, _ := procStats(r.cmd.Process.Pid)
	m.mu.Lock()
	r.killed = true
	m.mu.Unlock()
	if r.cmd.Process.Signal(syscall.SIGKILL) == nil {
		m.mu.Lock()
		m.cpu += cpu
		m.mu.Unlock()
	}
	<-r.done
}

// cpuSeconds is the CPU time every replica used so far.
func (m *masters) cpuSeconds() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := m.cpu
	for _, r := range m.replicas {
		if r != nil && !r.killed {
			cpu, _ := procStats(r.cmd.Process.Pid)
			total += cpu
		}
	}
	return total
}

// stop kills every replica.
func (m *masters) stop() {
	for _, r := range m.replicas {
		if r != nil {
			m.kill(r)
		}
	}
	_ = os.RemoveAll(m.linkDir)
}

// unplannedExit is a replica that exited without being killed.
type unplannedExit struct {
	name string
	at   time.Time
	err  error
	// lostLease: it could not renew the leader Lease in time and exited,
	// as a leader must (another may lead by then); anything else is a
	// crash.
	lostLease bool
}

func (u unplannedExit) String() string {
	why := "crashed"
	if u.lostLease {
		why = "lost the leader Lease (renew deadline passed) and exited, as it must"
	}
	return fmt.Sprintf("%s %s at %s: %v", u.name, why, u.at.Format(time.TimeOnly), u.err)
}

func (m *masters) unplannedExits() []unplannedExit {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]unplannedExit(nil), m.unplanned...)
}

// logTail is the last n bytes of a file.
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return string(data)
}
