package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rcgateway/rcgateway/push/signalr"
)

// Transports a connection is bound to.
const (
	transportNone int32 = iota
	transportWebSockets
	transportSSE
	transportLongPolling
)

// HubError is an error a Handler returns to show its message to the caller; other errors
// are reported with a generic text.
type HubError struct{ Message string }

func (e *HubError) Error() string { return e.Message }

// conn is one SignalR connection on this node.
type conn struct {
	h                 *Hub
	id, token, userID string
	created           time.Time

	transport  atomic.Int32
	protoP     atomic.Pointer[protoBox]
	ready      atomic.Bool   // handshake done and registered
	started    chan struct{} // closed once registered: the queue may be written from then on
	handshaken atomic.Bool

	q         sendQueue
	done      chan struct{}
	closeOnce sync.Once
	finalRec  []byte // written after the queue when done closes

	lastRecv, lastSent, lastActive atomic.Int64
	writingSince                   atomic.Int64 // start of the WebSocket write in progress, 0 if none
	polling                        atomic.Bool
	finalSent                      atomic.Bool
	removed                        atomic.Bool
	pinged                         atomic.Bool  // a client Ping arrived: the client timeout applies
	deleted                        atomic.Bool  // a long-polling client sent DELETE
	expires                        atomic.Int64 // credential expiry (Unix ns), 0: never

	inMu  sync.Mutex
	inbuf []byte

	allowStateful bool        // negotiate asked for stateful reconnect
	stateful      atomic.Bool // and the handshake (version 2, WebSockets) enabled it
	smu           sync.Mutex
	st            state

	since int64 // Hub.keyTick when registered: repeats of keys first sent later are new to it

	groups  map[string]struct{} // guarded by h.mu
	counted bool                // in h.perUser; guarded by h.mu
}

type protoBox struct{ p signalr.Protocol }

func (h *Hub) newConn(userID string) *conn {
	now := time.Now()
	c := &conn{h: h, id: newConnectionID(now), token: newID(16), userID: userID, created: now,
		done: make(chan struct{}), started: make(chan struct{}), groups: map[string]struct{}{}}
	c.q = newSendQueue(h.o.SendQueueSize, c.done)
	c.lastRecv.Store(now.UnixNano())
	c.lastSent.Store(now.UnixNano())
	c.lastActive.Store(now.UnixNano())
	return c
}

// protocol is the negotiated hub protocol (JSON until the handshake says otherwise).
func (c *conn) protocol() signalr.Protocol {
	if b := c.protoP.Load(); b != nil {
		return b.p
	}
	return signalr.JSON
}

func (c *conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// enqueue queues one record; a full queue closes the connection (allowReconnect).
func (c *conn) enqueue(rec []byte) bool {
	if c.isClosed() {
		return false
	}
	if !c.q.push(rec) {
		c.closeSlow()
		return false
	}
	return true
}

// closeSlow closes a connection whose send queue is full (allowReconnect).
func (c *conn) closeSlow() {
	c.h.slowCloses.Add(1)
	c.h.log.Warn("push: slow consumer closed", "conn", c.id, "user", c.userID)
	c.closeFor(CloseSlowConsumer)
}

// closeFor ends the connection with reason's Close record from the disconnect table.
func (c *conn) closeFor(reason CloseReason) {
	js, mp := reason.records()
	c.closeWith(js, mp, reason)
}

// closeWith ends the connection with the Close record of its protocol.
func (c *conn) closeWith(js, mp []byte, reason CloseReason) {
	if c.protocol().Binary() {
		c.close(mp, reason)
	} else {
		c.close(js, reason)
	}
}

// close ends the connection after the queued records and rec (a Close record, or nil). The
// first close wins: its reason is logged and counted, later ones are no-ops.
func (c *conn) close(rec []byte, reason CloseReason) {
	c.closeOnce.Do(func() {
		c.h.countClose(reason) // before done: whoever sees the close sees it counted
		c.finalRec = rec
		close(c.done)
		c.q.kick() // a WebSocket's writer writes the rest, rec and the close frame
		c.h.log.Debug("push: connection closed", "conn", c.id, "user", c.userID, "reason", reason.String())
	})
}

// drain appends every queued record to buf.
func (c *conn) drain(buf []byte) []byte { return c.q.take(buf) }

// receive processes bytes from the client: the handshake, then hub messages.
func (c *conn) receive(ctx context.Context, data []byte) error {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	c.lastRecv.Store(time.Now().UnixNano())
	c.inbuf = append(c.inbuf, data...)
	for len(c.inbuf) > 0 {
		if !c.handshaken.Load() {
			req, n, err := signalr.ParseHandshake(c.inbuf, c.h.maxRecv)
			if err != nil {
				c.rejectHandshake(err.Error(), CloseHandshakeRejected)
				return err
			}
			if n == 0 {
				return nil
			}
			c.inbuf = c.inbuf[n:]
			if err := c.acceptHandshake(req); err != nil {
				return err
			}
			continue
		}
		m, n, err := c.protocol().Parse(c.inbuf, c.h.maxRecv)
		if err != nil {
			c.closeFor(CloseProtocolError)
			return err
		}
		if n == 0 {
			return nil
		}
		c.inbuf = c.inbuf[n:]
		if m.Type == signalr.Sequence && c.stateful.Load() {
			c.smu.Lock()
			fatal := m.SequenceID > c.st.inSeq+1
			c.smu.Unlock()
			if fatal {
				c.closeFor(CloseSequenceAhead)
				return errors.New("push: client sequence ahead of what was received")
			}
		}
		if c.countInbound(&m) {
			c.dispatch(ctx, m)
		}
	}
	c.inbuf = nil // release a large buffer once fully consumed
	return nil
}

// waitStarted waits until the connection may be written to, or has ended, or ctx ends.
func (c *conn) waitStarted(ctx context.Context) {
	select {
	case <-c.started:
	case <-c.done:
	case <-ctx.Done():
	}
}

// rejectHandshake answers the handshake with an error and ends the connection.
func (c *conn) rejectHandshake(msg string, reason CloseReason) {
	rec := signalr.AppendHandshakeResponse(nil, msg)
	c.close(rec, reason)
}

func (c *conn) acceptHandshake(req signalr.HandshakeRequest) error {
	if c.isClosed() {
		// Closed while the handshake was on its way (shutdown, handshake timeout): it is
		// not registered, so it neither counts as online nor closes the user's other tabs.
		return errors.New("push: handshake on a closed connection")
	}
	p, ok := signalr.ProtocolByName(req.Protocol)
	switch {
	case !ok:
		//lint:ignore ST1005 the text is the wire text ASP.NET Core sends
		err := fmt.Errorf("The protocol '%s' is not supported.", req.Protocol)
		c.rejectHandshake(err.Error(), CloseHandshakeRejected)
		return err
	case req.Version < 1 || req.Version > 2:
		//lint:ignore ST1005 the text is the wire text ASP.NET Core sends
		err := fmt.Errorf("The server does not support version %d of the '%s' protocol.", req.Version, req.Protocol)
		c.rejectHandshake(err.Error(), CloseHandshakeRejected)
		return err
	case p.Binary() && c.transport.Load() == transportSSE:
		//lint:ignore ST1005 the text is the wire text ASP.NET Core sends
		err := fmt.Errorf("Cannot use the '%s' protocol on the current transport. The transport does not support 'Binary' transfer format.", req.Protocol)
		c.rejectHandshake(err.Error(), CloseHandshakeRejected)
		return err
	}
	c.protoP.Store(&protoBox{p})
	if c.allowStateful && req.Version >= 2 && c.transport.Load() == transportWebSockets {
		c.stateful.Store(true)
	}
	// The answer is queued first, so no send overtakes it, but written only once the
	// connection is registered, so every send after the client has seen it arrives.
	c.enqueue(signalr.AppendHandshakeResponse(nil, ""))
	c.handshaken.Store(true)
	err := c.h.register(c)
	close(c.started)
	if err != nil {
		c.close(nil, CloseRefused)
		return err
	}
	return nil
}

func (c *conn) dispatch(ctx context.Context, m signalr.Message) {
	switch m.Type {
	case signalr.Invocation:
		c.invoke(ctx, m)
	case signalr.StreamInvocation:
		c.complete(m.InvocationID, nil, "Streaming is not supported by this server.")
	case signalr.Close:
		c.close(nil, CloseClientClosed)
	case signalr.Ack:
		c.acked(m.SequenceID)
	case signalr.Ping:
		c.pinged.Store(true) // arms the client timeout, as in ASP.NET
	default:
		// Completions, stream items, cancels and unknown types are ignored, as the
		// protocol allows.
	}
}

func (c *conn) invoke(ctx context.Context, m signalr.Message) {
	fn := c.h.handler(m.Target)
	if fn == nil {
		if m.InvocationID != "" {
			c.complete(m.InvocationID, nil, fmt.Sprintf("Unknown hub method '%s'", m.Target))
		}
		return
	}
	res, err := fn(ctx, CallInfo{UserID: c.userID, ConnectionID: c.id}, m.Arguments)
	if m.InvocationID == "" {
		return
	}
	if err != nil {
		msg := fmt.Sprintf("An unexpected error occurred invoking '%s' on the server.", m.Target)
		var he *HubError
		if errors.As(err, &he) {
			msg += " HubException: " + he.Message
		}
		c.complete(m.InvocationID, nil, msg)
		return
	}
	c.complete(m.InvocationID, res, "")
}

func (c *conn) complete(id string, res any, errMsg string) {
	if id == "" {
		return
	}
	m := &signalr.Message{Type: signalr.Completion, InvocationID: id, Error: errMsg}
	if errMsg == "" && res != nil {
		raw, ok := res.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(res); err != nil {
				m.Error = "The server could not encode the result."
			}
		}
		if m.Error == "" {
			m.Result, m.HasResult = raw, true
		}
	}
	rec, err := c.protocol().Append(nil, m)
	if err != nil {
		c.h.log.Warn("push: encode completion", "err", err)
		return
	}
	c.enqueueNumbered(rec)
}

// extendExpiry records a credential's expiry, keeping the latest one seen; a zero exp (a
// credential that never expires) changes nothing.
func (c *conn) extendExpiry(exp time.Time) {
	if exp.IsZero() {
		return
	}
	n := exp.UnixNano()
	for {
		cur := c.expires.Load()
		if cur >= n || c.expires.CompareAndSwap(cur, n) {
			return
		}
	}
}

// tick runs the heartbeat's checks for this connection.
func (c *conn) tick(now time.Time) {
	o := &c.h.o
	tr := c.transport.Load()
	since := func(v *atomic.Int64) time.Duration { return now.Sub(time.Unix(0, v.Load())) }
	if tr == transportNone {
		if now.Sub(c.created) > o.DisconnectTimeout {
			c.close(nil, CloseDisconnectTimeout)
			c.h.remove(c)
		}
		return
	}
	if tr == transportLongPolling {
		if !c.polling.Load() && since(&c.lastActive) > o.DisconnectTimeout {
			c.close(nil, CloseDisconnectTimeout)
			c.h.remove(c)
		} else if !c.handshaken.Load() && !c.isClosed() && now.Sub(c.created) > o.HandshakeTimeout {
			c.rejectHandshake(CloseHandshakeTimeout.Text(), CloseHandshakeTimeout)
		}
		return
	}
	if w := c.writingSince.Load(); w != 0 && now.Sub(time.Unix(0, w)) > transportWriteTimeout {
		c.h.log.Debug("push: write timed out, aborting the socket", "conn", c.id)
		c.dropTransport()
	}
	if c.isClosed() {
		if c.suspended() {
			// Closed while its reader was suspending it: no socket will come back to
			// remove it.
			c.h.remove(c)
		}
		return
	}
	if c.stateful.Load() {
		c.smu.Lock()
		inactive := c.st.inactive
		c.smu.Unlock()
		if inactive {
			if since(&c.lastActive) > o.DisconnectTimeout {
				c.close(nil, CloseDisconnectTimeout)
				c.h.remove(c)
			}
			return
		}
		if ack := c.ackRecord(now); ack != nil {
			c.enqueue(ack)
		}
	}
	if !c.handshaken.Load() {
		if now.Sub(c.created) > o.HandshakeTimeout {
			c.rejectHandshake(CloseHandshakeTimeout.Text(), CloseHandshakeTimeout)
		}
		return
	}
	if exp := c.expires.Load(); exp != 0 && now.UnixNano() >= exp {
		c.closeFor(CloseAuthExpired)
		return
	}
	if c.pinged.Load() && since(&c.lastRecv) > o.ClientTimeout {
		c.closeFor(CloseClientTimeout)
		return
	}
	if since(&c.lastSent) >= o.KeepAliveInterval {
		if c.q.push(signalr.PingRecord(c.protocol())) {
			c.lastSent.Store(now.UnixNano())
		}
	}
}

// bind binds the connection to a transport the first time; a different or second binding
// of a streaming transport fails.
func (c *conn) bind(t int32) error {
	if c.transport.CompareAndSwap(transportNone, t) {
		return nil
	}
	if cur := c.transport.Load(); cur != t {
		//lint:ignore ST1005 the text is the wire text ASP.NET Core sends
		return errors.New("Cannot change transports mid-connection")
	}
	if t != transportLongPolling {
		return errAlreadyBound
	}
	return nil
}

var errAlreadyBound = errors.New("connection already has an active transport")
