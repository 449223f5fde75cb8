package signalr

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func framed(body []byte) []byte { return append(appendVarint(nil, len(body)), body...) }

// wireCases holds every message type with its JSON record and MessagePack body as the
// server writes them.
var wireCases = []struct {
	name string
	m    Message
	json string
	mp   string // hex of the MessagePack body
}{
	{"push", Message{Type: Invocation, Target: "getRoomMessageNotification", Arguments: []json.RawMessage{raw(`{"roomId":"r1","seq":1}`)}},
		`{"type":1,"target":"getRoomMessageNotification","arguments":[{"roomId":"r1","seq":1}]}`,
		"95 01 80 c0 ba" + hex.EncodeToString([]byte("getRoomMessageNotification")) + "91 82 a6" + hex.EncodeToString([]byte("roomId")) + "a2 7231 a3 736571 01"},
	{"blocking invocation with headers and stream ids", Message{Type: Invocation, InvocationID: "s1", Target: "t", Arguments: []json.RawMessage{raw(`1`), raw(`"x"`)}, StreamIDs: []string{"a"}, Headers: map[string]string{"k": "v"}},
		`{"type":1,"invocationId":"s1","headers":{"k":"v"},"target":"t","arguments":[1,"x"],"streamIds":["a"]}`,
		"96 01 81 a16b a176 a2 7331 a1 74 92 01 a178 91 a161"},
	{"stream item", Message{Type: StreamItem, InvocationID: "1", Item: raw(`[true,null]`)},
		`{"type":2,"invocationId":"1","item":[true,null]}`,
		"94 02 80 a131 92 c3 c0"},
	{"completion error", Message{Type: Completion, InvocationID: "1", Error: "Unknown hub method 'x'"},
		`{"type":3,"invocationId":"1","error":"Unknown hub method 'x'"}`,
		"95 03 80 a131 01 b6" + hex.EncodeToString([]byte("Unknown hub method 'x'"))},
	{"completion void", Message{Type: Completion, InvocationID: "1"},
		`{"type":3,"invocationId":"1"}`,
		"94 03 80 a131 02"},
	{"completion result (spec)", Message{Type: Completion, InvocationID: "xyz", Result: raw(`42`), HasResult: true},
		`{"type":3,"invocationId":"xyz","result":42}`,
		"95 03 80 A3 78 79 7A 03 2A"},
	{"completion null result", Message{Type: Completion, InvocationID: "2", Result: raw(`null`), HasResult: true},
		`{"type":3,"invocationId":"2","result":null}`,
		"95 03 80 a132 03 c0"},
	{"stream invocation", Message{Type: StreamInvocation, InvocationID: "3", Target: "counter", Arguments: []json.RawMessage{raw(`10`)}},
		`{"type":4,"invocationId":"3","target":"counter","arguments":[10]}`,
		"95 04 80 a133 a7" + hex.EncodeToString([]byte("counter")) + "91 0a"},
	{"cancel", Message{Type: CancelInvocation, InvocationID: "3"},
		`{"type":5,"invocationId":"3"}`,
		"93 05 80 a133"},
	{"ping", Message{Type: Ping}, `{"type":6}`, "91 06"},
	{"close", Message{Type: Close}, `{"type":7}`, "93 07 c0 c2"},
	{"close reconnect", Message{Type: Close, Error: "Connection closed with an error.", AllowReconnect: true},
		`{"type":7,"error":"Connection closed with an error.","allowReconnect":true}`,
		"93 07 d9 20" + hex.EncodeToString([]byte("Connection closed with an error.")) + "c3"},
	{"ack (spec)", Message{Type: Ack, SequenceID: 36}, `{"type":8,"sequenceId":36}`, "92 08 24"},
	{"sequence", Message{Type: Sequence, SequenceID: 1 << 40}, `{"type":9,"sequenceId":1099511627776}`, "92 09 d3 0000010000000000"},
}

func TestWireTable(t *testing.T) {
	for _, c := range wireCases {
		t.Run(c.name, func(t *testing.T) {
			rec, err := JSON.Append([]byte("keep"), &c.m)
			if want := "keep" + c.json + "\x1e"; err != nil || string(rec) != want {
				t.Fatalf("JSON.Append = %q, %v\nwant %q", rec, err, want)
			}
			m, n, err := JSON.Parse(rec[4:], 0)
			if err != nil || n != len(rec)-4 || !reflect.DeepEqual(m, c.m) {
				t.Fatalf("JSON.Parse = %+v %d %v, want %+v", m, n, err, c.m)
			}

			body := unhex(t, c.mp)
			rec, err = MessagePack.Append([]byte("keep"), &c.m)
			if want := append([]byte("keep"), framed(body)...); err != nil || !bytes.Equal(rec, want) {
				t.Fatalf("MessagePack.Append = % x, %v\nwant % x", rec, err, want)
			}
			m, n, err = MessagePack.Parse(rec[4:], 0)
			if err != nil || n != len(rec)-4 || !reflect.DeepEqual(m, c.m) {
				t.Fatalf("MessagePack.Parse = %+v %d %v, want %+v", m, n, err, c.m)
			}
		})
	}
}

func TestSpecGoldenBytes(t *testing.T) {
	if got := AppendHandshakeResponse(nil, ""); !bytes.Equal(got, []byte{0x7b, 0x7d, 0x1e}) {
		t.Errorf("handshake response % x", got)
	}
	if got := string(PingRecord(JSON)); got != "{\"type\":6}\x1e" {
		t.Errorf("JSON ping %q", got)
	}
	if got := PingRecord(MessagePack); !bytes.Equal(got, []byte{0x02, 0x91, 0x06}) {
		t.Errorf("MessagePack ping % x", got)
	}
	push := AppendInvocationJSON(nil, "getRoomMessageNotification", raw(`{"roomId":"r1","seq":1}`))
	if want := "{\"type\":1,\"target\":\"getRoomMessageNotification\",\"arguments\":[{\"roomId\":\"r1\",\"seq\":1}]}\x1e"; string(push) != want {
		t.Errorf("push %q", push)
	}
	// Varint examples: 0x35 = 53 and 0x80 0x29 = 5248.
	for _, c := range []struct {
		b []byte
		v uint64
	}{{[]byte{0x35}, 53}, {[]byte{0x80, 0x29}, 5248}, {[]byte{0xff, 0xff, 0xff, 0xff, 0x07}, 1<<31 - 1}} {
		v, n, err := readVarint(c.b)
		if err != nil || n != len(c.b) || v != c.v {
			t.Errorf("readVarint(% x) = %d %d %v, want %d", c.b, v, n, err, c.v)
		}
		if got := appendVarint(nil, int(c.v)); !bytes.Equal(got, c.b) {
			t.Errorf("appendVarint(%d) = % x", c.v, got)
		}
	}
	// The JS client's Close, and the ASP.NET forms with fewer elements.
	for wire, want := range map[string]Message{
		"03 92 07 c0":          {Type: Close},
		"02 91 07":             {Type: Close},
		"06 92 07 a3 626164":   {Type: Close, Error: "bad"},
		"04 92 08 cc 24":       {Type: Ack, SequenceID: 36},
		"03 92 09 01":          {Type: Sequence, SequenceID: 1},
		"06 94 03 80 a1 30 02": {Type: Completion, InvocationID: "0"},
	} {
		b := unhex(t, wire)
		m, n, err := MessagePack.Parse(b, 0)
		if err != nil || n != len(b) || !reflect.DeepEqual(m, want) {
			t.Errorf("Parse(%s) = %+v %d %v, want %+v", wire, m, n, err, want)
		}
	}
}

func TestMsgPackClientInvocations(t *testing.T) {
	// What @microsoft/signalr-protocol-msgpack writes for connection.invoke("Add", 1, "two",
	// {a: true}, new Date(0)): 5 elements, no stream ids.
	js := unhex(t, "95 01 80 a1 30 a3 416464 94 01 a3 74776f 81 a1 61 c3 d6 ff 00000000")
	m, n, err := MessagePack.Parse(framed(js), 0)
	want := Message{Type: Invocation, InvocationID: "0", Target: "Add",
		Arguments: []json.RawMessage{raw(`1`), raw(`"two"`), raw(`{"a":true}`), raw(`"1970-01-01T00:00:00.000Z"`)}}
	if err != nil || n != len(js)+1 || !reflect.DeepEqual(m, want) {
		t.Fatalf("5-element invocation = %+v %d %v", m, n, err)
	}
	// connection.send("Notify") with no arguments: non-blocking, nil id.
	js = unhex(t, "95 01 80 c0 a6 4e6f74696679 90")
	if m, _, err = MessagePack.Parse(framed(js), 0); err != nil || m.InvocationID != "" || m.Target != "Notify" || len(m.Arguments) != 0 || m.Arguments == nil {
		t.Fatalf("send = %+v %v", m, err)
	}
	// 6 elements with stream ids, and headers.
	js = unhex(t, "96 01 81 a1 6b a1 76 a1 31 a1 55 91 01 92 a1 61 a1 62")
	if m, _, err = MessagePack.Parse(framed(js), 0); err != nil || !reflect.DeepEqual(m.StreamIDs, []string{"a", "b"}) || m.Headers["k"] != "v" {
		t.Fatalf("6-element invocation = %+v %v", m, err)
	}
	// The JS client's Ping and its 5-element StreamInvocation.
	if m, _, err = MessagePack.Parse([]byte{0x02, 0x91, 0x06}, 0); err != nil || m.Type != Ping {
		t.Fatalf("ping = %+v %v", m, err)
	}
	js = unhex(t, "95 04 80 a1 32 a1 53 90")
	if m, _, err = MessagePack.Parse(framed(js), 0); err != nil || m.Type != StreamInvocation || m.InvocationID != "2" {
		t.Fatalf("stream invocation = %+v %v", m, err)
	}
}

func TestPartialRecords(t *testing.T) {
	for _, p := range []Protocol{JSON, MessagePack} {
		var stream []byte
		for _, c := range wireCases {
			var err error
			if stream, err = p.Append(stream, &c.m); err != nil {
				t.Fatal(err)
			}
		}
		// Every cut of the stream: the records before the cut parse, the rest waits.
		for cut := 0; cut <= len(stream); cut++ {
			buf, got := stream[:cut], 0
			for {
				m, n, err := p.Parse(buf, 0)
				if err != nil {
					t.Fatalf("%s cut %d: %v", p.Name(), cut, err)
				}
				if n == 0 {
					break
				}
				if !reflect.DeepEqual(m, wireCases[got].m) {
					t.Fatalf("%s cut %d record %d = %+v", p.Name(), cut, got, m)
				}
				buf, got = buf[n:], got+1
			}
			if cut == len(stream) && (got != len(wireCases) || len(buf) != 0) {
				t.Fatalf("%s: %d records, %d bytes left", p.Name(), got, len(buf))
			}
		}
	}
}

func TestOversized(t *testing.T) {
	big := &Message{Type: Invocation, Target: "t", Arguments: []json.RawMessage{raw(`"` + strings.Repeat("x", 200) + `"`)}}
	for _, p := range []Protocol{JSON, MessagePack} {
		rec, err := p.Append(nil, big)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Parse(rec, 100); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s complete oversized record: %v", p.Name(), err)
		}
		// Known to be too large before it is complete.
		if _, _, err := p.Parse(rec[:150], 100); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s partial oversized record: %v", p.Name(), err)
		}
		if _, n, err := p.Parse(rec, len(rec)); err != nil || n != len(rec) {
			t.Errorf("%s record at the limit: %d %v", p.Name(), n, err)
		}
	}
	if _, _, err := ParseHandshake([]byte(strings.Repeat(" ", 60)), 50); !errors.Is(err, ErrTooLarge) {
		t.Errorf("handshake: %v", err)
	}
}

func TestBadVarints(t *testing.T) {
	for _, b := range [][]byte{
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, // six bytes
		{0xff, 0xff, 0xff, 0xff, 0xff},       // fifth byte continues
		{0x80, 0x80, 0x80, 0x80, 0x08},       // 2 GiB
		{0xff, 0xff, 0xff, 0xff, 0x0f},       // 4 GiB - 1
	} {
		if _, _, err := MessagePack.Parse(b, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(% x) = %v, want ErrInvalid", b, err)
		}
	}
	// A valid but unfinished prefix waits for more.
	for _, b := range [][]byte{{}, {0x80}, {0xff, 0xff, 0xff, 0xff}, {0xff, 0xff, 0xff, 0xff, 0x07}} {
		if _, n, err := MessagePack.Parse(b, 0); n != 0 || err != nil {
			t.Errorf("Parse(% x) = %d %v, want incomplete", b, n, err)
		}
	}
}

func TestGarbage(t *testing.T) {
	badJSON := []string{
		``, `nope`, `{`, `[1]`, `1`, `null`, `{"type":"1"}`, `{"type":1.5}`, `{}`,
		`{"type":1,"target":"x"}`, `{"type":1,"arguments":[]}`, `{"type":1,"target":"","arguments":[]}`,
		`{"type":1,"target":1,"arguments":[]}`, `{"type":1,"target":"x","arguments":{}}`,
		`{"type":1,"target":"x","arguments":null}`, `{"type":1,"target":"x","arguments":[],"streamIds":[1]}`,
		`{"type":1,"target":"x","arguments":[],"headers":{"a":1}}`, `{"type":1,"target":"x","arguments":[],"invocationId":7}`,
		`{"type":2,"invocationId":"1"}`, `{"type":2,"item":1}`, `{"type":3}`,
		`{"type":3,"invocationId":"1","result":1,"error":"e"}`, `{"type":3,"invocationId":"1","error":1}`,
		`{"type":4,"target":"x","arguments":[]}`, `{"type":5}`, `{"type":7,"allowReconnect":"yes"}`,
		`{"type":8}`, `{"type":9,"sequenceId":"1"}`, `{"type":8,"sequenceId":1.5}`, `{"type":6}x`,
	}
	for _, s := range badJSON {
		if m, n, err := JSON.Parse([]byte(s+"\x1e"), 0); !errors.Is(err, ErrInvalid) || n != len(s)+1 {
			t.Errorf("JSON.Parse(%s) = %+v %d %v, want ErrInvalid consuming the record", s, m, n, err)
		}
	}
	badMsgPack := []string{
		"90",                            // empty array
		"c0",                            // not an array
		"91 a1 31",                      // type is a string
		"92 01 80",                      // invocation too short
		"95 01 80 c0 a0 90",             // empty target
		"95 01 80 c0 01 90",             // target is a number
		"95 01 01 c0 a1 74 90",          // headers not a map
		"95 01 81 01 02 c0 a174 90",     // header key not a string
		"95 01 80 c0 a1 74 91",          // arguments cut short
		"95 01 80 c0 a1 74 91 c1",       // reserved byte 0xc1
		"95 01 80 c0 a1 74 dd ffffffff", // huge array count
		"95 01 80 c0 a1 74 91 cb 7ff8000000000000", // NaN argument
		"95 01 80 c0 a1 74 91 d4 05 00",            // unknown extension
		"95 01 80 c0 a1 74 91 81 c3 01",            // bool map key
		"96 01 80 c0 a1 74 90 91 01",               // stream id is a number
		"94 03 80 a1 31 04",                        // completion kind 4
		"94 03 80 a1 31 01",                        // error kind without error
		"94 03 80 a1 31 03",                        // result kind without result
		"93 02 80 a1 31",                           // stream item without item
		"92 05 80",                                 // cancel without id
		"93 07 c0 01",                              // allowReconnect not a bool
		"91 08",                                    // ack without id
		"92 09 a1 31",                              // sequence id a string
	}
	for _, h := range badMsgPack {
		b := framed(unhex(t, h))
		if m, n, err := MessagePack.Parse(b, 0); !errors.Is(err, ErrInvalid) || n != len(b) {
			t.Errorf("MessagePack.Parse(%s) = %+v %d %v, want ErrInvalid consuming the record", h, m, n, err)
		}
	}
	// Unknown types are decoded with only their type, for the caller to ignore.
	if m, _, err := JSON.Parse([]byte(`{"type":99,"target":5}`+"\x1e"), 0); err != nil || !reflect.DeepEqual(m, Message{Type: 99}) {
		t.Errorf("unknown JSON type: %+v %v", m, err)
	}
	if m, _, err := MessagePack.Parse(framed(unhex(t, "92 63 a1 78")), 0); err != nil || !reflect.DeepEqual(m, Message{Type: 99}) {
		t.Errorf("unknown MessagePack type: %+v %v", m, err)
	}
	// Bad arguments are refused when encoding.
	for _, arg := range []string{``, `{`, `[1,]`, `01`, `"\x01"`, `1 2`, `NaN`} {
		m := &Message{Type: Invocation, Target: "t", Arguments: []json.RawMessage{raw(arg)}}
		for _, p := range []Protocol{JSON, MessagePack} {
			if out, err := p.Append([]byte("x"), m); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s.Append(%q) = %q %v, want ErrInvalid", p.Name(), arg, out, err)
			}
		}
		if out, err := AppendInvocationMsgPack([]byte("x"), "t", raw(arg)); !errors.Is(err, ErrInvalid) || string(out) != "x" {
			t.Errorf("AppendInvocationMsgPack(%q) = %q %v", arg, out, err)
		}
	}
	if _, err := MessagePack.Append(nil, &Message{Type: 42}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown type encoded: %v", err)
	}
}

func TestHandshakeCases(t *testing.T) {
	for _, c := range []struct {
		in   string
		want HandshakeRequest
	}{
		{`{"protocol":"json","version":1}`, HandshakeRequest{"json", 1}},
		{` { "version" : 2 , "protocol" : "messagepack" , "x" : [1] } `, HandshakeRequest{"messagepack", 2}},
		{`{"protocol":"xml","version":3}`, HandshakeRequest{"xml", 3}},
	} {
		// The handshake may share its frame with the first messages.
		in := c.in + "\x1e" + "\x02\x91\x06"
		req, n, err := ParseHandshake([]byte(in), 1024)
		if err != nil || n != len(c.in)+1 || req != c.want {
			t.Errorf("ParseHandshake(%s) = %+v %d %v", c.in, req, n, err)
		}
	}
	for _, bad := range []string{``, `[]`, `{"protocol":"json"}`, `{"version":1}`, `{"protocol":1,"version":1}`,
		`{"protocol":"json","version":"1"}`, `{"protocol":"json","version":1.5}`, `{"protocol":"json","version":1}}`} {
		if _, n, err := ParseHandshake([]byte(bad+"\x1e"), 1024); !errors.Is(err, ErrInvalid) || n != len(bad)+1 {
			t.Errorf("ParseHandshake(%s) = %d %v, want ErrInvalid", bad, n, err)
		}
	}
	got := AppendHandshakeResponse([]byte("x"), "The protocol 'xml' is not supported.")
	if want := "x{\"error\":\"The protocol 'xml' is not supported.\"}\x1e"; string(got) != want {
		t.Errorf("error response %q", got)
	}
}

func TestAppendJSONString(t *testing.T) {
	for in, want := range map[string]string{
		``:                 `""`,
		`plain`:            `"plain"`,
		`a"b\c`:            `"a\"b\\c"`,
		"line\nfeed\r\t":   `"line\nfeed\r\t"`,
		"\x00\x1f":         `"\u0000\u001f"`,
		`<b>&`:             `"<b>&"`, // relaxed escaping, as ASP.NET
		"héllo 日本 🙂":       `"héllo 日本 🙂"`,
		"bad\xffutf8":      `"bad\ufffdutf8"`,
		"sep\u2028\u2029.": `"sep\u2028\u2029."`,
	} {
		got := string(appendJSONString(nil, in))
		if got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil || back != strings.ToValidUTF8(in, "\uFFFD") {
			t.Errorf("%s decodes to %q %v", got, back, err)
		}
	}
}

// decodeAny decodes JSON the way a client sees it.
func decodeAny(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

func TestJSONToMsgPack(t *testing.T) {
	long := strings.Repeat("y", 70000)
	var arr, obj strings.Builder
	arr.WriteString("[")
	obj.WriteString("{")
	for i := range 70000 {
		if i > 0 {
			arr.WriteString(",")
			obj.WriteString(",")
		}
		arr.WriteString("1")
		obj.WriteString(`"k` + strings.Repeat("0", 5-len(strconv.Itoa(i))) + strconv.Itoa(i) + `":` + strconv.Itoa(i))
	}
	arr.WriteString("]")
	obj.WriteString("}")
	values := []string{
		`null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `127`, `128`, `-33`, `65536`, `9223372036854775807`,
		`-9223372036854775808`, `18446744073709551615`, `18446744073709551616`, `1.5`, `-2.25e-3`, `1e21`,
		`1.0`, `2E2`, `1e-7`, `0.1`, `""`, `"a"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u65e5"`, `"\ud83d\ude42"`,
		`"\ud83d"`, `"\ude42x"`, `"\ud83d\u0041"`, `"bad` + "\xff" + `"`, `"` + strings.Repeat("é", 20) + `"`,
		`"` + strings.Repeat("\\n", 300) + `"`, `"` + long + `"`, `"` + strings.Repeat("\\t", 40000) + `"`,
		` [ ] `, `{}`, `[[[]]]`, `{"a":{"b":{"c":[1,{"d":null}]}}}`, arr.String(), obj.String(),
		`[` + strings.Repeat(`"x",`, 20) + `"x"]`, `[` + strings.Repeat(`[1,2],`, 300) + `0]`,
		string(benchArg),
	}
	for _, v := range values {
		mp, err := AppendJSONAsMsgPack([]byte{0xaa}, raw(v))
		if err != nil {
			t.Fatalf("AppendJSONAsMsgPack(%.60s): %v", v, err)
		}
		if mp[0] != 0xaa {
			t.Fatal("dst overwritten")
		}
		rest, err := msgp.Skip(mp[1:])
		if err != nil || len(rest) != 0 {
			t.Fatalf("%.60s: not one MessagePack value (%v, %d left)", v, err, len(rest))
		}
		back, rest, err := AppendMsgPackAsJSON(nil, mp[1:])
		if err != nil || len(rest) != 0 {
			t.Fatalf("%.60s back to JSON: %v", v, err)
		}
		if want, got := decodeAny(t, []byte(v)), decodeAny(t, back); !reflect.DeepEqual(want, got) {
			t.Fatalf("%.80s came back as %.80s", v, back)
		}
	}
	// Order of members is kept; integral numbers are integers.
	mp, _ := AppendJSONAsMsgPack(nil, raw(`{"z":1,"a":2.0,"m":1e3,"f":0.5}`))
	if want := unhex(t, "84 a17a 01 a161 02 a16d d103e8 a166 cb3fe0000000000000"); !bytes.Equal(mp, want) {
		t.Errorf("got % x\nwant % x", mp, want)
	}
	for _, bad := range []string{``, ` `, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `[1 2]`, `[,]`, `tru`, `nul`,
		`+1`, `01`, `1.`, `.5`, `1e`, `1e+`, `-`, `0x10`, `1e400`, `"abc`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"\x01\"",
		`1 1`, `{}{}`, `"\ud83d\u12"`, strings.Repeat("[", maxEncodeDepth+1) + strings.Repeat("]", maxEncodeDepth+1)} {
		if _, err := AppendJSONAsMsgPack(nil, raw(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendJSONAsMsgPack(%.40q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestMsgPackToJSON(t *testing.T) {
	for h, want := range map[string]string{
		"c0": `null`, "c3": `true`, "7f": `127`, "e0": `-32`, "cf ffffffffffffffff": `18446744073709551615`,
		"ca 3dcccccd":                        `0.1`,
		"cb 3ff8000000000000":                `1.5`,
		"cb 4415af1d78b58c40":                `100000000000000000000`,
		"cb 444b1ae4d6e2ef50":                `1e+21`,
		"a3 e697a5":                          `"日"`,
		"a2 22 0a":                           `"\"\n"`,
		"a2 c3 28":                           `"\ufffd("`,
		"c4 03 010203":                       `"AQID"`,
		"82 01 a1 61 cc ff c0":               `{"1":"a","255":null}`,
		"d6 ff 00000000":                     `"1970-01-01T00:00:00.000Z"`,
		"d6 ff 5f5e1000":                     `"2020-09-13T12:26:40.000Z"`,
		"d7 ff 1d535300 5f5e1000":            `"2020-09-13T12:26:40.123Z"`,
		"d7 ff 00000004 5f5e1000":            `"2020-09-13T12:26:40.000000001Z"`,
		"c7 0c ff 00000000 ffffffffffffffff": `"1969-12-31T23:59:59.000Z"`,
		"93 90 80 91 c2":                     `[[],{},[false]]`,
	} {
		got, rest, err := AppendMsgPackAsJSON(nil, unhex(t, h+"c0"))
		if err != nil || string(got) != want || !bytes.Equal(rest, []byte{0xc0}) {
			t.Errorf("AppendMsgPackAsJSON(%s) = %s %x %v, want %s", h, got, rest, err, want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: invalid JSON %s", h, got)
		}
	}
	for _, h := range []string{
		"", "c1", "a3 6162", "cb 7ff0000000000000", "ca 7fc00000", "d4 01 00", "d5 ff 0000",
		"d7 ff ffffffff 00000000", "c7 0c ff ffffffff 0000000000000000", "c7 0c ff 00000000 7fffffffffffffff",
		"81 c0 01", "81 80 01", "91", "81 a161",
		strings.Repeat("91 ", maxDecodeDepth+1) + "01",
	} {
		if got, _, err := AppendMsgPackAsJSON(nil, unhex(t, h)); err == nil {
			t.Errorf("AppendMsgPackAsJSON(%s) = %s, want an error", h, got)
		}
	}
}

// FuzzJSONToMsgPack checks the one-pass converter against encoding/json.
func FuzzJSONToMsgPack(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x",null,true]}`, `"\ud83d\ude42"`, `-0.0e-0`, `[]`, `{"":{}}`, string(benchArg)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		mp, err := AppendJSONAsMsgPack(nil, in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			if json.Valid(in) && !strings.Contains(err.Error(), errBadNumber.Error()) && !strings.Contains(err.Error(), errDepth.Error()) {
				t.Fatalf("valid JSON %q refused: %v", in, err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("invalid JSON %q accepted", in)
		}
		back, rest, err := AppendMsgPackAsJSON(nil, mp)
		if err != nil {
			if errors.Is(err, errDepth) {
				return
			}
			t.Fatalf("%q: %x does not convert back: %v", in, mp, err)
		}
		if len(rest) != 0 || !utf8.Valid(back) {
			t.Fatalf("%q: %d bytes left, %q", in, len(rest), back)
		}
		if want, got := decodeAny(t, in), decodeAny(t, back); !reflect.DeepEqual(want, got) {
			t.Fatalf("%q came back as %q", in, back)
		}
	})
}
