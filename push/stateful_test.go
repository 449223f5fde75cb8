package push

import (
	"context"
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
