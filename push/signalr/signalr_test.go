package signalr

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

func TestHandshake(t *testing.T) {
	req, n, err := ParseHandshake([]byte(`{"protocol":"messagepack","version":1}`+"\x1e{"), 1024)
	if err != nil || n != 39 || req != (HandshakeRequest{"messagepack", 1}) {
		t.Fatalf("ParseHandshake = %+v %d %v", req, n, err)
	}
	if _, n, err := ParseHandshake([]byte(`{"protocol":"json"`), 1024); n != 0 || err != nil {
		t.Fatalf("partial handshake: %d %v", n, err)
	}
	for _, bad := range []string{"{\x1e", "nope\x1e", `{"protocol":"json"}` + "\x1e"} {
		if _, _, err := ParseHandshake([]byte(bad), 1024); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseHandshake(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, _, err := ParseHandshake(bytes.Repeat([]byte("a"), 100), 50); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized handshake: %v", err)
	}
	if got := string(AppendHandshakeResponse(nil, "")); got != "{}\x1e" {
		t.Errorf("ok response %q", got)
	}
	if got := string(AppendHandshakeResponse(nil, `bad "x"`)); got != `{"error":"bad \"x\""}`+"\x1e" {
		t.Errorf("error response %q", got)
	}
}

func TestJSONWire(t *testing.T) {
	push := AppendInvocationJSON(nil, "getRoomMessageNotification", json.RawMessage(`{"roomId":"r1","seq":1}`))
	if want := `{"type":1,"target":"getRoomMessageNotification","arguments":[{"roomId":"r1","seq":1}]}` + "\x1e"; string(push) != want {
		t.Fatalf("push = %q", push)
	}
	cases := map[string]*Message{
		`{"type":3,"invocationId":"0","result":42}`:                      {Type: Completion, InvocationID: "0", Result: json.RawMessage("42"), HasResult: true},
		`{"type":3,"invocationId":"0","error":"boom"}`:                   {Type: Completion, InvocationID: "0", Error: "boom"},
		`{"type":3,"invocationId":"0"}`:                                  {Type: Completion, InvocationID: "0"},
		`{"type":6}`:                                                     {Type: Ping},
		`{"type":7,"error":"bye","allowReconnect":true}`:                 {Type: Close, Error: "bye", AllowReconnect: true},
		`{"type":8,"sequenceId":36}`:                                     {Type: Ack, SequenceID: 36},
		`{"type":9,"sequenceId":1}`:                                      {Type: Sequence, SequenceID: 1},
		`{"type":1,"invocationId":"1","target":"add","arguments":[1,2]}`: {Type: Invocation, InvocationID: "1", Target: "add", Arguments: []json.RawMessage{json.RawMessage("1"), json.RawMessage("2")}},
	}
	for wire, m := range cases {
		got, err := JSON.Append(nil, m)
		if err != nil || string(got) != wire+"\x1e" {
			t.Errorf("Append(%+v) = %q %v, want %q", m, got, err, wire)
		}
		back, n, err := JSON.Parse(got, 0)
		if err != nil || n != len(got) || !reflect.DeepEqual(&back, m) {
			t.Errorf("Parse(%q) = %+v %d %v", got, back, n, err)
		}
	}
	// Unknown properties and types are ignored; broken records are errors.
	if m, _, err := JSON.Parse([]byte(`{"type":6,"x":1}`+"\x1e"), 0); err != nil || m.Type != Ping {
		t.Errorf("unknown property: %+v %v", m, err)
	}
	if m, _, err := JSON.Parse([]byte(`{"type":42,"foo":1}`+"\x1e"), 0); err != nil || m.Type != 42 {
		t.Errorf("unknown type: %+v %v", m, err)
	}
	for _, bad := range []string{`{"type":1,"target":"x"}`, `{"target":"x"}`, `[1]`, `{"type":3,"invocationId":"1","result":1,"error":"e"}`, `{"type":8}`} {
		if _, _, err := JSON.Parse([]byte(bad+"\x1e"), 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, n, err := JSON.Parse([]byte(`{"type":6}`), 0); n != 0 || err != nil {
		t.Errorf("incomplete record: %d %v", n, err)
	}
	if _, _, err := JSON.Parse(append(bytes.Repeat([]byte(" "), 100), 0x1e), 50); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func TestMsgPackGoldenBytes(t *testing.T) {
	if got := PingRecord(MessagePack); !bytes.Equal(got, []byte{0x02, 0x91, 0x06}) {
		t.Fatalf("ping %x", got)
	}
	got, err := MessagePack.Append(nil, &Message{Type: Completion, InvocationID: "xyz", Result: json.RawMessage("42"), HasResult: true})
	if want := []byte{0x09, 0x95, 0x03, 0x80, 0xA3, 0x78, 0x79, 0x7A, 0x03, 0x2A}; err != nil || !bytes.Equal(got, want) {
		t.Fatalf("completion %x, want %x (%v)", got, want, err)
	}
	for wire, want := range map[string]Message{
		"\x03\x92\x07\xc0":     {Type: Close},
		"\x04\x92\x08\xcc\x24": {Type: Ack, SequenceID: 36},
	} {
		m, n, err := MessagePack.Parse([]byte(wire), 0)
		if err != nil || n != len(wire) || !reflect.DeepEqual(m, want) {
			t.Errorf("Parse(%x) = %+v %d %v", wire, m, n, err)
		}
	}
	// The JS client's 5-element invocation: [1, {}, "0", "add", [1, "two", {"a":true}]].
	body := []byte{0x95, 0x01, 0x80, 0xa1, '0', 0xa3, 'a', 'd', 'd', 0x93, 0x01, 0xa3, 't', 'w', 'o', 0x81, 0xa1, 'a', 0xc3}
	m, _, err := MessagePack.Parse(append([]byte{byte(len(body))}, body...), 0)
	if err != nil || m.Target != "add" || m.InvocationID != "0" || len(m.Arguments) != 3 ||
		string(m.Arguments[1]) != `"two"` || string(m.Arguments[2]) != `{"a":true}` {
		t.Fatalf("JS invocation = %+v %v", m, err)
	}
}

func TestMsgPackRoundTrip(t *testing.T) {
	arg := json.RawMessage(`{"_id":"m1","msg":"héllo","n":-3,"f":1.5,"ok":true,"none":null,"tags":["a",{"b":2}],"big":12345678901}`)
	msgs := []*Message{
		{Type: Invocation, Target: "getRoomMessageNotification", Arguments: []json.RawMessage{arg}},
		{Type: Invocation, InvocationID: "7", Target: "echo", Arguments: []json.RawMessage{json.RawMessage(`"x"`)}, StreamIDs: []string{"s1"}, Headers: map[string]string{"k": "v"}},
		{Type: StreamItem, InvocationID: "1", Item: json.RawMessage(`[1,2]`)},
		{Type: Completion, InvocationID: "1", Error: "nope"},
		{Type: Completion, InvocationID: "1"},
		{Type: CancelInvocation, InvocationID: "1"},
		{Type: Ping},
		{Type: Close, Error: "kicked", AllowReconnect: true},
		{Type: Sequence, SequenceID: 1 << 40},
	}
	var stream []byte
	for _, m := range msgs {
		var err error
		if stream, err = MessagePack.Append(stream, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		m, n, err := MessagePack.Parse(stream, 0)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		stream = stream[n:]
		if m.Type != want.Type || m.Target != want.Target || m.InvocationID != want.InvocationID || m.Error != want.Error ||
			m.SequenceID != want.SequenceID || m.AllowReconnect != want.AllowReconnect || !reflect.DeepEqual(m.StreamIDs, want.StreamIDs) {
			t.Fatalf("message %d = %+v, want %+v", i, m, want)
		}
		for j := range want.Arguments {
			if !sameJSON(t, m.Arguments[j], want.Arguments[j]) {
				t.Fatalf("argument %s, want %s", m.Arguments[j], want.Arguments[j])
			}
		}
	}
	if len(stream) != 0 {
		t.Fatalf("%d bytes left", len(stream))
	}
}

func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func TestMsgPackFraming(t *testing.T) {
	rec, _ := MessagePack.Append(nil, &Message{Type: Invocation, Target: "t", Arguments: []json.RawMessage{json.RawMessage(`"` + string(bytes.Repeat([]byte("x"), 300)) + `"`)}})
	if rec[0]&0x80 == 0 {
		t.Fatal("a 300-byte record needs a two-byte length")
	}
	for i := 0; i < len(rec); i++ {
		if _, n, err := MessagePack.Parse(rec[:i], 0); n != 0 || err != nil {
			t.Fatalf("prefix %d: %d %v", i, n, err)
		}
	}
	if _, _, err := MessagePack.Parse(rec, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	for _, bad := range [][]byte{{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, {0x02, 0x91, 0xc0}, {0x01, 0x90}, {0x03, 0x92, 0x08, 0xa1}} {
		if _, _, err := MessagePack.Parse(bad, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%x) = %v, want ErrInvalid", bad, err)
		}
	}
}

// normalize clears what an encoder leaves out when empty.
func normalize(m Message) Message {
	if len(m.Headers) == 0 {
		m.Headers = nil
	}
	if len(m.StreamIDs) == 0 {
		m.StreamIDs = nil
	}
	return m
}

// fuzzParse checks that Parse never panics, consumes a sane length, and that every message
// it accepts re-encodes to a record that parses back to the same message.
func fuzzParse(t *testing.T, p Protocol, b []byte) {
	m, n, err := p.Parse(b, 1<<16)
	if n < 0 || n > len(b) {
		t.Fatalf("n = %d of %d", n, len(b))
	}
	if err != nil {
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		return
	}
	if n == 0 || m.Type < Invocation || m.Type > Sequence {
		return
	}
	rec, err := p.Append(nil, &m)
	if err != nil {
		t.Fatalf("re-encoding %+v: %v", m, err)
	}
	m2, n2, err := p.Parse(rec, 0)
	if err != nil || n2 != len(rec) {
		t.Fatalf("re-parsing %q: %d %v", rec, n2, err)
	}
	if p == MessagePack { // the second pass sees arguments already normalised to JSON
		rec2, _ := p.Append(nil, &m2)
		if !bytes.Equal(rec, rec2) {
			t.Fatalf("unstable encoding %x then %x", rec, rec2)
		}
		return
	}
	if !reflect.DeepEqual(normalize(m), normalize(m2)) {
		t.Fatalf("%+v came back as %+v", m, m2)
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, c := range wireCases {
		f.Add([]byte(c.json + "\x1e"))
	}
	f.Add([]byte(`{"type":1,"target":"x","arguments":[1],"headers":{},"streamIds":[]}` + "\x1e"))
	f.Add([]byte(`{"type":3,"invocationId":"1","result":{"a":[1,2]}}` + "\x1e"))
	f.Add([]byte(`{"type":99,"target":5}` + "\x1e"))
	f.Add([]byte("{\x1e"))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzParse(t, JSON, b) })
}

func FuzzParseMsgPack(f *testing.F) {
	for _, c := range wireCases {
		f.Add(framed(unhex(f, c.mp)))
	}
	f.Add([]byte{0x03, 0x92, 0x07, 0xc0})
	f.Add(framed(unhex(f, "95 01 80 a1 30 a3 416464 94 01 a3 74776f 81 a1 61 c3 d6 ff 00000000")))
	f.Add(framed(unhex(f, "91 ca 7fc00000 c4 03 010203 d7 ff 1d535300 5f5e1000 82 01 c0 cf ffffffffffffffff c0")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x07})
	f.Fuzz(func(t *testing.T, b []byte) { fuzzParse(t, MessagePack, b) })
}

func FuzzHandshake(f *testing.F) {
	f.Add([]byte(`{"protocol":"json","version":1}` + "\x1e"))
	f.Add([]byte(`{"protocol":"messagepack","version":2}` + "\x1e\x02\x91\x06"))
	f.Add([]byte(`{"protocol":1}` + "\x1e"))
	f.Add([]byte(`{"protocol":"json"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, n, err := ParseHandshake(b, 1024)
		if n < 0 || n > len(b) || (err == nil && n > 0 && b[n-1] != RecordSeparator) {
			t.Fatalf("n = %d of %d", n, len(b))
		}
		if err == nil && n > 0 {
			if _, ok := ProtocolByName(req.Protocol); ok && !json.Valid(b[:n-1]) {
				t.Fatalf("accepted invalid JSON %q", b[:n-1])
			}
		}
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// benchArg is a Rocket.Chat message as pushed to browsers, about 400 bytes of JSON.
var benchArg = json.RawMessage(`{"_id":"Xb7pQ2kWcTn4","rid":"GENERAL","msg":"Hello everyone, the build is green again.","ts":"2025-11-22T08:26:40.123Z","u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"_updatedAt":"2025-11-22T08:26:40.123Z","urls":[],"mentions":[],"channels":[],"md":[{"type":"PARAGRAPH","value":[{"type":"PLAIN_TEXT","value":"Hello everyone, the build is green again."}]}]}`)

func BenchmarkInvocationJSON(b *testing.B) {
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = AppendInvocationJSON(buf[:0], "getRoomMessageNotification", benchArg)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkInvocationMsgPack(b *testing.B) {
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		var err error
		if buf, err = AppendInvocationMsgPack(buf[:0], "getRoomMessageNotification", benchArg); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkInvocationMsgPackReflect is the baseline for BenchmarkInvocationMsgPack: the same
// record built the usual way, decoding the JSON into Go values and encoding them with msgp.
func BenchmarkInvocationMsgPackReflect(b *testing.B) {
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		var v any
		if err := json.Unmarshal(benchArg, &v); err != nil {
			b.Fatal(err)
		}
		body := msgp.AppendArrayHeader(buf[:0], 5)
		body = append(body, 0x01, 0x80, 0xc0)
		body = msgp.AppendString(body, "getRoomMessageNotification")
		body = msgp.AppendArrayHeader(body, 1)
		body, err := msgp.AppendIntf(body, v)
		if err != nil {
			b.Fatal(err)
		}
		buf = append(appendVarint(make([]byte, 0, len(body)+5), len(body)), body...)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParseInvocation(b *testing.B) {
	m := &Message{Type: Invocation, InvocationID: "7", Target: "sendMessage", Arguments: []json.RawMessage{benchArg}}
	for _, p := range []Protocol{JSON, MessagePack} {
		rec, err := p.Append(nil, m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(p.Name(), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := p.Parse(rec, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(rec)))
		})
	}
}
