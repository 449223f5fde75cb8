// Package ddp is a small Meteor DDP (version 1) client over a raw WebSocket.
//
// It owns the session handshake, method calls, subscriptions, the heartbeat and the
// connection's reader (a goroutine of its own, or the caller's with Options.CallerReads). It knows nothing about Rocket.Chat: stream names, login
// and event shapes live in package rocketchat. A Client is one connection; it never
// reconnects — the caller dials again.
package ddp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Defaults for Options.
const (
	DefaultReadLimit    = 16 << 20
	DefaultPingInterval = 25 * time.Second
	DefaultPingTimeout  = 15 * time.Second
)

// ErrClosed is returned by calls on a connection that has ended; Err tells why it ended.
var ErrClosed = errors.New("ddp: connection closed")

// ErrPingTimeout ends a connection whose server did not answer a ping in time.
var ErrPingTimeout = errors.New("ddp: server did not answer ping")

// Data is an added, changed or removed message (Msg says which).
type Data struct {
	Msg        string
	Collection string
	ID         string
	// Fields is valid JSON (the frame was validated whole when it was read) or nil, and is
	// the receiver's: it shares no memory with the connection's read buffer.
	Fields  json.RawMessage
	Cleared []string
}

// Options configures Dial. The zero value is usable.
type Options struct {
	HTTPClient *http.Client
	HTTPHeader http.Header
	// ReadLimit is the largest frame accepted (default DefaultReadLimit); a larger one ends
	// the connection with an error.
	ReadLimit int64
	// PingInterval is the inbound silence after which the client pings (default 25 s;
	// negative disables). PingTimeout is how long it then waits for any frame before it
	// declares the connection dead (default 15 s).
	PingInterval, PingTimeout time.Duration
	// OnData receives added/changed/removed messages on the reader goroutine, in order.
	// It must return quickly and must not call the Client's blocking methods.
	OnData func(Data)
	// OnNosub is told when the server ends an established subscription on its own.
	OnNosub func(id string, err error)
	Logger  *slog.Logger
	// CallerReads: Dial starts no reader goroutine; the caller runs Read on a goroutine of
	// its own, which is then the reader (OnData runs on it). No call or subscription
	// completes until Read runs. This saves a goroutine per connection for a caller that
	// would otherwise only wait for the connection to end.
	CallerReads bool
}

type call struct {
	done   chan struct{}
	result json.RawMessage
	err    error
}

type subscription struct {
	ready chan struct{}
	err   error
	live  bool
}

// Client is one DDP connection. Its methods are safe for concurrent use.
type Client struct {
	conn    *websocket.Conn
	opts    Options
	log     *slog.Logger
	session string

	nextID   atomic.Uint64
	lastRecv atomic.Int64 // unix nanos of the last frame received

	mu    sync.Mutex
	calls map[string]*call
	subs  map[string]*subscription
	err   error

	done      chan struct{} // closed when the connection has ended
	closeOnce sync.Once
	wg        sync.WaitGroup
	ctx       context.Context // ends when Close is called
	cancel    context.CancelFunc

	// The heartbeat is a timer, not a goroutine: an idle upstream costs no stack for it.
	hbMu     sync.Mutex // held by a beat; Close takes it to wait for one in progress
	hbTimer  *time.Timer
	pingSent time.Time
}

// Dial opens a WebSocket to url, performs the DDP connect handshake and starts the reader
// goroutine (unless Options.CallerReads) and the heartbeat timer, which Close stops. ctx
// bounds the handshake only.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	if opts.ReadLimit <= 0 {
		opts.ReadLimit = DefaultReadLimit
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = DefaultPingTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: opts.HTTPClient, HTTPHeader: opts.HTTPHeader})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("ddp: dial: status %d: %w", resp.StatusCode, err)
		}
		return nil, fmt.Errorf("ddp: dial: %w", err)
	}
	conn.SetReadLimit(opts.ReadLimit)
	c := &Client{conn: conn, opts: opts, log: log, calls: map[string]*call{}, subs: map[string]*subscription{}, done: make(chan struct{})}
	if err := c.handshake(ctx); err != nil {
		conn.CloseNow()
		return nil, err
	}
	c.lastRecv.Store(time.Now().UnixNano())
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if !opts.CallerReads {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.readLoop(c.ctx)
		}()
	}
	if opts.PingInterval > 0 {
		c.hbMu.Lock()
		c.hbTimer = time.AfterFunc(opts.PingInterval, c.beat)
		c.hbMu.Unlock()
	}
	return c, nil
}

func (c *Client) handshake(ctx context.Context) error {
	if err := c.write(ctx, connectFrame{Msg: "connect", Support: []string{"1", "pre2", "pre1"}, Version: "1"}); err != nil {
		return fmt.Errorf("ddp: connect: %w", err)
	}
	for {
		f, err := c.readFrame(ctx)
		if err != nil {
			return fmt.Errorf("ddp: connect: %w", err)
		}
		switch f.Msg {
		case "connected":
			c.session = f.Session
			return nil
		case "failed":
			return fmt.Errorf("ddp: connect: server refused version 1 (it offers %q)", f.Version)
		case "ping":
			if err := c.pong(ctx, f.ID); err != nil {
				return fmt.Errorf("ddp: connect: %w", err)
			}
		case "error":
			return fmt.Errorf("ddp: connect: server error: %s", f.Reason)
		}
		// server_id (both forms) and anything unknown are ignored.
	}
}

func (c *Client) readFrame(ctx context.Context) (*frame, error) {
	typ, r, err := c.conn.Reader(ctx)
	if err != nil {
		return nil, err
	}
	buf := readBufs.Get().(*bytes.Buffer)
	defer putReadBuf(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		c.conn.Close(websocket.StatusUnsupportedData, "binary frame")
		return nil, errors.New("unexpected binary frame")
	}
	f, err := decodeFrame(buf.Bytes())
	if err != nil {
		c.conn.Close(websocket.StatusInvalidFramePayloadData, "malformed frame")
		return nil, fmt.Errorf("malformed frame: %w", err)
	}
	f.Fields = bytes.Clone(f.Fields) // it may lie in buf, which goes back to the pool
	return f, nil
}

// readBufs holds the buffers frames are read into. A frame is read whole, decoded, and what
// is kept of it copied out (decodeFrame's strings, Fields), so the buffer goes back at once:
// an idle connection holds none, and a busy one does not grow a new buffer for every frame
// as websocket.Conn.Read (io.ReadAll) would.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledRead bounds the buffers kept for reuse: a rare big frame (a long room list) is
// left to the collector.
const maxPooledRead = 64 << 10

func putReadBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledRead {
		readBufs.Put(b)
	}
}

// Session is the server's session id from "connected".
func (c *Client) Session() string { return c.session }

// LastReceived is when the last frame (data, result, pong, ping) arrived from the server:
// everything the server sent before then has been read.
func (c *Client) LastReceived() time.Time { return time.Unix(0, c.lastRecv.Load()) }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is the reason the connection ended (ErrClosed after Close), nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection and waits for its goroutines. A caller's Read (CallerReads) is
// not waited for: it returns once the connection is closed.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	c.conn.Close(websocket.StatusNormalClosure, "")
	c.cancel() // a later beat does nothing; one in progress has its write cancelled
	c.hbMu.Lock()
	if c.hbTimer != nil {
		c.hbTimer.Stop()
	}
	c.hbMu.Unlock()
	c.wg.Wait()
	return nil
}

// fail records the first cause, releases every waiter and marks the connection done.
func (c *Client) fail(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		for id, cl := range c.calls {
			cl.err = err
			close(cl.done)
			delete(c.calls, id)
		}
		for id, s := range c.subs {
			if !s.live {
				s.err = err
				close(s.ready)
			}
			delete(c.subs, id)
		}
		c.mu.Unlock()
		close(c.done)
	})
}

func (c *Client) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// The frames the client sends, their fields in the order json.Marshal writes a map's keys
// (sorted), so the bytes are those the maps they replace made (TestClientFramesAsMaps).
type (
	connectFrame struct {
		Msg     string   `json:"msg"`
		Support []string `json:"support"`
		Version string   `json:"version"`
	}
	idFrame struct { // ping, unsub
		ID  string `json:"id"`
		Msg string `json:"msg"`
	}
	pongFrame struct {
		ID  string `json:"id,omitempty"`
		Msg string `json:"msg"`
	}
	methodFrame struct {
		ID     string `json:"id"`
		Method string `json:"method"`
		Msg    string `json:"msg"`
		Params []any  `json:"params"`
	}
	subFrame struct {
		ID     string `json:"id"`
		Msg    string `json:"msg"`
		Name   string `json:"name"`
		Params []any  `json:"params"`
	}
)

func (c *Client) pong(ctx context.Context, id string) error {
	return c.write(ctx, pongFrame{ID: id, Msg: "pong"})
}

func (c *Client) newID() string { return strconv.FormatUint(c.nextID.Add(1), 10) }

// Read is the reader of a connection dialled with CallerReads: it reads and dispatches
// frames on the calling goroutine until the connection ends (Close, a failure, or ctx, which
// closes it). It returns why the connection ended (Err). Call it once.
func (c *Client) Read(ctx context.Context) error {
	if !c.opts.CallerReads {
		return errors.New("ddp: Read without CallerReads")
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel) // Close ends the read
	defer stop()
	c.readLoop(rctx)
	return c.Err()
}

func (c *Client) readLoop(ctx context.Context) {
	// Frames are read under a context that never ends: websocket arms a context.AfterFunc
	// for every frame header and payload it reads when the context can end (an allocation
	// and a registration with the parent context each). ctx ends the reads once instead, as
	// websocket would: the connection fails with ctx's error and is closed.
	stop := context.AfterFunc(ctx, func() {
		c.fail(fmt.Errorf("ddp: read: %w", ctx.Err()))
		c.conn.CloseNow()
	})
	defer stop()
	rctx := context.WithoutCancel(ctx)
	for {
		f, err := c.readFrame(rctx)
		if err != nil {
			var ce websocket.CloseError
			switch {
			case errors.As(err, &ce):
				c.fail(fmt.Errorf("ddp: read: closed by server (%d %s): %w", ce.Code, ce.Reason, io.EOF))
			default:
				c.fail(fmt.Errorf("ddp: read: %w", err))
			}
			c.conn.CloseNow()
			return
		}
		c.lastRecv.Store(time.Now().UnixNano())
		if err := c.dispatch(ctx, f); err != nil {
			c.fail(err)
			c.conn.Close(websocket.StatusPolicyViolation, "protocol error")
			return
		}
	}
}

func (c *Client) dispatch(ctx context.Context, f *frame) error {
	switch f.Msg {
	case "ping":
		wctx, cancel := context.WithTimeout(ctx, c.opts.PingTimeout)
		err := c.pong(wctx, f.ID)
		cancel()
		if err != nil {
			return fmt.Errorf("ddp: pong: %w", err)
		}
	case "result":
		c.mu.Lock()
		cl := c.calls[f.ID]
		delete(c.calls, f.ID)
		c.mu.Unlock()
		if cl != nil {
			if f.Error != nil {
				cl.err = f.Error
			} else {
				cl.result = f.Result
			}
			close(cl.done)
		}
	case "ready":
		c.mu.Lock()
		for _, id := range f.Subs {
			if s := c.subs[id]; s != nil && !s.live {
				s.live = true
				close(s.ready)
			}
		}
		c.mu.Unlock()
	case "nosub":
		var err error
		if f.Error != nil {
			err = f.Error
		}
		c.mu.Lock()
		s := c.subs[f.ID]
		delete(c.subs, f.ID)
		wasLive := s != nil && s.live
		if s != nil && !s.live {
			s.err = err
			if s.err == nil {
				s.err = fmt.Errorf("ddp: subscription %s ended before ready", f.ID)
			}
			close(s.ready)
		}
		c.mu.Unlock()
		if wasLive && c.opts.OnNosub != nil {
			c.opts.OnNosub(f.ID, err)
		}
	case "added", "changed", "removed":
		if c.opts.OnData != nil {
			c.opts.OnData(Data{Msg: f.Msg, Collection: f.Collection, ID: f.ID, Fields: f.Fields, Cleared: f.Cleared})
		}
	case "error":
		return fmt.Errorf("ddp: server reported a protocol error: %s", f.Reason)
	}
	// "updated", "pong", "server_id", "connected" and unknown messages need no action:
	// a call completes on its result whichever order result and updated arrive in.
	return nil
}

// beat runs on the heartbeat timer: it pings a connection idle for PingInterval, fails one
// whose ping went unanswered for PingTimeout, and sets the timer for the next check.
func (c *Client) beat() {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	select {
	case <-c.ctx.Done(): // closed
		return
	case <-c.done: // failed
		return
	default:
	}
	last := time.Unix(0, c.lastRecv.Load())
	now := time.Now()
	if !c.pingSent.IsZero() && last.Before(c.pingSent) {
		if now.Sub(c.pingSent) >= c.opts.PingTimeout {
			c.fail(ErrPingTimeout)
			c.conn.CloseNow()
			return
		}
		c.hbTimer.Reset(c.opts.PingTimeout - now.Sub(c.pingSent))
		return
	}
	c.pingSent = time.Time{}
	if idle := now.Sub(last); idle < c.opts.PingInterval {
		c.hbTimer.Reset(c.opts.PingInterval - idle)
		return
	}
	wctx, cancel := context.WithTimeout(c.ctx, c.opts.PingTimeout)
	err := c.write(wctx, idFrame{ID: "hb" + c.newID(), Msg: "ping"})
	cancel()
	if err != nil {
		c.fail(fmt.Errorf("ddp: ping: %w", err))
		c.conn.CloseNow()
		return
	}
	c.pingSent = now
	c.hbTimer.Reset(c.opts.PingTimeout)
}

// Call invokes a server method and waits for its result frame, matched by id. The "updated"
// frame for the call may arrive before or after the result and is not waited for. A Meteor
// error comes back as *Error; a nil or undefined result is returned as nil.
func (c *Client) Call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	id := c.newID()
	cl := &call{done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("ddp: call %s: %w", method, err)
	}
	c.calls[id] = cl
	c.mu.Unlock()
	if err := c.write(ctx, methodFrame{ID: id, Method: method, Msg: "method", Params: params}); err != nil {
		c.forget(id)
		return nil, fmt.Errorf("ddp: call %s: %w", method, err)
	}
	select {
	case <-cl.done:
		if cl.err != nil {
			var me *Error
			if errors.As(cl.err, &me) {
				return nil, me
			}
			return nil, fmt.Errorf("ddp: call %s: %w", method, cl.err)
		}
		return cl.result, nil
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("ddp: call %s: %w", method, ctx.Err())
	}
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.calls, id)
	c.mu.Unlock()
}

// Sub names one subscription for SubscribeAll.
type Sub struct {
	Name   string
	Params []any
}

// Subscribe starts a subscription and waits for ready. A nosub answer is returned as the
// server's *Error (or a plain error when nosub carried none). It returns the subscription id.
func (c *Client) Subscribe(ctx context.Context, name string, params ...any) (string, error) {
	ids, err := c.SubscribeAll(ctx, Sub{Name: name, Params: params})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// SubscribeAll sends every sub at once, without waiting for one to be ready before sending
// the next (the server answers each in turn; one round trip instead of len(subs)), then waits
// until all are ready. It returns their ids in order. When one fails (nosub, or ctx ends) it
// returns the first failure and unsubscribes the others best-effort: all are live or none.
func (c *Client) SubscribeAll(ctx context.Context, subs ...Sub) ([]string, error) {
	ids, errs := c.SubscribeEach(ctx, subs...)
	i := slices.IndexFunc(errs, func(err error) bool { return err != nil })
	if i < 0 {
		return ids, nil
	}
	first := errs[i] // the server's refusal as it is; anything else names the sub
	if me := (*Error)(nil); !errors.As(first, &me) {
		first = fmt.Errorf("ddp: sub %s: %w", subs[i].Name, first)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.PingTimeout)
	defer cancel()
	for _, id := range ids {
		if id != "" && c.Unsubscribe(wctx, id) != nil {
			break
		}
	}
	return nil, first
}

// SubscribeEach is SubscribeAll where each sub stands alone: it returns, in order, the id of
// every sub that became ready ("" for the others) and the error of every one that did not
// (the server's *Error for a nosub that carried one). Subs still pending when ctx ends are
// forgotten and unsubscribed best-effort.
func (c *Client) SubscribeEach(ctx context.Context, subs ...Sub) (ids []string, errs []error) {
	ids, errs = make([]string, len(subs)), make([]error, len(subs))
	pending := make([]*subscription, len(subs))
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		for i := range errs {
			errs[i] = err
		}
		return ids, errs
	}
	for i := range subs {
		ids[i] = c.newID()
		pending[i] = &subscription{ready: make(chan struct{})}
		c.subs[ids[i]] = pending[i]
	}
	c.mu.Unlock()
	sent := len(subs)
	for i, s := range subs {
		params := s.Params
		if params == nil {
			params = []any{}
		}
		if err := c.write(ctx, subFrame{ID: ids[i], Msg: "sub", Name: s.Name, Params: params}); err != nil {
			c.mu.Lock()
			for _, id := range ids[i:] {
				delete(c.subs, id)
			}
			c.mu.Unlock()
			for k := i; k < len(subs); k++ {
				ids[k], errs[k] = "", err
			}
			sent = i
			break
		}
	}
	var unsub []string // sent, not ready when ctx ended: a late ready would leave it live
	for i, s := range pending[:sent] {
		select {
		case <-s.ready:
			errs[i] = s.err
		case <-ctx.Done():
			c.mu.Lock()
			delete(c.subs, ids[i])
			c.mu.Unlock()
			unsub = append(unsub, ids[i])
			errs[i] = ctx.Err()
		}
		if errs[i] != nil {
			ids[i] = ""
		}
	}
	if len(unsub) > 0 {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.PingTimeout)
		defer cancel()
		for _, id := range unsub {
			if c.write(wctx, idFrame{ID: id, Msg: "unsub"}) != nil {
				break
			}
		}
	}
	return ids, errs
}

// Unsubscribe stops a subscription. It does not wait for the server's nosub.
func (c *Client) Unsubscribe(ctx context.Context, id string) error {
	c.mu.Lock()
	delete(c.subs, id)
	c.mu.Unlock()
	if err := c.write(ctx, idFrame{ID: id, Msg: "unsub"}); err != nil {
		return fmt.Errorf("ddp: unsub %s: %w", id, err)
	}
	return nil
}
