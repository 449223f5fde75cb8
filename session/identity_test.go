package session

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// rcDefaultUsername is Rocket.Chat's default UTF8_User_Names_Validation, anchored as
// validateUserData does (apps/meteor/app/lib/server/functions/saveUser/validateUserData.ts).
var rcDefaultUsername = regexp.MustCompile(`^[0-9a-zA-Z-_.]+$`)

// The examples of docs/identity.md.
func TestRocketChatUsernameExamples(t *testing.T) {
	// The encoded forms were computed with Python's base64.b32encode, lowercased, '=' stripped.
	for _, tc := range []struct{ sub, want string }{
		{"42", "u-42"},
		{"3fa85f64-5717-4562-b3fc-2c963f66afa6", "u-3fa85f64-5717-4562-b3fc-2c963f66afa6"},
		{"3FA85F64-5717-4562-B3FC-2C963F66AFA6", "u-.gndecobviy3diljvg4ytoljugu3delkcgndegljsim4tmm2ggy3ecrsbgy"},
		{"李雷", "u-.42oy52m3w4"},
		{"王芳", "u-.46hix2ekwm"},
		{"张伟", "u-.4w6kbzf4t4"},
		{"josé", "u-.njxxhq5j"},
		{"josè", "u-.njxxhq5i"},
		{"John Smith", "u-.jjxwq3raknwws5di"},
		{"John_Smith", "u-.jjxwq3s7knwws5di"},
		{"john_smith", "u-john_smith"},
		{"alice", "u-alice"},
		{"Alice", "u-.ifwgsy3f"},
		{"a.b", "u-.mexge"},
	} {
		got := RocketChatUsername("u-", tc.sub)
		if got != tc.want {
			t.Errorf("RocketChatUsername(%q) = %q, want %q", tc.sub, got, tc.want)
		}
		if !rcDefaultUsername.MatchString(got) {
			t.Errorf("%q is not a valid Rocket.Chat username under the default rule", got)
		}
		if back, ok := SubjectOf("u-", got); !ok || back != tc.sub {
			t.Errorf("SubjectOf(%q) = %q, %v; want %q", got, back, ok, tc.sub)
		}
	}
}

// FuzzRocketChatUsernameInjective: two different subjects never get usernames that
// Rocket.Chat would consider the same (it compares usernames ignoring case), and every
// username is valid under Rocket.Chat's default rule.
func FuzzRocketChatUsernameInjective(f *testing.F) {
	for _, s := range [][2]string{
		{"李雷", "王芳"}, {"张伟", "张伟 "}, {"josé", "josè"}, {"John Smith", "John_Smith"},
		{"alice", "Alice"}, {"a.b", "a-b"}, {"", "."}, {"u-x", ".x"}, {"\u0130", "i"}, {"ß", "ss"},
		{"K", "\u212a"}, {"abc", "ABC"},
	} {
		f.Add(s[0], s[1], "u-")
	}
	f.Add("x", "y", "rcgw_")
	f.Fuzz(func(t *testing.T, a, b, prefix string) {
		if !ValidUsernamePrefix(prefix) {
			prefix = DefaultUsernamePrefix
		}
		ua, ub := RocketChatUsername(prefix, a), RocketChatUsername(prefix, b)
		if a != b && strings.EqualFold(ua, ub) {
			t.Fatalf("%q and %q share the username %q/%q", a, b, ua, ub)
		}
		for _, u := range []string{ua, ub} {
			if u != strings.ToLower(u) {
				t.Fatalf("%q is not lowercase", u)
			}
			if !rcDefaultUsername.MatchString(u) {
				t.Fatalf("%q is not a valid Rocket.Chat username", u)
			}
		}
		if back, ok := SubjectOf(prefix, ua); !ok || back != a {
			t.Fatalf("SubjectOf(%q) = %q, %v; want %q", ua, back, ok, a)
		}
	})
}

func TestValidateSubject(t *testing.T) {
	for _, ok := range []string{"1", "李雷", "John Smith", "auth0|5f1c", strings.Repeat("x", MaxSubjectBytes), strings.Repeat("李", 85)} {
		if err := ValidateSubject(ok); err != nil {
			t.Errorf("ValidateSubject(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", MaxSubjectBytes+1), strings.Repeat("李", 86), "a\x00b", "a\nb", "a\u0085b", "\xff"} {
		if err := ValidateSubject(bad); !errors.Is(err, ErrInvalidSubject) {
			t.Errorf("ValidateSubject(%q) = %v, want ErrInvalidSubject", bad, err)
		}
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Names never select an account: users whose names fold to the same characters each get
// their own account, and a product user naming itself after another gets its own.
func TestNamesNeverShareAnAccount(t *testing.T) {
	f := newFixture(t, nil)
	ctx := testCtx(t)
	f.s.AddUser(rctest.UserSpec{Username: "alice", Password: "pw-alice-1"})
	seen := map[string]string{}
	for _, u := range []User{
		{ID: "李雷", Name: "李雷"}, {ID: "王芳", Name: "王芳"}, {ID: "张伟", Name: "张伟"},
		{ID: "josé"}, {ID: "josè"}, {ID: "John Smith"}, {ID: "John_Smith"},
		{ID: "evil-1", Username: "alice", Name: "alice"},
	} {
		cred, err := f.m.Credentials(ctx, u)
		if err != nil {
			t.Fatalf("%q: %v", u.ID, err)
		}
		if other, dup := seen[cred.UserID]; dup {
			t.Fatalf("%q and %q share Rocket.Chat account %s", u.ID, other, cred.UserID)
		}
		seen[cred.UserID] = u.ID
		if cred.UserID == f.s.UserID("alice") {
			t.Fatalf("%q got alice's account", u.ID)
		}
	}
	me, err := f.c.Me(ctx, mustCred(t, f, User{ID: "李雷"}))
	if err != nil || me.Name != "李雷" || me.Username != RocketChatUsername("u-", "李雷") {
		t.Fatalf("李雷's account: %+v, %v", me, err)
	}
}

func mustCred(t *testing.T, f *fixture, u User) rocketchat.Credentials {
	t.Helper()
	c, err := f.m.Credentials(testCtx(t), u)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An account that already has the derived username but is the agent's or an admin's is
// never minted for.
func TestProtectedAccountsAreRefused(t *testing.T) {
	f := newFixture(t, nil)
	ctx := testCtx(t)
	f.s.AddUser(rctest.UserSpec{Username: "u-root", Password: "pw-root-1", Roles: []string{"admin", "user"}})
	if _, err := f.m.Credentials(ctx, User{ID: "root"}); !errors.Is(err, ErrAccountProtected) {
		t.Fatalf("admin account: err = %v, want ErrAccountProtected", err)
	}
	if n := f.s.TokenCount("u-root"); n != 0 {
		t.Fatalf("a token was minted for the admin account (%d)", n)
	}
	admin, _ := f.s.AdminCredentials()
	if _, err := f.m.Link(ctx, "takeover", admin); !errors.Is(err, ErrAccountProtected) {
		t.Fatalf("link to the agent: err = %v, want ErrAccountProtected", err)
	}
	if _, _, err := f.m.Upsert(ctx, User{ID: "takeover"}, "u-root"); !errors.Is(err, ErrAccountProtected) {
		t.Fatalf("upsert linking an admin: err = %v, want ErrAccountProtected", err)
	}
}

// Link renames an existing account to the derived username; the link then holds on a fresh
// manager (another node, a restart) with nothing in memory.
func TestLinkBindsAnExistingAccountByRenaming(t *testing.T) {
	f := newFixture(t, nil)
	ctx := testCtx(t)
	f.s.AddUser(rctest.UserSpec{Username: "wang.fang", Password: "pw-wf-1"})
	f.s.AddUser(rctest.UserSpec{Username: "li.lei", Password: "pw-ll-1"})
	old := f.s.UserID("wang.fang")
	id, err := f.m.Link(ctx, "王芳", "wang.fang")
	if err != nil || id != old {
		t.Fatalf("Link = %q, %v; want %q", id, err, old)
	}
	if f.s.UserID(RocketChatUsername("u-", "王芳")) != old {
		t.Fatal("the linked account was not renamed to the derived username")
	}
	m2, err := NewManager(Options{Client: f.c, Agent: f.m.o.Agent, Pusher: newRecorder(), RealtimeURL: f.s.WebSocketURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Shutdown(context.Background())
	cred, err := m2.Credentials(ctx, User{ID: "王芳"})
	if err != nil || cred.UserID != old {
		t.Fatalf("after link, a fresh manager mints for %q (%v), want %q", cred.UserID, err, old)
	}
	// 王芳 now has an account: linking another one is a conflict, and an unknown one 404s.
	if _, err := f.m.Link(ctx, "王芳", "li.lei"); !errors.Is(err, ErrLinkConflict) {
		t.Fatalf("second link: err = %v, want ErrLinkConflict", err)
	}
	if _, err := f.m.Link(ctx, "张伟", "nobody"); !errors.Is(err, ErrNoSuchAccount) {
		t.Fatalf("unknown account: err = %v, want ErrNoSuchAccount", err)
	}
}

// Delete tombstones the user: a token issued before the deletion cannot provision the
// account again, on this manager or on another sharing the tombstones; Upsert lifts it and
// a token issued after the deletion works.
func TestDeleteRevokesTokensIssuedBefore(t *testing.T) {
	tombs := NewMemoryTombstones()
	f := newFixture(t, func(o *Options) { o.Tombstones = tombs })
	ctx := testCtx(t)
	iat := time.Now().Add(-time.Minute).Truncate(time.Second)
	u := User{ID: "李雷", Name: "李雷", IssuedAt: iat}
	cred := mustCred(t, f, u)
	if err := f.m.Delete(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if f.s.UserID(RocketChatUsername("u-", u.ID)) != "" {
		t.Fatal("the account still exists")
	}
	if _, err := f.c.Me(ctx, cred); !errors.Is(err, rocketchat.ErrUnauthorized) {
		t.Fatalf("the deleted user's token still works: %v", err)
	}
	if _, err := f.m.Credentials(ctx, u); !errors.Is(err, ErrRevoked) {
		t.Fatalf("old token after delete: err = %v, want ErrRevoked", err)
	}
	m2, err := NewManager(Options{Client: f.c, Agent: f.m.o.Agent, Pusher: newRecorder(), RealtimeURL: f.s.WebSocketURL(), Tombstones: tombs})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Shutdown(context.Background())
	if _, err := m2.Credentials(ctx, u); !errors.Is(err, ErrRevoked) {
		t.Fatalf("old token on another node: err = %v, want ErrRevoked", err)
	}
	if f.s.UserID(RocketChatUsername("u-", u.ID)) != "" {
		t.Fatal("the old token re-provisioned the account")
	}
	fresh := u
	fresh.IssuedAt = time.Now().Add(2 * time.Second)
	if _, err := f.m.Credentials(ctx, fresh); err != nil {
		t.Fatalf("a token issued after the deletion: %v", err)
	}
	if err := f.m.Delete(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.m.Upsert(ctx, User{ID: u.ID, Name: "李雷"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Credentials(ctx, u); err != nil {
		t.Fatalf("after PUT lifted the tombstone: %v", err)
	}
	if err := f.m.Delete(ctx, "nobody"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("delete of an unknown user: err = %v, want ErrUnknownUser", err)
	}
}

func TestDeactivateRevokesAndActivateRestores(t *testing.T) {
	f := newFixture(t, nil)
	ctx := testCtx(t)
	u := User{ID: "42", Name: "张伟"}
	cred := mustCred(t, f, u)
	if err := f.m.SetActive(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Me(ctx, cred); !errors.Is(err, rocketchat.ErrUnauthorized) {
		t.Fatalf("the deactivated user's token still works: %v", err)
	}
	if _, err := f.m.Credentials(ctx, u); !errors.Is(err, ErrAccountDeactivated) {
		t.Fatalf("mint for a deactivated user: err = %v, want ErrAccountDeactivated", err)
	}
	f.rec.mu.Lock()
	kicked := len(f.rec.kicks) == 1 && f.rec.kicks[0].user == "42" && !f.rec.kicks[0].reconnect
	f.rec.mu.Unlock()
	if !kicked {
		t.Fatal("deactivation did not close the user's connections for good")
	}
	if err := f.m.SetActive(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Credentials(ctx, u); err != nil {
		t.Fatalf("after activate: %v", err)
	}
	if err := f.m.SetActive(ctx, "nobody", false); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown user: err = %v, want ErrUnknownUser", err)
	}
}

// Refresh replaces a token Rocket.Chat no longer accepts with one fresh mint.
func TestRefreshReplacesARevokedToken(t *testing.T) {
	f := newFixture(t, nil)
	ctx := testCtx(t)
	u := User{ID: "7"}
	stale := mustCred(t, f, u)
	f.s.RevokeTokens(RocketChatUsername("u-", "7"))
	fresh, err := f.m.Refresh(ctx, u, stale)
	if err != nil || fresh.Token == stale.Token {
		t.Fatalf("Refresh = %v, same token %v", err, fresh.Token == stale.Token)
	}
	if _, err := f.c.Me(ctx, fresh); err != nil {
		t.Fatalf("the fresh token does not work: %v", err)
	}
	// A second caller holding the same stale token reuses the fresh one.
	again, err := f.m.Refresh(ctx, u, stale)
	if err != nil || again != fresh || f.m.Stats().TokenMints != 2 {
		t.Fatalf("second Refresh = %v, mints %d", err, f.m.Stats().TokenMints)
	}
}

// TestEmailClaimNeverBecomesTheAccountEmail: Rocket.Chat keeps e-mails unique
// (checkEmailAvailability in validateUserData; rctest refuses a taken address the same way).
// A user whose token claims another person's address must not take it: the product backend
// can still create that person's account with it afterwards.
func TestEmailClaimNeverBecomesTheAccountEmail(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.m.Credentials(ctx, User{ID: "mallory", Email: "victim@corp.example"}); err != nil {
		t.Fatal(err)
	}
	if _, created, err := f.m.Upsert(ctx, User{ID: "victim", Email: "victim@corp.example"}, ""); err != nil || !created {
		t.Fatalf("the backend could not create the victim's account with its own address: created %v, %v", created, err)
	}
}
