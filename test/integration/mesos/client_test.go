package mesos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kubeoffer/kubeoffer/pkg/mesosapi"
	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
	"github.com/kubeoffer/kubeoffer/test/harness"
)

// scheduler is the test's own minimal Mesos scheduler client, for the
// calls and faults msh and the npm client do not make. It speaks protobuf
// or JSON as asked.
type scheduler struct {
	t        *testing.T
	url      string
	encoding mesosapi.Encoding
	streamID string
	fwID     string
	resp     *http.Response
	cancel   context.CancelFunc

	mu     sync.Mutex
	events []*mesospb.Event
	closed bool
	wake   chan struct{}
}

// frameworkInfo is a FrameworkInfo with a name and failover timeout.
func frameworkInfo(name, id string, failover float64, caps ...mesospb.FrameworkInfo_Capability_Type) *mesospb.FrameworkInfo {
	fi := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(name), FailoverTimeout: proto.Float64(failover),
		Roles: []string{"*"}}
	caps = append(caps, mesospb.FrameworkInfo_Capability_MULTI_ROLE)
	for _, c := range caps {
		fi.Capabilities = append(fi.Capabilities, &mesospb.FrameworkInfo_Capability{Type: c.Enum()})
	}
	if id != "" {
		fi.Id = &mesospb.FrameworkID{Value: proto.String(id)}
	}
	return fi
}

// subscribe opens a subscription and waits for SUBSCRIBED (or fails the
// test with the answer).
func subscribe(t *testing.T, api *apiServer, enc mesosapi.Encoding, fi *mesospb.FrameworkInfo) *scheduler {
	t.Helper()
	s := &scheduler{t: t, url: api.URL + mesosapi.Path, encoding: enc, wake: make(chan struct{}, 1)}
	call := &mesospb.Call{Type: mesospb.Call_SUBSCRIBE.Enum(), Subscribe: &mesospb.Call_Subscribe{FrameworkInfo: fi}}
	if fi.Id != nil {
		call.FrameworkId = fi.Id
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	resp, err := s.post(ctx, call, "")
	harness.Must(t, err)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SUBSCRIBE answered %d: %s", resp.StatusCode, b)
	}
	s.resp, s.streamID = resp, resp.Header.Get(mesosapi.HeaderStreamID)
	go s.read()
	ev := s.waitEvent("SUBSCRIBED", func(e *mesospb.Event) bool {
		return e.GetType() == mesospb.Event_SUBSCRIBED || e.GetType() == mesospb.Event_ERROR
	})
	if ev.GetType() != mesospb.Event_SUBSCRIBED {
		t.Fatalf("SUBSCRIBE got %s: %s", ev.GetType(), ev.GetError().GetMessage())
	}
	s.fwID = ev.GetSubscribed().GetFrameworkId().GetValue()
	t.Cleanup(s.close)
	return s
}

func (s *scheduler) post(ctx context.Context, call *mesospb.Call, streamID string) (*http.Response, error) {
	var body []byte
	var err error
	if s.encoding == mesosapi.Protobuf {
		body, err = proto.Marshal(call)
	} else {
		body, err = mesosapi.MarshalJSON(call)
	}
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", s.encoding.ContentType())
	req.Header.Set("Accept", s.encoding.ContentType())
	if streamID != "" {
		req.Header.Set(mesosapi.HeaderStreamID, streamID)
	}
	return http.DefaultClient.Do(req)
}

// read collects events until the stream ends.
func (s *scheduler) read() {
	rr := mesosapi.NewRecordReader(s.resp.Body)
	for {
		rec, err := rr.Next()
		if err != nil {
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
			s.notify()
			return
		}
		ev, err := mesosapi.DecodeEvent(s.encoding, rec)
		if err != nil {
			s.t.Errorf("decoding an event: %v (%q)", err, rec)
			continue
		}
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
		s.notify()
	}
}

func (s *scheduler) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close drops the connection, as a scheduler that dies does.
func (s *scheduler) close() {
	s.cancel()
	if s.resp != nil {
		_ = s.resp.Body.Close()
	}
}

// isClosed reports whether the server ended the stream.
func (s *scheduler) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// waitEvent waits for the first event (from the start of the stream) that
// match accepts and that no earlier waitEvent returned.
func (s *scheduler) waitEvent(what string, match func(*mesospb.Event) bool) *mesospb.Event {
	s.t.Helper()
	deadline := time.After(harness.Deadline)
	for {
		s.mu.Lock()
		for i, e := range s.events {
			if e != nil && match(e) {
				s.events[i] = nil // taken
				s.mu.Unlock()
				return e
			}
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			s.t.Fatalf("the stream closed before %s; events: %s", what, s.summary())
		}
		select {
		case <-s.wake:
		case <-deadline:
			s.t.Fatalf("timed out waiting for %s; events: %s", what, s.summary())
		}
	}
}

// summary lists the events not taken yet.
func (s *scheduler) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, e := range s.events {
		if e == nil {
			continue
		}
		p := e.GetType().String()
		if u := e.GetUpdate(); u != nil {
			p += fmt.Sprintf("(%s %s uuid=%t)", u.GetStatus().GetTaskId().GetValue(), u.GetStatus().GetState(), len(u.GetStatus().GetUuid()) > 0)
		}
		if e.GetError() != nil {
			p += "(" + e.GetError().GetMessage() + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// call sends a call on the subscription and returns the HTTP status and
// body.
func (s *scheduler) call(c *mesospb.Call) (int, string) {
	s.t.Helper()
	c.FrameworkId = &mesospb.FrameworkID{Value: proto.String(s.fwID)}
	resp, err := s.post(context.Background(), c, s.streamID)
	harness.Must(s.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustCall sends a call that must be accepted (202).
func (s *scheduler) mustCall(c *mesospb.Call) {
	s.t.Helper()
	if code, body := s.call(c); code != http.StatusAccepted {
		s.t.Fatalf("%s answered %d: %s", c.GetType(), code, body)
	}
}

// offer waits for an offer.
func (s *scheduler) offer() *mesospb.Offer {
	s.t.Helper()
	ev := s.waitEvent("OFFERS", func(e *mesospb.Event) bool { return e.GetType() == mesospb.Event_OFFERS })
	return ev.GetOffers().GetOffers()[0]
}

// update waits for an UPDATE of task in state.
func (s *scheduler) update(task string, state mesospb.TaskState) *mesospb.TaskStatus {
	s.t.Helper()
	ev := s.waitEvent(fmt.Sprintf("UPDATE %s %s", task, state), func(e *mesospb.Event) bool {
		st := e.GetUpdate().GetStatus()
		return e.GetType() == mesospb.Event_UPDATE && st.GetTaskId().GetValue() == task && st.GetState() == state
	})
	return ev.GetUpdate().GetStatus()
}

// ack acknowledges a status update.
func (s *scheduler) ack(st *mesospb.TaskStatus) {
	s.t.Helper()
	s.mustCall(&mesospb.Call{Type: mesospb.Call_ACKNOWLEDGE.Enum(), Acknowledge: &mesospb.Call_Acknowledge{
		AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid()}})
}

// launch accepts an offer with one command task.
func (s *scheduler) launch(o *mesospb.Offer, id, command string) (int, string) {
	s.t.Helper()
	return s.call(acceptCall(o, &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
		Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{taskInfo(o, id, command)}}}))
}

func acceptCall(o *mesospb.Offer, ops ...*mesospb.Offer_Operation) *mesospb.Call {
	return &mesospb.Call{Type: mesospb.Call_ACCEPT.Enum(), Accept: &mesospb.Call_Accept{OfferIds: []*mesospb.OfferID{o.GetId()},
		Operations: ops, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(1)}}}
}

// taskInfo is a shell command task of 0.1 cpus and 32 MB on o's agent.
func taskInfo(o *mesospb.Offer, id, command string) *mesospb.TaskInfo {
	res := func(name string, v float64) *mesospb.Resource {
		return &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)},
			AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("*")}}
	}
	return &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)}, AgentId: o.GetAgentId(),
		Resources: []*mesospb.Resource{res("cpus", 0.1), res("mem", 32)},
		Command:   &mesospb.CommandInfo{Value: proto.String(command)}}
}
