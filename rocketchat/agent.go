package rocketchat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// AgentOptions configures the admin agent: either Username+Password (logged in at Start,
// logged out at Close) or UserID+Token, a personal access token (never logged out, since
// logout deletes a PAT).
type AgentOptions struct {
	Client             *Client
	Username, Password string
	UserID, Token      string
	// CreateTokenSecret is CREATE_TOKENS_FOR_USERS_SECRET, needed by users.createToken on 8.x+.
	CreateTokenSecret string
}

// Agent is the gateway's admin identity toward Rocket.Chat.
type Agent struct {
	c    *Client
	opts AgentOptions

	mu      sync.Mutex
	cred    Credentials
	ready   bool
	relogin *reloginCall // in-flight re-login shared by concurrent callers
}

type reloginCall struct {
	done chan struct{}
	cred Credentials
	err  error
}

// NewAgent checks the options; Start logs in.
func NewAgent(opts AgentOptions) (*Agent, error) {
	if opts.Client == nil {
		return nil, errors.New("rocketchat: agent: no Client")
	}
	pw := opts.Username != "" || opts.Password != ""
	pat := opts.UserID != "" || opts.Token != ""
	switch {
	case pw && pat:
		return nil, errors.New("rocketchat: agent: set either username+password or user id+personal access token, not both")
	case pw && (opts.Username == "" || opts.Password == ""):
		return nil, errors.New("rocketchat: agent: username and password must both be set")
	case pat && (opts.UserID == "" || opts.Token == ""):
		return nil, errors.New("rocketchat: agent: user id and personal access token must both be set")
	case !pw && !pat:
		return nil, errors.New("rocketchat: agent: no admin credentials (set username+password or user id+personal access token)")
	}
	return &Agent{c: opts.Client, opts: opts}, nil
}

func (a *Agent) usesPAT() bool { return a.opts.Token != "" }

// Start logs in (password mode) or checks the token (PAT mode). Its error names the cause and
// the fix.
func (a *Agent) Start(ctx context.Context) error {
	if _, err := a.c.Info(ctx); err != nil {
		return fmt.Errorf("rocketchat: agent: Rocket.Chat unreachable at %s (check the Rocket.Chat URL and that the server is up): %w", a.c.base.Redacted(), err)
	}
	if a.usesPAT() {
		cred := Credentials{UserID: a.opts.UserID, Token: a.opts.Token}
		if _, err := a.c.Me(ctx, cred); err != nil {
			if errors.Is(err, ErrUnauthorized) {
				return fmt.Errorf("rocketchat: agent: the admin user id or personal access token is not accepted (create a new personal access token for the admin user): %w", err)
			}
			return fmt.Errorf("rocketchat: agent: check admin token: %w", err)
		}
		a.set(cred)
		return nil
	}
	cred, err := a.login(ctx)
	if err != nil {
		return err
	}
	a.set(cred)
	return nil
}

func (a *Agent) login(ctx context.Context) (Credentials, error) {
	res, err := a.c.Login(ctx, a.opts.Username, a.opts.Password)
	switch {
	case err == nil:
		return res.Credentials, nil
	case errors.Is(err, ErrTOTPRequired):
		return Credentials{}, fmt.Errorf("rocketchat: agent: login as %q needs a two-factor code (totp-required): use a personal access token with \"Ignore Two Factor Authentication\", or turn off email 2FA for the admin: %w", a.opts.Username, err)
	case errors.Is(err, ErrUnauthorized):
		return Credentials{}, fmt.Errorf("rocketchat: agent: login as %q refused: wrong username or password (check the admin credentials): %w", a.opts.Username, err)
	default:
		var ae *APIError
		if errors.As(err, &ae) {
			return Credentials{}, fmt.Errorf("rocketchat: agent: login as %q: %w", a.opts.Username, err)
		}
		return Credentials{}, fmt.Errorf("rocketchat: agent: login: Rocket.Chat unreachable (check the URL and the server): %w", err)
	}
}

func (a *Agent) set(cred Credentials) {
	a.mu.Lock()
	a.cred = cred
	a.ready = true
	a.mu.Unlock()
}

// Ready reports whether the agent holds working credentials.
func (a *Agent) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready
}

// Credentials returns the current admin credentials (zero before Start).
func (a *Agent) Credentials() Credentials {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cred
}

// Do runs f with the admin credentials. If f fails with ErrUnauthorized in password mode, the
// agent logs in again — once for all concurrent callers that saw the same stale token — and
// runs f one more time.
func (a *Agent) Do(ctx context.Context, f func(ctx context.Context, admin Credentials) error) error {
	a.mu.Lock()
	if !a.ready && a.cred.Token == "" {
		a.mu.Unlock()
		return errors.New("rocketchat: agent: not started")
	}
	cred := a.cred
	a.mu.Unlock()
	err := f(ctx, cred)
	if err == nil || !errors.Is(err, ErrUnauthorized) {
		return err
	}
	if a.usesPAT() {
		a.mu.Lock()
		a.ready = false
		a.mu.Unlock()
		return fmt.Errorf("rocketchat: agent: personal access token refused (create a new one): %w", err)
	}
	fresh, lerr := a.reLogin(ctx, cred)
	if lerr != nil {
		return lerr
	}
	return f(ctx, fresh)
}

// reLogin replaces stale with fresh credentials; concurrent callers share one login.
func (a *Agent) reLogin(ctx context.Context, stale Credentials) (Credentials, error) {
	a.mu.Lock()
	if a.cred.Token != stale.Token && a.ready {
		cred := a.cred // someone already logged in again
		a.mu.Unlock()
		return cred, nil
	}
	rc := a.relogin
	if rc == nil {
		rc = &reloginCall{done: make(chan struct{})}
		a.relogin = rc
		a.ready = false
		go a.runRelogin(rc)
	}
	a.mu.Unlock()
	select {
	case <-rc.done:
		return rc.cred, rc.err
	case <-ctx.Done():
		return Credentials{}, fmt.Errorf("rocketchat: agent: re-login: %w", ctx.Err())
	}
}

// runRelogin is detached from any single caller's ctx so one cancelled caller cannot fail the
// others; it is bounded by its own timeout.
func (a *Agent) runRelogin(rc *reloginCall) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cred, err := a.login(ctx)
	a.mu.Lock()
	if err == nil {
		a.cred = cred
		a.ready = true
	}
	rc.cred, rc.err = cred, err
	a.relogin = nil
	a.mu.Unlock()
	close(rc.done)
}

// CreateToken mints a login token for the Rocket.Chat user id userID with users.createToken.
func (a *Agent) CreateToken(ctx context.Context, userID string) (Credentials, error) {
	var out Credentials
	err := a.Do(ctx, func(ctx context.Context, admin Credentials) error {
		c, err := a.c.CreateToken(ctx, admin, userID, a.opts.CreateTokenSecret)
		out = c
		return err
	})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest && ae.ErrorType == "error-not-authorized" {
			return Credentials{}, fmt.Errorf("rocketchat: agent: users.createToken refused (set CREATE_TOKENS_FOR_USERS=true on Rocket.Chat ≤7.x, or CREATE_TOKENS_FOR_USERS_SECRET on 8.x+ and the same secret in the gateway): %w", err)
		}
		return Credentials{}, err
	}
	return out, nil
}

// Close logs the admin out in password mode (a PAT is left alone) and waits for an in-flight
// re-login.
func (a *Agent) Close(ctx context.Context) error {
	a.mu.Lock()
	rc := a.relogin
	a.mu.Unlock()
	if rc != nil {
		select {
		case <-rc.done:
		case <-ctx.Done():
			return fmt.Errorf("rocketchat: agent: close: %w", ctx.Err())
		}
	}
	a.mu.Lock()
	cred, ready := a.cred, a.ready
	a.ready = false
	a.cred = Credentials{}
	a.mu.Unlock()
	if a.usesPAT() || !ready {
		return nil
	}
	if err := a.c.Logout(ctx, cred); err != nil && !errors.Is(err, ErrUnauthorized) {
		return fmt.Errorf("rocketchat: agent: logout: %w", err)
	}
	return nil
}
