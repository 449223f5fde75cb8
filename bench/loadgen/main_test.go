package main

import "testing"

func TestStatefulReplaySkipsWhatWasReceived(t *testing.T) {
	cl := &client{c: config{stateful: true}}
	lc := &lconn{t: &track{}}
	// Three numbered messages and a ping (not numbered), then the socket drops.
	cl.handle(lc, append(append(frame(1, 2), `{"type":6}`+"\x1e"...), frame(3)...))
	// The resumed socket: the hub replays from its oldest unacknowledged message (2).
	cl.handle(lc, append([]byte(`{"type":9,"sequenceId":2}`+"\x1e"), frame(2, 3, 4)...))
	cl.handle(lc, frame(5))
	if lc.t.deliveries != 5 || lc.t.gaps != 0 || lc.t.reorders != 0 || lc.recv.Load() != 5 {
		t.Fatalf("deliveries %d gaps %d reorders %d received %d, want 5 0 0 5", lc.t.deliveries, lc.t.gaps, lc.t.reorders, lc.recv.Load())
	}
}

func TestWithoutStatefulEveryFrameCounts(t *testing.T) {
	cl := &client{c: config{}}
	lc := &lconn{t: &track{}}
	cl.handle(lc, frame(1, 2))
	cl.handle(lc, frame(2))
	if lc.t.deliveries != 3 || lc.t.reorders != 1 {
		t.Fatalf("deliveries %d reorders %d, want 3 1", lc.t.deliveries, lc.t.reorders)
	}
}
