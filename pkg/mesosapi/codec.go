package mesosapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kubeoffer/kubeoffer/pkg/mesosapi/mesospb"
)

// Encoding is how a call or an event is written: JSON or protobuf.
type Encoding int

// The encodings Mesos's scheduler API speaks.
const (
	JSON Encoding = iota
	Protobuf
)

// Media types of the scheduler API.
const (
	MediaJSON     = "application/json"
	MediaProtobuf = "application/x-protobuf"
	// MediaRecordIO is the streaming form (Mesos 1.2+): the stream's
	// Content-Type, with the records' own type in Message-Content-Type.
	MediaRecordIO = "application/recordio"
)

// ContentType is the media type of e.
func (e Encoding) ContentType() string {
	if e == Protobuf {
		return MediaProtobuf
	}
	return MediaJSON
}

// EncodingOf returns the encoding of a request's Content-Type, or false for
// a type the API does not take (the caller answers 415).
func EncodingOf(contentType string) (Encoding, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false
	}
	switch mt {
	case MediaJSON:
		return JSON, true
	case MediaProtobuf:
		return Protobuf, true
	}
	return 0, false
}

// StreamFormat is how a SUBSCRIBE's event stream is written: the records'
// encoding, and whether the stream is announced as application/recordio
// with the records' type in Message-Content-Type (what a client asks for
// with Accept: application/recordio) or, as before Mesos 1.2, as the
// records' type itself.
type StreamFormat struct {
	Encoding Encoding
	RecordIO bool
}

// Negotiate picks the stream format from a SUBSCRIBE's Accept and
// Message-Accept headers, or returns false when the client accepts nothing
// the API can write (the caller answers 406). No Accept means JSON, as in
// Mesos.
func Negotiate(accept, messageAccept string) (StreamFormat, bool) {
	best, q, found := StreamFormat{}, -1.0, false
	for _, r := range mediaRanges(accept) {
		var f StreamFormat
		switch r.typ {
		case MediaJSON, "application/*", "*/*":
			f = StreamFormat{Encoding: JSON}
		case MediaProtobuf:
			f = StreamFormat{Encoding: Protobuf}
		case MediaRecordIO:
			enc, ok := negotiateMessage(messageAccept)
			if !ok {
				continue
			}
			f = StreamFormat{Encoding: enc, RecordIO: true}
		default:
			continue
		}
		if r.q > q {
			best, q, found = f, r.q, true
		}
	}
	if strings.TrimSpace(accept) == "" {
		return StreamFormat{Encoding: JSON}, true
	}
	return best, found
}

// negotiateMessage picks the records' encoding from Message-Accept (JSON
// when absent).
func negotiateMessage(messageAccept string) (Encoding, bool) {
	if strings.TrimSpace(messageAccept) == "" {
		return JSON, true
	}
	enc, q, found := JSON, -1.0, false
	for _, r := range mediaRanges(messageAccept) {
		var e Encoding
		switch r.typ {
		case MediaJSON, "application/*", "*/*":
			e = JSON
		case MediaProtobuf:
			e = Protobuf
		default:
			continue
		}
		if r.q > q {
			enc, q, found = e, r.q, true
		}
	}
	return enc, found
}

type mediaRange struct {
	typ string
	q   float64
}

// mediaRanges parses an Accept header into its media ranges with q > 0,
// in the order given.
func mediaRanges(h string) []mediaRange {
	var out []mediaRange
	for _, part := range strings.Split(h, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q > 0 {
			out = append(out, mediaRange{typ: mt, q: q})
		}
	}
	return out
}

// DecodeCall parses a call body. JSON takes Mesos's field names (or their
// lowerCamelCase forms), enums by name, and ignores fields kubeoffer's
// minimal definition does not know; protobuf keeps such fields as unknown
// fields. A required field missing is an error, as in Mesos.
func DecodeCall(enc Encoding, body []byte) (*mesospb.Call, error) {
	call := &mesospb.Call{}
	var err error
	if enc == Protobuf {
		err = proto.Unmarshal(body, call)
	} else {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, call)
	}
	if err != nil {
		return nil, err
	}
	return call, nil
}

// DecodeEvent parses an event (for clients and tests), as DecodeCall
// parses a call.
func DecodeEvent(enc Encoding, b []byte) (*mesospb.Event, error) {
	ev := &mesospb.Event{}
	var err error
	if enc == Protobuf {
		err = proto.Unmarshal(b, ev)
	} else {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, ev)
	}
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// Marshal encodes a message. JSON is written as Mesos writes it: proto field
// names, enums as their names, bytes in base64, and 64-bit integers as JSON
// numbers (protojson quotes them, and Mesos clients fail on quoted
// integers).
func Marshal(enc Encoding, m proto.Message) ([]byte, error) {
	if enc == Protobuf {
		return proto.Marshal(m)
	}
	return MarshalJSON(m)
}

// MarshalJSON writes m as Mesos's JSON (see Marshal). Fields come in their
// declaration order.
func MarshalJSON(m proto.Message) ([]byte, error) {
	var b bytes.Buffer
	if err := writeMessage(&b, m.ProtoReflect()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeMessage(b *bytes.Buffer, m protoreflect.Message) error {
	b.WriteByte('{')
	fields := m.Descriptor().Fields()
	first := true
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeString(b, string(fd.Name()))
		b.WriteByte(':')
		v := m.Get(fd)
		var err error
		switch {
		case fd.IsList():
			err = writeList(b, fd, v.List())
		case fd.IsMap():
			err = writeMap(b, fd, v.Map())
		default:
			err = writeValue(b, fd, v)
		}
		if err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func writeList(b *bytes.Buffer, fd protoreflect.FieldDescriptor, l protoreflect.List) error {
	b.WriteByte('[')
	for j := 0; j < l.Len(); j++ {
		if j > 0 {
			b.WriteByte(',')
		}
		if err := writeValue(b, fd, l.Get(j)); err != nil {
			return err
		}
	}
	b.WriteByte(']')
	return nil
}

func writeMap(b *bytes.Buffer, fd protoreflect.FieldDescriptor, m protoreflect.Map) error {
	var keys []protoreflect.MapKey
	m.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, k.String())
		b.WriteByte(':')
		if err := writeValue(b, fd.MapValue(), m.Get(k)); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func writeValue(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			b.WriteString(`"NaN"`)
		case math.IsInf(f, 1):
			b.WriteString(`"Infinity"`)
		case math.IsInf(f, -1):
			b.WriteString(`"-Infinity"`)
		default:
			bits := 64
			if fd.Kind() == protoreflect.FloatKind {
				bits = 32
			}
			b.WriteString(strconv.FormatFloat(f, 'g', -1, bits))
		}
	case protoreflect.StringKind:
		writeString(b, v.String())
	case protoreflect.BytesKind:
		writeString(b, base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			writeString(b, string(ev.Name()))
		} else {
			b.WriteString(strconv.FormatInt(int64(v.Enum()), 10))
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return writeMessage(b, v.Message())
	default:
		return fmt.Errorf("field %s has kind %s, which the JSON encoder does not write", fd.FullName(), fd.Kind())
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode ends with a newline
}
