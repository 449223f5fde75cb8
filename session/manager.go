// Package session owns the per-user state of the gateway: each product user's cached
// Rocket.Chat token (minted through the admin agent or, as an opt-in, logged in with a shared
// password), the provisioning of missing Rocket.Chat users, and the user's one upstream
// realtime connection while the user has browser connections. It translates Rocket.Chat
// events into push invocations and resyncs after every upstream gap so that nothing is lost.
//
// It knows nothing of HTTP, SignalR framing or Redis: it pushes through a Pusher and keeps
// cluster state behind the Leaser, TokenStore and Presence seams.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// User is a product user as the product identifies it.
type User struct {
	// ID is the product user's subject (the JWT's sub), the key of everything here; the
	// Rocket.Chat account is derived from it alone (RocketChatUsername).
	ID string
	// Username is the product's user name: display data only, used as the display name when
	// Name is empty. It never selects an account.
	Username string
	Name     string
	// Email is the product's address for the user. It is not the account's e-mail (see
	// accountEmail) unless a product backend sets it through Upsert.
	Email string
	// IssuedAt is the iat of the token the user came with (zero: unknown); a token issued
	// before the user's deletion is refused.
	IssuedAt time.Time
}

// Pusher delivers invocations to all of a user's browser connections (the push hub).
type Pusher interface {
	SendToUser(ctx context.Context, userID, target string, arg any) error
	// SendToUserOnce sends like SendToUser, except to a connection that was already sent
	// a push under key (another node may have sent it before taking this user over).
	SendToUserOnce(ctx context.Context, userID, key, target string, arg any) error
	Kick(ctx context.Context, userID, reason string, allowReconnect bool) error
}

// Token strategies.
const (
	// StrategyCreateToken mints each user's token with users.createToken as the admin agent.
	StrategyCreateToken = "create_token"
	// StrategyDefaultPassword logs users in with one shared password (the legacy mode).
	StrategyDefaultPassword = "default_password"
)

// ErrUnknownUser is returned for a product user that has no Rocket.Chat account.
var ErrUnknownUser = errors.New("session: unknown user")

// Options configures a Manager.
type Options struct {
	Client *rocketchat.Client
	Agent  *rocketchat.Agent // the admin agent: provisioning and, by default, token minting
	Pusher Pusher
	// RealtimeURL is Rocket.Chat's WebSocket (or base HTTP) URL for upstream connections.
	RealtimeURL string
	// Strategy is StrategyCreateToken (default) or StrategyDefaultPassword.
	Strategy        string
	DefaultPassword string
	// TokenTTL is how long a user token is used before it is replaced (default 1 h).
	TokenTTL time.Duration
	// TokenGrace is how long a replaced token stays valid before it is logged out, so that
	// calls still using it finish (default 30 s).
	TokenGrace time.Duration
	// Linger keeps an upstream open after the user's last connection closed (default 10 s).
	Linger time.Duration
	// CheckInterval is how often a running upstream looks at the cluster-wide presence
	// (default 1 s; local changes are seen at once).
	CheckInterval time.Duration
	// LeaseTTL bounds how long a dead owner keeps a user's upstream (default 15 s).
	LeaseTTL time.Duration
	// ResyncSlack widens every resync window backwards (default 5 s).
	ResyncSlack time.Duration
	// ResyncHold bounds how long live events wait behind a running resync (default 5 s);
	// after it they go out at once, ahead of what a slow resync has not fetched yet.
	ResyncHold time.Duration
	// Realtime holds connection tuning (pings, backoff) copied into every upstream.
	Realtime rocketchat.RealtimeOptions
	// UsernamePrefix prefixes derived Rocket.Chat usernames (default DefaultUsernamePrefix;
	// it must pass ValidUsernamePrefix).
	UsernamePrefix string
	// EmailDomain is the domain of provisioned accounts' e-mails (default DefaultEmailDomain).
	EmailDomain string
	// TombstoneTTL is how long a deleted user's tokens stay refused (default 24 h); it must be
	// at least the longest lifetime of a product token.
	TombstoneTTL time.Duration

	Leaser   Leaser     // default NewLocalLeaser()
	Tokens   TokenStore // default NewMemoryTokenStore()
	Presence Presence   // default NewLocalPresence()
	// Tombstones default to NewMemoryTombstones().
	Tombstones Tombstones
	// Relay forwards open rooms and typing to the node that owns a user's upstream (nil: one
	// node, nothing to forward).
	Relay Relay
	// Clustered says the seams are shared with other nodes: an upstream taken over from
	// another node resyncs from LeaseTTL before the takeover.
	Clustered bool

	Logger *slog.Logger
}

// Stats are the manager's counters, for metrics.
type Stats struct {
	OnlineUsers        int // users with local connections
	Upstreams          int // upstream loops on this node
	UpstreamsConnected int
	Reconnects         uint64
	Resyncs            uint64 // resync attempts
	ResyncsDone        uint64 // gaps whose resync succeeded
	Pushes             uint64
	PushErrors         uint64
	TokenMints         uint64
	AuthLosses         uint64
	RelayDropped       uint64 // typing forwarded here and dropped: the relay's queue was full
}

// Manager is the per-node session manager. It is split by concern: construction, options,
// stats and shutdown here; the token cache and its lifecycle in tokens.go; product users,
// their Rocket.Chat accounts and the admin operations in users.go; upstreams in upstream.go
// and resync.go.
//
// Every goroutine the manager starts is counted in wg, ends when ctx is cancelled (or on its
// own), and is waited for by Shutdown, which cancels ctx:
//   - janitor and presenceWriter (and serveRelay and relayWorker with a Relay): started by
//     NewManager, run until Shutdown;
//   - runMint: started by credentials, one per user with a mint in flight; bounded by a
//     minute and by ctx;
//   - the logouts of dropToken: started by dropToken with logout set; bounded by 10 s each;
//   - runLoop: started by ensureLoop, one per user with an upstream on this node; it ends
//     when the user is gone (after Linger), is revoked, or ctx ends. It runs the user's
//     Realtime itself; the goroutines an upstream starts on demand are its own (see
//     upstream.run).
type Manager struct {
	o   Options
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// idents keeps the latest display data and token iat per product user, for the
	// upstream's mints; entries expire an hour after the user was last seen.
	idents *gocache.Cache
	// known caches, for a minute, the users Known found an account for (admin pushes
	// would otherwise ask Rocket.Chat each time).
	known  *gocache.Cache
	local  map[string]int
	loops  map[string]*userLoop
	minted map[string][]mintedToken // every token this node minted and has not logged out
	mints  map[string]*mintCall

	watch watchBook // the rooms the users' tabs have open (typing.go)

	relayQ       chan relayed // forwarded typing waiting for relayWorker (relay.go)
	relayDropped atomic.Uint64

	presMu      sync.Mutex
	presPending map[string]int // netted presence changes not yet written (presenceWriter)
	presWake    chan struct{}
	closed      bool

	connected                                                                    atomic.Int64
	reconnects, resyncs, resyncsDone, pushes, pushErrors, tokenMints, authLosses atomic.Uint64
	pushFailLogged                                                               atomic.Int64  // unix ns of the last "push failed" line
	pushFailQuiet                                                                atomic.Uint64 // failed pushes not logged since
}

// NewManager validates o and starts the manager's token janitor. Shutdown stops it.
func NewManager(o Options) (*Manager, error) {
	if o.Client == nil || o.Pusher == nil || o.RealtimeURL == "" {
		return nil, errors.New("session: new manager: Client, Pusher and RealtimeURL are required")
	}
	switch o.Strategy {
	case "":
		o.Strategy = StrategyCreateToken
	case StrategyCreateToken, StrategyDefaultPassword:
	default:
		return nil, fmt.Errorf("session: new manager: unknown token strategy %q", o.Strategy)
	}
	if o.Strategy == StrategyCreateToken && o.Agent == nil {
		return nil, errors.New("session: new manager: create_token needs the admin Agent")
	}
	if o.Strategy == StrategyDefaultPassword && o.DefaultPassword == "" {
		return nil, errors.New("session: new manager: default_password needs DefaultPassword")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.TokenTTL, time.Hour)
	def(&o.TokenGrace, 30*time.Second)
	def(&o.Linger, 10*time.Second)
	def(&o.CheckInterval, time.Second)
	def(&o.LeaseTTL, 15*time.Second)
	def(&o.ResyncSlack, 5*time.Second)
	def(&o.ResyncHold, 5*time.Second)
	def(&o.TombstoneTTL, 24*time.Hour)
	if o.UsernamePrefix == "" {
		o.UsernamePrefix = DefaultUsernamePrefix
	}
	if !ValidUsernamePrefix(o.UsernamePrefix) {
		return nil, fmt.Errorf("session: new manager: username prefix %q: 1 to 32 of a-z, 0-9, '-' and '_'", o.UsernamePrefix)
	}
	if o.EmailDomain == "" {
		o.EmailDomain = DefaultEmailDomain
	}
	if o.Tombstones == nil {
		o.Tombstones = NewMemoryTombstones()
	}
	if o.Leaser == nil {
		o.Leaser = NewLocalLeaser()
	}
	if o.Tokens == nil {
		o.Tokens = NewMemoryTokenStore()
	}
	if o.Presence == nil {
		o.Presence = NewLocalPresence()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		o: o, log: o.Logger, ctx: ctx, cancel: cancel,
		idents: gocache.New(identTTL, 0), known: gocache.New(time.Minute, 0), local: map[string]int{}, loops: map[string]*userLoop{},
		minted: map[string][]mintedToken{}, mints: map[string]*mintCall{},
		presPending: map[string]int{}, presWake: make(chan struct{}, 1),
	}
	m.wg.Add(2)
	go m.janitor()
	go m.presenceWriter()
	if o.Relay != nil {
		m.relayQ = make(chan relayed, relayQueue)
		m.wg.Add(2)
		go m.serveRelay()
		go m.relayWorker()
	}
	return m, nil
}

// janitor logs out expired minted tokens (logoutExpired) and frees expired cache entries.
// Started by NewManager, ended and waited for by Shutdown.
func (m *Manager) janitor() {
	defer m.wg.Done()
	every := min(m.o.TokenTTL/4, time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			m.logoutExpired(now)
			if d, ok := m.o.Tokens.(interface{ DeleteExpired() }); ok {
				d.DeleteExpired()
			}
			if d, ok := m.o.Tombstones.(interface{ DeleteExpired() }); ok {
				d.DeleteExpired()
			}
			m.idents.DeleteExpired()
			m.known.DeleteExpired()
		}
	}
}

// Ready reports whether the admin agent is logged in.
func (m *Manager) Ready(context.Context) error {
	if m.o.Agent != nil && !m.o.Agent.Ready() {
		return errors.New("session: admin agent is not logged in")
	}
	return nil
}

// Stats returns the manager's counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	online := len(m.local)
	loops := len(m.loops)
	m.mu.Unlock()
	return Stats{
		OnlineUsers: online, Upstreams: loops, UpstreamsConnected: int(m.connected.Load()),
		Reconnects: m.reconnects.Load(), Resyncs: m.resyncs.Load(), ResyncsDone: m.resyncsDone.Load(), Pushes: m.pushes.Load(),
		PushErrors: m.pushErrors.Load(), TokenMints: m.tokenMints.Load(), AuthLosses: m.authLosses.Load(),
		RelayDropped: m.relayDropped.Load(),
	}
}

// Shutdown stops every upstream, waits for the manager's goroutines and logs out the
// tokens this node minted, within ctx.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	tokens := make([]rocketchat.Credentials, 0, len(m.minted))
	for id, toks := range m.minted {
		// In a cluster other nodes share these tokens: they stay until they expire.
		if !m.o.Clustered {
			for _, t := range toks {
				tokens = append(tokens, t.cred)
			}
		}
		delete(m.minted, id)
	}
	m.mu.Unlock()
	m.cancel()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("session: shutdown: %w", ctx.Err())
	}
	var wg sync.WaitGroup
	for _, cred := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.o.Client.Logout(ctx, cred); err != nil && !errors.Is(err, rocketchat.ErrUnauthorized) {
				m.log.Warn("shutdown: user token logout failed", "rc_user", cred.UserID, "err", err)
			}
		}()
	}
	wg.Wait()
	m.log.Info("shutdown: sessions closed", "tokens_logged_out", len(tokens))
	return nil
}
