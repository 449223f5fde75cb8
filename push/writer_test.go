package push

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// hubGoroutines counts the goroutines of the hub's WebSockets: their readers and writers.
func hubGoroutines() int {
	n, _ := hubStacks()
	return n
}

// hubStacks is hubGoroutines with their stacks.
func hubStacks() (int, string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count, stacks := 0, ""
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("push.(*Hub).runWebSocket")) || bytes.Contains(g, []byte("push.(*sockWriter)")) {
			count++
			stacks += string(g) + "\n\n"
		}
	}
	return count, stacks
}

// TestIdleWebSocketHoldsOnlyItsReader: an idle WebSocket connection costs one goroutine, the
// one reading its socket; its writer runs only while something waits to be written. A parked
// writer per connection was a second goroutine stack (about 8 KiB) for every browser tab.
func TestIdleWebSocketHoldsOnlyItsReader(t *testing.T) {
	e := newEnv(t, nil)
	before := hubGoroutines()
	const n = 20
	clients := make([]interface{ Close() error }, 0, n)
	for i := range n {
		user := "user" + strconv.Itoa(i)
		c := e.dial(user, 8)
		clients = append(clients, c)
		// Each connection has written (the handshake answer, then this push) at least once.
		if err := e.h.SendToUser(context.Background(), user, "push", i); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, c); got.Target != "push" {
			t.Fatalf("got %q", got.Target)
		}
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		got := hubGoroutines() - before
		if got == n {
			break
		}
		select {
		case <-deadline.C:
			_, stacks := hubStacks()
			t.Fatalf("%d idle connections hold %d goroutines of the hub, want %d (one reader each):\n%s", n, got, n, stacks)
		case <-tick.C:
		}
	}
	for _, c := range clients {
		_ = c.Close()
	}
}

// TestWriterStartsAgainAfterEveryIdle: records pushed one at a time, each after the previous
// one arrived (the writer has ended in between, or is ending), and bursts from several
// senders at once all arrive, in each sender's order, and the Close record comes after them.
// A record queued while the writer decides to end must start a new one, never wait.
func TestWriterStartsAgainAfterEveryIdle(t *testing.T) {
	// Room for every burst: this test is about wake-ups, not about slow consumers.
	e := newEnv(t, func(o *Options) { o.SendQueueSize = 4096 })
	c := e.dial("alice", 4096)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 300 {
		if err := e.h.SendToUser(ctx, "alice", "one", i); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, c); got.Target != "one" || string(got.Arguments[0]) != strconv.Itoa(i) {
			t.Fatalf("record %d: %+v", i, got)
		}
	}
	const senders, each = 4, 500
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				if err := e.h.SendToUser(ctx, "alice", "burst", []int{s, i}); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	if err := e.h.Kick(ctx, "alice", "bye", false); err != nil {
		t.Fatal(err)
	}
	next := make([]int, senders)
	for inv := range c.Invocations {
		var si [2]int
		if err := json.Unmarshal(inv.Arguments[0], &si); err != nil {
			t.Fatal(err)
		}
		if si[1] != next[si[0]] {
			t.Fatalf("sender %d: got record %d, want %d", si[0], si[1], next[si[0]])
		}
		next[si[0]]++
	}
	for s, got := range next {
		if got != each {
			t.Fatalf("sender %d: %d of %d records arrived before the close (%+v)", s, got, each, c.Closed())
		}
	}
	<-c.Done()
	if cm := c.Closed(); cm == nil || cm.Error != "bye" {
		t.Fatalf("close = %+v, want the kick's reason after every record", cm)
	}
}

// TestFrameBehindTheUpgradeIsRead: a client may send its first frame right behind the
// upgrade request, before the 101 answer; net/http has then read it into its own buffer,
// which the hub replaces with a smaller one. The frame must still be read, first.
func TestFrameBehindTheUpgradeIsRead(t *testing.T) {
	e := newEnv(t, nil)
	tok := negotiate(t, e, "alice")
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	// A client frame: FIN + text, masked, with the handshake as payload (RFC 6455 §5.2).
	payload := []byte(`{"protocol":"json","version":1}` + "\x1e")
	mask := [4]byte{1, 2, 3, 4}
	frame := append([]byte{0x81, 0x80 | byte(len(payload))}, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	req := "GET " + u.Path + "?id=" + tok + "&access_token=tok-alice HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil { // one write, one segment
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatalf("no handshake answer: the frame sent behind the request was lost (%v)", err)
	}
	body := make([]byte, head[1]&0x7f)
	if _, err := io.ReadFull(br, body); err != nil || head[0] != 0x81 || string(body) != "{}\x1e" {
		t.Fatalf("handshake answer % x %q %v", head, body, err)
	}
}
