package rocketchat

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

func newAgent(t *testing.T, c *Client, o AgentOptions) *Agent {
	t.Helper()
	o.Client = c
	a, err := NewAgent(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewAgentValidates(t *testing.T) {
	c, _ := NewClient(ClientOptions{BaseURL: "http://127.0.0.1:1"})
	for _, o := range []AgentOptions{
		{},
		{Client: c},
		{Client: c, Username: "a"},
		{Client: c, UserID: "u"},
		{Client: c, Username: "a", Password: "p", UserID: "u", Token: "t"},
	} {
		if _, err := NewAgent(o); err == nil {
			t.Errorf("NewAgent(%+v) accepted", o)
		}
	}
}

func TestAgentPasswordLifecycle(t *testing.T) {
	s := newSim(t, rctest.Options{CreateTokenSecret: "sek"})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	u, p := s.AdminCredentials()
	a := newAgent(t, c, AgentOptions{Username: u, Password: p, CreateTokenSecret: "sek"})
	if a.Ready() {
		t.Fatal("ready before Start")
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !a.Ready() || s.TokenCount(u) != 1 {
		t.Fatalf("ready %v, admin tokens %d", a.Ready(), s.TokenCount(u))
	}
	cred, err := a.CreateToken(ctx, s.UserID("alice"))
	if err != nil || cred.UserID != s.UserID("alice") {
		t.Fatalf("CreateToken = %+v, %v", cred, err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Ready() || s.TokenCount(u) != 0 {
		t.Fatalf("after Close: ready %v, admin tokens %d (want logged out)", a.Ready(), s.TokenCount(u))
	}
}

func TestAgentPATNeverLoggedOut(t *testing.T) {
	s := newSim(t, rctest.Options{TwoFactor: true, CreateTokenSecret: "sek"})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	uid, pat := s.CreatePAT("admin")
	a := newAgent(t, c, AgentOptions{UserID: uid, Token: pat, CreateTokenSecret: "sek"})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateToken(ctx, s.UserID("alice")); err != nil {
		t.Fatal(err)
	}
	// A PAT bypasses 2FA on twoFactorRequired endpoints.
	err := a.Do(ctx, func(ctx context.Context, admin Credentials) error {
		_, err := c.UpdateUser(ctx, admin, s.UserID("alice"), map[string]any{"name": "Alice A"})
		return err
	})
	if err != nil {
		t.Fatalf("users.update with PAT: %v", err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Me(ctx, Credentials{UserID: uid, Token: pat}); err != nil {
		t.Fatalf("PAT logged out by Close: %v", err)
	}
	// A revoked PAT is reported, not retried forever.
	a2 := newAgent(t, c, AgentOptions{UserID: uid, Token: pat})
	if err := a2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.RevokeTokens("admin")
	err = a2.Do(ctx, func(ctx context.Context, admin Credentials) error { _, err := c.Me(ctx, admin); return err })
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "personal access token") || a2.Ready() {
		t.Fatalf("revoked PAT: %v ready=%v", err, a2.Ready())
	}
}

func TestAgentStartErrorsNameCauseAndFix(t *testing.T) {
	s := newSim(t, rctest.Options{TwoFactor: true})
	s.AddUser(rctest.UserSpec{Username: "boss", Password: "Boss-Pass-1234!", Email: "boss@x.invalid", EmailVerified: true, Roles: []string{"admin"}})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)

	err := newAgent(t, c, AgentOptions{Username: "admin", Password: "nope"}).Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "wrong username or password") || !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong password: %v", err)
	}
	err = newAgent(t, c, AgentOptions{Username: "boss", Password: "Boss-Pass-1234!"}).Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "totp-required") || !strings.Contains(err.Error(), "personal access token") {
		t.Errorf("2FA: %v", err)
	}
	err = newAgent(t, c, AgentOptions{UserID: "x", Token: "y"}).Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "personal access token") {
		t.Errorf("bad PAT: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	dead, _ := NewClient(ClientOptions{BaseURL: "http://" + addr, RetryMax: -1})
	err = newAgent(t, dead, AgentOptions{Username: "admin", Password: "p"}).Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("unreachable: %v", err)
	}
}

func TestAgentOneReloginForConcurrentCallers(t *testing.T) {
	s := newSim(t, rctest.Options{})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	u, p := s.AdminCredentials()
	a := newAgent(t, c, AgentOptions{Username: u, Password: p})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	before := countRequests(s, "POST", "/api/v1/login")
	s.RevokeTokens(u)
	const n = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- a.Do(ctx, func(ctx context.Context, admin Credentials) error {
				_, err := c.Me(ctx, admin)
				return err
			})
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Do after revocation: %v", err)
		}
	}
	if got := countRequests(s, "POST", "/api/v1/login") - before; got != 1 {
		t.Fatalf("%d re-logins for %d concurrent callers, want 1", got, n)
	}
	if !a.Ready() {
		t.Fatal("agent not ready after re-login")
	}
}

func TestAgentCreateTokenSecretHint(t *testing.T) {
	s := newSim(t, rctest.Options{CreateTokenSecret: "right"})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	u, p := s.AdminCredentials()
	a := newAgent(t, c, AgentOptions{Username: u, Password: p, CreateTokenSecret: "wrong"})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	_, err := a.CreateToken(ctx, s.UserID("alice"))
	if err == nil || !strings.Contains(err.Error(), "CREATE_TOKENS_FOR_USERS_SECRET") {
		t.Fatalf("err = %v", err)
	}
	if err := a.Do(ctx, func(context.Context, Credentials) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestAgentDoBeforeStart(t *testing.T) {
	c, _ := NewClient(ClientOptions{BaseURL: "http://127.0.0.1:1"})
	a := newAgent(t, c, AgentOptions{Username: "a", Password: "p"})
	if err := a.Do(context.Background(), func(context.Context, Credentials) error { return nil }); err == nil {
		t.Fatal("Do before Start succeeded")
	}
}
