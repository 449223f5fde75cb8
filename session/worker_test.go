package session

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// TestDemandWorker: bits signalled before start wait for it; bits signalled while a step runs
// are coalesced into the next step, never a concurrent one; after stop nothing runs.
func TestDemandWorker(t *testing.T) {
	var w demandWorker
	var wg sync.WaitGroup
	w.signal(1)
	w.signal(2)
	steps := make(chan int, 8)
	release := make(chan struct{})
	var mu sync.Mutex
	inStep := 0
	step := func(sigs int) {
		mu.Lock()
		inStep++
		overlap := inStep > 1
		mu.Unlock()
		if overlap {
			t.Error("two steps ran at once")
		}
		steps <- sigs
		<-release
		mu.Lock()
		inStep--
		mu.Unlock()
	}
	next := func() int {
		t.Helper()
		select {
		case s := <-steps:
			return s
		case <-time.After(5 * time.Second):
			t.Fatal("no step ran")
			return 0
		}
	}
	w.start(&wg, step, 4)
	if got := next(); got != 1|2|4 {
		t.Fatalf("first step got %b, want the bits from before start too (111)", got)
	}
	w.signal(8) // during the step
	w.signal(16)
	release <- struct{}{}
	if got := next(); got != 8|16 {
		t.Fatalf("second step got %b, want 11000", got)
	}
	release <- struct{}{}
	wg.Wait() // the goroutine ends with no bits left
	w.signal(32)
	if got := next(); got != 32 {
		t.Fatalf("step after idle got %b, want 100000", got)
	}
	w.stop()
	w.signal(64)   // during the last step, after stop: dropped
	close(release) // a step that ran after stop would not block
	wg.Wait()
	w.signal(128)
	wg.Wait()
	select {
	case s := <-steps:
		t.Fatalf("a step (%b) ran after stop", s)
	default:
	}
}

// TestStaleLingerSignalIsIgnored: the linger's timer may fire just as a returning user stops
// it, or before it is armed again; only the linger armed last ends the period, and only while
// the user is idle. The idle state the last step saw may be stale: a tab that came back
// since (the user has a connection on this node again) keeps the period.
func TestStaleLingerSignalIsIgnored(t *testing.T) {
	c, err := rocketchat.NewClient(rocketchat.ClientOptions{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Options{Client: c, Strategy: StrategyDefaultPassword, DefaultPassword: "x", Pusher: newRecorder(), RealtimeURL: "ws://127.0.0.1:1/websocket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	for _, c := range []struct {
		name  string
		idle  bool
		local int           // the user's connections on this node now
		end   time.Duration // lingerEnd from now
		want  bool
	}{
		{"user back", false, 1, -time.Second, false},
		{"re-armed", true, 0, time.Hour, false},
		{"ran out", true, 0, -time.Second, true},
		{"a tab came back since the last step", true, 1, -time.Second, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m.mu.Lock()
			m.local["alice"] = c.local
			m.mu.Unlock()
			u := &upstream{m: m, ul: &userLoop{id: "alice", notify: make(chan struct{}, 1)}, idle: c.idle, lingerEnd: time.Now().Add(c.end)}
			u.lingT = time.AfterFunc(time.Hour, func() {})
			defer u.lingT.Stop()
			u.ctx, u.cancel = context.WithCancel(context.Background())
			defer u.cancel()
			u.supervise(supLinger)
			if ended := u.ctx.Err() != nil; ended != c.want {
				t.Fatalf("period ended: %v, want %v", ended, c.want)
			}
			if c.want && endReason(u.decided.Load()-1) != endIdle {
				t.Fatalf("reason %d, want endIdle", u.decided.Load()-1)
			}
		})
	}
}
