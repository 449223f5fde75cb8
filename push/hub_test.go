package push

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/rcgateway/rcgateway/push/pushtest"
	"github.com/rcgateway/rcgateway/push/signalr"
)

func TestMain(m *testing.M) {
	if pushtest.RunBrowsersChild() { // the benchmarks' browser process
		return
	}
	goleak.VerifyTestMain(m)
}

// testAuth accepts "tok-<user>" as a bearer token or access_token.
func testAuth(r *http.Request) (string, time.Time, error) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		tok = r.URL.Query().Get("access_token")
	}
	if !strings.HasPrefix(tok, "tok-") {
		return "", time.Time{}, errors.New("bad token")
	}
	// "tok-<user>;exp=<Unix ms>" is a credential that expires.
	user, exp, _ := strings.Cut(strings.TrimPrefix(tok, "tok-"), ";exp=")
	var expires time.Time
	if exp != "" {
		ms, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			return "", time.Time{}, errors.New("bad expiry")
		}
		expires = time.UnixMilli(ms)
	}
	return user, expires, nil
}

type env struct {
	t   *testing.T
	h   *Hub
	srv *httptest.Server
	url string // hub URL
}

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	o := Options{Authenticate: testAuth}
	if mod != nil {
		mod(&o)
	}
	h, err := NewHub(o)
	if err != nil {
		t.Fatal(err)
	}
	h.On("add", func(_ context.Context, _ CallInfo, args []json.RawMessage) (any, error) {
		var a, b int
		if len(args) != 2 || json.Unmarshal(args[0], &a) != nil || json.Unmarshal(args[1], &b) != nil {
			return nil, &HubError{Message: "add takes two numbers"}
		}
		return a + b, nil
	})
	h.On("whoami", func(_ context.Context, c CallInfo, _ []json.RawMessage) (any, error) { return c.UserID, nil })
	h.On("fail", func(context.Context, CallInfo, []json.RawMessage) (any, error) {
		return nil, errors.New("secret detail")
	})
	srv := httptest.NewServer(h)
	e := &env{t: t, h: h, srv: srv, url: srv.URL + "/signalr"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return e
}

func (e *env) dial(user string, buffer int) *pushtest.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pushtest.Dial(ctx, e.url, "tok-"+user, buffer)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

func recv(t *testing.T, c *pushtest.Client) pushtest.Invocation {
	t.Helper()
	select {
	case inv, ok := <-c.Invocations:
		if !ok {
			t.Fatalf("connection ended (close: %+v)", c.Closed())
		}
		return inv
	case <-time.After(10 * time.Second):
		t.Fatal("no invocation within 10s")
	}
	return pushtest.Invocation{}
}

func waitDone(t *testing.T, c *pushtest.Client) *pushtest.CloseMessage {
	t.Helper()
	for {
		select {
		case _, ok := <-c.Invocations:
			if !ok {
				<-c.Done()
				return c.Closed()
			}
		case <-time.After(10 * time.Second):
			t.Fatal("connection did not end")
		}
	}
}

func seqArg(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"seq":%d}`, i)) }

func argSeq(t *testing.T, raw json.RawMessage) int {
	var v struct{ Seq int }
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("argument %s: %v", raw, err)
	}
	return v.Seq
}

func TestWebSocketPushesInOrderToEveryConnection(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SendQueueSize = 20000 })
	a1, a2, b := e.dial("alice", 20000), e.dial("alice", 20000), e.dial("bob", 10)
	ctx := context.Background()
	const n = 10000
	for i := range n {
		if err := e.h.SendToUser(ctx, "alice", "getRoomMessageNotification", seqArg(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*pushtest.Client{a1, a2} {
		for i := range n {
			inv := recv(t, c)
			if inv.Target != "getRoomMessageNotification" || argSeq(t, inv.Arguments[0]) != i {
				t.Fatalf("push %d = %s %s", i, inv.Target, inv.Arguments)
			}
		}
	}
	if err := e.h.SendToUser(ctx, "bob", "x", map[string]int{"seq": 7}); err != nil {
		t.Fatal(err)
	}
	if inv := recv(t, b); argSeq(t, inv.Arguments[0]) != 7 {
		t.Fatalf("bob got %s", inv.Arguments)
	}
	if st := e.h.Stats(); st.Connections != 3 || st.Users != 2 || st.Deliveries < 2*n+1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInvokeResultsAndErrors(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial("alice", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := c.Invoke(ctx, "ADD", 2, 3); err != nil || string(r) != "5" {
		t.Fatalf("add = %s %v", r, err)
	}
	if r, err := c.Invoke(ctx, "whoami"); err != nil || string(r) != `"alice"` {
		t.Fatalf("whoami = %s %v", r, err)
	}
	if _, err := c.Invoke(ctx, "add", "x"); err == nil || !strings.Contains(err.Error(), "HubException: add takes two numbers") {
		t.Fatalf("hub error = %v", err)
	}
	if _, err := c.Invoke(ctx, "fail"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("internal error leaked or missing: %v", err)
	}
	if _, err := c.Invoke(ctx, "nope"); err == nil || err.Error() != "Unknown hub method 'nope'" {
		t.Fatalf("unknown method = %v", err)
	}
	// Unknown message types are ignored; the connection keeps working.
	if err := c.Write(ctx, []byte("{\"type\":99,\"x\":1}\x1e")); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Invoke(ctx, "add", 1, 1); err != nil || string(r) != "2" {
		t.Fatalf("after unknown type: %s %v", r, err)
	}
}

func TestKickSingleLoginAndPresence(t *testing.T) {
	var mu sync.Mutex
	var events []string
	hook := func(kind string) func(string) {
		return func(u string) { mu.Lock(); events = append(events, kind+":"+u); mu.Unlock() }
	}
	e := newEnv(t, func(o *Options) { o.SingleLogin = true; o.OnUserOnline = hook("on"); o.OnUserOffline = hook("off") })
	old := e.dial("alice", 10)
	newer := e.dial("alice", 10)
	if cl := waitDone(t, old); cl == nil || cl.AllowReconnect || cl.Error == "" {
		t.Fatalf("older connection closed with %+v, want a final Close", cl)
	}
	ctx := context.Background()
	if err := e.h.Kick(ctx, "alice", "Your account was disabled.", false); err != nil {
		t.Fatal(err)
	}
	if cl := waitDone(t, newer); cl == nil || cl.AllowReconnect || cl.Error != "Your account was disabled." {
		t.Fatalf("kick close = %+v", cl)
	}
	deadline := time.After(5 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(events, ",")
		mu.Unlock()
		if got == "on:alice,off:alice" {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("presence events %q", got)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestGroupsAndAll(t *testing.T) {
	e := newEnv(t, nil)
	a, b, c := e.dial("a", 10), e.dial("b", 10), e.dial("c", 10)
	ctx := context.Background()
	for _, x := range []*pushtest.Client{a, b} {
		if err := e.h.AddToGroup(ctx, x.ConnectionID, "room1"); err != nil {
			t.Fatal(err)
		}
	}
	_ = e.h.SendToGroup(ctx, "room1", "g", seqArg(1))
	_ = e.h.SendToConnection(ctx, c.ConnectionID, "g", seqArg(2))
	if argSeq(t, recv(t, a).Arguments[0]) != 1 || argSeq(t, recv(t, b).Arguments[0]) != 1 || argSeq(t, recv(t, c).Arguments[0]) != 2 {
		t.Fatal("group or connection send misrouted")
	}
	_ = e.h.RemoveFromGroup(ctx, a.ConnectionID, "room1")
	_ = e.h.SendToGroup(ctx, "room1", "g", seqArg(3))
	_ = e.h.SendToAll(ctx, "all", seqArg(4))
	if argSeq(t, recv(t, a).Arguments[0]) != 4 {
		t.Fatal("a still in the group")
	}
	if argSeq(t, recv(t, b).Arguments[0]) != 3 || argSeq(t, recv(t, b).Arguments[0]) != 4 || argSeq(t, recv(t, c).Arguments[0]) != 4 {
		t.Fatal("group/all order wrong")
	}
}

func TestStalledClientDoesNotDelayOthers(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SendQueueSize = 256 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The stalled client completes its handshake, then never reads again.
	stalled := rawWS(t, e, "alice", `{"protocol":"json","version":1}`)
	defer stalled.CloseNow()
	others := make([]*pushtest.Client, 100)
	for i := range others {
		others[i] = e.dial(fmt.Sprintf("u%d", i), 300)
	}
	// Far more than the stalled socket's buffers hold: its queue fills and it is closed.
	payload := json.RawMessage(`{"seq":1,"pad":"` + strings.Repeat("x", 16<<10) + `"}`)
	for range 1500 {
		_ = e.h.SendToUser(ctx, "alice", "m", payload)
	}
	const n = 200
	for range n {
		for i := range others {
			_ = e.h.SendToUser(ctx, fmt.Sprintf("u%d", i), "m", seqArg(1))
		}
	}
	for _, c := range others {
		for range n {
			recv(t, c)
		}
	}
	if e.h.Stats().SlowConsumerCloses == 0 {
		t.Fatal("the stalled client was never closed")
	}
}

// rawWS opens a negotiated WebSocket and sends a handshake, returning the raw connection.
// rawWS negotiates for user, opens the WebSocket and sends handshake (its answer unread).
func rawWS(t *testing.T, e *env, user, handshake string) *websocket.Conn {
	t.Helper()
	ws := openWS(t, e, negotiate(t, e, user), user)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(handshake+"\x1e")); err != nil {
		t.Fatal(err)
	}
	return ws
}

// openWS opens a WebSocket for connection token tok as user (a resume opens another one for
// the same token); the caller sends the handshake, if any. It is closed when the test ends.
func openWS(t *testing.T, e *env, tok, user string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(e)+"?id="+tok+"&access_token=tok-"+user, nil)
	if err != nil {
		t.Fatalf("open WebSocket: %v", err)
	}
	ws.SetReadLimit(16 << 20) // the hub coalesces queued records into one message
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

// shake completes a JSON handshake of hub protocol version (2: stateful reconnect) on ws.
func shake(t *testing.T, ws *websocket.Conn, version int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"protocol":"json","version":%d}`+"\x1e", version))); err != nil {
		t.Fatal(err)
	}
	if _, hs, err := ws.Read(ctx); err != nil || string(hs) != "{}\x1e" {
		t.Fatalf("handshake answer %q %v", hs, err)
	}
}

func negotiate(t *testing.T, e *env, user string) string {
	t.Helper()
	return negotiateWith(t, e, user, false)
}

// negotiateWith negotiates for user, asking for stateful reconnect when stateful is set
// (and failing unless the hub agrees), and returns the connection token.
func negotiateWith(t *testing.T, e *env, user string, stateful bool) string {
	t.Helper()
	q := "negotiateVersion=1"
	if stateful {
		q += "&useStatefulReconnect=true"
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/negotiate?"+q, nil)
	req.Header.Set("Authorization", "Bearer tok-"+user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n struct {
		ConnectionToken      string
		ConnectionID         string
		UseStatefulReconnect bool
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&n) != nil || n.ConnectionToken == "" || n.ConnectionToken == n.ConnectionID || n.UseStatefulReconnect != stateful {
		t.Fatalf("negotiate: %d %+v", resp.StatusCode, n)
	}
	return n.ConnectionToken
}

func TestMessagePackWebSocket(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SendQueueSize = 20000 })
	ws := rawWS(t, e, "alice", `{"protocol":"messagepack","version":1}`)
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, hs, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || string(hs) != "{}\x1e" {
		t.Fatalf("handshake answer %v %q %v", typ, hs, err)
	}
	const n = 10000
	go func() {
		for i := range n {
			_ = e.h.SendToUser(context.Background(), "alice", "m", seqArg(i))
		}
	}()
	var buf []byte
	for i := 0; i < n; {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, data...)
		for {
			m, used, err := signalr.MessagePack.Parse(buf, 0)
			if err != nil {
				t.Fatal(err)
			}
			if used == 0 {
				break
			}
			buf = buf[used:]
			if m.Type == signalr.Ping {
				continue
			}
			if m.Type != signalr.Invocation || argSeq(t, m.Arguments[0]) != i {
				t.Fatalf("message %d = %+v", i, m)
			}
			i++
		}
	}
	// A MessagePack invocation from the client (5 elements, as the JS client writes it).
	rec, _ := signalr.MessagePack.Append(nil, &signalr.Message{Type: signalr.Invocation, InvocationID: "1", Target: "add", Arguments: []json.RawMessage{json.RawMessage("20"), json.RawMessage("22")}})
	if err := ws.Write(ctx, websocket.MessageBinary, rec); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := signalr.MessagePack.Parse(data, 0)
		if err == nil && m.Type == signalr.Completion {
			if string(m.Result) != "42" {
				t.Fatalf("completion %+v", m)
			}
			return
		}
	}
}

func TestSSEPushesInOrder(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SendQueueSize = 20000 })
	tok := negotiate(t, e, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"?id="+tok+"&access_token=tok-alice", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("sse: %v %v", err, resp)
	}
	defer resp.Body.Close()
	post(t, e, tok, "{\"protocol\":\"messagepack\",\"version\":1}\x1e", 200) // refused on SSE
	events := sseEvents(resp.Body)
	if ev := <-events; !strings.Contains(ev, "does not support 'Binary'") {
		t.Fatalf("msgpack on SSE answered %q", ev)
	}
	// That ended the connection; start again with JSON.
	tok = negotiate(t, e, "alice")
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, e.url+"?id="+tok, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer tok-alice")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil || resp2.StatusCode != 200 {
		t.Fatalf("sse: %v", err)
	}
	defer resp2.Body.Close()
	events = sseEvents(resp2.Body)
	post(t, e, tok, "{\"protocol\":\"json\",\"version\":1}\x1e", 200)
	if ev := <-events; ev != "{}\x1e" {
		t.Fatalf("handshake %q", ev)
	}
	const n = 10000
	for i := range n {
		_ = e.h.SendToUser(ctx, "alice", "m", seqArg(i))
	}
	checkRecords(t, events, n)
}

func sseEvents(body io.Reader) <-chan string {
	ch := make(chan string, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if line := strings.TrimSuffix(sc.Text(), "\r"); strings.HasPrefix(line, "data: ") {
				ch <- strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

// checkRecords reads JSON records from chunks until n invocations arrived in order.
func checkRecords(t *testing.T, chunks <-chan string, n int) {
	t.Helper()
	i := 0
	for i < n {
		select {
		case chunk, ok := <-chunks:
			if !ok {
				t.Fatalf("stream ended after %d", i)
			}
			for _, rec := range strings.Split(chunk, "\x1e") {
				if rec == "" || rec == `{"type":6}` {
					continue
				}
				var m struct {
					Arguments []json.RawMessage
				}
				if json.Unmarshal([]byte(rec), &m) != nil || len(m.Arguments) != 1 || argSeq(t, m.Arguments[0]) != i {
					t.Fatalf("record %d = %q", i, rec)
				}
				i++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stalled after %d records", i)
		}
	}
}

func post(t *testing.T, e *env, tok, body string, want int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+"?id="+tok, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok-alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST = %d, want %d", resp.StatusCode, want)
	}
}

func poll(t *testing.T, e *env, tok string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+"?id="+tok, nil)
	req.Header.Set("Authorization", "Bearer tok-alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestLongPolling(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SendQueueSize = 20000; o.PollTimeout = 200 * time.Millisecond })
	tok := negotiate(t, e, "alice")
	if code, body := poll(t, e, tok); code != 200 || len(body) != 0 {
		t.Fatalf("first poll %d %q", code, body)
	}
	post(t, e, tok, "{\"protocol\":\"json\",\"version\":1}\x1e", 200)
	if code, body := poll(t, e, tok); code != 200 || string(body) != "{}\x1e" {
		t.Fatalf("handshake poll %d %q", code, body)
	}
	if code, body := poll(t, e, tok); code != 200 || len(body) != 0 {
		t.Fatalf("idle poll %d %q, want an empty 200 after the poll timeout", code, body)
	}
	// A second concurrent poll conflicts.
	conflict := false
	for try := 0; try < 20 && !conflict; try++ {
		first := make(chan int, 1)
		go func() { c, _ := poll(t, e, tok); first <- c }()
		code, _ := poll(t, e, tok)
		conflict = code == http.StatusConflict
		<-first
	}
	if !conflict {
		t.Fatal("no 409 for a concurrent poll")
	}
	const n = 10000
	chunks := make(chan string, 100)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(chunks)
		for {
			select {
			case <-stop:
				return
			default:
			}
			code, body := poll(t, e, tok)
			if code != 200 {
				return
			}
			if len(body) > 0 {
				chunks <- string(body)
			}
		}
	}()
	for i := range n {
		_ = e.h.SendToUser(context.Background(), "alice", "m", seqArg(i))
	}
	checkRecords(t, chunks, n)
	close(stop)
	// DELETE ends it: 202, and the next poll is 204.
	req, _ := http.NewRequest(http.MethodDelete, e.url+"?id="+tok, nil)
	req.Header.Set("Authorization", "Bearer tok-alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE: %v %v", err, resp)
	}
	resp.Body.Close()
	for range chunks {
	}
	wg.Wait()
	if code, _ := poll(t, e, tok); code != http.StatusNoContent && code != http.StatusNotFound {
		t.Fatalf("poll after DELETE = %d", code)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxReceiveMessageSize = 1024 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Bad token: 401 without detail.
	req, _ := http.NewRequest(http.MethodPost, e.url+"/negotiate?negotiateVersion=1", nil)
	req.Header.Set("Authorization", "Bearer nope")
	resp, _ := http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || bytes.Contains(body, []byte("nope")) {
		t.Fatalf("bad token: %d %q", resp.StatusCode, body)
	}
	// Unknown and reused connection tokens: 404.
	if code, _ := poll(t, e, "unknown"); code != 404 {
		t.Fatalf("unknown id: %d", code)
	}
	ws := rawWS(t, e, "alice", `{"protocol":"json","version":1}`)
	defer ws.CloseNow()
	// Malformed handshake: an error response, then the connection closes.
	bad := rawWS(t, e, "alice", `{"protocol":`)
	_ = bad.Write(ctx, websocket.MessageText, []byte("}\x1e"))
	_, data, err := bad.Read(ctx)
	if err != nil || !bytes.HasPrefix(data, []byte(`{"error":`)) {
		t.Fatalf("malformed handshake answered %q %v", data, err)
	}
	if _, _, err := bad.Read(ctx); err == nil {
		t.Fatal("connection still open after a bad handshake")
	}
	bad.CloseNow()
	// Oversized and invalid messages: Close with an error.
	for _, msg := range []string{"{\"type\":1,\"target\":\"x\",\"arguments\":[\"" + strings.Repeat("a", 2000) + "\"]}\x1e", "{not json\x1e"} {
		c := rawWS(t, e, "alice", `{"protocol":"json","version":1}`)
		_, _, _ = c.Read(ctx) // handshake
		_ = c.Write(ctx, websocket.MessageText, []byte(msg))
		var got []byte
		for {
			_, d, err := c.Read(ctx)
			if err != nil {
				break
			}
			got = append(got, d...)
		}
		if !bytes.Contains(got, []byte(`"type":7,"error":`)) {
			t.Fatalf("after %.20q got %q, want a Close with an error", msg, got)
		}
		c.CloseNow()
	}
}

func TestShutdownClosesWithReconnect(t *testing.T) {
	h, err := NewHub(Options{Authenticate: testAuth})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pushtest.Dial(ctx, srv.URL+"/signalr", "tok-alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if cl := waitDone(t, c); cl == nil || !cl.AllowReconnect {
		t.Fatalf("shutdown close = %+v", cl)
	}
}

func TestClientTimeoutAndKeepAlive(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.KeepAliveInterval = 50 * time.Millisecond
		o.ClientTimeout = 300 * time.Millisecond
	})
	ws := rawWS(t, e, "alice", `{"protocol":"json","version":1}`)
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The client timeout is armed by the client's first Ping (the JS client sends one
	// right after the handshake); then silence closes the connection.
	if err := ws.Write(ctx, websocket.MessageText, []byte("{\"type\":6}\x1e")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		_, d, err := ws.Read(ctx)
		if err != nil {
			break
		}
		got = append(got, d...)
	}
	if !bytes.Contains(got, []byte(`{"type":6}`)) || !bytes.Contains(got, []byte(`"allowReconnect":true`)) {
		t.Fatalf("got %q, want pings then a Close", got)
	}
}

// TestCredentialExpiryClosesWithReconnect: a connection whose credential expires is closed
// with Close{allowReconnect:true} on the heartbeat, as ASP.NET Core's
// CloseOnAuthenticationExpiration does; one without an expiry stays open.
func TestCredentialExpiryClosesWithReconnect(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.KeepAliveInterval, o.ClientTimeout = 100*time.Millisecond, 10*time.Second })
	exp := time.Now().Add(300 * time.Millisecond)
	expiring := e.dial(fmt.Sprintf("alice;exp=%d", exp.UnixMilli()), 16)
	forever := e.dial("bob", 16)
	cm := waitDone(t, expiring)
	if time.Now().Before(exp) {
		t.Fatal("closed before the credential expired")
	}
	// ASP.NET Core sends {"type":7,"allowReconnect":true} for an authentication expiry, as for a
	// graceful end: no error text (shared/specs/signalr-protocol.md, Close messages).
	if cm == nil || !cm.AllowReconnect || cm.Error != "" {
		t.Fatalf("close = %+v, want allowReconnect without an error, as ASP.NET Core", cm)
	}
	// The other connection still works after the expired one's deadline.
	if err := e.h.SendToUser(context.Background(), "bob", "ping", 1); err != nil {
		t.Fatal(err)
	}
	if inv := recv(t, forever); inv.Target != "ping" {
		t.Fatalf("bob got %+v", inv)
	}
}
