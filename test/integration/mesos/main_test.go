// Package mesos tests kubeoffer's Mesos scheduler HTTP API against a real
// kube-apiserver with the master and agentd running and the kubelet double
// deciding simple commands (harness.KubeletOptions.RunCommands): with Mesos
// clients nobody here wrote — mesos-go v0.0.11's msh (protobuf) and npm's
// mesos-framework 0.5.3 (JSON) — and with a small client of the test's own
// for the calls and faults those two do not make.
package mesos

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubeoffer/kubeoffer/pkg/mesosapi"
	"github.com/kubeoffer/kubeoffer/test/controlplane"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(harness.LogLevel())))
	code := controlplane.Run(m, &cp)
	if toolDir != "" {
		_ = os.RemoveAll(toolDir)
	}
	os.Exit(code)
}

// nodeResources is what each test node offers: enough for a few msh
// tasks, with disk for msh -pod's executor and ports for frameworks that
// ask for them.
func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("10Gi"), corev1.ResourcePods: resource.MustParse("110")}
}

// nodeIP is the test node's address (TEST-NET-1: never contacted).
const nodeIP = "192.0.2.10"

// cluster starts a master, one node with agentd and the command-running
// kubelet double, and returns its node name.
func cluster(t *testing.T, ns string) string {
	t.Helper()
	harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: time.Hour, AgentLeaseNamespace: harness.AgentLeaseNamespace, AgentTimeout: time.Minute})
	node := harness.AddNode(t, cp, ns, "n1", nodeResources(), map[string]string{corev1.LabelHostname: ns + "-n1"})
	// An address for offers' url (documentation range: nothing is sent to it).
	n := &corev1.Node{}
	harness.Must(t, cp.Client.Get(context.Background(), client.ObjectKey{Name: node}, n))
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}}
	harness.Must(t, cp.Client.Status().Update(context.Background(), n))
	harness.StartAgentd(t, cp, node, nil)
	harness.StartKubeletWith(t, cp.Client, harness.KubeletOptions{RunCommands: true}, node)
	return node
}

// apiServer is a Mesos API server running in its own manager (as a
// separate Deployment would run it), served over HTTP on loopback.
type apiServer struct {
	URL    string // http://127.0.0.1:port
	Addr   string // 127.0.0.1:port
	cancel context.CancelFunc
	done   chan struct{}
	http   *httptest.Server
}

// testConfig maps anonymous frameworks to ns with the default role, and
// resends unacknowledged updates after a second.
func testConfig(ns string) mesosapi.Config {
	return mesosapi.Config{Anonymous: &mesosapi.Access{Namespace: ns, Roles: []string{"*"}},
		ResendInterval: mesosapi.Duration{Duration: time.Second}, ResendMaxInterval: mesosapi.Duration{Duration: 4 * time.Second},
		LeaseRenewInterval: mesosapi.Duration{Duration: time.Second}}
}

// startAPI runs a Mesos API server until the test ends or Stop is called.
func startAPI(t *testing.T, cfg mesosapi.Config) *apiServer {
	t.Helper()
	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{Scheme: cp.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: harness.ControllerConfig()})
	harness.Must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := mesosapi.Setup(ctx, mgr, mesosapi.Options{Config: cfg, Identity: "test"})
	harness.Must(t, err)
	a := &apiServer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("mesos api manager stopped: %v", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("mesos api caches did not sync")
	}
	a.http = httptest.NewServer(srv)
	a.URL = a.http.URL
	a.Addr = a.http.Listener.Addr().String()
	t.Cleanup(a.Stop)
	return a
}

// Stop stops the server (subscriptions end) and waits; safe to call twice.
func (a *apiServer) Stop() {
	a.http.CloseClientConnections()
	a.http.Close()
	a.cancel()
	<-a.done
}

var (
	toolOnce sync.Once
	toolDir  string
	mshPath  string
	toolErr  error
)

// msh builds mesos-go v0.0.11's msh once per test binary from its pinned
// module (test/mesosclients/msh).
func msh(t *testing.T) string {
	t.Helper()
	toolOnce.Do(func() {
		toolDir, toolErr = os.MkdirTemp("", "kubeoffer-mesos-clients-")
		if toolErr != nil {
			return
		}
		mshPath = filepath.Join(toolDir, "msh")
		cmd := exec.Command("go", "build", "-o", mshPath, "github.com/mesos/mesos-go/api/v1/cmd/msh")
		cmd.Dir = filepath.Join(controlplane.RepoRoot(), "test", "mesosclients", "msh")
		if out, err := cmd.CombinedOutput(); err != nil {
			toolErr = &buildError{err: err, out: out}
		}
	})
	if toolErr != nil {
		t.Fatalf("building msh: %v", toolErr)
	}
	return mshPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// run runs a client command with a deadline and returns its exit code and
// output.
func run(t *testing.T, timeout time.Duration, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s; output:\n%s", name, args, timeout, out.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", name, err)
	}
	return code, out.String()
}
