package gateway_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/internal/gatewaytest"
	"github.com/rcgateway/rcgateway/push/pushtest"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
	"github.com/rcgateway/rcgateway/session"
)

// claims makes a token for the subject sub with the given display claims.
func claims(sub, username, name string) func(jwt.MapClaims) {
	return func(c jwt.MapClaims) {
		c["sub"], c["preferred_username"] = sub, username
		if name != "" {
			c["name"] = name
		} else {
			delete(c, "name")
		}
	}
}

func (e *env) me(tok string) (int, map[string]string) {
	e.t.Helper()
	var me map[string]string
	st := e.call("GET", "/api/im/me", tok, nil, &me)
	return st, me
}

// A token's names never pick an account: sub evil-1 calling itself alice, or the agent,
// gets an account of its own.
func TestImpersonationByClaimGetsItsOwnAccount(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	e.rc.AddUser(rctest.UserSpec{Username: "alice", Name: "Alice"}) // a pre-existing account
	agent, _ := e.rc.AdminCredentials()
	for _, tc := range []struct{ name, username string }{
		{"alice", "alice"}, {"the agent", agent}, {"the agent by display name", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mod := claims("evil-"+tc.name, tc.username, "")
			if tc.username == "" {
				mod = claims("evil-display", "", agent)
			}
			st, me := e.me(token(t, "x", mod, nil, nil))
			if st != 200 {
				t.Fatalf("me: %d %v", st, me)
			}
			for _, victim := range []string{"alice", agent} {
				if me["rcUserId"] == e.rc.UserID(victim) {
					t.Fatalf("a token claiming %q got %s's account", tc.username, victim)
				}
			}
		})
	}
	if n := e.rc.TokenCount(agent); n > 1 {
		t.Fatalf("tokens were minted for the agent's account (%d)", n)
	}
}

// Names that Rocket.Chat's username rule would fold together (CJK, accents, spaces, case)
// belong to different product users: each gets its own account, with its name shown.
func TestCJKAccentsAndSpacesNeverMerge(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	seen := map[string]string{}
	for i, who := range []string{"李雷", "王芳", "张伟", "josé", "josè", "John Smith", "John_Smith"} {
		// The same names as subjects, and as display names of numeric subjects.
		for _, sub := range []string{who, "id-" + string(rune('a'+i))} {
			st, me := e.me(token(t, "x", claims(sub, who, who), nil, nil))
			if st != 200 || me["rcUserId"] == "" {
				t.Fatalf("%q: %d %v", sub, st, me)
			}
			if other, dup := seen[me["rcUserId"]]; dup {
				t.Fatalf("%q and %q share a Rocket.Chat account", sub, other)
			}
			seen[me["rcUserId"]] = sub
			if me["name"] != who {
				t.Errorf("%q: display name %q, want %q", sub, me["name"], who)
			}
		}
	}
}

// The admin API binds a product user to an existing account only through link, never the
// agent's or an admin's, and never through username; DELETE removes only the user's own.
func TestAdminBindingIsExplicit(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	e.rc.AddUser(rctest.UserSpec{Username: "alice", Name: "Alice"})
	e.rc.AddUser(rctest.UserSpec{Username: "boss", Name: "Boss", Roles: []string{"admin", "user"}})
	aliceID := e.rc.UserID("alice")
	agent, _ := e.rc.AdminCredentials()
	key := []string{"X-API-Key", apiKey}

	var up map[string]any
	if st := e.call("PUT", "/api/admin/users/mallory", "", map[string]string{"username": "alice"}, &up, key...); st != 200 || up["rcUserId"] == aliceID {
		t.Fatalf("PUT with username alice bound alice's account: %d %v", st, up)
	}
	if st := e.call("DELETE", "/api/admin/users/mallory", "", nil, nil, key...); st != 204 || e.rc.UserID("alice") != aliceID {
		t.Fatalf("DELETE of mallory: %d; alice exists: %v", st, e.rc.UserID("alice") == aliceID)
	}
	for _, target := range []string{agent, "boss"} {
		var body map[string]string
		if st := e.call("PUT", "/api/admin/users/grab", "", map[string]string{"link": target}, &body, key...); st != 403 || body["error"] != "account_protected" {
			t.Fatalf("link to %s: %d %v", target, st, body)
		}
	}
	if st := e.call("PUT", "/api/admin/users/alice-1", "", map[string]string{"link": "nobody"}, nil, key...); st != 404 {
		t.Fatalf("link to an unknown account: %d", st)
	}
	// The explicit link: alice's account becomes product user alice-1's, by its new name.
	if st := e.call("PUT", "/api/admin/users/alice-1", "", map[string]string{"link": "alice", "name": "Alice"}, &up, key...); st != 200 || up["rcUserId"] != aliceID || up["username"] != "u-alice-1" {
		t.Fatalf("link alice: %d %v", st, up)
	}
	if st, me := e.me(token(t, "x", claims("alice-1", "alice", ""), nil, nil)); st != 200 || me["rcUserId"] != aliceID {
		t.Fatalf("after link, alice-1 gets %v (%d), want %s", me, st, aliceID)
	}
	if st := e.call("PUT", "/api/admin/users/alice-1", "", map[string]string{"link": "boss"}, nil, key...); st != 403 {
		t.Fatalf("relink to an admin: %d", st)
	}
}

// Deleting a user closes its connections, and its still-valid JWT can neither reconnect nor
// provision the account again; PUT lifts the tombstone. Admin ids are percent-encoded.
func TestDeleteRevokesTheSameJWT(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	sub := "李雷/1"
	iat := func(c jwt.MapClaims) {
		claims(sub, "lilei", "李雷")(c)
		c["iat"] = time.Now().Add(-time.Minute).Unix()
	}
	tok := token(t, "x", iat, nil, nil)
	if st, _ := e.me(tok); st != 200 {
		t.Fatalf("me: %d", st)
	}
	c := e.dial(tok).(*pushConn)
	path := "/api/admin/users/" + url.PathEscape(sub)
	if st := e.call("DELETE", path, "", nil, nil, "X-API-Key", apiKey); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if closed := waitClosed(t, c); closed.AllowReconnect {
		t.Fatalf("delete: Close %+v, want allowReconnect false", closed)
	}
	rcName := session.RocketChatUsername(session.DefaultUsernamePrefix, sub)
	var body map[string]string
	if st := e.call("GET", "/api/im/me", tok, nil, &body); st != 401 || body["error"] != "token_revoked" {
		t.Fatalf("the deleted user's JWT: %d %v", st, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pushtest.Dial(ctx, e.base+"/signalr", tok, 16); err == nil {
		t.Fatal("the deleted user's JWT reconnected to the hub")
	}
	if e.rc.UserID(rcName) != "" {
		t.Fatal("the deleted user's JWT provisioned the account again")
	}
	if st := e.call("DELETE", path, "", nil, nil, "X-API-Key", apiKey); st != 404 {
		t.Fatalf("second delete: %d, want 404", st)
	}
	if st := e.call("PUT", path, "", map[string]string{"name": "李雷"}, nil, "X-API-Key", apiKey); st != 200 {
		t.Fatalf("PUT: %d", st)
	}
	if st, _ := e.me(tok); st != 200 {
		t.Fatalf("after PUT the JWT is refused: %d", st)
	}
}

// Admin operations need nothing in the node's memory: a node that never saw the user (a
// restart) kicks, pushes to and deletes it, and answers 404 for a user with no account.
func TestAdminOperationsAfterRestart(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	tok := token(t, "x", claims("张伟", "zw", "张伟"), nil, nil)
	if st, _ := e.me(tok); st != 200 {
		t.Fatalf("me: %d", st)
	}
	e.stop()
	n := gatewaytest.Start(t, e.cfg)
	e2 := &env{t: t, rc: e.rc, base: n.Base, cfg: e.cfg, stop: n.Stop}
	enc := "/api/admin/users/" + url.PathEscape("张伟")
	key := []string{"X-API-Key", apiKey}
	for _, unknown := range []string{"/api/admin/users/nobody", "/api/admin/users/" + url.PathEscape("王芳")} {
		if st := e2.call("POST", unknown+"/push", "", map[string]any{"target": "x"}, nil, key...); st != 404 {
			t.Errorf("push to %s: %d, want 404", unknown, st)
		}
		if st := e2.call("POST", unknown+"/kick", "", nil, nil, key...); st != 404 {
			t.Errorf("kick %s: %d, want 404", unknown, st)
		}
		if st := e2.call("DELETE", unknown, "", nil, nil, key...); st != 404 {
			t.Errorf("delete %s: %d, want 404", unknown, st)
		}
	}
	if st := e2.call("POST", enc+"/push", "", map[string]any{"target": "x"}, nil, key...); st != 202 {
		t.Errorf("push after restart: %d", st)
	}
	if st := e2.call("POST", enc+"/kick", "", nil, nil, key...); st != 204 {
		t.Errorf("kick after restart: %d", st)
	}
	if st := e2.call("DELETE", enc, "", nil, nil, key...); st != 204 {
		t.Fatalf("delete after restart: %d", st)
	}
	if e.rc.UserID(session.RocketChatUsername(session.DefaultUsernamePrefix, "张伟")) != "" {
		t.Fatal("the account survived the delete")
	}
}

// Deactivation closes the user's connections and refuses its tokens; activation restores.
func TestDeactivateAndActivate(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	tok := token(t, "x", claims("wf", "wangfang", "王芳"), nil, nil)
	if st, _ := e.me(tok); st != 200 {
		t.Fatalf("me: %d", st)
	}
	c := e.dial(tok).(*pushConn)
	if st := e.call("POST", "/api/admin/users/wf/deactivate", "", nil, nil, "X-API-Key", apiKey); st != 204 {
		t.Fatalf("deactivate: %d", st)
	}
	if closed := waitClosed(t, c); closed.AllowReconnect {
		t.Fatalf("deactivate: Close %+v", closed)
	}
	var body map[string]string
	if st := e.call("GET", "/api/im/me", tok, nil, &body); st != 403 || body["error"] != "account_deactivated" {
		t.Fatalf("deactivated user's REST: %d %v", st, body)
	}
	if st := e.call("POST", "/api/admin/users/wf/activate", "", nil, nil, "X-API-Key", apiKey); st != 204 {
		t.Fatalf("activate: %d", st)
	}
	if st, _ := e.me(tok); st != 200 {
		t.Fatalf("after activate: %d", st)
	}
}

// A token Rocket.Chat has revoked is replaced at once: the next call mints once and
// succeeds, through the facade and the passthrough.
func TestRevokedTokenIsReplacedOnce(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	tok := token(t, "alice", nil, nil, nil)
	if st, _ := e.me(tok); st != 200 {
		t.Fatal("me")
	}
	for _, path := range []string{"/api/im/rooms", "/api/v1/subscriptions.get"} {
		e.rc.RevokeTokens(rcName("alice"))
		if st := e.call("GET", path, tok, nil, nil); st != 200 {
			t.Fatalf("%s after revocation: %d, want 200", path, st)
		}
		if n := e.rc.TokenCount(rcName("alice")); n != 1 {
			t.Fatalf("%s: %d tokens after the retry, want 1", path, n)
		}
	}
}

// Subjects the gateway cannot hold are refused with a clear 401.
func TestInvalidSubjectIs401(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	long := make([]byte, session.MaxSubjectBytes+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, sub := range []string{string(long), "a\x00b", "line\nbreak"} {
		var body map[string]string
		if st := e.call("GET", "/api/im/me", token(t, "x", claims(sub, "x", ""), nil, nil), nil, &body); st != 401 || body["error"] != "invalid_subject" {
			t.Errorf("sub %q: %d %v", sub, st, body)
		}
	}
}

// A hub connection ends when its JWT expires, with allowReconnect so that the client comes
// back with a fresh token (REST already answers 401 then).
func TestHubConnectionEndsWhenItsJWTExpires(t *testing.T) {
	e := start(t, func(c *config.Config) { c.Auth.JWT.Leeway = 0 }, rctest.Options{})
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
	c := e.dial(token(t, "alice", func(c jwt.MapClaims) { c["exp"] = exp.Unix() }, nil, nil)).(*pushConn)
	closed := waitClosed(t, c)
	if time.Now().Before(exp) {
		t.Fatal("closed before the JWT expired")
	}
	if !closed.AllowReconnect {
		t.Fatalf("Close %+v, want allowReconnect true", closed)
	}
}

// A product frontend opens a DM by the other product user's id: the gateway names the
// derived account, so 李雷 reaches 王芳 without knowing any Rocket.Chat username.
func TestDMByProductUserID(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	lilei, wangfang := token(t, "x", claims("李雷", "lilei", "李雷"), nil, nil), token(t, "x", claims("王芳", "wangfang", "王芳"), nil, nil)
	_, me := e.me(wangfang) // provisions 王芳
	var res struct{ Room map[string]any }
	if st := e.call("POST", "/api/im/dm", lilei, map[string]string{"userId": "王芳"}, &res); st != 200 {
		t.Fatalf("dm: %d", st)
	}
	rid, _ := res.Room["id"].(string)
	if st := e.call("POST", "/api/im/rooms/"+rid+"/messages", lilei, map[string]string{"text": "你好"}, nil); st != 201 {
		t.Fatalf("send: %d", st)
	}
	var unread map[string]int
	if st := e.call("GET", "/api/im/unread", wangfang, nil, &unread); st != 200 || unread["total"] < 1 {
		t.Fatalf("王芳 (%s) unread: %d %v", me["rcUserId"], st, unread)
	}
}
