package push

import (
	"context"
	"time"

	"github.com/coder/websocket"

	"github.com/rcgateway/rcgateway/push/signalr"
)

// Stateful reconnect (hub protocol version 2, WebSockets only): the hub numbers what it
// sends (invocations and completions), keeps what the client has not acknowledged, and when
// the socket drops without a close, keeps the connection for DisconnectTimeout so the client
// can reopen a WebSocket with the same token; the hub then sends a Sequence message and
// replays what was not acknowledged, pushes made while the socket was down included.

// statefulBufferBytes bounds the unacknowledged bytes kept for one connection (ASP.NET's
// default). Beyond it the connection is closed with allowReconnect.
const statefulBufferBytes = 100_000

type seqRec struct {
	seq int64
	rec []byte
}

// state is a stateful connection's sequence bookkeeping, guarded by smu.
type state struct {
	outSeq   int64 // last numbered record sent or buffered
	buf      []seqRec
	bufBytes int
	inactive bool // the socket dropped; waiting for a resume
	ws       *websocket.Conn
	wsDone   chan struct{} // closed when the goroutine serving ws has let go of it

	inSeq, inExpect int64 // inbound: last processed id, ids counted so far
	awaitingSeq     bool  // after a resume, inbound is ignored until the client's Sequence
	ackDue          bool
	lastAck         time.Time
}

// enqueueNumbered queues an invocation or completion; on a stateful connection it is
// numbered and kept until acknowledged, and only kept while the socket is down. Numbering and
// queueing happen in one critical section, so concurrent senders put records on the wire in
// sequence order: the client acknowledges by count, and a record sent out of order would be
// acknowledged in another's place and lost on a resume.
func (c *conn) enqueueNumbered(rec []byte) bool {
	if !c.stateful.Load() {
		return c.enqueue(rec)
	}
	c.smu.Lock()
	if c.isClosed() {
		c.smu.Unlock()
		return false
	}
	c.st.outSeq++
	c.st.buf = append(c.st.buf, seqRec{c.st.outSeq, rec})
	c.st.bufBytes += len(rec)
	over, queued := c.st.bufBytes > statefulBufferBytes, true
	if !over && !c.st.inactive {
		queued = c.q.push(rec)
	}
	c.smu.Unlock()
	switch {
	case over:
		c.h.slowCloses.Add(1)
		c.closeFor(CloseUnackedOverflow)
		return false
	case !queued:
		c.closeSlow()
		return false
	}
	return true
}

// acked drops the records the client has processed.
func (c *conn) acked(n int64) {
	c.smu.Lock()
	defer c.smu.Unlock()
	i := 0
	for i < len(c.st.buf) && c.st.buf[i].seq <= n {
		c.st.bufBytes -= len(c.st.buf[i].rec)
		i++
	}
	c.st.buf = append(c.st.buf[:0], c.st.buf[i:]...)
}

// countInbound decides whether a numbered inbound message is new (to dispatch) or a
// replayed duplicate, and tracks what to acknowledge. Unnumbered types always pass.
func (c *conn) countInbound(m *signalr.Message) (dispatch bool) {
	if !c.stateful.Load() {
		return true
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	switch m.Type {
	case signalr.Sequence:
		if m.SequenceID > c.st.inSeq+1 {
			return false // handled by the caller as fatal
		}
		c.st.inExpect = m.SequenceID - 1
		c.st.awaitingSeq = false
		return true
	case signalr.Invocation, signalr.StreamItem, signalr.Completion, signalr.StreamInvocation, signalr.CancelInvocation:
	default:
		return !c.st.awaitingSeq
	}
	if c.st.awaitingSeq {
		return false
	}
	c.st.inExpect++
	if c.st.inExpect <= c.st.inSeq {
		return false
	}
	c.st.inSeq = c.st.inExpect
	c.st.ackDue = true
	return true
}

// ackRecord returns the Ack to send now, at most once a second, or nil.
func (c *conn) ackRecord(now time.Time) []byte {
	if !c.stateful.Load() {
		return nil
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	if !c.st.ackDue || c.st.inactive || now.Sub(c.st.lastAck) < time.Second {
		return nil
	}
	c.st.ackDue, c.st.lastAck = false, now
	rec, _ := c.protocol().Append(nil, &signalr.Message{Type: signalr.Ack, SequenceID: c.st.inSeq})
	return rec
}

// suspend marks a stateful connection whose socket dropped as waiting for a resume.
func (c *conn) suspend() bool {
	if !c.stateful.Load() || c.isClosed() {
		return false
	}
	c.smu.Lock()
	c.st.inactive, c.st.awaitingSeq, c.st.ws = true, true, nil
	c.smu.Unlock()
	c.lastActive.Store(time.Now().UnixNano())
	return true
}

// suspended reports whether the connection waits for a resume (no socket goroutine).
func (c *conn) suspended() bool {
	if !c.stateful.Load() {
		return false
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.st.inactive
}

// resume takes a new socket for a suspended connection. It returns what to write first:
// the Sequence message and every unacknowledged record.
func (c *conn) resume(ws *websocket.Conn, done chan struct{}) (preamble []byte, ok bool) {
	// A partial record from the dropped socket is worthless: the client replays it whole.
	c.inMu.Lock()
	c.inbuf = nil
	c.inMu.Unlock()
	c.smu.Lock()
	defer c.smu.Unlock()
	if !c.st.inactive || c.isClosed() {
		return nil, false
	}
	// Everything still queued is in the buffer too; it is replayed from there, in order.
	c.q.clear()
	first := c.st.outSeq + 1
	if len(c.st.buf) > 0 {
		first = c.st.buf[0].seq
	}
	preamble, _ = c.protocol().Append(nil, &signalr.Message{Type: signalr.Sequence, SequenceID: first})
	for _, r := range c.st.buf {
		preamble = append(preamble, r.rec...)
	}
	c.st.inactive, c.st.ws, c.st.wsDone = false, ws, done
	return preamble, true
}

// supersede makes way for a resume. The client resumes once, at once, when it loses its
// socket, possibly before the hub has seen the loss: a socket still live is aborted. Either
// way the goroutines of the old socket must have let go of it (and of the send queue)
// before the new one takes over. It reports whether the connection is then suspended.
func (c *conn) supersede(ctx context.Context) bool {
	c.smu.Lock()
	inactive, ws, done := c.st.inactive, c.st.ws, c.st.wsDone
	c.smu.Unlock()
	if !inactive && ws != nil {
		ws.CloseNow()
	}
	if done != nil {
		t := time.NewTimer(supersedeTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		}
	}
	return c.suspended()
}

// supersedeTimeout bounds the wait for an aborted socket's goroutines to let go.
const supersedeTimeout = 5 * time.Second

// dropTransport aborts the socket without a close frame (tests of the resume path).
func (c *conn) dropTransport() {
	c.smu.Lock()
	ws := c.st.ws
	c.smu.Unlock()
	if ws != nil {
		ws.CloseNow()
	}
}
