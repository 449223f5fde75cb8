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
