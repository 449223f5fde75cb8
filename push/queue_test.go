package push

import (
	"bytes"
	"testing"
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

// TestAttachAfterCloseStartsTheWriter: a connection closed before its socket's writer was
// attached (a shutdown or a handshake timeout while the upgrade was under way) found no
// writer to kick; attaching must start one, or its Close record and close frame are never
// written and the socket's reader waits for the client to give up.
func TestAttachAfterCloseStartsTheWriter(t *testing.T) {
	done := make(chan struct{})
	q := newSendQueue(8, done)
	close(done)
	q.kick() // what close() does: no writer attached yet
	w := &sockWriter{}
	if q.attach(w, false) != w {
		t.Fatal("a writer attached to a closed connection was not started")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.writing {
		t.Fatal("the started writer does not count as running")
	}
}

// TestAttachStartsOnlyWithWork: an open connection's writer starts on attach only with a
// preamble or queued records; otherwise the first record starts it.
func TestAttachStartsOnlyWithWork(t *testing.T) {
	q := newSendQueue(8, make(chan struct{}))
	w := &sockWriter{}
	if q.attach(w, false) != nil {
		t.Fatal("a writer started with nothing to write")
	}
	if q.attach(w, true) != w {
		t.Fatal("a writer with a preamble did not start")
	}
	q2 := newSendQueue(8, make(chan struct{}))
	q2.push([]byte("r"))
	if q2.attach(w, false) != w {
		t.Fatal("a writer did not start for a queued record")
	}
}
