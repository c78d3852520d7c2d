package mesosapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
)

// Path is where the scheduler API is served, as on a Mesos master.
const Path = "/api/v1/scheduler"

// HeaderStreamID names a subscription; every call but SUBSCRIBE carries it.
const HeaderStreamID = "Mesos-Stream-Id"

// indexTaskFramework indexes Tasks by framework in the server's cache (a
// name of its own, so the server can share the master's cache).
const indexTaskFramework = "mesosapi.spec.frameworkName"

// maxBody bounds a call's body (Mesos frameworks send a few KiB; a LAUNCH
// of many tasks some MiB).
const maxBody = 16 << 20

// Options configure the Mesos API server.
type Options struct {
	Config Config
	// BindAddress is where it listens (e.g. ":5050"); empty or "0" adds no
	// listener (Handler still serves, for tests).
	BindAddress string
	// Clock is real time unless a test injects another.
	Clock clock.WithTicker
	// Identity names this replica on the heartbeat Leases it renews
	// (default: the host name).
	Identity string
}

// Server serves the Mesos scheduler API. State lives in the API server;
// the server keeps only its open subscriptions, so any replica can serve a
// framework and a restarted one loses nothing.
type Server struct {
	cfg    Config
	client client.Client
	reader client.Reader
	// direct reads and writes the API server without a cache, for the
	// heartbeat Leases, whose take-over must see the latest version.
	direct   client.Client
	log      logr.Logger
	clock    clock.WithTicker
	identity string

	mu      sync.Mutex
	streams map[types.NamespacedName]*stream
}

// The Mesos API's own ClusterRole (bound only when it is on): it writes
// Frameworks, Tasks and their status, offers' declines and annotations, and
// the frameworks' heartbeat Leases, in the namespaces principals map to.

// +kubebuilder:rbac:groups=kubeoffer.io,resources=frameworks;tasks,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=kubeoffer.io,resources=tasks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=resourceoffers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kubeoffer.io,resources=agents,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// Setup creates the server on mgr's cache and client, registers the
// informer handlers that wake subscriptions, and, with a BindAddress,
// adds its listener to mgr (it runs on every replica, not only the
// leader).
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) (*Server, error) {
	cfg := opts.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Identity == "" {
		opts.Identity, _ = os.Hostname()
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("creating the Mesos API's client: %w", err)
	}
	s := &Server{cfg: cfg, client: mgr.GetClient(), reader: mgr.GetAPIReader(), direct: direct, log: mgr.GetLogger().WithName("mesos-api"),
		clock: opts.Clock, identity: opts.Identity, streams: map[types.NamespacedName]*stream{}}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &kov1.Task{}, indexTaskFramework, func(o client.Object) []string {
		return []string{o.(*kov1.Task).Spec.FrameworkName}
	}); err != nil {
		return nil, fmt.Errorf("indexing tasks by framework: %w", err)
	}
	wakeFor := func(key func(any) (types.NamespacedName, bool)) toolscache.ResourceEventHandler {
		on := func(obj any) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if k, ok := key(obj); ok {
				s.wake(k)
			}
		}
		return toolscache.ResourceEventHandlerFuncs{AddFunc: on, UpdateFunc: func(_, o any) { on(o) }, DeleteFunc: on}
	}
	handlers := []struct {
		obj client.Object
		key func(any) (types.NamespacedName, bool)
	}{
		{&kov1.ResourceOffer{}, func(o any) (types.NamespacedName, bool) {
			r, ok := o.(*kov1.ResourceOffer)
			if !ok {
				return types.NamespacedName{}, false
			}
			return types.NamespacedName{Namespace: r.Namespace, Name: r.Spec.FrameworkName}, true
		}},
		{&kov1.Task{}, func(o any) (types.NamespacedName, bool) {
			t, ok := o.(*kov1.Task)
			if !ok {
				return types.NamespacedName{}, false
			}
			return types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.FrameworkName}, true
		}},
		{&kov1.Framework{}, func(o any) (types.NamespacedName, bool) {
			f, ok := o.(*kov1.Framework)
			if !ok {
				return types.NamespacedName{}, false
			}
			return types.NamespacedName{Namespace: f.Namespace, Name: f.Name}, true
		}},
		{&kov1.Agent{}, func(any) (types.NamespacedName, bool) { s.wakeAll(); return types.NamespacedName{}, false }},
	}
	for _, h := range handlers {
		inf, err := mgr.GetCache().GetInformer(ctx, h.obj)
		if err != nil {
			return nil, fmt.Errorf("watching %T: %w", h.obj, err)
		}
		if _, err := inf.AddEventHandler(wakeFor(h.key)); err != nil {
			return nil, fmt.Errorf("watching %T: %w", h.obj, err)
		}
	}
	if opts.BindAddress != "" && opts.BindAddress != "0" {
		if err := mgr.Add(&listener{addr: opts.BindAddress, handler: s, log: s.log}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// listener serves the API on every replica until the manager stops.
type listener struct {
	addr    string
	handler http.Handler
	log     logr.Logger
}

// NeedLeaderElection is false: every replica serves Mesos frameworks.
func (l *listener) NeedLeaderElection() bool { return false }

// Start listens until ctx ends.
func (l *listener) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("listening on %s for the Mesos API: %w", l.addr, err)
	}
	// No write timeout: a subscription is a response that lasts.
	srv := &http.Server{Handler: l.handler, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	l.log.Info("Serving the Mesos scheduler API", "address", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut) // subscriptions end with ctx anyway
		return nil
	case err := <-errc:
		return err
	}
}

// ServeHTTP serves POST /api/v1/scheduler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.Error(w, "not found: the Mesos scheduler API is at "+Path, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "expecting a POST request", http.StatusMethodNotAllowed)
		return
	}
	enc, ok := EncodingOf(r.Header.Get("Content-Type"))
	if !ok {
		http.Error(w, fmt.Sprintf("Content-Type %q is not supported: send application/json or application/x-protobuf", r.Header.Get("Content-Type")),
			http.StatusUnsupportedMediaType)
		return
	}
	principal, access, err := s.cfg.Authenticate(r)
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) {
			if ae.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="mesos"`)
			}
			http.Error(w, ae.msg, ae.status)
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		http.Error(w, "reading the call: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxBody {
		http.Error(w, fmt.Sprintf("the call is over %d bytes", maxBody), http.StatusRequestEntityTooLarge)
		return
	}
	call, err := DecodeCall(enc, body)
	if err != nil {
		http.Error(w, fmt.Sprintf("failed to parse the body into a scheduler Call (%s): %v", enc.ContentType(), err), http.StatusBadRequest)
		return
	}
	if call.GetType() == mesospb.Call_SUBSCRIBE {
		s.subscribe(w, r, call, principal, access)
		return
	}
	s.serveCall(w, r, call, principal, access)
}

// httpError is a failed call: its status and what to tell the client.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func forbidden(format string, a ...any) error {
	return &httpError{http.StatusForbidden, fmt.Sprintf(format, a...)}
}

// writeError answers err: its own status for an httpError, 503 for an API
// server failure (the framework retries).
func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		http.Error(w, he.msg, he.status)
		return
	}
	http.Error(w, "kubeoffer could not do the call: "+err.Error(), http.StatusServiceUnavailable)
}

// errRemoved is a subscription for a framework that was torn down.
var errRemoved = errors.New("framework has been removed")

// subscribe serves SUBSCRIBE: it creates or adopts the Framework, answers
// 200 at once with the stream's id and encoding, sends SUBSCRIBED, and
// streams events until the client goes, fails over, or is torn down.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, call *mesospb.Call, principal string, access Access) {
	if r.Header.Get(HeaderStreamID) != "" {
		writeError(w, badRequest("SUBSCRIBE must not carry a %s header: every subscription gets a new one", HeaderStreamID))
		return
	}
	format, ok := Negotiate(r.Header.Get("Accept"), r.Header.Get("Message-Accept"))
	if !ok {
		http.Error(w, fmt.Sprintf("Accept %q names no encoding this API writes: accept application/json or application/x-protobuf (or application/recordio)",
			r.Header.Get("Accept")), http.StatusNotAcceptable)
		return
	}
	fi := call.GetSubscribe().GetFrameworkInfo()
	if fi == nil {
		writeError(w, badRequest("SUBSCRIBE needs subscribe.framework_info"))
		return
	}
	id := fi.GetId().GetValue()
	if cid := call.GetFrameworkId().GetValue(); cid != "" && id != "" && cid != id {
		writeError(w, badRequest("framework_id %q and subscribe.framework_info.id %q differ", cid, id))
		return
	} else if id == "" {
		id = cid
	}
	if p := fi.GetPrincipal(); p != "" && p != principal {
		writeError(w, forbidden("framework_info.principal %q is not the principal %q the request authenticated as", p, principal))
		return
	}
	role, err := subscribeRole(fi, access)
	if err != nil {
		writeError(w, err)
		return
	}
	caps := CapabilitiesOf(fi)
	ctx := r.Context()
	fw, err := s.ensureFramework(ctx, access.Namespace, id, fi, role, principal, call.GetSubscribe().GetSuppressedRoles())
	st := s.newStream(ctx, fw, access.Namespace, principal, role, caps, format)
	defer st.cancel()
	w.Header().Set(HeaderStreamID, st.id)
	if format.RecordIO {
		w.Header().Set("Content-Type", MediaRecordIO)
		w.Header().Set("Message-Content-Type", format.Encoding.ContentType())
	} else {
		w.Header().Set("Content-Type", format.Encoding.ContentType())
	}
	w.Header().Set("Cache-Control", "no-cache")
	if err != nil {
		var he *httpError
		switch {
		case errors.Is(err, errRemoved):
			w.WriteHeader(http.StatusOK)
			st.writeOne(w, errorEvent("Framework has been removed"))
		case errors.As(err, &he):
			http.Error(w, he.msg, he.status)
		default:
			writeError(w, err)
		}
		return
	}
	if err := st.take(ctx); err != nil {
		writeError(w, fmt.Errorf("taking the framework's heartbeat Lease: %w", err))
		return
	}
	s.register(st)
	defer s.unregister(st)
	w.WriteHeader(http.StatusOK)
	if !st.writeOne(w, &mesospb.Event{Type: mesospb.Event_SUBSCRIBED.Enum(), Subscribed: &mesospb.Event_Subscribed{
		FrameworkId: &mesospb.FrameworkID{Value: ptr.To(fw.Name)}, HeartbeatIntervalSeconds: ptr.To(s.cfg.HeartbeatInterval.Seconds())}}) {
		return
	}
	s.log.Info("Subscribed a Mesos framework", "Framework", klogKey(fw), "stream", st.id, "principal", principal, "role", role)
	st.run(w)
}

// subscribeRole is the one Mesos role a framework subscribes with (roles,
// or the deprecated role, default "*"), if its principal may use it.
func subscribeRole(fi *mesospb.FrameworkInfo, access Access) (string, error) {
	roles := fi.GetRoles()
	if len(roles) == 0 {
		r := fi.GetRole()
		if r == "" {
			r = MesosRoleAny
		}
		roles = []string{r}
	}
	if len(roles) > 1 {
		return "", badRequest("framework_info.roles has %d roles: a kubeoffer framework has one role; subscribe with one (or run one framework per role)", len(roles))
	}
	role := roles[0]
	if role == kov1.DefaultRole {
		return "", badRequest("role %q is kubeoffer's name for Mesos's default role: subscribe with \"*\"", role)
	}
	allowed := false
	for _, a := range access.Roles {
		if a == role {
			allowed = true
		}
	}
	if !allowed {
		return "", forbidden("role %q is not one this principal may use (it may use %s)", role, strings.Join(access.Roles, ", "))
	}
	return role, nil
}

// frameworkSpec is the Framework spec a FrameworkInfo asks for.
func frameworkSpec(fi *mesospb.FrameworkInfo, role string, suppressed []string) kov1.FrameworkSpec {
	caps := CapabilitiesOf(fi)
	spec := kov1.FrameworkSpec{Role: KubeRole(role), Offers: kov1.OfferModeActive,
		FailoverTimeout: &metav1.Duration{Duration: FailoverTimeout(fi.GetFailoverTimeout())}}
	if caps.PartitionAware {
		spec.Capabilities = append(spec.Capabilities, kov1.CapabilityPartitionAware)
	}
	if caps.GPUResources {
		spec.Capabilities = append(spec.Capabilities, kov1.CapabilityGPUResources)
	}
	for _, r := range suppressed {
		if r == role {
			spec.Offers = kov1.OfferModeSuppressed
		}
	}
	return spec
}

// FailoverTimeout bounds a FrameworkInfo's failover_timeout (seconds) to
// what a Framework takes: at least 1s (Mesos's 0, "tear down at once",
// becomes 1s after the heartbeat Lease expires), at most a year.
func FailoverTimeout(seconds float64) time.Duration {
	switch {
	case seconds != seconds || seconds < 1:
		return time.Second
	case seconds >= maxRefuse.Seconds():
		return maxRefuse
	}
	return time.Duration(seconds * float64(time.Second)).Round(time.Second)
}

// ensureFramework creates the Framework of a new framework (no id), or
// adopts the one id names (a resubscription or failover), updating what a
// resubscription may change.
func (s *Server) ensureFramework(ctx context.Context, ns, id string, fi *mesospb.FrameworkInfo, role, principal string, suppressed []string) (*kov1.Framework, error) {
	spec := frameworkSpec(fi, role, suppressed)
	if id == "" {
		prefix := sanitizeName(fi.GetName(), 40)
		if prefix == "" {
			prefix = "mesos"
		}
		fw := &kov1.Framework{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Namespace: ns,
			Labels: map[string]string{LabelFramework: "true"}, Annotations: map[string]string{AnnotationPrincipal: principal}}, Spec: spec}
		if err := s.client.Create(ctx, fw); err != nil {
			if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
				return nil, badRequest("kubeoffer refused the framework: %v", err)
			}
			return nil, fmt.Errorf("creating the framework: %w", err)
		}
		return fw, nil
	}
	if len(validation.IsDNS1123Subdomain(id)) > 0 {
		return nil, errRemoved
	}
	key := types.NamespacedName{Namespace: ns, Name: id}
	var fw *kov1.Framework
	err := retryConflict(func() error {
		fw = &kov1.Framework{}
		if err := s.reader.Get(ctx, key, fw); err != nil {
			if apierrors.IsNotFound(err) {
				return errRemoved
			}
			return err
		}
		if fw.DeletionTimestamp != nil || meta.IsStatusConditionTrue(fw.Status.Conditions, kov1.FrameworkTornDownCondition) {
			return errRemoved
		}
		if fw.Labels[LabelFramework] != "true" {
			return forbidden("framework %s was not made through the Mesos API: a Mesos framework cannot adopt it", id)
		}
		if fw.Annotations[AnnotationPrincipal] != principal {
			return forbidden("framework %s belongs to another principal", id)
		}
		if fw.Spec.Role != spec.Role {
			return badRequest("framework %s has role %q; a kubeoffer framework's role cannot change (subscribe as a new framework for another role)", id, MesosRole(fw.Spec.Role))
		}
		if fw.Spec.FailoverTimeout != nil && *fw.Spec.FailoverTimeout == *spec.FailoverTimeout &&
			fw.Spec.Offers == spec.Offers && equalCaps(fw.Spec.Capabilities, spec.Capabilities) {
			return nil
		}
		fw.Spec.FailoverTimeout, fw.Spec.Offers, fw.Spec.Capabilities = spec.FailoverTimeout, spec.Offers, spec.Capabilities
		return s.client.Update(ctx, fw)
	})
	return fw, err
}

func equalCaps(a, b []kov1.FrameworkCapability) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// retryConflict retries f while it meets a write conflict.
func retryConflict(f func() error) error {
	var err error
	for range 5 {
		if err = f(); !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

// newStream makes a subscription's state (not yet registered).
func (s *Server) newStream(ctx context.Context, fw *kov1.Framework, ns, principal, role string, caps Capabilities, format StreamFormat) *stream {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	ctx, cancel := context.WithCancel(ctx)
	st := &stream{srv: s, id: hex.EncodeToString(b), principal: principal, role: role, caps: caps, format: format,
		out: make(chan outEvent, 256), wakeC: make(chan struct{}, 1), ctx: ctx, cancel: cancel, mem: newSyncMemory()}
	if fw != nil {
		st.fw = types.NamespacedName{Namespace: fw.Namespace, Name: fw.Name}
	} else {
		st.fw = types.NamespacedName{Namespace: ns}
	}
	return st
}

// register makes st the framework's subscription; an older one on this
// replica is told it failed over and closed (Mesos sends it ERROR).
func (s *Server) register(st *stream) {
	s.mu.Lock()
	old := s.streams[st.fw]
	s.streams[st.fw] = st
	s.mu.Unlock()
	if old != nil {
		old.fail("Framework failed over")
	}
}

// unregister forgets st, unless a newer subscription replaced it.
func (s *Server) unregister(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[st.fw] == st {
		delete(s.streams, st.fw)
	}
}

func (s *Server) lookup(fw types.NamespacedName) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[fw]
}

// wake asks the subscription of framework key for a pass.
func (s *Server) wake(key types.NamespacedName) {
	if st := s.lookup(key); st != nil {
		st.wake()
	}
}

func (s *Server) wakeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		st.wake()
	}
}

// lease is the heartbeat Lease of a framework.
func leaseKey(fw types.NamespacedName) types.NamespacedName {
	return types.NamespacedName{Namespace: fw.Namespace, Name: kov1.HeartbeatLeaseName(fw.Name)}
}

func klogKey(o client.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// SetupFromFile sets the server up on mgr from a config file, listening on
// addr (what main.go's --mesos-api-* flags ask for).
func SetupFromFile(ctx context.Context, mgr ctrl.Manager, addr, configPath string) error {
	if configPath == "" {
		return errors.New("the Mesos API is on (--mesos-api-bind-address) but has no config: set --mesos-api-config to a file mapping principals to namespaces and roles")
	}
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return err
	}
	_, err = Setup(ctx, mgr, Options{Config: cfg, BindAddress: addr})
	return err
}
