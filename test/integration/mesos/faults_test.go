package mesos

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kov1 "github.com/kubeoffer/kubeoffer/api/v1alpha1"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
	b "github.com/kubeoffer/kubeoffer/test/builders"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// task reads Task ns/name.
func task(t *testing.T, ns, name string) *kov1.Task {
	t.Helper()
	tk := &kov1.Task{}
	harness.Must(t, cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, tk))
	return tk
}

// ackUntil acknowledges the updates of task until it reaches state, and
// returns that update (acknowledged too).
func (s *scheduler) ackUntil(task string, state mesospb.TaskState) *mesospb.TaskStatus {
	s.t.Helper()
	for {
		ev := s.waitEvent("UPDATE of "+task, func(e *mesospb.Event) bool {
			return e.GetType() == mesospb.Event_UPDATE && e.GetUpdate().GetStatus().GetTaskId().GetValue() == task
		})
		st := ev.GetUpdate().GetStatus()
		if len(st.GetUuid()) > 0 {
			s.ack(st)
		}
		if st.GetState() == state {
			return st
		}
		if mesosapi.IsTerminal(st.GetState()) {
			s.t.Fatalf("task %s ended %s (%s), want %s", task, st.GetState(), st.GetMessage(), state)
		}
	}
}

// TestResubscribeKeepsTasks: a scheduler that disconnects and resubscribes
// with its framework id keeps its running task (reconciliation reports
// it, without a uuid); a second subscription while the first is open is a
// failover, and the first gets ERROR and is closed; the new one can KILL
// the task, and TASK_KILLED is sent with a uuid.
func TestResubscribeKeepsTasks(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns)
	api := startAPI(t, testConfig(ns))

	s1 := subscribe(t, api, mesosapi.JSON, frameworkInfo("keeper", "", 3600))
	if ct := s1.resp.Header.Get("Content-Type"); ct != mesosapi.MediaJSON || s1.resp.ContentLength != -1 || s1.streamID == "" {
		t.Errorf("SUBSCRIBE answered Content-Type %q, Content-Length %d, stream id %q; want JSON, chunked, an id", ct, s1.resp.ContentLength, s1.streamID)
	}
	o := s1.offer()
	if o.GetFrameworkId().GetValue() != s1.fwID || o.GetHostname() == "" || o.GetUrl().GetAddress().GetHostname() == "" || o.GetUrl().GetAddress().GetIp() != nodeIP ||
		o.GetAllocationInfo().GetRole() != "*" {
		t.Errorf("offer %v lacks its framework, host, url or allocation role", o)
	}
	for _, r := range o.GetResources() {
		if r.GetAllocationInfo().GetRole() != "*" || r.GetRole() != "*" {
			t.Errorf("resource %s has allocation role %q and role %q, want * and * (pre-refinement format)", r.GetName(), r.GetAllocationInfo().GetRole(), r.GetRole())
		}
	}
	if code, body := s1.launch(o, "sleeper", "sleep 3600"); code != http.StatusAccepted {
		t.Fatalf("ACCEPT answered %d: %s", code, body)
	}
	s1.ackUntil("sleeper", mesospb.TaskState_TASK_RUNNING)
	name := mesosapi.TaskName(s1.fwID, "sleeper")
	uid := task(t, ns, name).UID
	s1.close()

	s2 := subscribe(t, api, mesosapi.Protobuf, frameworkInfo("keeper", s1.fwID, 3600))
	if s2.fwID != s1.fwID {
		t.Fatalf("resubscribing gave framework id %q, want %q", s2.fwID, s1.fwID)
	}
	s2.mustCall(&mesospb.Call{Type: mesospb.Call_RECONCILE.Enum(), Reconcile: &mesospb.Call_Reconcile{}})
	st := s2.update("sleeper", mesospb.TaskState_TASK_RUNNING)
	if len(st.GetUuid()) != 0 || st.GetReason() != mesospb.TaskStatus_REASON_RECONCILIATION {
		t.Errorf("implicit reconciliation sent uuid %x reason %s; want none and REASON_RECONCILIATION", st.GetUuid(), st.GetReason())
	}
	if tk := task(t, ns, name); tk.UID != uid || tk.Status.State != kov1.TaskRunning {
		t.Errorf("after resubscribing the task is %s (uid %s), want the same Running task", tk.Status.State, tk.UID)
	}

	s3 := subscribe(t, api, mesosapi.JSON, frameworkInfo("keeper", s1.fwID, 3600))
	ev := s2.waitEvent("ERROR on the failed-over stream", func(e *mesospb.Event) bool { return e.GetType() == mesospb.Event_ERROR })
	if !strings.Contains(ev.GetError().GetMessage(), "failed over") {
		t.Errorf("the old stream got ERROR %q", ev.GetError().GetMessage())
	}
	harness.Eventually(t, "the old stream to close", func() (bool, string) { return s2.isClosed(), "open" })
	if code, _ := s2.call(&mesospb.Call{Type: mesospb.Call_REVIVE.Enum()}); code != http.StatusBadRequest {
		t.Errorf("a call on the failed-over stream answered %d, want 400", code)
	}

	s3.mustCall(&mesospb.Call{Type: mesospb.Call_KILL.Enum(), Kill: &mesospb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String("sleeper")}}})
	killed := s3.ackUntil("sleeper", mesospb.TaskState_TASK_KILLED)
	if len(killed.GetUuid()) != 16 {
		t.Errorf("TASK_KILLED has uuid %x, want 16 bytes", killed.GetUuid())
	}
	harness.WaitTask(t, cp.Client, ns, name, kov1.TaskKilled)
}

// TestUpdatesResentUntilAcknowledged: an update that is not acknowledged
// is sent again with the same uuid, also by a restarted server to the
// resubscribed framework; acknowledging it brings the next one.
func TestUpdatesResentUntilAcknowledged(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns)
	cfg := testConfig(ns)
	api := startAPI(t, cfg)
	s1 := subscribe(t, api, mesosapi.Protobuf, frameworkInfo("resender", "", 3600))
	o := s1.offer()
	if code, body := s1.launch(o, "once", "true"); code != http.StatusAccepted {
		t.Fatalf("ACCEPT answered %d: %s", code, body)
	}
	first := s1.waitEvent("the first update", func(e *mesospb.Event) bool { return e.GetType() == mesospb.Event_UPDATE })
	again := s1.update("once", first.GetUpdate().GetStatus().GetState())
	if !bytes.Equal(again.GetUuid(), first.GetUpdate().GetStatus().GetUuid()) {
		t.Fatalf("the resent update has uuid %x, the first %x", again.GetUuid(), first.GetUpdate().GetStatus().GetUuid())
	}

	api.Stop()
	api2 := startAPI(t, cfg)
	s2 := subscribe(t, api2, mesosapi.Protobuf, frameworkInfo("resender", s1.fwID, 3600))
	after := s2.update("once", again.GetState())
	if !bytes.Equal(after.GetUuid(), again.GetUuid()) {
		t.Fatalf("after a restart the update has uuid %x, before %x", after.GetUuid(), again.GetUuid())
	}
	s2.ack(after)
	s2.ackUntil("once", mesospb.TaskState_TASK_FINISHED)
	harness.Eventually(t, "the terminal update recorded as acknowledged", func() (bool, string) {
		tk := task(t, ns, mesosapi.TaskName(s1.fwID, "once"))
		return len(mesosapi.Pending(tk, mesosapi.Capabilities{MultiRole: true})) == 0, tk.Annotations[mesosapi.AnnotationAcknowledged]
	})
}

// TestFailoverTimeout: a scheduler that stays away past its failover
// timeout is torn down: its task is killed, and resubscribing gets ERROR.
func TestFailoverTimeout(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns)
	api := startAPI(t, testConfig(ns))
	s := subscribe(t, api, mesosapi.JSON, frameworkInfo("short", "", 2))
	o := s.offer()
	if code, body := s.launch(o, "long", "sleep 3600"); code != http.StatusAccepted {
		t.Fatalf("ACCEPT answered %d: %s", code, body)
	}
	s.ackUntil("long", mesospb.TaskState_TASK_RUNNING)
	s.close()
	harness.Eventually(t, "the framework torn down", func() (bool, string) {
		fw := &kov1.Framework{}
		harness.Must(t, cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: s.fwID}, fw))
		return meta.IsStatusConditionTrue(fw.Status.Conditions, kov1.FrameworkTornDownCondition), "not yet"
	})
	harness.WaitTask(t, cp.Client, ns, mesosapi.TaskName(s.fwID, "long"), kov1.TaskKilled)

	again := &scheduler{t: t, url: api.URL + mesosapi.Path, encoding: mesosapi.JSON, wake: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	again.cancel = cancel
	fi := frameworkInfo("short", s.fwID, 2)
	resp, err := again.post(ctx, &mesospb.Call{Type: mesospb.Call_SUBSCRIBE.Enum(), FrameworkId: fi.Id,
		Subscribe: &mesospb.Call_Subscribe{FrameworkInfo: fi}}, "")
	harness.Must(t, err)
	again.resp = resp
	t.Cleanup(again.close)
	go again.read()
	ev := again.waitEvent("ERROR", func(e *mesospb.Event) bool { return e.GetType() == mesospb.Event_ERROR })
	if ev.GetError().GetMessage() != "Framework has been removed" {
		t.Errorf("resubscribing a torn-down framework got ERROR %q", ev.GetError().GetMessage())
	}
}

// TestRefusals: what kubeoffer cannot do is refused with a message saying
// so, never ignored: an offer used twice, a custom executor, an
// unsupported operation or call; unknown tasks are TASK_UNKNOWN for a
// partition-aware framework; REQUEST is accepted and ignored.
func TestRefusals(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns)
	api := startAPI(t, testConfig(ns))
	s := subscribe(t, api, mesosapi.Protobuf, frameworkInfo("refusals", "", 3600, mesospb.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer()
	if code, body := s.launch(o, "a", "sleep 3600"); code != http.StatusAccepted {
		t.Fatalf("ACCEPT answered %d: %s", code, body)
	}
	if code, body := s.launch(o, "b", "true"); code != http.StatusAccepted {
		t.Fatalf("the second ACCEPT answered %d: %s", code, body)
	}
	st := s.update("b", mesospb.TaskState_TASK_DROPPED)
	if st.GetReason() != mesospb.TaskStatus_REASON_INVALID_OFFERS || !strings.Contains(st.GetMessage(), "already used") || len(st.GetUuid()) != 0 {
		t.Errorf("the second use of an offer got %s %q uuid %x", st.GetReason(), st.GetMessage(), st.GetUuid())
	}
	s.ackUntil("a", mesospb.TaskState_TASK_RUNNING)

	o2 := s.offer() // the rest of the first offer, declined for 1s, comes back
	ti := taskInfo(o2, "c", "true")
	ti.Executor = &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("custom")},
		Command: &mesospb.CommandInfo{Value: proto.String("./my-executor")}}
	s.mustCall(acceptCall(o2, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
		Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{ti}}}))
	st = s.update("c", mesospb.TaskState_TASK_ERROR)
	if !strings.Contains(st.GetMessage(), "custom executors are not supported") {
		t.Errorf("a custom executor got TASK_ERROR %q", st.GetMessage())
	}

	o3 := s.offer()
	code, body := s.call(acceptCall(o3, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum()}))
	if code != http.StatusBadRequest || !strings.Contains(body, "RESERVE is not supported") {
		t.Errorf("RESERVE answered %d %q, want 400 saying it is not supported", code, body)
	}
	code, body = s.call(&mesospb.Call{Type: mesospb.Call_MESSAGE.Enum()})
	if code != http.StatusBadRequest || !strings.Contains(body, "MESSAGE is not supported") {
		t.Errorf("MESSAGE answered %d %q", code, body)
	}
	s.mustCall(&mesospb.Call{Type: mesospb.Call_REQUEST.Enum()})
	s.mustCall(&mesospb.Call{Type: mesospb.Call_DECLINE.Enum(), Decline: &mesospb.Call_Decline{OfferIds: []*mesospb.OfferID{{Value: proto.String("no-such-offer")}}}})
	s.mustCall(&mesospb.Call{Type: mesospb.Call_RECONCILE.Enum(), Reconcile: &mesospb.Call_Reconcile{Tasks: []*mesospb.Call_Reconcile_Task{
		{TaskId: &mesospb.TaskID{Value: proto.String("ghost")}}, {TaskId: &mesospb.TaskID{Value: proto.String("a")}}}}})
	if st := s.update("ghost", mesospb.TaskState_TASK_UNKNOWN); st.GetReason() != mesospb.TaskStatus_REASON_RECONCILIATION || len(st.GetUuid()) != 0 {
		t.Errorf("reconciling an unknown task got reason %s uuid %x", st.GetReason(), st.GetUuid())
	}
	s.update("a", mesospb.TaskState_TASK_RUNNING)
	if tk := task(t, ns, mesosapi.TaskName(s.fwID, "a")); tk.Status.State != kov1.TaskRunning {
		t.Errorf("task a is %s, want Running", tk.Status.State)
	}
}

// rawCall posts body with headers and returns the status and body.
func rawCall(t *testing.T, url, method, contentType, accept, streamID string, body []byte, user, pass string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	harness.Must(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if streamID != "" {
		req.Header.Set(mesosapi.HeaderStreamID, streamID)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	harness.Must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK { // a subscription: read its first record only
		rec, _ := mesosapi.NewRecordReader(resp.Body).Next()
		return resp.StatusCode, string(rec)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTransport checks the HTTP contract: 405, 415, 400, 406, 400 for a
// missing or foreign stream id, 403 for a framework not subscribed.
func TestTransport(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns)
	cfg := testConfig(ns)
	cfg.HeartbeatInterval = mesosapi.Duration{Duration: 300 * time.Millisecond}
	api := startAPI(t, cfg)
	url := api.URL + mesosapi.Path
	sub := []byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"transport"}}}`)
	cases := map[string]struct {
		method, contentType, accept, stream string
		body                                []byte
		want                                int
		says                                string
	}{
		"GET":                      {method: http.MethodGet, want: http.StatusMethodNotAllowed},
		"text body":                {contentType: "text/plain", body: sub, want: http.StatusUnsupportedMediaType, says: "application/json"},
		"broken JSON":              {contentType: mesosapi.MediaJSON, body: []byte(`{"type":`), want: http.StatusBadRequest, says: "parse"},
		"protobuf garbage":         {contentType: mesosapi.MediaProtobuf, body: []byte{0xff, 0xff, 0xff}, want: http.StatusBadRequest},
		"accepts only HTML":        {contentType: mesosapi.MediaJSON, accept: "text/html", body: sub, want: http.StatusNotAcceptable},
		"subscribe with stream id": {contentType: mesosapi.MediaJSON, stream: "x", body: sub, want: http.StatusBadRequest},
		"two roles": {contentType: mesosapi.MediaJSON, want: http.StatusBadRequest, says: "one role",
			body: []byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"t","roles":["*","b"]}}}`)},
		"role not allowed": {contentType: mesosapi.MediaJSON, want: http.StatusForbidden, says: "may use",
			body: []byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"t","roles":["batch"]}}}`)},
		"no stream id":   {contentType: mesosapi.MediaJSON, body: []byte(`{"type":"REVIVE","framework_id":{"value":"nobody"}}`), want: http.StatusBadRequest, says: "Mesos-Stream-Id"},
		"not subscribed": {contentType: mesosapi.MediaJSON, stream: "x", body: []byte(`{"type":"REVIVE","framework_id":{"value":"nobody"}}`), want: http.StatusForbidden},
	}
	for name, c := range cases {
		method := c.method
		if method == "" {
			method = http.MethodPost
		}
		code, body := rawCall(t, url, method, c.contentType, c.accept, c.stream, c.body, "", "")
		if code != c.want || !strings.Contains(body, c.says) {
			t.Errorf("%s: answered %d %q, want %d saying %q", name, code, body, c.want, c.says)
		}
	}
	// A Framework not made through the Mesos API (an SDK's, a built-in
	// scheduler's) cannot be adopted by a Mesos framework naming its id.
	harness.Must(t, cp.Client.Create(context.Background(), b.MakeFramework("plain", ns).Obj()))
	code, body := rawCall(t, url, http.MethodPost, mesosapi.MediaJSON, "", "",
		[]byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"t","id":{"value":"plain"}}}}`), "", "")
	if code != http.StatusForbidden || !strings.Contains(body, "not made through the Mesos API") {
		t.Errorf("adopting an SDK framework answered %d %q, want 403", code, body)
	}
	s := subscribe(t, api, mesosapi.JSON, frameworkInfo("transport", "", 60))
	s.waitEvent("a HEARTBEAT", func(e *mesospb.Event) bool { return e.GetType() == mesospb.Event_HEARTBEAT })
	code, body = rawCall(t, url, http.MethodPost, mesosapi.MediaJSON, "", "not-"+s.streamID,
		[]byte(`{"type":"REVIVE","framework_id":{"value":"`+s.fwID+`"}}`), "", "")
	if code != http.StatusBadRequest {
		t.Errorf("a call with another stream's id answered %d %q, want 400", code, body)
	}
	code, body = rawCall(t, url, http.MethodPost, mesosapi.MediaJSON, "", s.streamID,
		[]byte(`{"type":"REVIVE","framework_id":{"value":"`+s.fwID+`"}}`), "", "")
	if code != http.StatusAccepted {
		t.Errorf("REVIVE answered %d %q, want 202", code, body)
	}
	// JSON form: the SUBSCRIBED record has the heartbeat interval as a
	// number, field names as in Mesos.
	code, rec := rawCall(t, url, http.MethodPost, mesosapi.MediaJSON, "", "", sub, "", "")
	if code != http.StatusOK || !strings.Contains(rec, `"type":"SUBSCRIBED"`) || !strings.Contains(rec, `"heartbeat_interval_seconds":0.3`) {
		t.Errorf("SUBSCRIBE answered %d with first record %s", code, rec)
	}
}

// TestPrincipals: HTTP basic credentials are checked against the mounted
// Secret's files, and a principal's frameworks live in its namespace.
func TestPrincipals(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns)
	dir := t.TempDir()
	harness.Must(t, os.WriteFile(filepath.Join(dir, "team-a"), []byte("s3cret\n"), 0o600))
	cfg := testConfig(ns)
	cfg.Anonymous = nil
	cfg.CredentialsDir = dir
	cfg.Principals = []mesosapi.PrincipalAccess{{Principal: "team-a", Access: mesosapi.Access{Namespace: ns, Roles: []string{"*"}}}}
	api := startAPI(t, cfg)
	url := api.URL + mesosapi.Path
	sub := []byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"secure","principal":"team-a"}}}`)
	for name, c := range map[string]struct {
		user, pass string
		want       int
	}{
		"no credentials": {want: http.StatusUnauthorized},
		"wrong secret":   {user: "team-a", pass: "guess", want: http.StatusUnauthorized},
		"unknown":        {user: "team-b", pass: "s3cret", want: http.StatusUnauthorized},
		"right":          {user: "team-a", pass: "s3cret", want: http.StatusOK},
	} {
		if code, body := rawCall(t, url, http.MethodPost, mesosapi.MediaJSON, "", "", sub, c.user, c.pass); code != c.want {
			t.Errorf("%s: answered %d %q, want %d", name, code, body, c.want)
		}
	}
	var fws kov1.FrameworkList
	harness.Must(t, cp.Client.List(context.Background(), &fws, client.InNamespace(ns)))
	if len(fws.Items) != 1 || fws.Items[0].Annotations[mesosapi.AnnotationPrincipal] != "team-a" {
		t.Errorf("want one Framework of principal team-a in %s, got %d", ns, len(fws.Items))
	}
}

// TestLeaderChange: a master leader change while a framework runs loses no
// task and no update: the running task stays, the new leader offers, a new
// task launches, and the first task's kill is reported.
func TestLeaderChange(t *testing.T) {
	ns := cp.Namespace(t)
	first := harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: time.Hour, AgentLeaseNamespace: harness.AgentLeaseNamespace,
		AgentTimeout: time.Minute, LeaderElection: ns})
	harness.Eventually(t, "the first master to lead", func() (bool, string) {
		l := &coordinationv1.Lease{}
		err := cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "kubeoffer-master"}, l)
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "", "no leader"
	})
	harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: time.Hour, AgentLeaseNamespace: harness.AgentLeaseNamespace,
		AgentTimeout: time.Minute, LeaderElection: ns})
	node := harness.AddNode(t, cp, ns, "n1", nodeResources(), map[string]string{corev1.LabelHostname: ns + "-n1"})
	harness.StartAgentd(t, cp, node, nil)
	harness.StartKubeletWith(t, cp.Client, harness.KubeletOptions{RunCommands: true}, node)
	api := startAPI(t, testConfig(ns))

	s := subscribe(t, api, mesosapi.Protobuf, frameworkInfo("steady", "", 3600))
	if code, body := s.launch(s.offer(), "before", "sleep 3600"); code != http.StatusAccepted {
		t.Fatalf("ACCEPT answered %d: %s", code, body)
	}
	s.ackUntil("before", mesospb.TaskState_TASK_RUNNING)
	first.Stop()
	if code, body := s.launch(s.offer(), "after", "true"); code != http.StatusAccepted {
		t.Fatalf("ACCEPT after the handover answered %d: %s", code, body)
	}
	s.ackUntil("after", mesospb.TaskState_TASK_FINISHED)
	s.mustCall(&mesospb.Call{Type: mesospb.Call_KILL.Enum(), Kill: &mesospb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String("before")}}})
	s.ackUntil("before", mesospb.TaskState_TASK_KILLED)
}

// TestFailoverAcrossReplicas: a framework that resubscribes on another
// replica fails over there; the replica that held its old stream sees the
// heartbeat Lease taken, sends that stream ERROR and closes it.
func TestFailoverAcrossReplicas(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns)
	one, two := startAPI(t, testConfig(ns)), startAPI(t, testConfig(ns))
	old := subscribe(t, one, mesosapi.JSON, frameworkInfo("mover", "", 3600))
	moved := subscribe(t, two, mesosapi.Protobuf, frameworkInfo("mover", old.fwID, 3600))
	ev := old.waitEvent("ERROR on the old replica's stream", func(e *mesospb.Event) bool { return e.GetType() == mesospb.Event_ERROR })
	if !strings.Contains(ev.GetError().GetMessage(), "failed over") {
		t.Errorf("the old stream got ERROR %q", ev.GetError().GetMessage())
	}
	harness.Eventually(t, "the old stream to close", func() (bool, string) { return old.isClosed(), "open" })
	if code, body := old.call(&mesospb.Call{Type: mesospb.Call_REVIVE.Enum()}); code != http.StatusForbidden {
		t.Errorf("a call to the old replica answered %d %q, want 403 (not subscribed there)", code, body)
	}
	moved.mustCall(&mesospb.Call{Type: mesospb.Call_REVIVE.Enum()})
	moved.offer()
}

// TestTaskGroupAndOfferModes: a LAUNCH_GROUP of two tasks is one Task with
// two containers and one status stream per Mesos task; SUPPRESS and REVIVE
// (for the framework's role, or none) set the Framework's offers.
func TestTaskGroupAndOfferModes(t *testing.T) {
	ns := cp.Namespace(t)
	cluster(t, ns)
	api := startAPI(t, testConfig(ns))
	s := subscribe(t, api, mesosapi.Protobuf, frameworkInfo("grouper", "", 3600))
	o := s.offer()
	executor := &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("ex1")},
		Resources: taskInfo(o, "x", "true").Resources}
	s.mustCall(acceptCall(o, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(),
		LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{Executor: executor, TaskGroup: &mesospb.TaskGroupInfo{
			Tasks: []*mesospb.TaskInfo{taskInfo(o, "g1", "true"), taskInfo(o, "g2", "echo two")}}}}))
	for _, id := range []string{"g1", "g2"} {
		st := s.ackUntil(id, mesospb.TaskState_TASK_FINISHED)
		if st.GetExecutorId().GetValue() != "ex1" || len(st.GetUuid()) != 16 {
			t.Errorf("%s finished with executor %q uuid %x", id, st.GetExecutorId().GetValue(), st.GetUuid())
		}
	}
	tk := task(t, ns, mesosapi.TaskName(s.fwID, "g1"))
	if n := len(tk.Spec.Template.Spec.Containers); n != 2 {
		t.Errorf("the group's Task has %d containers, want 2", n)
	}

	offers := func() (kov1.OfferMode, bool) {
		fw := &kov1.Framework{}
		harness.Must(t, cp.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: s.fwID}, fw))
		return fw.Spec.Offers, fw.Spec.RevivedAt != nil
	}
	s.mustCall(&mesospb.Call{Type: mesospb.Call_SUPPRESS.Enum(), Suppress: &mesospb.Call_Suppress{Roles: []string{"another-role"}}})
	if mode, _ := offers(); mode != kov1.OfferModeActive {
		t.Errorf("SUPPRESS of another role made offers %s", mode)
	}
	s.mustCall(&mesospb.Call{Type: mesospb.Call_SUPPRESS.Enum(), Suppress: &mesospb.Call_Suppress{Roles: []string{"*"}}})
	if mode, _ := offers(); mode != kov1.OfferModeSuppressed {
		t.Errorf("SUPPRESS of the framework's role made offers %s", mode)
	}
	s.mustCall(&mesospb.Call{Type: mesospb.Call_REVIVE.Enum()})
	if mode, revived := offers(); mode != kov1.OfferModeActive || !revived {
		t.Errorf("REVIVE made offers %s, revivedAt set %t", mode, revived)
	}
}

// TestAgentLost: when the agent of a running task is lost, the framework
// gets FAILURE for the agent and TASK_LOST for the task.
func TestAgentLost(t *testing.T) {
	ns := cp.Namespace(t)
	harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: time.Hour, AgentLeaseNamespace: harness.AgentLeaseNamespace, AgentTimeout: 3 * time.Second})
	node := harness.AddNode(t, cp, ns, "n1", nodeResources(), map[string]string{corev1.LabelHostname: ns + "-n1"})
	agentd := harness.StartAgentd(t, cp, node, nil)
	harness.StartKubeletWith(t, cp.Client, harness.KubeletOptions{RunCommands: true}, node)
	api := startAPI(t, testConfig(ns))
	s := subscribe(t, api, mesosapi.JSON, frameworkInfo("lonely", "", 3600))
	o := s.offer()
	if code, body := s.launch(o, "stay", "sleep 3600"); code != http.StatusAccepted {
		t.Fatalf("ACCEPT answered %d: %s", code, body)
	}
	s.ackUntil("stay", mesospb.TaskState_TASK_RUNNING)
	agentd.Stop()
	ev := s.waitEvent("FAILURE", func(e *mesospb.Event) bool { return e.GetType() == mesospb.Event_FAILURE })
	if ev.GetFailure().GetAgentId().GetValue() != o.GetAgentId().GetValue() {
		t.Errorf("FAILURE names agent %q, want %q", ev.GetFailure().GetAgentId().GetValue(), o.GetAgentId().GetValue())
	}
	if st := s.ackUntil("stay", mesospb.TaskState_TASK_LOST); st.GetReason() != mesospb.TaskStatus_REASON_AGENT_REMOVED {
		t.Errorf("the lost task's reason is %s", st.GetReason())
	}
}

// TestRescind: an offer the framework leaves unanswered until it expires is
// rescinded, and the agent is offered again.
func TestRescind(t *testing.T) {
	ns := cp.Namespace(t)
	harness.StartMaster(t, cp, harness.MasterConfig{OfferTimeout: 2 * time.Second, AgentLeaseNamespace: harness.AgentLeaseNamespace, AgentTimeout: time.Minute})
	node := harness.AddNode(t, cp, ns, "n1", nodeResources(), nil)
	harness.StartAgentd(t, cp, node, nil)
	api := startAPI(t, testConfig(ns))
	s := subscribe(t, api, mesosapi.Protobuf, frameworkInfo("hoarder", "", 3600))
	o := s.offer()
	ev := s.waitEvent("RESCIND", func(e *mesospb.Event) bool { return e.GetType() == mesospb.Event_RESCIND })
	if ev.GetRescind().GetOfferId().GetValue() != o.GetId().GetValue() {
		t.Errorf("rescinded %q, want the expired offer %q", ev.GetRescind().GetOfferId().GetValue(), o.GetId().GetValue())
	}
	if again := s.offer(); again.GetId().GetValue() == o.GetId().GetValue() {
		t.Errorf("the rescinded offer %s was offered again under its id", o.GetId().GetValue())
	}
}
