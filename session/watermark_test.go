package session

import (
	"testing"
	"time"
)

// TestWatermarkOverlappingResyncs: a connection ends while its resync is still fetching and
// the next connection's resync starts; the first one succeeding does not release the gap the
// second still owes (the watermark used to forget every gap when any resync succeeded, so a
// node dying then left the next owner starting from "now").
func TestWatermarkOverlappingResyncs(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1_700_000_000+int64(s), 0) }
	now := at(100)
	var w watermark
	w.gap = at(0)

	g1 := w.connected() // the first resync owes from 0
	if g1 != at(0) || w.from(now) != at(0) {
		t.Fatalf("first connect: gap %v, from %v", g1, w.from(now))
	}
	w.disconnected(at(10)) // the connection ends; resync 1 is still running
	if w.gap != at(0) {
		t.Fatalf("gap after a loss during an unfinished resync = %v, want 0 (still owed)", w.gap)
	}
	g2 := w.connected()
	w.synced(g1) // resync 1 succeeds; resync 2 (same start) has not
	if got := w.from(now); got != at(0) {
		t.Fatalf("from = %v while the second resync still owes from 0", got)
	}
	w.synced(g2)
	if got := w.from(now); got != now {
		t.Fatalf("from = %v with everything resynced and a connection up, want now", got)
	}

	// A loss after everything was resynced starts a new gap at the last frame.
	w.disconnected(at(50))
	if got := w.from(now); got != at(50) {
		t.Fatalf("from = %v after a loss at 50", got)
	}
	g3 := w.connected()
	w.disconnected(at(60))
	g4 := w.connected() // owes from 50 too: resync 3 has not succeeded
	if g3 != at(50) || g4 != at(50) {
		t.Fatalf("gaps %v %v, want both 50", g3, g4)
	}
	w.synced(g4)
	if got := w.from(now); got != at(50) {
		t.Fatalf("from = %v while resync 3 still owes from 50", got)
	}
	w.synced(g3)
	if got := w.from(now); got != now || len(w.pending) != 0 {
		t.Fatalf("from = %v, pending %v", got, w.pending)
	}
}
