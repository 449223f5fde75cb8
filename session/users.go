package session

// This file holds product users and their Rocket.Chat accounts: admission (Remember, Admit,
// tombstones), account lookup and provisioning, and the admin operations (Upsert, Link,
// Known, Delete, SetActive, revoke). It starts no goroutines of its own (revoke has
// dropToken log tokens out).

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"github.com/rcgateway/rcgateway/rocketchat"
)

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
// name from the token, email (only a product backend's, through Upsert) or else an e-mail
// nobody can receive (unverified, so e-mail 2FA cannot lock it), and a strong random
// password nobody knows (or the shared password in the default_password mode). u.Email is
// never used: on the token path it comes from a claim the user may choose.
func (m *Manager) provision(ctx context.Context, u User, email string) (rocketchat.User, error) {
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
		Email:    firstNonEmpty(email, accountEmail(name, m.o.EmailDomain)),
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
		nu, perr := m.provision(ctx, u, u.Email)
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
		if !slices.ContainsFunc(m.minted[userID], func(t mintedToken) bool { return t.cred.Token == cred.Token }) {
			m.minted[userID] = append(m.minted[userID], mintedToken{cred: cred})
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
