package push

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestShutdownWithSuspendedConnection: a stateful connection whose socket dropped has no
// goroutine left; shutdown must still forget it and return at once.
func TestShutdownWithSuspendedConnection(t *testing.T) {
	h, err := NewHub(Options{Authenticate: testAuth})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e.url = srv.URL + "/signalr"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok := negotiateWith(t, e, "alice", true)
	ws, _, err := websocket.Dial(ctx, strings.Replace(e.url, "http", "ws", 1)+"?id="+tok+"&access_token=tok-alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.Write(ctx, websocket.MessageText, []byte("{\"protocol\":\"json\",\"version\":2}\x1e"))
	if _, hs, err := ws.Read(ctx); err != nil || string(hs) != "{}\x1e" {
		t.Fatalf("handshake %q %v", hs, err)
	}
	ws.CloseNow() // a drop without a close frame: the connection is kept for a resume
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !suspendedAny(h) {
		if time.Now().After(deadline) {
			t.Fatal("connection never suspended")
		}
		<-tick.C
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if err := h.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown with a suspended connection: %v", err)
	}
}

func suspendedAny(h *Hub) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.byID {
		if c.suspended() {
			return true
		}
	}
	return false
}

// TestStatefulResumeSupersedesLiveSocket: the client resumes (once, at once) when its socket
// breaks, possibly before the hub has seen the break. The resume must take over: the old
// socket is aborted, the new one gets the Sequence message and every unacknowledged push,
// and later pushes follow on it.
func TestStatefulResumeSupersedesLiveSocket(t *testing.T) {
	h, err := NewHub(Options{Authenticate: testAuth})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = h.Shutdown(sctx)
	}()
	e.url = srv.URL + "/signalr"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok := negotiateWith(t, e, "alice", true)
	wsURL := strings.Replace(e.url, "http", "ws", 1) + "?id=" + tok + "&access_token=tok-alice"
	old, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.CloseNow()
	_ = old.Write(ctx, websocket.MessageText, []byte("{\"protocol\":\"json\",\"version\":2}\x1e"))
	if _, hs, err := old.Read(ctx); err != nil || string(hs) != "{}\x1e" {
		t.Fatalf("handshake %q %v", hs, err)
	}
	if err := h.SendToUser(ctx, "alice", "push", map[string]int{"seq": 1}); err != nil {
		t.Fatal(err)
	}
	const first = `{"type":1,"target":"push","arguments":[{"seq":1}]}` + "\x1e"
	if _, got, err := old.Read(ctx); err != nil || string(got) != first {
		t.Fatalf("first push %q %v", got, err)
	}

	// The old socket is still open as far as the hub knows.
	resumed, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("resume while the old socket is live: %v", err)
	}
	defer resumed.CloseNow()
	if _, got, err := resumed.Read(ctx); err != nil || string(got) != `{"type":9,"sequenceId":1}`+"\x1e"+first {
		t.Fatalf("resume preamble %q %v", got, err)
	}
	if _, _, err := old.Read(ctx); err == nil {
		t.Fatal("the superseded socket is still open")
	}
	_ = resumed.Write(ctx, websocket.MessageText, []byte(`{"type":9,"sequenceId":1}`+"\x1e"))
	if err := h.SendToUser(ctx, "alice", "push", map[string]int{"seq": 2}); err != nil {
		t.Fatal(err)
	}
	const second = `{"type":1,"target":"push","arguments":[{"seq":2}]}` + "\x1e"
	if _, got, err := resumed.Read(ctx); err != nil || string(got) != second {
		t.Fatalf("push after the resume %q %v", got, err)
	}
}

// TestWebSocketLeavesTheHandlerGoroutine: once upgraded, a WebSocket runs on the hub's own
// goroutine and the HTTP handler returns (its goroutine, with the stack the router and
// middleware grew, ends), while the connection stays usable.
func TestWebSocketLeavesTheHandlerGoroutine(t *testing.T) {
	h, err := NewHub(Options{Authenticate: testAuth})
	if err != nil {
		t.Fatal(err)
	}
	returned := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.Header.Get("Upgrade") != "" {
			returned <- struct{}{}
		}
	}))
	defer srv.Close()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := h.Shutdown(sctx); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e := &env{t: t, h: h, url: srv.URL + "/signalr"}
	tok := negotiateWith(t, e, "alice", false)
	ws, _, err := websocket.Dial(ctx, strings.Replace(e.url, "http", "ws", 1)+"?id="+tok+"&access_token=tok-alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	select {
	case <-returned:
	case <-ctx.Done():
		t.Fatal("the handler did not return after the upgrade")
	}
	_ = ws.Write(ctx, websocket.MessageText, []byte("{\"protocol\":\"json\",\"version\":1}\x1e"))
	if _, hs, err := ws.Read(ctx); err != nil || string(hs) != "{}\x1e" {
		t.Fatalf("handshake after the handler returned: %q %v", hs, err)
	}
	if err := h.SendToUser(ctx, "alice", "push", 1); err != nil {
		t.Fatal(err)
	}
	if _, got, err := ws.Read(ctx); err != nil || string(got) != `{"type":1,"target":"push","arguments":[1]}`+"\x1e" {
		t.Fatalf("push after the handler returned: %q %v", got, err)
	}
}
