// Package push is a SignalR server that unmodified @microsoft/signalr clients connect to. It
// addresses connections by user id, connection id, group or everyone, and knows nothing of
// what it pushes: it is given targets and JSON arguments.
//
// Every send is encoded once per hub protocol and handed to a Backplane as an Envelope; the
// Envelopes that reach this node are written to its connections by one writer per
// connection, from a small bounded queue, coalescing what has queued into one write. A
// connection whose queue is full is closed (allowReconnect) rather than slowing anyone down.
package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rcgateway/rcgateway/push/signalr"
)

// Options configures a Hub. Zero values take the defaults in brackets.
type Options struct {
	// Path is where the hub is mounted [/signalr]; negotiate is Path+"/negotiate".
	Path string
	// Authenticate returns the user id of a request (token from "Authorization: Bearer"
	// or the access_token query parameter) and when its credential expires (zero: never).
	// An error answers 401 with no detail. A connection is closed with
	// Close{allowReconnect:true} once its credential expired, as ASP.NET Core's
	// CloseOnAuthenticationExpiration does (checked on the heartbeat; a long-polling request
	// with a later credential extends it), so the client comes back with a fresh token.
	Authenticate func(*http.Request) (userID string, expires time.Time, err error)
	// KeepAliveInterval between server pings [15s], ClientTimeout without any client
	// message once the client has sent its first Ping [30s], HandshakeTimeout [15s].
	KeepAliveInterval, ClientTimeout, HandshakeTimeout time.Duration
	// PollTimeout is how long a long poll is held [90s]; DisconnectTimeout how long a
	// negotiated or long-polling connection lives without a request [15s].
	PollTimeout, DisconnectTimeout time.Duration
	// MaxReceiveMessageSize bounds one incoming record [32 KiB].
	MaxReceiveMessageSize int64
	// SendQueueSize bounds the records waiting for one connection [128].
	SendQueueSize int
	// SingleLogin closes a user's older connections (Close with a reason and
	// allowReconnect false) when a new one completes its handshake, on any node. The
	// newest (by creation) wins, also when two log in at once.
	SingleLogin bool
	// Backplane carries sends between nodes [a MemoryBackplane, closed by the hub].
	Backplane Backplane
	Logger    *slog.Logger
	// OnUserOnline and OnUserOffline are called when a user's first connection on this node
	// completes its handshake and when its last one here closes. For one user the calls
	// never overlap and always alternate (online, offline, online...); different users'
	// calls may run concurrently. They must return quickly: the connection's handshake
	// answer waits for OnUserOnline. They may call the Hub.
	OnUserOnline, OnUserOffline func(userID string)
	// MaxConnectionsPerUser caps a user's connections on this node, negotiated or open
	// [0: no cap]; one more negotiate (or WebSocket without negotiate) answers 429.
	MaxConnectionsPerUser int
	// AllowNegotiate, when set, is asked before a user gets a new connection (negotiate, or
	// a WebSocket without negotiate). It answers false and how long to wait to refuse it
	// with 429 and Retry-After. It must return quickly.
	AllowNegotiate func(userID string) (ok bool, retryAfter time.Duration)
}

// CallInfo says who invoked a hub method.
type CallInfo struct {
	UserID, ConnectionID string
}

// Handler is a client-invocable hub method. Its result (JSON-marshalable, or a
// json.RawMessage) is the Completion of a blocking call.
type Handler func(ctx context.Context, c CallInfo, args []json.RawMessage) (any, error)

// Stats are the hub's counters.
type Stats struct {
	Connections, Users                                int
	Pushes, Deliveries, SlowConsumerCloses, Published uint64
	// Repeats counts keyed records (SendToUserOnce) a connection had already been sent
	// and was not sent again.
	Repeats uint64
}

// Hub is the SignalR server.
type Hub struct {
	o       Options
	log     *slog.Logger
	bp      Backplane
	ownBP   bool
	maxRecv int

	mu       sync.RWMutex
	byToken  map[string]*conn
	byID     map[string]*conn
	users    map[string]map[*conn]struct{}
	groups   map[string]map[*conn]struct{}
	presence map[string]*presence
	perUser  map[string]int // connections counted against MaxConnectionsPerUser
	handlers map[string]Handler
	closed   bool
	drained  chan struct{} // closed when the last connection leaves after Shutdown

	msgpackConns                              atomic.Int64
	pushes, deliveries, slowCloses, published atomic.Uint64
	repeats                                   atomic.Uint64 // keyed records not sent again

	keySeed maphash.Seed         // hashes Envelope.Key for the users' sentKeys
	keyTick atomic.Int64         // orders registrations and first deliveries of keys
	keys    map[string]*sentKeys // per user with connections here; guarded by mu
	closes  [numCloseReasons]atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewHub starts a hub and its backplane delivery. Shutdown stops it.
func NewHub(o Options) (*Hub, error) {
	if o.Authenticate == nil {
		return nil, errors.New("push: new hub: Authenticate is required")
	}
	if o.Path == "" {
		o.Path = "/signalr"
	}
	o.Path = "/" + strings.Trim(o.Path, "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.KeepAliveInterval, 15*time.Second)
	def(&o.ClientTimeout, 30*time.Second)
	def(&o.HandshakeTimeout, 15*time.Second)
	def(&o.PollTimeout, 90*time.Second)
	def(&o.DisconnectTimeout, 15*time.Second)
	if o.MaxReceiveMessageSize <= 0 {
		o.MaxReceiveMessageSize = 32 << 10
	}
	if o.SendQueueSize <= 0 {
		o.SendQueueSize = 128
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		o: o, log: o.Logger, bp: o.Backplane, maxRecv: int(o.MaxReceiveMessageSize),
		byToken: map[string]*conn{}, byID: map[string]*conn{},
		users: map[string]map[*conn]struct{}{}, groups: map[string]map[*conn]struct{}{},
		presence: map[string]*presence{}, handlers: map[string]Handler{}, perUser: map[string]int{},
		keySeed: maphash.MakeSeed(), keys: map[string]*sentKeys{},
	}
	if h.bp == nil {
		h.bp, h.ownBP = NewMemoryBackplane(), true
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if err := h.bp.Start(h.ctx, h.deliver); err != nil {
		h.cancel()
		return nil, fmt.Errorf("push: start backplane: %w", err)
	}
	h.wg.Add(1)
	go h.heartbeat()
	return h, nil
}

// On registers a client-invocable method. Names match case-insensitively.
func (h *Hub) On(method string, fn Handler) {
	h.mu.Lock()
	h.handlers[strings.ToLower(method)] = fn
	h.mu.Unlock()
}

func (h *Hub) handler(method string) Handler {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.handlers[strings.ToLower(method)]
}

// Stats returns the counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return Stats{Connections: len(h.byID), Users: len(h.users), Pushes: h.pushes.Load(),
		Deliveries: h.deliveries.Load(), SlowConsumerCloses: h.slowCloses.Load(), Published: h.published.Load(),
		Repeats: h.repeats.Load()}
}

// SendToUser invokes target with one argument on every connection of userID, on any node.
func (h *Hub) SendToUser(ctx context.Context, userID, target string, arg any) error {
	return h.send(ctx, Address{Kind: ToUser, Key: userID}, "", target, arg)
}

// SendToUserOnce is SendToUser for a record that may be sent again, by this node or another:
// each of the user's connections gets at most one record per key among the user's last
// sentKeysWindow keyed records. A connection opened after the first one was sent gets the
// repeat: it is new to it.
func (h *Hub) SendToUserOnce(ctx context.Context, userID, key, target string, arg any) error {
	return h.send(ctx, Address{Kind: ToUser, Key: userID}, key, target, arg)
}

// SendToConnection invokes target on one connection.
func (h *Hub) SendToConnection(ctx context.Context, connectionID, target string, arg any) error {
	return h.send(ctx, Address{Kind: ToConnection, Key: connectionID}, "", target, arg)
}

// SendToGroup invokes target on every member of group.
func (h *Hub) SendToGroup(ctx context.Context, group, target string, arg any) error {
	return h.send(ctx, Address{Kind: ToGroup, Key: group}, "", target, arg)
}

// SendToAll invokes target on every connection.
func (h *Hub) SendToAll(ctx context.Context, target string, arg any) error {
	return h.send(ctx, Address{Kind: ToAll}, "", target, arg)
}

func (h *Hub) send(ctx context.Context, to Address, key, target string, arg any) error {
	raw, ok := arg.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(arg); err != nil {
			return fmt.Errorf("push: send %s: %w", target, err)
		}
	}
	e := Envelope{To: to, Op: OpSend, Key: key, JSON: signalr.AppendInvocationJSON(make([]byte, 0, len(raw)+64), target, raw)}
	if h.needMsgPack() {
		var err error
		if e.MsgPack, err = signalr.AppendInvocationMsgPack(nil, target, raw); err != nil {
			return fmt.Errorf("push: send %s: %w", target, err)
		}
	}
	h.pushes.Add(1)
	return h.publish(ctx, e)
}

// needMsgPack: a cluster may have MessagePack clients elsewhere; alone, only if we do.
func (h *Hub) needMsgPack() bool {
	return !h.ownBP || h.msgpackConns.Load() > 0
}

func (h *Hub) publish(ctx context.Context, e Envelope) error {
	if err := h.bp.Publish(ctx, e); err != nil {
		return fmt.Errorf("push: publish: %w", err)
	}
	h.published.Add(1)
	return nil
}

// countClose counts one connection closed for reason.
func (h *Hub) countClose(reason CloseReason) {
	if reason < numCloseReasons {
		h.closes[reason].Add(1)
	}
}

// Closes is how many connections this hub has closed for reason.
func (h *Hub) Closes(reason CloseReason) uint64 {
	if reason >= numCloseReasons {
		return 0
	}
	return h.closes[reason].Load()
}

func closeRecords(errMsg string, allowReconnect bool) (js, mp []byte) {
	m := &signalr.Message{Type: signalr.Close, Error: errMsg, AllowReconnect: allowReconnect}
	js, _ = signalr.JSON.Append(nil, m)
	mp, _ = signalr.MessagePack.Append(nil, m)
	return js, mp
}

// Kick sends Close{error: reason, allowReconnect} to every connection of userID, on any
// node, and closes them.
func (h *Hub) Kick(ctx context.Context, userID, reason string, allowReconnect bool) error {
	js, mp := closeRecords(reason, allowReconnect)
	return h.publish(ctx, Envelope{To: Address{Kind: ToUser, Key: userID}, Op: OpClose, JSON: js, MsgPack: mp})
}

// AddToGroup adds a connection, wherever it is, to group.
func (h *Hub) AddToGroup(ctx context.Context, connectionID, group string) error {
	return h.publish(ctx, Envelope{To: Address{Kind: ToConnection, Key: connectionID}, Op: OpGroupAdd, Group: group})
}

// RemoveFromGroup removes a connection from group.
func (h *Hub) RemoveFromGroup(ctx context.Context, connectionID, group string) error {
	return h.publish(ctx, Envelope{To: Address{Kind: ToConnection, Key: connectionID}, Op: OpGroupRemove, Group: group})
}

// deliver applies an Envelope to this node's connections.
func (h *Hub) deliver(e Envelope) {
	h.mu.RLock()
	var small [8]*conn // most sends reach a few connections: no allocation for them
	targets := small[:0]
	var sentAt int64 // a repeat: only connections registered after sentAt get it
	switch e.To.Kind {
	case ToAll:
		targets = make([]*conn, 0, len(h.byID))
		for _, c := range h.byID {
			if c.ready.Load() { // not before its handshake answer
				targets = append(targets, c)
			}
		}
	case ToUser:
		for c := range h.users[e.To.Key] {
			targets = append(targets, c)
		}
		if sk := h.keys[e.To.Key]; sk != nil && e.Op == OpSend && e.Key != "" {
			// Under mu: a connection registering meanwhile is ordered before (a target) or
			// after (a later tick) this delivery.
			sentAt = sk.seen(maphash.String(h.keySeed, e.Key), &h.keyTick)
		}
	case ToGroup:
		for c := range h.groups[e.To.Key] {
			targets = append(targets, c)
		}
	case ToConnection:
		if c := h.byID[e.To.Key]; c != nil && c.ready.Load() {
			targets = append(targets, c)
		}
	}
	h.mu.RUnlock()
	// A Close to a user that excludes connections (the single-login policy excludes the
	// newest) leaves alone connections newer than those excluded: when two log in at
	// once, on one node or two, each node's decision is the same and the newest survives.
	var closeReason CloseReason
	if e.Op == OpClose {
		closeReason = CloseKicked
		if m, n, err := signalr.JSON.Parse(e.JSON, len(e.JSON)+1); err == nil && n > 0 {
			closeReason = reasonOfRemoteClose(m.Error)
		}
	}
	var newest string
	if e.Op == OpClose && e.To.Kind == ToUser {
		for _, x := range e.Exclude {
			if newest == "" || newerConnection(x, newest) {
				newest = x
			}
		}
	}
	for _, c := range targets {
		if excluded(e.Exclude, c.id) || (newest != "" && newerConnection(c.id, newest)) {
			continue
		}
		switch e.Op {
		case OpSend:
			if sentAt != 0 && c.since < sentAt {
				h.repeats.Add(1)
				continue
			}
			rec := e.JSON
			if c.protocol().Binary() {
				rec = e.MsgPack
			}
			if rec == nil {
				continue
			}
			if c.enqueueNumbered(rec) {
				h.deliveries.Add(1)
			}
		case OpClose:
			if e.Before != 0 && c.created.UnixNano() >= e.Before {
				continue // opened after what the close is about
			}
			rec := e.JSON
			if c.protocol().Binary() {
				rec = e.MsgPack
			}
			c.close(rec, closeReason)
		case OpGroupAdd, OpGroupRemove:
			h.setGroup(c, e.Group, e.Op == OpGroupAdd)
		}
	}
}

func excluded(list []string, id string) bool {
	for _, x := range list {
		if x == id {
			return true
		}
	}
	return false
}

// setGroup adds c to or removes it from group. Backplane subscriptions are counted, one
// per member connection, so concurrent changes need no ordering.
func (h *Hub) setGroup(c *conn, group string, add bool) {
	h.mu.Lock()
	members := h.groups[group]
	_, was := members[c]
	changed := false
	if add && !was && !c.isClosed() && !c.removed.Load() {
		if members == nil {
			members = map[*conn]struct{}{}
			h.groups[group] = members
		}
		members[c] = struct{}{}
		c.groups[group] = struct{}{}
		changed = true
	} else if !add && was {
		delete(members, c)
		delete(c.groups, group)
		if len(members) == 0 {
			delete(h.groups, group)
		}
		changed = true
	}
	h.mu.Unlock()
	a := Address{Kind: ToGroup, Key: group}
	if changed && add {
		_ = h.bp.Subscribe(h.ctx, a)
	} else if changed {
		_ = h.bp.Unsubscribe(h.ctx, a)
	}
}

// register makes a connection addressable once its handshake succeeded. The backplane
// gets one Subscribe per connection for its id and its user (Unsubscribe in remove).
func (h *Hub) register(c *conn) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errors.New("push: hub is shutting down")
	}
	if c.protocol().Binary() {
		h.msgpackConns.Add(1) // before the connection is addressable: its sends need MessagePack
	}
	set := h.users[c.userID]
	if set == nil {
		set = map[*conn]struct{}{}
		h.users[c.userID] = set
		h.keys[c.userID] = &sentKeys{}
	}
	c.since = h.keyTick.Add(1)
	set[c] = struct{}{}
	c.ready.Store(true)
	h.mu.Unlock()
	_ = h.bp.Subscribe(h.ctx, Address{Kind: ToConnection, Key: c.id})
	_ = h.bp.Subscribe(h.ctx, Address{Kind: ToUser, Key: c.userID})
	h.announcePresence(c.userID)
	if h.o.SingleLogin {
		js, mp := CloseSingleLogin.records()
		_ = h.publish(h.ctx, Envelope{To: Address{Kind: ToUser, Key: c.userID}, Op: OpClose, Exclude: []string{c.id}, JSON: js, MsgPack: mp})
	}
	return nil
}

// admitLocked counts c against its user's MaxConnectionsPerUser and makes it reachable by
// token; false when the user is at the cap. h.mu is held.
func (h *Hub) admitLocked(c *conn) bool {
	if max := h.o.MaxConnectionsPerUser; max > 0 && h.perUser[c.userID] >= max {
		return false
	}
	h.perUser[c.userID]++
	c.counted = true
	h.byToken[c.token] = c
	return true
}

// remove forgets a connection; it runs once per connection, when its transport ends.
func (h *Hub) remove(c *conn) {
	if c.removed.Swap(true) {
		return
	}
	h.mu.Lock()
	delete(h.byToken, c.token)
	delete(h.byID, c.id)
	if c.counted {
		if h.perUser[c.userID]--; h.perUser[c.userID] <= 0 {
			delete(h.perUser, c.userID)
		}
	}
	wasReady := c.ready.Swap(false)
	if wasReady {
		if set := h.users[c.userID]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(h.users, c.userID)
				delete(h.keys, c.userID)
			}
		}
	}
	left := make([]string, 0, len(c.groups))
	for g := range c.groups {
		left = append(left, g)
		if m := h.groups[g]; m != nil {
			delete(m, c)
			if len(m) == 0 {
				delete(h.groups, g)
			}
		}
	}
	clear(c.groups)
	drained := h.closed && len(h.byID) == 0 && h.drained != nil
	h.mu.Unlock()
	if wasReady {
		if c.protocol().Binary() {
			h.msgpackConns.Add(-1)
		}
		_ = h.bp.Unsubscribe(h.ctx, Address{Kind: ToConnection, Key: c.id})
		_ = h.bp.Unsubscribe(h.ctx, Address{Kind: ToUser, Key: c.userID})
		for _, g := range left {
			_ = h.bp.Unsubscribe(h.ctx, Address{Kind: ToGroup, Key: g})
		}
		h.announcePresence(c.userID)
	}
	if drained {
		h.signalDrained()
	}
}

// presence is what the hooks last said about a user, guarded by h.mu.
type presence struct {
	online  bool // OnUserOnline was the last hook called
	calling bool // a goroutine is calling a hook for this user
}

// announcePresence calls OnUserOnline or OnUserOffline until the hooks agree with whether
// userID has local connections. Calls for one user never overlap and always alternate,
// whatever the races between its connections; different users do not wait for each other.
func (h *Hub) announcePresence(userID string) {
	for {
		h.mu.Lock()
		p := h.presence[userID]
		if p == nil {
			p = &presence{}
			h.presence[userID] = p
		}
		online := len(h.users[userID]) > 0
		if p.calling || p.online == online {
			// Either the caller in progress re-checks when done, or nothing changed.
			if !p.calling && !p.online {
				delete(h.presence, userID)
			}
			h.mu.Unlock()
			return
		}
		p.calling, p.online = true, online
		h.mu.Unlock()
		hook := h.o.OnUserOffline
		if online {
			hook = h.o.OnUserOnline
		}
		if hook != nil {
			hook(userID)
		}
		h.mu.Lock()
		p.calling = false
		h.mu.Unlock()
	}
}

func (h *Hub) signalDrained() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.drained:
	default:
		close(h.drained)
	}
}

// heartbeat pings idle connections and enforces the client, handshake and disconnect
// timeouts, like ASP.NET's one-second connection scan.
func (h *Hub) heartbeat() {
	defer h.wg.Done()
	tick := min(h.o.KeepAliveInterval, h.o.ClientTimeout, h.o.HandshakeTimeout, h.o.DisconnectTimeout) / 4
	tick = max(min(tick, time.Second), 5*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-t.C:
			h.mu.RLock()
			conns := make([]*conn, 0, len(h.byToken))
			for _, c := range h.byToken {
				conns = append(conns, c)
			}
			h.mu.RUnlock()
			for _, c := range conns {
				c.tick(now)
			}
		}
	}
}

// Shutdown is Close, under the name the gateway was first written against.
func (h *Hub) Shutdown(ctx context.Context) error { return h.Close(ctx) }

// Close sends Close{allowReconnect:true} to every connection, waits until their
// transports have ended (or ctx ends) and stops the hub's goroutines. A hub that created
// its own MemoryBackplane closes it; a Backplane passed in Options is the caller's to close.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.drained = make(chan struct{})
	conns := make([]*conn, 0, len(h.byToken))
	for _, c := range h.byToken {
		conns = append(conns, c)
	}
	if len(h.byID) == 0 {
		close(h.drained)
	}
	h.mu.Unlock()
	js, mp := CloseShutdown.records()
	for _, c := range conns {
		c.closeWith(js, mp, CloseShutdown)
		// Without a transport goroutine nothing else would forget these now.
		if tr := c.transport.Load(); tr == transportNone || (tr == transportLongPolling && !c.polling.Load()) || c.suspended() {
			h.remove(c)
		}
	}
	var err error
	select {
	case <-h.drained:
	case <-ctx.Done():
		err = fmt.Errorf("push: shutdown: %w", ctx.Err())
	}
	h.cancel()
	h.wg.Wait()
	if h.ownBP {
		_ = h.bp.Close()
	}
	return err
}

// newConnectionID is a public connection id: 8 bytes of creation time (ns, big endian)
// and 8 random bytes, base64url, 22 characters like ASP.NET's. The time orders
// connections across nodes for the single-login policy; the secret is the token.
func newConnectionID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newerConnection reports whether connection id a was created after b (ids of another
// form compare as strings).
func newerConnection(a, b string) bool {
	var ba, bb [16]byte
	na, ea := base64.RawURLEncoding.Decode(ba[:], []byte(a))
	nb, eb := base64.RawURLEncoding.Decode(bb[:], []byte(b))
	if ea != nil || eb != nil || na != 16 || nb != 16 {
		return a > b
	}
	if c := bytes.Compare(ba[:], bb[:]); c != 0 {
		return c > 0
	}
	return false
}

func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
