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
	alice := s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
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
	cred, err := a.CreateToken(ctx, alice)
	if err != nil || cred.UserID != alice {
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
	alice := s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	uid, pat := s.CreatePAT("admin")
	a := newAgent(t, c, AgentOptions{UserID: uid, Token: pat, CreateTokenSecret: "sek"})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateToken(ctx, alice); err != nil {
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
	alice := s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	u, p := s.AdminCredentials()
	a := newAgent(t, c, AgentOptions{Username: u, Password: p, CreateTokenSecret: "wrong"})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	_, err := a.CreateToken(ctx, alice)
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

// TestAgentCreateToken87TwoFactor: from 8.7 users.createToken is twoFactorRequired
// (apps/meteor/server/api/v1/users.ts). A password agent passes with the password digest the
// client sends; a PAT without bypassTwoFactor is refused and the error names the remedy.
func TestAgentCreateToken87TwoFactor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		pat     bool
		bypass  bool
		wantErr string
	}{
		{"password agent 8.8", "8.8.1", false, false, ""},
		{"PAT with bypass 8.8", "8.8.1", true, true, ""},
		{"PAT without bypass 8.8", "8.8.1", true, false, "Ignore Two Factor Authentication"},
		{"PAT without bypass 8.6", "8.6.0", true, false, ""},
		{"PAT without bypass 9.x", "9.0.0", true, false, "Ignore Two Factor Authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, rctest.Options{Version: tc.version, TwoFactor: true, CreateTokenSecret: "sek"})
			alice := s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
			c := newTestClient(t, s, nil)
			ctx := testCtx(t)
			opts := AgentOptions{CreateTokenSecret: "sek"}
			switch {
			case !tc.pat:
				opts.Username, opts.Password = s.AdminCredentials()
			case tc.bypass:
				opts.UserID, opts.Token = s.CreatePAT("admin")
			default:
				opts.UserID, opts.Token = s.CreatePATNoBypass("admin")
			}
			a := newAgent(t, c, opts)
			if err := a.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer a.Close(ctx)
			cred, err := a.CreateToken(ctx, alice)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrTOTPRequired) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("CreateToken err = %v, want totp-required naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || cred.UserID != alice {
				t.Fatalf("CreateToken = %+v, %v", cred, err)
			}
		})
	}
}

// TestAgentCreateToken87Permission: on 8.7+ an agent without user-generate-access-token is
// refused with error-not-authorized even with the right secret; the error names the permission.
func TestAgentCreateToken87Permission(t *testing.T) {
	s := newSim(t, rctest.Options{Version: "8.7.0", CreateTokenSecret: "sek"})
	alice := s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.AddUser(rctest.UserSpec{Username: "notadmin", Password: "pw"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	a := newAgent(t, c, AgentOptions{Username: "notadmin", Password: "pw", CreateTokenSecret: "sek"})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	_, err := a.CreateToken(ctx, alice)
	if err == nil || !strings.Contains(err.Error(), "user-generate-access-token") {
		t.Fatalf("err = %v", err)
	}
}
