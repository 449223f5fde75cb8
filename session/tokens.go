package session

// This file holds the user token cache and its lifecycle: Credentials and Refresh, the one
// mint in flight per user (runMint), and the logout of dropped and expired tokens
// (dropToken, logoutExpired; the janitor in manager.go calls the latter).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

type mintedToken struct {
	cred    rocketchat.Credentials
	expires time.Time
}

type mintCall struct {
	done    chan struct{}
	cred    rocketchat.Credentials
	expires time.Time
	err     error
}

// Credentials returns the user's own Rocket.Chat credentials: the cached token or a fresh
// one, provisioning the Rocket.Chat user when it is missing. Concurrent callers for the same
// user share one mint. The tombstone is checked where a token is made (mint), not on every
// call: a revocation drops the cached token, and callers holding a request admit it first
// (Admit), so checking here too cost a second store read per request.
func (m *Manager) Credentials(ctx context.Context, u User) (rocketchat.Credentials, error) {
	if err := ValidateSubject(u.ID); err != nil {
		return rocketchat.Credentials{}, err
	}
	m.Remember(u)
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
	} else if ok && time.Until(exp) > min(time.Second, m.o.TokenTTL/4) {
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
	return call.cred, call.expires, nil
}

// runMint mints on the manager's context, so one caller giving up does not fail the others.
// Started by credentials for the first caller of a user (m.wg counts it); it ends within a
// minute or when Shutdown cancels m.ctx, and Shutdown waits for it.
func (m *Manager) runMint(u User, call *mintCall) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, time.Minute)
	defer cancel()
	call.cred, call.err = m.mint(ctx, u)
	call.expires = time.Now().Add(m.o.TokenTTL) // one expiry: the store's, the janitor's, the callers'
	if call.err == nil {
		if err := m.o.Tokens.Put(ctx, u.ID, call.cred, m.o.TokenTTL); err != nil {
			m.log.WarnContext(ctx, "token store write failed", "user", u.ID, "err", err)
		}
	}
	m.mu.Lock()
	delete(m.mints, u.ID)
	if call.err == nil {
		m.minted[u.ID] = append(m.minted[u.ID], mintedToken{cred: call.cred, expires: call.expires})
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
		// Never the token's e-mail claim: a user could claim another's address first
		// (docs/identity.md, "E-mail").
		if ru, err = m.provision(ctx, u, ""); err != nil {
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

// dropToken removes the user's token from the store, so that the next need gets a fresh one.
// With logout (the user is revoked or relinked) every token this node minted for the user is
// logged out now; otherwise they are logged out once past their expiry plus TokenGrace, never
// while a call may still use them (Rocket.Chat keeps at most 50 login tokens per user).
// The logouts run in goroutines counted in m.wg (each bounded by logout's 10 s), which
// Shutdown waits for; none is started after Shutdown.
func (m *Manager) dropToken(ctx context.Context, userID string, logout bool) {
	if err := m.o.Tokens.Delete(ctx, userID); err != nil {
		m.log.WarnContext(ctx, "token store delete failed", "user", userID, "err", err)
	}
	if !logout {
		return
	}
	m.mu.Lock()
	toks := m.minted[userID]
	delete(m.minted, userID)
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return
	}
	for _, t := range toks {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.logout(t.cred)
		}()
	}
}

// logoutExpired logs out the minted tokens past their expiry plus TokenGrace.
func (m *Manager) logoutExpired(now time.Time) {
	var old []rocketchat.Credentials
	m.mu.Lock()
	for id, toks := range m.minted {
		keep := toks[:0]
		for _, t := range toks {
			if !t.expires.IsZero() && now.After(t.expires.Add(m.o.TokenGrace)) {
				old = append(old, t.cred)
			} else {
				keep = append(keep, t)
			}
		}
		if len(keep) == 0 {
			delete(m.minted, id)
		} else {
			m.minted[id] = keep
		}
	}
	m.mu.Unlock()
	for _, cred := range old {
		m.logout(cred)
	}
}

func (m *Manager) logout(cred rocketchat.Credentials) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.o.Client.Logout(ctx, cred); err != nil && !errors.Is(err, rocketchat.ErrUnauthorized) {
		m.log.Warn("logging out a dropped user token failed", "rc_user", cred.UserID, "err", err)
	}
}
