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
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// User is a product user as the product identifies it.
type User struct {
	ID       string // product user id, the key of everything here
	Username string // product username; the Rocket.Chat username is derived from it
	Name     string
	Email    string
}

// Pusher delivers invocations to all of a user's browser connections (the push hub).
type Pusher interface {
	SendToUser(ctx context.Context, userID, target string, arg any) error
	Kick(ctx context.Context, userID, reason string, allowReconnect bool) error
}

// Token strategies.
const (
	// StrategyCreateToken mints each user's token with users.createToken as the admin agent.
	StrategyCreateToken = "create_token"
	// StrategyDefaultPassword logs users in with one shared password (the legacy mode).
	StrategyDefaultPassword = "default_password"
)

// ErrUnknownUser is returned for a product user id the manager has never been told about.
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

	Leaser   Leaser     // default NewLocalLeaser()
	Tokens   TokenStore // default NewMemoryTokenStore()
	Presence Presence   // default NewLocalPresence()
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
	Resyncs            uint64
	Pushes             uint64
	PushErrors         uint64
	TokenMints         uint64
	AuthLosses         uint64
}

// Manager is the per-node session manager.
type Manager struct {
	o   Options
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	idents map[string]User
	local  map[string]int
	loops  map[string]*userLoop
	minted map[string]mintedToken
	mints  map[string]*mintCall
	closed bool

	connected                                                       atomic.Int64
	reconnects, resyncs, pushes, pushErrors, tokenMints, authLosses atomic.Uint64
}

type mintedToken struct {
	cred    rocketchat.Credentials
	expires time.Time
}

type mintCall struct {
	done chan struct{}
	cred rocketchat.Credentials
	err  error
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
	def(&o.Linger, 10*time.Second)
	def(&o.CheckInterval, time.Second)
	def(&o.LeaseTTL, 15*time.Second)
	def(&o.ResyncSlack, 5*time.Second)
	def(&o.ResyncHold, 5*time.Second)
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
		idents: map[string]User{}, local: map[string]int{}, loops: map[string]*userLoop{},
		minted: map[string]mintedToken{}, mints: map[string]*mintCall{},
	}
	m.wg.Add(1)
	go m.janitor()
	return m, nil
}

// Remember records who a product user is (from a verified product token), so the manager
// can provision and log in that user when its connections arrive.
func (m *Manager) Remember(u User) {
	if u.ID == "" {
		return
	}
	m.mu.Lock()
	if old, ok := m.idents[u.ID]; ok {
		// Keep what an earlier, fuller token told us.
		if u.Username == "" {
			u.Username = old.Username
		}
		if u.Name == "" {
			u.Name = old.Name
		}
		if u.Email == "" {
			u.Email = old.Email
		}
	}
	m.idents[u.ID] = u
	m.mu.Unlock()
}

func (m *Manager) identity(userID string) (User, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.idents[userID]
	return u, ok
}

// Credentials returns the user's own Rocket.Chat credentials: the cached token or a fresh
// one, provisioning the Rocket.Chat user when it is missing. Concurrent callers for the same
// user share one mint.
func (m *Manager) Credentials(ctx context.Context, u User) (rocketchat.Credentials, error) {
	m.Remember(u)
	u, _ = m.identity(u.ID)
	cred, _, err := m.credentials(ctx, u)
	return cred, err
}

func (m *Manager) credentials(ctx context.Context, u User) (rocketchat.Credentials, time.Time, error) {
	if cred, exp, ok, err := m.o.Tokens.Get(ctx, u.ID); err != nil {
		m.log.WarnContext(ctx, "token store read failed; minting", "user", u.ID, "err", err)
	} else if ok && time.Until(exp) > time.Second {
		return cred, exp, nil
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return rocketchat.Credentials{}, time.Time{}, errors.New("session: manager is shut down")
	}
	call, running := m.mints[u.ID]
	if !running {
		call = &mintCall{done: make(chan struct{})}
		m.mints[u.ID] = call
		m.wg.Add(1)
		go m.runMint(u, call)
	}
	m.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return rocketchat.Credentials{}, time.Time{}, ctx.Err()
	}
	if call.err != nil {
		return rocketchat.Credentials{}, time.Time{}, call.err
	}
	return call.cred, time.Now().Add(m.o.TokenTTL), nil
}

// runMint mints on the manager's context, so one caller giving up does not fail the others.
func (m *Manager) runMint(u User, call *mintCall) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, time.Minute)
	defer cancel()
	call.cred, call.err = m.mint(ctx, u)
	if call.err == nil {
		if err := m.o.Tokens.Put(ctx, u.ID, call.cred, m.o.TokenTTL); err != nil {
			m.log.WarnContext(ctx, "token store write failed", "user", u.ID, "err", err)
		}
	}
	m.mu.Lock()
	delete(m.mints, u.ID)
	if call.err == nil {
		m.minted[u.ID] = mintedToken{cred: call.cred, expires: time.Now().Add(m.o.TokenTTL)}
	}
	m.mu.Unlock()
	close(call.done)
}

func (m *Manager) mint(ctx context.Context, u User) (rocketchat.Credentials, error) {
	if u.Username == "" {
		return rocketchat.Credentials{}, fmt.Errorf("session: mint token for %s: the product token carries no username", u.ID)
	}
	name := RocketChatUsername(u.Username)
	get := func() (rocketchat.Credentials, error) {
		if m.o.Strategy == StrategyDefaultPassword {
			res, err := m.o.Client.Login(ctx, name, m.o.DefaultPassword)
			return res.Credentials, err
		}
		var ru rocketchat.User
		if err := m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
			var err error
			ru, err = m.o.Client.UserInfo(ctx, admin, name)
			return err
		}); err != nil {
			return rocketchat.Credentials{}, err
		}
		return m.o.Agent.CreateToken(ctx, ru.ID)
	}
	cred, err := get()
	if err != nil {
		exists, xerr := m.rcUserExists(ctx, name)
		if xerr != nil || exists {
			return rocketchat.Credentials{}, fmt.Errorf("session: mint token for %s: %w", u.ID, err)
		}
		if _, perr := m.provision(ctx, u); perr != nil {
			return rocketchat.Credentials{}, perr
		}
		if cred, err = get(); err != nil {
			return rocketchat.Credentials{}, fmt.Errorf("session: mint token for %s after provisioning: %w", u.ID, err)
		}
	}
	m.tokenMints.Add(1)
	m.log.InfoContext(ctx, "user token minted", "user", u.ID, "strategy", m.o.Strategy)
	return cred, nil
}

// rcUserExists asks Rocket.Chat, as the admin, whether the username exists.
func (m *Manager) rcUserExists(ctx context.Context, rcUsername string) (bool, error) {
	if m.o.Agent == nil {
		return true, nil // cannot tell without the agent: do not try to create
	}
	err := m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
		_, err := m.o.Client.UserInfo(ctx, admin, rcUsername)
		return err
	})
	if errors.Is(err, rocketchat.ErrNotFound) || isInvalidUser(err) {
		return false, nil
	}
	return err == nil, err
}

// isInvalidUser matches Rocket.Chat's 400 answers for an unknown user.
func isInvalidUser(err error) bool {
	var ae *rocketchat.APIError
	return errors.As(err, &ae) && (ae.ErrorType == "error-invalid-user" || strings.Contains(ae.Message, "User not found"))
}

// provision creates the Rocket.Chat user for u with an unverified email (so email 2FA
// cannot lock it) and a strong random password nobody knows (or the shared password in
// the default_password mode).
func (m *Manager) provision(ctx context.Context, u User) (rocketchat.User, error) {
	if m.o.Agent == nil {
		return rocketchat.User{}, errors.New("session: provision: no admin agent")
	}
	pw := m.o.DefaultPassword
	if m.o.Strategy != StrategyDefaultPassword {
		pw = randomPassword()
	}
	nu := rocketchat.NewUser{
		Username: RocketChatUsername(u.Username),
		Name:     firstNonEmpty(u.Name, u.Username),
		Email:    firstNonEmpty(u.Email, RocketChatUsername(u.Username)+"@users.rcgateway.invalid"),
		Password: pw,
	}
	var out rocketchat.User
	err := m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
		var err error
		out, err = m.o.Client.CreateUser(ctx, admin, nu)
		return err
	})
	if err != nil {
		return rocketchat.User{}, fmt.Errorf("session: provision %s: %w", u.ID, err)
	}
	m.log.InfoContext(ctx, "rocket.chat user provisioned", "user", u.ID, "rc_user", out.ID)
	return out, nil
}

// Upsert creates the Rocket.Chat user for a product user, or updates its name and email.
func (m *Manager) Upsert(ctx context.Context, u User) (rcUserID string, created bool, err error) {
	if u.ID == "" || u.Username == "" {
		return "", false, errors.New("session: upsert: user id and username are required")
	}
	if m.o.Agent == nil {
		return "", false, errors.New("session: upsert: no admin agent")
	}
	m.Remember(u)
	name := RocketChatUsername(u.Username)
	var existing rocketchat.User
	err = m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
		var err error
		existing, err = m.o.Client.UserInfo(ctx, admin, name)
		return err
	})
	if errors.Is(err, rocketchat.ErrNotFound) || isInvalidUser(err) {
		nu, perr := m.provision(ctx, u)
		if perr != nil {
			return "", false, perr
		}
		return nu.ID, true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("session: upsert %s: %w", u.ID, err)
	}
	data := map[string]any{}
	if u.Name != "" && u.Name != existing.Name {
		data["name"] = u.Name
	}
	if u.Email != "" {
		data["email"] = u.Email
	}
	if len(data) > 0 {
		err = m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
			_, err := m.o.Client.UpdateUser(ctx, admin, existing.ID, data)
			return err
		})
		if err != nil {
			return "", false, fmt.Errorf("session: upsert %s: %w", u.ID, err)
		}
	}
	return existing.ID, false, nil
}

// Delete removes the product user's Rocket.Chat user, closes its browser connections for
// good and forgets its session.
func (m *Manager) Delete(ctx context.Context, productUserID string) error {
	u, ok := m.identity(productUserID)
	if !ok || u.Username == "" {
		return fmt.Errorf("session: delete %s: %w", productUserID, ErrUnknownUser)
	}
	if m.o.Agent == nil {
		return errors.New("session: delete: no admin agent")
	}
	err := m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
		ru, err := m.o.Client.UserInfo(ctx, admin, RocketChatUsername(u.Username))
		if err != nil {
			return err
		}
		return m.o.Client.DeleteUser(ctx, admin, ru.ID)
	})
	if err != nil && !errors.Is(err, rocketchat.ErrNotFound) && !isInvalidUser(err) {
		return fmt.Errorf("session: delete %s: %w", productUserID, err)
	}
	m.dropToken(ctx, productUserID, false)
	m.mu.Lock()
	delete(m.idents, productUserID)
	ul := m.loops[productUserID]
	m.mu.Unlock()
	if ul != nil {
		ul.signal(sigStop)
	}
	if err := m.o.Pusher.Kick(ctx, productUserID, "Your chat account was removed.", false); err != nil {
		return fmt.Errorf("session: delete %s: kick: %w", productUserID, err)
	}
	return nil
}

// Invalidate drops a user's cached token (Rocket.Chat refused it); the upstream, if any,
// reconnects with a fresh one.
func (m *Manager) Invalidate(userID string) {
	m.dropToken(m.ctx, userID, false)
	m.mu.Lock()
	ul := m.loops[userID]
	m.mu.Unlock()
	if ul != nil {
		ul.signal(sigToken)
	}
}

// dropToken removes the user's token from the store and, when this node minted it and
// logout is set, logs it out (Rocket.Chat keeps at most 50 per user).
func (m *Manager) dropToken(ctx context.Context, userID string, logout bool) {
	if err := m.o.Tokens.Delete(ctx, userID); err != nil {
		m.log.WarnContext(ctx, "token store delete failed", "user", userID, "err", err)
	}
	m.mu.Lock()
	mt, ok := m.minted[userID]
	delete(m.minted, userID)
	closed := m.closed
	m.mu.Unlock()
	if !ok || !logout || closed {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.logout(mt.cred)
	}()
}

func (m *Manager) logout(cred rocketchat.Credentials) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.o.Client.Logout(ctx, cred); err != nil && !errors.Is(err, rocketchat.ErrUnauthorized) {
		m.log.Warn("logging out a dropped user token failed", "rc_user", cred.UserID, "err", err)
	}
}

// janitor logs out expired minted tokens and frees expired cache entries.
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
			var expired []string
			m.mu.Lock()
			for id, mt := range m.minted {
				if now.After(mt.expires) {
					expired = append(expired, id)
				}
			}
			m.mu.Unlock()
			for _, id := range expired {
				m.dropToken(m.ctx, id, true)
			}
			if d, ok := m.o.Tokens.(interface{ DeleteExpired() }); ok {
				d.DeleteExpired()
			}
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
		Reconnects: m.reconnects.Load(), Resyncs: m.resyncs.Load(), Pushes: m.pushes.Load(),
		PushErrors: m.pushErrors.Load(), TokenMints: m.tokenMints.Load(), AuthLosses: m.authLosses.Load(),
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
	for id, mt := range m.minted {
		// In a cluster other nodes share these tokens: they stay until they expire.
		if !m.o.Clustered {
			tokens = append(tokens, mt.cred)
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

// RocketChatUsername maps a product username to Rocket.Chat's default username rule
// (letters, digits, '.', '_' and '-'): every other character becomes '_'.
func RocketChatUsername(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// randomPassword is 24 random characters plus one of each class Rocket.Chat's password
// policy can require.
func randomPassword() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]) + "aZ7!"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
