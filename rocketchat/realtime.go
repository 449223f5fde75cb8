package rocketchat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/ddp"
)

// ErrAuthLost ends Realtime.Run when Rocket.Chat no longer accepts the user's token (resume
// refused with 403 — after logout, revocation, expiry, eviction by the token cap — or the user
// was deactivated). Retrying with the same token is pointless; mint a new one.
var ErrAuthLost = errors.New("rocketchat: realtime: authentication lost")

// RealtimeOptions configures one user's upstream.
type RealtimeOptions struct {
	URL           string // ws(s)://host/websocket; http(s)://host[/prefix] is turned into that
	UserID, Token string
	Logger        *slog.Logger
	// PingInterval/PingTimeout: client heartbeat (defaults 25 s / 15 s).
	PingInterval, PingTimeout time.Duration
	ReadLimit                 int64 // default 16 MiB
	// BackoffMin/Max bound the reconnect delay (full jitter; defaults 500 ms and 30 s).
	BackoffMin, BackoffMax time.Duration
	// Client, if set, is used (with this user's token) to list the user's rooms after every
	// login, so the upstream also follows each room's deleteMessage events, paced within
	// Rocket.Chat's DDP rate limit (see follow.go); rooms joined later are followed through
	// subscriptions-changed. Without it deletions are not reported (a resync with
	// chat.syncMessages still finds them).
	Client *Client
	// RoomSubBudget room subscriptions at most per RoomSubWindow, over all of this user's
	// connections (defaults 30 and 40 s, within Rocket.Chat's default 40 per 40 s per
	// connection and 80 per user; lower them if the server's DDP_Rate_Limit_* are lower).
	RoomSubBudget int
	RoomSubWindow time.Duration
	// DialTimeout bounds dial + connect + login + subscriptions (default 30 s).
	DialTimeout time.Duration
	// HTTPClient performs the WebSocket handshake: TLS settings, proxy (default
	// http.DefaultClient). Its Transport must not cap connections per host: every upstream
	// WebSocket holds one for its whole life.
	HTTPClient *http.Client
}

// Realtime is one user's upstream DDP connection with reconnects.
type Realtime struct {
	opts RealtimeOptions
	log  *slog.Logger

	emitMu sync.Mutex
	emit   func(Event)

	roomMu  sync.Mutex
	roomOps []roomOp
	touched map[string]time.Time       // rooms-changed seen on this connection, by rid
	settled map[string]struct{}        // followed rooms whose touches need no op (follow.go)
	deleted map[string]struct{}        // message ids whose deletion arrived live on this connection
	rooms   atomic.Pointer[roomWorker] // the live connection's, nil while (re)connecting
	watch   []string                   // rooms whose typing is followed (typing.go)
	// users whose status is followed (presence.go)
	watchUsers []string

	curMu sync.Mutex
	cur   *ddp.Client // the live connection, nil while (re)connecting

	// Room subscription pacing, used by the room worker only (follow.go).
	subSent  []time.Time // sends within the last RoomSubWindow, oldest first
	subPause time.Time   // no room subscription before this (the server said too-many-requests)
}

// NewRealtime validates opts. Nothing connects until Run.
func NewRealtime(opts RealtimeOptions) (*Realtime, error) {
	if opts.URL == "" || opts.UserID == "" || opts.Token == "" {
		return nil, errors.New("rocketchat: realtime: URL, UserID and Token are required")
	}
	u, err := websocketURL(opts.URL)
	if err != nil {
		return nil, err
	}
	opts.URL = u
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 500 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = opts.BackoffMin
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 30 * time.Second
	}
	if opts.RoomSubBudget <= 0 {
		opts.RoomSubBudget = defaultRoomSubBudget
	}
	if opts.RoomSubWindow <= 0 {
		opts.RoomSubWindow = defaultRoomSubWindow
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Realtime{opts: opts, log: log.With("uid", opts.UserID),
		touched: map[string]time.Time{}, settled: map[string]struct{}{}, deleted: map[string]struct{}{}}, nil
}

// Run connects, logs in with the token, subscribes and calls emit for every event until ctx
// ends (it then returns ctx's error) or the token stops working (ErrAuthLost). Network
// failures are retried with exponential backoff and full jitter; each successful
// (re)connection is reported as StateEvent{State: StateConnected, Gap: <not the first>}.
// emit is never called concurrently, must not block for long and must not call Run.
func (r *Realtime) Run(ctx context.Context, emit func(Event)) error {
	r.emit = emit
	attempt := 0
	connectedBefore := false
	for {
		up, last, err := r.connection(ctx, &connectedBefore)
		if ctx.Err() != nil {
			r.send(StateEvent{State: StateDisconnected, Err: ctx.Err(), LastFrame: last})
			return ctx.Err()
		}
		r.send(StateEvent{State: StateDisconnected, Err: err, LastFrame: last})
		if errors.Is(err, ErrAuthLost) {
			return err
		}
		if up {
			attempt = 0
		}
		d := r.backoff(attempt)
		attempt++
		r.log.InfoContext(ctx, "rocketchat upstream lost, reconnecting", "err", err, "in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		r.send(StateEvent{State: StateConnecting})
	}
}

func (r *Realtime) backoff(attempt int) time.Duration {
	ceil := r.opts.BackoffMax
	if attempt < 30 {
		if d := r.opts.BackoffMin << attempt; d > 0 && d < ceil {
			ceil = d
		}
	}
	return rand.N(ceil) + 1
}

func (r *Realtime) send(ev Event) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.emit(ev)
}

func (r *Realtime) onData(d ddp.Data) {
	if d.Msg != "changed" {
		return
	}
	ev, err := decodeTrusted(r.opts.UserID, d.Collection, d.Fields) // ddp validated it
	if err != nil {
		if !errors.Is(err, errIgnored) {
			r.log.Warn("rocketchat: undecodable stream event", "collection", d.Collection, "err", err)
		}
		return
	}
	if b, ok := ev.(bulkDeleted); ok {
		r.onBulkDeleted(b)
		return
	}
	if se, ok := ev.(SubscriptionEvent); ok && se.RoomID != "" && r.opts.Client != nil {
		switch se.Action {
		case "inserted", "removed":
			kind := opJoin
			if se.Action == "removed" {
				kind = opLeave
			}
			r.queueRoomOp(roomOp{rid: se.RoomID, kind: kind})
		}
	}
	if re, ok := ev.(RoomEvent); ok && re.RoomID != "" && re.Action != "removed" && r.opts.Client != nil {
		r.touch(re.RoomID)
	}
	if de, ok := ev.(MessageDeletedEvent); ok {
		r.roomMu.Lock()
		if len(r.deleted) >= maxDeletedSeen {
			clear(r.deleted) // a catch-up may then report one again; the session dedupes
		}
		r.deleted[de.MessageID] = struct{}{}
		r.roomMu.Unlock()
	}
	r.send(ev)
}

// connection runs one DDP connection until it ends. up reports whether it got as far as
// StateConnected; last is when its last frame arrived, once it was up.
//
// The calling goroutine is the connection's reader (ddp.Options.CallerReads): an idle
// upstream has no other goroutine. The setup (login, streams, the room listing) runs on a
// goroutine of its own meanwhile, and the room follower (follow.go) on a roomWorker's
// goroutine only while it has work. connection returns once both have ended.
func (r *Realtime) connection(ctx context.Context, connectedBefore *bool) (up bool, last time.Time, err error) {
	setup, cancel := context.WithTimeout(ctx, r.opts.DialTimeout)
	defer cancel()
	c, err := ddp.Dial(setup, r.opts.URL, ddp.Options{
		ReadLimit: r.opts.ReadLimit, PingInterval: r.opts.PingInterval, PingTimeout: r.opts.PingTimeout,
		OnData: r.onData, Logger: r.log, HTTPClient: r.opts.HTTPClient, CallerReads: true,
		OnNosub: func(id string, err error) {
			r.log.Warn("rocketchat: server ended a subscription", "sub", id, "err", err)
		},
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("rocketchat: realtime: %w", err)
	}
	defer c.Close()
	w := r.newRoomWorker(ctx)
	var setupErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fl, err := r.setUp(setup, c, connectedBefore)
		if err != nil {
			setupErr = err
			c.Close() // ends the Read below
			return
		}
		w.start(fl)
	}()
	_ = c.Read(ctx) // until the connection ends; c.Err says why
	cancel()        // a setup still running gives up
	wg.Wait()
	w.stop()
	r.curMu.Lock()
	r.cur = nil
	r.curMu.Unlock()
	switch {
	case setupErr != nil:
		return false, time.Time{}, setupErr
	case ctx.Err() != nil:
		return true, c.LastReceived(), ctx.Err()
	}
	return true, c.LastReceived(), fmt.Errorf("rocketchat: realtime: %w", c.Err())
}

// setUp logs in on c, subscribes the user's streams and lists the rooms to follow, then
// reports StateConnected. It runs while connection's goroutine reads c.
func (r *Realtime) setUp(setup context.Context, c *ddp.Client, connectedBefore *bool) (*follower, error) {
	if _, err := c.Call(setup, "login", map[string]any{"resume": r.opts.Token}); err != nil {
		var me *ddp.Error
		if errors.As(err, &me) && isAuthError(me) {
			return nil, fmt.Errorf("%w: resume refused: %s %s", ErrAuthLost, me.Code, me.Reason)
		}
		return nil, fmt.Errorf("rocketchat: realtime: login: %w", err)
	}
	// Room changes seen on an earlier connection do not matter here: the resync covers the gap.
	r.roomMu.Lock()
	clear(r.touched)
	clear(r.settled)
	clear(r.deleted)
	r.roomMu.Unlock()
	since := time.Now()
	// All streams in one round trip: the room messages first, then the user's own events.
	subs := []ddp.Sub{{Name: streamRoomMessages, Params: []any{myMessages, streamOpts()}}}
	for _, ev := range []string{"message", "subscriptions-changed", "rooms-changed", "notification", "force_logout"} {
		subs = append(subs, ddp.Sub{Name: streamNotifyUser, Params: []any{r.opts.UserID + "/" + ev, streamOpts()}})
	}
	if _, err := c.SubscribeAll(setup, subs...); err != nil {
		return nil, fmt.Errorf("rocketchat: realtime: subscribe: %w", err)
	}
	// Drop room ops queued on an earlier connection: the room list is re-read now.
	r.roomMu.Lock()
	r.roomOps = nil
	r.roomMu.Unlock()
	fl := r.newFollower(c, since)
	r.curMu.Lock()
	r.cur = c
	r.curMu.Unlock()
	if r.opts.Client != nil {
		subs, _, err := r.opts.Client.SubscriptionsGet(setup, Credentials{UserID: r.opts.UserID, Token: r.opts.Token}, time.Time{})
		if err != nil {
			if errors.Is(err, ErrUnauthorized) {
				return nil, fmt.Errorf("%w: subscriptions.get: %v", ErrAuthLost, err)
			}
			return nil, fmt.Errorf("rocketchat: realtime: list rooms: %w", err)
		}
		var rids []string
		for _, raw := range subs {
			var s struct {
				RID string `json:"rid"`
			}
			if decodeJSON(raw, &s) == nil && s.RID != "" {
				rids = append(rids, s.RID)
			}
		}
		fl.add(false, rids...)
		r.send(SubscriptionListEvent{Subscriptions: subs})
	}
	r.send(StateEvent{State: StateConnected, Gap: *connectedBefore})
	*connectedBefore = true
	return fl, nil
}

func streamOpts() map[string]any { return map[string]any{"useCollection": false, "args": []any{}} }

// isAuthError tells a refused token apart from transient login failures.
func isAuthError(e *ddp.Error) bool {
	switch e.Code {
	case "403", "error-user-is-not-activated", "error-app-user-is-not-allowed-to-login", "400":
		return true
	}
	return false
}

// websocketURL accepts ws(s):// as is and maps http(s)://host[/prefix] to
// ws(s)://host[/prefix]/websocket.
func websocketURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("rocketchat: realtime: URL %q: want ws(s)://host/websocket or http(s)://host", raw)
	}
	switch u.Scheme {
	case "ws", "wss":
		return u.String(), nil
	case "http", "https":
		u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
		u.Path = strings.TrimSuffix(u.Path, "/") + "/websocket"
		return u.String(), nil
	}
	return "", fmt.Errorf("rocketchat: realtime: URL %q: scheme must be ws, wss, http or https", raw)
}
