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
	"slices"
	"strings"
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

	mu sync.Mutex
	// idents keeps the latest display data and token iat per product user, for the
	// upstream's mints; entries expire an hour after the user was last seen.
	idents *gocache.Cache
	// known caches, for a minute, the users Known found an account for (admin pushes
	// would otherwise ask Rocket.Chat each time).
	known  *gocache.Cache
	local  map[string]int
	loops  map[string]*userLoop
	minted map[string]mintedToken
	mints  map[string]*mintCall

	presMu      sync.Mutex
	presPending map[string]int // netted presence changes not yet written (presenceWriter)
	presWake    chan struct{}
	closed      bool

	connected                                                       atomic.Int64
	reconnects, resyncs, pushes, pushErrors, tokenMints, authLosses atomic.Uint64
	pushFailLogged                                                  atomic.Int64  // unix ns of the last "push failed" line
	pushFailQuiet                                                   atomic.Uint64 // failed pushes not logged since
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
		minted: map[string]mintedToken{}, mints: map[string]*mintCall{},
		presPending: map[string]int{}, presWake: make(chan struct{}, 1),
	}
	m.wg.Add(2)
	go m.janitor()
	go m.presenceWriter()
	return m, nil
}

// identTTL is how long the manager keeps a product user's display data after the last
// token it saw.
const identTTL = time.Hour

// Remember records who a product user is (from a verified product token), so the manager
// can provision and log in that user when its connections arrive.
func (m *Manager) Remember(u User) {
	if u.ID == "" {
		return
	}
	m.mu.Lock()
	if v, ok := m.idents.Get(u.ID); ok {
		// Keep what an earlier, fuller token told us, and the newest iat.
		old := v.(User)
		u.Username = firstNonEmpty(u.Username, old.Username)
		u.Name = firstNonEmpty(u.Name, old.Name)
		u.Email = firstNonEmpty(u.Email, old.Email)
		if old.IssuedAt.After(u.IssuedAt) {
			u.IssuedAt = old.IssuedAt
		}
	}
	m.idents.Set(u.ID, u, gocache.DefaultExpiration)
	m.mu.Unlock()
}

// identity is what the manager knows of userID; the account follows from the id alone, so
// an unknown user is just one with no display data.
func (m *Manager) identity(userID string) User {
	if v, ok := m.idents.Get(userID); ok {
		return v.(User)
	}
	return User{ID: userID}
}

// Username is the Rocket.Chat username of the product user userID.
func (m *Manager) Username(userID string) string {
	return RocketChatUsername(m.o.UsernamePrefix, userID)
}

// Admit checks a product user arriving with a verified token: a token issued no later than
// the user's deletion is refused with ErrRevoked. Admitted users are remembered.
func (m *Manager) Admit(ctx context.Context, u User) error {
	if err := ValidateSubject(u.ID); err != nil {
		return err
	}
	if err := m.checkTomb(ctx, u); err != nil {
		return err
	}
	m.Remember(u)
	return nil
}

// checkTomb refuses u when it was deleted at or after its token's iat (a token without iat
// is refused while the tombstone lasts). A store failure refuses too.
func (m *Manager) checkTomb(ctx context.Context, u User) error {
	at, ok, err := m.o.Tombstones.Buried(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("session: tombstone of %s: %w", u.ID, err)
	}
	if ok && !u.IssuedAt.After(at) {
		return fmt.Errorf("session: %s: %w", u.ID, ErrRevoked)
	}
	return nil
}

// Credentials returns the user's own Rocket.Chat credentials: the cached token or a fresh
// one, provisioning the Rocket.Chat user when it is missing. Concurrent callers for the same
// user share one mint.
func (m *Manager) Credentials(ctx context.Context, u User) (rocketchat.Credentials, error) {
	if err := m.Admit(ctx, u); err != nil {
		return rocketchat.Credentials{}, err
	}
	cred, _, err := m.credentials(ctx, m.identity(u.ID))
	return cred, err
}

// Refresh replaces the user's token after Rocket.Chat refused stale (a 401): the cached
// token is dropped if it is still stale, and the user gets one fresh mint.
func (m *Manager) Refresh(ctx context.Context, u User, stale rocketchat.Credentials) (rocketchat.Credentials, error) {
	if cur, _, ok, err := m.o.Tokens.Get(ctx, u.ID); err == nil && (!ok || cur.Token == stale.Token) {
		m.dropToken(ctx, u.ID, false)
	}
	return m.Credentials(ctx, u)
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
	if err := m.checkTomb(ctx, u); err != nil {
		return rocketchat.Credentials{}, err
	}
	name := m.Username(u.ID)
	ru, found, err := m.account(ctx, u.ID)
	if err != nil {
		return rocketchat.Credentials{}, fmt.Errorf("session: mint token for %s: %w", u.ID, err)
	}
	if !found {
		if ru, err = m.provision(ctx, u); err != nil {
			return rocketchat.Credentials{}, err
		}
	}
	if !ru.Active {
		return rocketchat.Credentials{}, fmt.Errorf("session: mint token for %s: %w", u.ID, ErrAccountDeactivated)
	}
	var cred rocketchat.Credentials
	if m.o.Strategy == StrategyDefaultPassword {
		var res rocketchat.LoginResult
		res, err = m.o.Client.Login(ctx, name, m.o.DefaultPassword)
		cred = res.Credentials
		if err == nil && cred.UserID != ru.ID {
			err = fmt.Errorf("login answered for account %s, not %s", cred.UserID, ru.ID)
		}
	} else {
		cred, err = m.o.Agent.CreateToken(ctx, ru.ID)
	}
	if err != nil {
		return rocketchat.Credentials{}, fmt.Errorf("session: mint token for %s: %w", u.ID, err)
	}
	m.tokenMints.Add(1)
	m.log.InfoContext(ctx, "user token minted", "user", u.ID, "rc_user", ru.ID, "strategy", m.o.Strategy)
	return cred, nil
}

// lookup is users.info by username as the admin; found is false when there is no such user.
func (m *Manager) lookup(ctx context.Context, rcUsername string) (ru rocketchat.User, found bool, err error) {
	if m.o.Agent == nil {
		return rocketchat.User{}, false, errors.New("session: no admin agent to look users up")
	}
	err = m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
		var err error
		ru, err = m.o.Client.UserInfo(ctx, admin, rcUsername)
		return err
	})
	if errors.Is(err, rocketchat.ErrNotFound) || isInvalidUser(err) {
		return rocketchat.User{}, false, nil
	}
	if err != nil {
		return rocketchat.User{}, false, err
	}
	return ru, true, nil
}

// account finds the product user's Rocket.Chat account (the one with the derived username)
// and refuses it when it is protected (guard).
func (m *Manager) account(ctx context.Context, userID string) (rocketchat.User, bool, error) {
	ru, found, err := m.lookup(ctx, m.Username(userID))
	if err != nil || !found {
		return ru, found, err
	}
	if err := m.guard(ctx, userID, ru); err != nil {
		return rocketchat.User{}, false, err
	}
	return ru, true, nil
}

// guard refuses the admin agent's own account and any account with the admin role, and
// logs the attempt at WARN (ids only).
func (m *Manager) guard(ctx context.Context, userID string, ru rocketchat.User) error {
	agentID := ""
	if m.o.Agent != nil {
		agentID = m.o.Agent.Credentials().UserID
	}
	if ru.ID == "" || ru.ID == agentID || slices.Contains(ru.Roles, "admin") {
		m.log.WarnContext(ctx, "refused a protected rocket.chat account", "user", userID, "rc_user", ru.ID, "rc_username", ru.Username)
		return fmt.Errorf("session: account %s for %s: %w", ru.ID, userID, ErrAccountProtected)
	}
	return nil
}

// isInvalidUser matches Rocket.Chat's 400 answers for an unknown user.
func isInvalidUser(err error) bool {
	var ae *rocketchat.APIError
	return errors.As(err, &ae) && (ae.ErrorType == "error-invalid-user" || strings.Contains(ae.Message, "User not found"))
}

// provision creates the Rocket.Chat user for u under its derived username, with a display
// name from the token, an e-mail nobody can receive (unverified, so e-mail 2FA cannot lock
// it) and a strong random password nobody knows (or the shared password in the
// default_password mode).
func (m *Manager) provision(ctx context.Context, u User) (rocketchat.User, error) {
	if m.o.Agent == nil {
		return rocketchat.User{}, errors.New("session: provision: no admin agent")
	}
	pw := m.o.DefaultPassword
	if m.o.Strategy != StrategyDefaultPassword {
		pw = randomPassword()
	}
	name := m.Username(u.ID)
	nu := rocketchat.NewUser{
		Username: name,
		Name:     firstNonEmpty(strings.TrimSpace(u.Name), strings.TrimSpace(u.Username), u.ID),
		Email:    firstNonEmpty(u.Email, accountEmail(name, m.o.EmailDomain)),
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
// With link set, the existing Rocket.Chat account of that username is bound to the product
// user first (Link). Either way the user's tombstone is lifted.
func (m *Manager) Upsert(ctx context.Context, u User, link string) (rcUserID string, created bool, err error) {
	if err := ValidateSubject(u.ID); err != nil {
		return "", false, err
	}
	if m.o.Agent == nil {
		return "", false, errors.New("session: upsert: no admin agent")
	}
	if link != "" {
		if _, err := m.Link(ctx, u.ID, link); err != nil {
			return "", false, err
		}
	}
	if err := m.o.Tombstones.Lift(ctx, u.ID); err != nil {
		return "", false, fmt.Errorf("session: upsert %s: %w", u.ID, err)
	}
	m.Remember(u)
	existing, found, err := m.account(ctx, u.ID)
	if err != nil {
		return "", false, fmt.Errorf("session: upsert %s: %w", u.ID, err)
	}
	if !found {
		nu, perr := m.provision(ctx, u)
		if perr != nil {
			return "", false, perr
		}
		return nu.ID, true, nil
	}
	data := map[string]any{}
	if name := firstNonEmpty(u.Name, u.Username); name != "" && name != existing.Name {
		data["name"] = name
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

// Link binds the existing Rocket.Chat account rcUsername to the product user userID by
// renaming it to the user's derived username (users.update): the link is the username, so it
// holds on every node and after restarts. It refuses the agent's account and admins
// (ErrAccountProtected), an unknown account (ErrNoSuchAccount) and a user that already has
// another account (ErrLinkConflict). Linking the account the user already has is a no-op.
func (m *Manager) Link(ctx context.Context, userID, rcUsername string) (rcUserID string, err error) {
	if err := ValidateSubject(userID); err != nil {
		return "", err
	}
	derived := m.Username(userID)
	target, found, err := m.lookup(ctx, rcUsername)
	if err != nil {
		return "", fmt.Errorf("session: link %s: %w", userID, err)
	}
	if !found {
		return "", fmt.Errorf("session: link %s to %q: %w", userID, rcUsername, ErrNoSuchAccount)
	}
	if err := m.guard(ctx, userID, target); err != nil {
		return "", err
	}
	if target.Username == derived {
		return target.ID, nil
	}
	cur, found, err := m.lookup(ctx, derived)
	if err != nil {
		return "", fmt.Errorf("session: link %s: %w", userID, err)
	}
	if found && cur.ID != target.ID {
		return "", fmt.Errorf("session: link %s to %q (has %s): %w", userID, rcUsername, cur.ID, ErrLinkConflict)
	}
	err = m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
		_, err := m.o.Client.UpdateUser(ctx, admin, target.ID, map[string]any{"username": derived})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("session: link %s: rename: %w", userID, err)
	}
	m.dropToken(ctx, userID, true)
	m.log.InfoContext(ctx, "rocket.chat account linked", "user", userID, "rc_user", target.ID)
	return target.ID, nil
}

// Known reports whether the product user has a Rocket.Chat account (ErrAccountProtected when
// that account is protected).
func (m *Manager) Known(ctx context.Context, userID string) (bool, error) {
	if err := ValidateSubject(userID); err != nil {
		return false, err
	}
	if _, ok := m.known.Get(userID); ok {
		return true, nil
	}
	_, found, err := m.account(ctx, userID)
	if found {
		m.known.SetDefault(userID, struct{}{})
	}
	return found, err
}

// Delete removes the product user's Rocket.Chat user, refuses the tokens issued before now
// (a tombstone for TombstoneTTL, shared when clustered), drops and logs out its cached token,
// stops its upstream and closes its browser connections on every node for good. It works
// on any node: the account follows from the id. ErrUnknownUser when there is no account.
func (m *Manager) Delete(ctx context.Context, productUserID string) error {
	if err := ValidateSubject(productUserID); err != nil {
		return err
	}
	ru, found, err := m.account(ctx, productUserID)
	if err != nil {
		return fmt.Errorf("session: delete %s: %w", productUserID, err)
	}
	if !found {
		return fmt.Errorf("session: delete %s: %w", productUserID, ErrUnknownUser)
	}
	if err := m.o.Tombstones.Bury(ctx, productUserID, time.Now(), m.o.TombstoneTTL); err != nil {
		return fmt.Errorf("session: delete %s: %w", productUserID, err)
	}
	err = m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
		return m.o.Client.DeleteUser(ctx, admin, ru.ID)
	})
	if err != nil && !errors.Is(err, rocketchat.ErrNotFound) && !isInvalidUser(err) {
		return fmt.Errorf("session: delete %s: %w", productUserID, err)
	}
	return m.revoke(ctx, productUserID, "Your chat account was removed.")
}

// SetActive activates or deactivates the product user's account (users.setActiveStatus);
// deactivating also revokes the user's session as Delete does, without a tombstone (the
// pre-mint check refuses the inactive account).
func (m *Manager) SetActive(ctx context.Context, productUserID string, active bool) error {
	if err := ValidateSubject(productUserID); err != nil {
		return err
	}
	ru, found, err := m.account(ctx, productUserID)
	if err != nil {
		return fmt.Errorf("session: set active %s: %w", productUserID, err)
	}
	if !found {
		return fmt.Errorf("session: set active %s: %w", productUserID, ErrUnknownUser)
	}
	err = m.o.Agent.Do(ctx, func(ctx context.Context, admin rocketchat.Credentials) error {
		return m.o.Client.SetActiveStatus(ctx, admin, ru.ID, active)
	})
	if err != nil {
		return fmt.Errorf("session: set active %s: %w", productUserID, err)
	}
	if active {
		return nil
	}
	return m.revoke(ctx, productUserID, "Your chat account was deactivated.")
}

// revoke drops and logs out the user's token, forgets it, stops its upstream and closes its
// connections on every node (the Pusher's Kick goes through the backplane).
func (m *Manager) revoke(ctx context.Context, userID, reason string) error {
	if cred, _, ok, err := m.o.Tokens.Get(ctx, userID); err == nil && ok {
		m.mu.Lock()
		if _, mine := m.minted[userID]; !mine {
			m.minted[userID] = mintedToken{cred: cred}
		}
		m.mu.Unlock()
	}
	m.dropToken(ctx, userID, true)
	m.idents.Delete(userID)
	m.known.Delete(userID)
	m.mu.Lock()
	ul := m.loops[userID]
	m.mu.Unlock()
	if ul != nil {
		ul.signal(sigStop)
	}
	if err := m.o.Pusher.Kick(ctx, userID, reason, false); err != nil {
		return fmt.Errorf("session: revoke %s: kick: %w", userID, err)
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
