package push

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rcgateway/rcgateway/push/signalr"
)

// TestShutdownWithSuspendedConnection: a stateful connection whose socket dropped has no
// goroutine left; shutdown must still forget it and return at once.
func TestShutdownWithSuspendedConnection(t *testing.T) {
	e := newEnv(t, nil)
	ws := openWS(t, e, negotiateWith(t, e, "alice", true), "alice")
	shake(t, ws, 2)
	ws.CloseNow() // a drop without a close frame: the connection is kept for a resume
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !suspendedAny(e.h) {
		if time.Now().After(deadline) {
			t.Fatal("connection never suspended")
		}
		<-tick.C
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if err := e.h.Shutdown(sctx); err != nil {
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
	e := newEnv(t, nil)
	h := e.h
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok := negotiateWith(t, e, "alice", true)
	old := openWS(t, e, tok, "alice")
	shake(t, old, 2)
	if err := h.SendToUser(ctx, "alice", "push", map[string]int{"seq": 1}); err != nil {
		t.Fatal(err)
	}
	const first = `{"type":1,"target":"push","arguments":[{"seq":1}]}` + "\x1e"
	if _, got, err := old.Read(ctx); err != nil || string(got) != first {
		t.Fatalf("first push %q %v", got, err)
	}

	// The old socket is still open as far as the hub knows.
	resumed := openWS(t, e, tok, "alice") // no 409: the resume takes over
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
	e := newEnv(t, nil)
	returned := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.h.ServeHTTP(w, r)
		if r.Header.Get("Upgrade") != "" {
			returned <- struct{}{}
		}
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/signalr"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws := openWS(t, e, negotiate(t, e, "alice"), "alice")
	select {
	case <-returned:
	case <-ctx.Done():
		t.Fatal("the handler did not return after the upgrade")
	}
	shake(t, ws, 1)
	if err := e.h.SendToUser(ctx, "alice", "push", 1); err != nil {
		t.Fatal(err)
	}
	if _, got, err := ws.Read(ctx); err != nil || string(got) != `{"type":1,"target":"push","arguments":[1]}`+"\x1e" {
		t.Fatalf("push after the handler returned: %q %v", got, err)
	}
}

// TestStatefulSendersKeepSequenceOrder: with stateful reconnect the client acknowledges by
// count, so the records on the wire must be in the order of their sequence numbers however
// many goroutines push at once. Numbering and queueing in two steps broke that.
func TestStatefulSendersKeepSequenceOrder(t *testing.T) {
	e := newEnv(t, nil)
	for round := range 200 {
		c := e.h.newConn("alice")
		c.q = newSendQueue(64, c.done)
		c.stateful.Store(true)
		const senders = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range senders {
			wg.Go(func() {
				<-start
				c.enqueueNumbered([]byte{byte(i)})
			})
		}
		close(start)
		wg.Wait()
		c.smu.Lock()
		bySeq := make([]byte, 0, senders)
		for _, r := range c.st.buf {
			bySeq = append(bySeq, r.rec[0])
		}
		c.smu.Unlock()
		onWire := make([]byte, 0, senders)
		onWire = append(onWire, c.q.take(nil)...)
		if !bytes.Equal(onWire, bySeq) {
			t.Fatalf("round %d: queued %v, numbered %v", round, onWire, bySeq)
		}
	}
}

// TestClosedWhileSuspendingIsForgotten: a close that lands while the reader is suspending a
// stateful connection leaves it closed and suspended; no socket will come back to remove it,
// so the heartbeat must, or it stays addressable and Hub.Close waits for it.
func TestClosedWhileSuspendingIsForgotten(t *testing.T) {
	e := newEnv(t, nil)
	c := e.h.newConn("alice")
	e.h.track(c)
	c.transport.Store(transportWebSockets)
	c.stateful.Store(true)
	c.handshaken.Store(true)
	c.close(nil, CloseShutdown) // the close first...
	c.smu.Lock()
	c.st.inactive = true // ...then the suspension it raced
	c.smu.Unlock()
	c.tick(time.Now())
	e.h.mu.RLock()
	_, tracked := e.h.byID[c.id]
	e.h.mu.RUnlock()
	if tracked || !c.removed.Load() {
		t.Fatal("a closed, suspended connection was kept")
	}
}

// TestHandshakeOnAClosedConnectionIsNotRegistered: a handshake that arrives after the
// connection was closed must not register it (online presence, single-login kicks).
func TestHandshakeOnAClosedConnectionIsNotRegistered(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SingleLogin = true })
	c := e.h.newConn("alice")
	e.h.track(c)
	c.transport.Store(transportWebSockets)
	c.close(nil, CloseShutdown)
	if err := c.acceptHandshake(signalr.HandshakeRequest{Protocol: "json", Version: 1}); err == nil {
		t.Fatal("a closed connection accepted a handshake")
	}
	if c.ready.Load() {
		t.Fatal("a closed connection was registered")
	}
	e.h.remove(c) // as its reader does once receive fails
}
