package push

import (
	"bytes"
	"testing"
	"time"
)

func TestSendQueue(t *testing.T) {
	q := newSendQueue(3, nil)
	for _, r := range []string{"a", "b", "c"} {
		if !q.push([]byte(r)) {
			t.Fatalf("push %s refused below max", r)
		}
	}
	if q.push([]byte("d")) {
		t.Fatal("a fourth record was queued with max 3")
	}
	select {
	case <-q.ready:
	default:
		t.Fatal("no wake-up token after the first push")
	}
	if got := q.take(nil); !bytes.Equal(got, []byte("abc")) || q.len() != 0 {
		t.Fatalf("take = %q, len after %d", got, q.len())
	}
	// One token per empty-to-non-empty change: a wake finds every record pushed before it.
	q.push([]byte("x"))
	q.push([]byte("y"))
	<-q.ready
	select {
	case <-q.ready:
		t.Fatal("a second token for one wake-up")
	default:
	}
	if got := q.take(nil); string(got) != "xy" {
		t.Fatalf("take = %q", got)
	}
	// A burst's backing array is let go once taken.
	big := newSendQueue(100, nil)
	for range 100 {
		big.push([]byte("r"))
	}
	big.take(nil)
	if big.recs != nil {
		t.Fatalf("an emptied queue keeps %d slots", cap(big.recs))
	}
}

// TestRetiredWriterKeepsARecordThatCameAfter: the heartbeat retires a parked writer, and a
// record is queued before the woken writer asks whether to end. Nobody else will start a
// writer for it (one still counts as running), so this one must stay and write it.
func TestRetiredWriterKeepsARecordThatCameAfter(t *testing.T) {
	q := newSendQueue(8, make(chan struct{}))
	w := &sockWriter{wake: make(chan struct{}, 1)}
	q.attach(w, false)
	q.mu.Lock()
	if q.startLocked() != w { // as when a record started it
		t.Fatal("no writer to start")
	}
	q.mu.Unlock()
	if _, more, _, _ := q.next(w, nil, time.Now()); more {
		t.Fatal("records in an empty queue")
	}
	q.retireIdle(time.Now().Add(time.Hour), time.Second)
	select {
	case <-w.wake:
	default:
		t.Fatal("the heartbeat did not wake the parked writer to retire it")
	}
	q.push([]byte("r"))
	if q.retired(w) {
		t.Fatal("the writer ended with a record queued after its retirement")
	}
	if got, more, _, _ := q.next(w, nil, time.Now()); !more || string(got) != "r" {
		t.Fatalf("next = %q, %v", got, more)
	}
	// Parked again and retired with nothing queued: it ends, and no longer counts as running.
	q.next(w, nil, time.Now())
	q.retireIdle(time.Now().Add(time.Hour), time.Second)
	<-w.wake
	if !q.retired(w) {
		t.Fatal("an idle retired writer stayed")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.writing || q.parked {
		t.Fatalf("writing %v, parked %v after the writer ended", q.writing, q.parked)
	}
}
