package mesosapi

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
)

func TestMarshalJSONWritesMesosJSON(t *testing.T) {
	ev := &mesospb.Event{Type: mesospb.Event_UPDATE.Enum(), Update: &mesospb.Event_Update{Status: &mesospb.TaskStatus{
		TaskId: &mesospb.TaskID{Value: proto.String(`t"1`)}, State: mesospb.TaskState_TASK_STARTING.Enum(), Uuid: []byte{0xde, 0xad},
		Timestamp: proto.Float64(1.5)}}}
	got, err := MarshalJSON(ev)
	if err != nil {
		t.Fatal(err)
	}
	// Declaration order, proto names, enum names (also the zero one), base64 bytes.
	want := `{"type":"UPDATE","update":{"status":{"task_id":{"value":"t\"1"},"state":"TASK_STARTING","timestamp":1.5,"uuid":"3q0="}}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// 64-bit integers are numbers, not quoted strings.
	r := &mesospb.Resource{Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(), Ranges: &mesospb.Value_Ranges{
		Range: []*mesospb.Value_Range{{Begin: proto.Uint64(31000), End: proto.Uint64(32000)}}}}
	got, _ = MarshalJSON(r)
	if !strings.Contains(string(got), `"range":[{"begin":31000,"end":32000}]`) {
		t.Errorf("ranges written as %s", got)
	}
	d := &mesospb.DurationInfo{Nanoseconds: proto.Int64(-5_000_000_000)}
	if got, _ := MarshalJSON(d); string(got) != `{"nanoseconds":-5000000000}` {
		t.Errorf("int64 written as %s", got)
	}
	// What is written reads back.
	back, err := DecodeEvent(JSON, mustJSON(t, ev))
	if err != nil || !proto.Equal(back, ev) {
		t.Errorf("round trip: %v, %v", back, err)
	}
}

func mustJSON(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := MarshalJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeCall(t *testing.T) {
	cases := map[string]struct {
		enc     Encoding
		body    []byte
		wantErr bool
		check   func(*mesospb.Call) bool
	}{
		"JSON with nulls and unknown fields, as npm's mesos-framework writes": {enc: JSON,
			body: []byte(`{"framework_id":null,"type":"DECLINE","decline":{"offer_ids":[{"value":"o1"}],"filters":null},"accept":null,"new_field":{"x":1}}`),
			check: func(c *mesospb.Call) bool {
				return c.GetType() == mesospb.Call_DECLINE && c.GetDecline().GetOfferIds()[0].GetValue() == "o1"
			}},
		"quoted and plain 64-bit numbers": {enc: JSON,
			body:  []byte(`{"type":"KILL","kill":{"task_id":{"value":"t"},"kill_policy":{"grace_period":{"nanoseconds":"5"}}}}`),
			check: func(c *mesospb.Call) bool { return c.GetKill().GetKillPolicy().GetGracePeriod().GetNanoseconds() == 5 }},
		"a required field missing": {enc: JSON, body: []byte(`{"type":"KILL","kill":{}}`), wantErr: true},
		"not JSON":                 {enc: JSON, body: []byte(`type: KILL`), wantErr: true},
		"protobuf": {enc: Protobuf, body: mustProto(t, &mesospb.Call{Type: mesospb.Call_REVIVE.Enum()}),
			check: func(c *mesospb.Call) bool { return c.GetType() == mesospb.Call_REVIVE }},
		"protobuf garbage": {enc: Protobuf, body: []byte{0xff, 0xff, 0xff}, wantErr: true},
	}
	for name, c := range cases {
		call, err := DecodeCall(c.enc, c.body)
		if (err != nil) != c.wantErr || (err == nil && !c.check(call)) {
			t.Errorf("%s: got %v, %v", name, call, err)
		}
	}
}

func mustProto(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNegotiate(t *testing.T) {
	cases := map[string]struct {
		accept, message string
		want            StreamFormat
		ok              bool
	}{
		"none: JSON":                    {want: StreamFormat{Encoding: JSON}, ok: true},
		"JSON":                          {accept: "application/json", want: StreamFormat{Encoding: JSON}, ok: true},
		"protobuf":                      {accept: "application/x-protobuf", want: StreamFormat{Encoding: Protobuf}, ok: true},
		"anything":                      {accept: "*/*", want: StreamFormat{Encoding: JSON}, ok: true},
		"preference by q":               {accept: "application/json;q=0.5, application/x-protobuf", want: StreamFormat{Encoding: Protobuf}, ok: true},
		"recordio with protobuf inside": {accept: "application/recordio", message: "application/x-protobuf", want: StreamFormat{Encoding: Protobuf, RecordIO: true}, ok: true},
		"recordio alone: JSON inside":   {accept: "application/recordio", want: StreamFormat{Encoding: JSON, RecordIO: true}, ok: true},
		"recordio of HTML":              {accept: "application/recordio", message: "text/html"},
		"only HTML":                     {accept: "text/html"},
		"refused by q=0":                {accept: "application/json;q=0"},
	}
	for name, c := range cases {
		got, ok := Negotiate(c.accept, c.message)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: got %+v %t, want %+v %t", name, got, ok, c.want, c.ok)
		}
	}
	for ct, want := range map[string]bool{"application/json": true, "application/json; charset=utf-8": true, "application/x-protobuf": true,
		"text/plain": false, "": false} {
		if _, ok := EncodingOf(ct); ok != want {
			t.Errorf("EncodingOf(%q) = %t, want %t", ct, ok, want)
		}
	}
}

func TestRecordIO(t *testing.T) {
	rec := httptest.NewRecorder()
	w := recordWriter{w: rec, f: rec}
	for _, r := range []string{`{"type":"HEARTBEAT"}`, "", "x\ny"} {
		if err := w.WriteRecord([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.Body.String(); got != "20\n{\"type\":\"HEARTBEAT\"}0\n3\nx\ny" {
		t.Errorf("framing: %q", got)
	}
	if !rec.Flushed {
		t.Error("records must be flushed")
	}
	rr := NewRecordReader(bytes.NewReader(rec.Body.Bytes()))
	for _, want := range []string{`{"type":"HEARTBEAT"}`, "", "x\ny"} {
		got, err := rr.Next()
		if err != nil || string(got) != want {
			t.Errorf("read %q, %v; want %q", got, err, want)
		}
	}
	if _, err := rr.Next(); err == nil || err.Error() != "EOF" {
		t.Errorf("at the end: %v, want EOF", err)
	}
	for _, bad := range []string{"abc\n", "5\nab", "99999999999\n"} {
		if _, err := NewRecordReader(strings.NewReader(bad)).Next(); err == nil {
			t.Errorf("%q read without error", bad)
		}
	}
}
