package push

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rcgateway/rcgateway/push/signalr"
)

func wsURL(e *env) string { return strings.Replace(e.url, "http", "ws", 1) }

// dialStatus opens a WebSocket and returns the HTTP status of a refused upgrade (101 when
// it opened; the socket is closed again).
func dialStatus(t *testing.T, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, nil)
	if err == nil {
		ws.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return resp.StatusCode
}

func TestNegotiateVersions(t *testing.T) {
	e := newEnv(t, nil)
	do := func(query string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.url+"/negotiate"+query, nil)
		req.Header.Set("Authorization", "Bearer tok-alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&m) != nil {
			t.Fatalf("negotiate%s: %d", query, resp.StatusCode)
		}
		return m
	}
	v1 := do("?negotiateVersion=1")
	tok, _ := v1["connectionToken"].(string)
	id, _ := v1["connectionId"].(string)
	if v1["negotiateVersion"] != 1.0 || len(tok) != 22 || len(id) != 22 || tok == id {
		t.Fatalf("v1 answer %v", v1)
	}
	if _, ok := v1["useStatefulReconnect"]; ok {
		t.Fatal("useStatefulReconnect offered unasked")
	}
	tr, _ := json.Marshal(v1["availableTransports"])
	if string(tr) != `[{"transferFormats":["Text","Binary"],"transport":"WebSockets"},{"transferFormats":["Text"],"transport":"ServerSentEvents"},{"transferFormats":["Text","Binary"],"transport":"LongPolling"}]` {
		t.Fatalf("transports %s", tr)
	}
	if v := do("?negotiateVersion=7"); v["negotiateVersion"] != 1.0 {
		t.Fatalf("a newer client gets the server's version: %v", v)
	}
	// Version 0: no token; the connection id is used on the transport.
	v0 := do("")
	if _, ok := v0["connectionToken"]; ok || v0["negotiateVersion"] != 0.0 {
		t.Fatalf("v0 answer %v", v0)
	}
	shake(t, openWS(t, e, v0["connectionId"].(string), "alice"), 1)
	// negotiate is POST only.
	resp, err := http.Get(e.url + "/negotiate?access_token=tok-alice")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET negotiate = %d", resp.StatusCode)
	}
}

func TestTransportRequestErrors(t *testing.T) {
	e := newEnv(t, nil)
	code := func(method, query string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.url+query, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sse := map[string]string{"Accept": "text/event-stream"}
	// Authentication comes first, and says nothing.
	for _, q := range []string{"?id=x", "?id=x&access_token=bad"} {
		if c, body := code(http.MethodGet, q, nil); c != 401 || strings.Contains(body, "bad") {
			t.Fatalf("GET %s = %d %q", q, c, body)
		}
	}
	if c := dialStatus(t, wsURL(e)+"?access_token=nope"); c != 401 {
		t.Fatalf("WebSocket without a valid token = %d", c)
	}
	// A missing id is 400, an unknown one 404 (before any upgrade).
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if c, _ := code(m, "?access_token=tok-alice", sse); c != 400 {
			t.Fatalf("%s without id = %d", m, c)
		}
		if c, _ := code(m, "?id=unknown&access_token=tok-alice", sse); c != 404 {
			t.Fatalf("%s unknown id = %d", m, c)
		}
	}
	if c := dialStatus(t, wsURL(e)+"?id=unknown&access_token=tok-alice"); c != 404 {
		t.Fatalf("WebSocket with an unknown id = %d", c)
	}
	// Another user's token: 404, as if the id did not exist.
	tok := negotiate(t, e, "alice")
	if c := dialStatus(t, wsURL(e)+"?id="+tok+"&access_token=tok-mallory"); c != 404 {
		t.Fatalf("someone else's connection token = %d", c)
	}
	// A second WebSocket on a live token conflicts; SSE on it is refused; POST is 405.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(e)+"?id="+tok+"&access_token=tok-alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.Write(ctx, websocket.MessageText, []byte("{\"protocol\":\"json\",\"version\":1}\x1e"))
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if c := dialStatus(t, wsURL(e)+"?id="+tok+"&access_token=tok-alice"); c != 409 {
		t.Fatalf("second WebSocket = %d", c)
	}
	if c, _ := code(http.MethodGet, "?id="+tok+"&access_token=tok-alice", sse); c != 400 {
		t.Fatalf("SSE on a WebSocket connection = %d", c)
	}
	if c, _ := code(http.MethodPost, "?id="+tok+"&access_token=tok-alice", nil); c != 405 {
		t.Fatalf("POST on a WebSocket connection = %d", c)
	}
	// Once it has ended, its token is worthless.
	ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, func() bool { return e.h.Stats().Connections == 0 })
	if c := dialStatus(t, wsURL(e)+"?id="+tok+"&access_token=tok-alice"); c != 404 {
		t.Fatalf("reused token = %d", c)
	}
}

func TestSkipNegotiation(t *testing.T) {
	e := newEnv(t, nil)
	ws := openSkipNegotiation(t, e, "alice", "json")
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.h.SendToUser(ctx, "alice", "m", seqArg(5)); err != nil {
		t.Fatal(err)
	}
	_, data, err := ws.Read(ctx)
	if err != nil || string(data) != "{\"type\":1,\"target\":\"m\",\"arguments\":[{\"seq\":5}]}\x1e" {
		t.Fatalf("push %q %v", data, err)
	}
}

func openSkipNegotiation(t *testing.T, e *env, user, protocol string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(e)+"?access_token=tok-"+user, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(16 << 20)
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"protocol":"`+protocol+`","version":1}`+"\x1e"))
	if _, hs, err := ws.Read(ctx); err != nil || string(hs) != "{}\x1e" {
		t.Fatalf("handshake %q %v", hs, err)
	}
	return ws
}

// readUntilClosed returns everything the server wrote until it closed the socket.
func readUntilClosed(t *testing.T, ws *websocket.Conn) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []byte
	for {
		_, d, err := ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal("the server did not close the connection")
			}
			return got
		}
		got = append(got, d...)
	}
}

func TestHandshakeErrors(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.HandshakeTimeout = 200 * time.Millisecond })
	for _, tc := range []struct{ handshake, want string }{
		{`{"protocol":"xml","version":1}`, `{"error":"The protocol 'xml' is not supported."}` + "\x1e"},
		{`{"protocol":"json","version":3}`, `{"error":"The server does not support version 3 of the 'json' protocol."}` + "\x1e"},
		{`{"version":1}`, `{"error":`},
		{`[1,2]`, `{"error":`},
	} {
		ws := rawWS(t, e, "alice", tc.handshake)
		if got := readUntilClosed(t, ws); !strings.HasPrefix(string(got), tc.want) {
			t.Errorf("handshake %s answered %q, want %q", tc.handshake, got, tc.want)
		}
		ws.CloseNow()
	}
	// No handshake at all: an error once HandshakeTimeout has passed, then close.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(e)+"?id="+negotiate(t, e, "alice")+"&access_token=tok-alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if got := readUntilClosed(t, ws); string(got) != `{"error":"Handshake was canceled."}`+"\x1e" {
		t.Fatalf("silent client got %q", got)
	}
}

func TestMessagePackBadInput(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxReceiveMessageSize = 1024 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, msg := range map[string][]byte{
		"invalid body":      {0x02, 0xc1, 0xc1},                   // 0xc1 is never used in MessagePack
		"oversized record":  {0x88, 0x27, 0x95, 0x01, 0x80},       // announces 5000 bytes
		"bad length prefix": {0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // more than 5 bytes
	} {
		ws := openSkipNegotiation(t, e, "alice", "messagepack")
		if err := ws.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		got := readUntilClosed(t, ws)
		m, n, err := signalr.MessagePack.Parse(got, 0)
		if err != nil || n == 0 || m.Type != signalr.Close || m.Error == "" {
			t.Errorf("%s: server wrote %x (%+v, %v), want a Close with an error", name, got, m, err)
		}
		ws.CloseNow()
	}
	// A record that grows past the limit without its separator is cut off too (JSON).
	ws := openSkipNegotiation(t, e, "alice", "json")
	defer ws.CloseNow()
	for range 3 {
		_ = ws.Write(ctx, websocket.MessageText, bytes.Repeat([]byte("a"), 600))
	}
	if got := readUntilClosed(t, ws); !bytes.Contains(got, []byte(`{"type":7,"error":`)) {
		t.Fatalf("unterminated oversized record: server wrote %q", got)
	}
}

func TestNonBlockingInvocation(t *testing.T) {
	e := newEnv(t, nil)
	var calls atomic.Int32
	e.h.On("Note", func(_ context.Context, c CallInfo, args []json.RawMessage) (any, error) {
		if c.UserID == "alice" && len(args) == 1 && string(args[0]) == `"hi"` {
			calls.Add(1)
		}
		return "ignored", nil
	})
	ws := openSkipNegotiation(t, e, "alice", "json")
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A send (no invocationId), then an invoke, in one message as the JS send queue does.
	_ = ws.Write(ctx, websocket.MessageText, []byte(
		`{"type":1,"target":"note","arguments":["hi"]}`+"\x1e"+
			`{"type":1,"invocationId":"7","target":"add","arguments":[1,2]}`+"\x1e"))
	_, data, err := ws.Read(ctx)
	if err != nil || string(data) != `{"type":3,"invocationId":"7","result":3}`+"\x1e" {
		t.Fatalf("got %q %v, want only the invoke's completion", data, err)
	}
	if calls.Load() != 1 {
		t.Fatal("the non-blocking method did not run once")
	}
	// A stream invocation is refused with a completion; a cancel of an unknown id is ignored.
	_ = ws.Write(ctx, websocket.MessageText, []byte(
		`{"type":5,"invocationId":"99"}`+"\x1e"+
			`{"type":4,"invocationId":"8","target":"add","arguments":[]}`+"\x1e"))
	if _, data, err := ws.Read(ctx); err != nil || !strings.HasPrefix(string(data), `{"type":3,"invocationId":"8","error":`) {
		t.Fatalf("stream invocation answered %q %v", data, err)
	}
}

// TestClientTimeoutArmedByPing: a client that never pinged is not timed out (ASP.NET arms
// the watchdog on the first Ping); the server keeps pinging it.
func TestClientTimeoutArmedByPing(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.KeepAliveInterval = 40 * time.Millisecond
		o.ClientTimeout = 120 * time.Millisecond
	})
	ws := rawWS(t, e, "alice", `{"protocol":"json","version":1}`)
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	pings := 0
	for time.Since(start) < 4*e.h.o.ClientTimeout {
		_, d, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("closed after %v without a client Ping: %v", time.Since(start), err)
		}
		if bytes.Contains(d, []byte(`"type":7`)) {
			t.Fatalf("Close %q for a client that never pinged", d)
		}
		pings += bytes.Count(d, []byte(`{"type":6}`))
	}
	if pings < 3 {
		t.Fatalf("%d keep-alive pings in %v", pings, 4*e.h.o.ClientTimeout)
	}
}

// TestUnusedConnectionsExpire: a negotiated connection that never starts a transport, and
// a long-polling one that stops polling, are forgotten after DisconnectTimeout.
func TestUnusedConnectionsExpire(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DisconnectTimeout = 100 * time.Millisecond })
	unused := negotiate(t, e, "alice")
	polled := negotiate(t, e, "alice")
	if code, _ := poll(t, e, polled); code != 200 {
		t.Fatalf("first poll %d", code)
	}
	post(t, e, polled, "{\"protocol\":\"json\",\"version\":1}\x1e", 200)
	waitFor(t, func() bool { return e.h.Stats().Users == 1 })
	waitFor(t, func() bool {
		e.h.mu.RLock()
		defer e.h.mu.RUnlock()
		return len(e.h.byToken) == 0
	})
	if st := e.h.Stats(); st.Connections != 0 || st.Users != 0 {
		t.Fatalf("stats after expiry %+v", st)
	}
	for _, tok := range []string{unused, polled} {
		if code, _ := poll(t, e, tok); code != 404 {
			t.Fatalf("expired token polled: %d", code)
		}
	}
}

// TestLongPollingDeleteForgetsAtOnce: DELETE (the JS client's stop) forgets the connection
// at once, with or without a poll in flight, rather than after DisconnectTimeout.
func TestLongPollingDeleteForgetsAtOnce(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DisconnectTimeout = time.Hour })
	for _, inFlight := range []bool{false, true} {
		tok := negotiate(t, e, "alice")
		if code, _ := poll(t, e, tok); code != 200 {
			t.Fatalf("first poll %d", code)
		}
		post(t, e, tok, "{\"protocol\":\"json\",\"version\":1}\x1e", 200)
		if code, body := poll(t, e, tok); code != 200 || string(body) != "{}\x1e" {
			t.Fatalf("handshake poll %d %q", code, body)
		}
		polled := make(chan int, 1)
		if inFlight {
			go func() { code, _ := poll(t, e, tok); polled <- code }()
			waitFor(t, func() bool {
				e.h.mu.RLock()
				defer e.h.mu.RUnlock()
				c := e.h.byToken[tok]
				return c != nil && c.polling.Load()
			})
		}
		req, _ := http.NewRequest(http.MethodDelete, e.url+"?id="+tok, nil)
		req.Header.Set("Authorization", "Bearer tok-alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("DELETE = %d", resp.StatusCode)
		}
		if inFlight {
			if code := <-polled; code != http.StatusNoContent {
				t.Fatalf("poll in flight at DELETE ended with %d, want 204", code)
			}
		}
		waitFor(t, func() bool { st := e.h.Stats(); return st.Connections == 0 && st.Users == 0 })
	}
}
