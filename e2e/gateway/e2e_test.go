package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/internal/apitest"
	"github.com/rcgateway/rcgateway/internal/gatewaytest"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
	"github.com/rcgateway/rcgateway/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	secret = "e2e-secret-e2e-secret-e2e-secret-0123"
	apiKey = "e2e-backend-key-0123456789"
)

type env struct {
	stop func() // shuts the gateway down and waits (idempotent)
	t    *testing.T
	rc   *rctest.Server
	base string
	cfg  config.Config
}

func start(t *testing.T, mod func(*config.Config), rcOpts rctest.Options) *env {
	t.Helper()
	return startWith(t, mod, rcOpts, nil)
}

// startWith starts rctest (seeded with alice and bob) and the real gateway on a free port;
// before runs on the simulator before the gateway starts.
func startWith(t *testing.T, mod func(*config.Config), rcOpts rctest.Options, before func(*rctest.Server)) *env {
	t.Helper()
	if rcOpts.CreateTokenSecret == "" {
		rcOpts.CreateTokenSecret = "create-tokens-secret"
	}
	rc := rctest.New(rcOpts)
	t.Cleanup(rc.Close)
	rc.AddUser(rctest.UserSpec{Username: rcName("alice"), Name: "Alice"})
	rc.AddUser(rctest.UserSpec{Username: rcName("bob"), Name: "Bob"})
	if before != nil {
		before(rc)
	}
	return startGateway(t, rc, rcOpts.CreateTokenSecret, mod)
}

// startGateway starts one real gateway node against rc on a free port and waits until it
// is ready; it stops when the test ends.
func startGateway(t *testing.T, rc *rctest.Server, createTokenSecret string, mod func(*config.Config)) *env {
	t.Helper()
	cfg := gatewaytest.Config(rc, createTokenSecret)
	cfg.Auth.JWT.HS256Secret = secret
	cfg.Auth.JWT.Audience = []string{"im-gateway"}
	cfg.Auth.APIKeys = []config.Secret{apiKey}
	if mod != nil {
		mod(&cfg)
	}
	n := gatewaytest.Start(t, cfg)
	return &env{t: t, rc: rc, base: n.Base, cfg: cfg, stop: n.Stop}
}

// rcName is the Rocket.Chat username the gateway derives for the product user "p-"+user
// (the sub of token's JWTs) under the default identity.username_prefix.
func rcName(user string) string {
	return session.RocketChatUsername(session.DefaultUsernamePrefix, "p-"+user)
}

func token(t *testing.T, user string, mod func(jwt.MapClaims), key []byte, method jwt.SigningMethod) string {
	c := jwt.MapClaims{"sub": "p-" + user, "preferred_username": user, "aud": "im-gateway", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	if mod != nil {
		mod(c)
	}
	if method == nil {
		method = jwt.SigningMethodHS256
	}
	if key == nil {
		key = []byte(secret)
	}
	var k any = key
	if method == jwt.SigningMethodNone {
		k = jwt.UnsafeAllowNoneSignatureType
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) call(method, path, tok string, body any, out any, hdr ...string) int {
	e.t.Helper()
	status, _ := apitest.Do(e.t, method, e.base+path, tok, body, out, hdr...)
	return status
}

// waitFor polls cond (a state observed through the simulator's hooks) until a deadline.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

func TestJWTFailuresAre401(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	cases := map[string]string{
		"expired":        token(t, "alice", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, nil, nil),
		"wrongly signed": token(t, "alice", nil, []byte("another-key-another-key-another-key!!"), nil),
		"alg none":       token(t, "alice", nil, nil, jwt.SigningMethodNone),
		"wrong audience": token(t, "alice", func(c jwt.MapClaims) { c["aud"] = "other" }, nil, nil),
	}
	for name, tok := range cases {
		var body map[string]string
		if st := e.call("GET", "/api/im/rooms", tok, nil, &body); st != 401 || body["error"] != "unauthorized" {
			t.Errorf("%s: REST %d %v", name, st, body)
		}
	}
	if st := e.call("PUT", "/api/admin/users/x1", "", map[string]string{"username": "x1"}, nil); st != 401 {
		t.Errorf("missing API key: %d", st)
	}
	var up map[string]any
	if st := e.call("PUT", "/api/admin/users/x1", "", map[string]string{"username": "xavier", "name": "X"}, &up, "X-API-Key", apiKey); st != 200 || up["rcUserId"] != e.rc.UserID(session.RocketChatUsername(session.DefaultUsernamePrefix, "x1")) {
		t.Errorf("upsert with API key: %d %v", st, up)
	}
	alice := token(t, "alice", nil, nil, nil)
	for _, p := range []string{"users.create", "users.createToken", "users.delete", "users.update", "users.generatePersonalAccessToken"} {
		if st := e.call("POST", "/api/v1/"+p, alice, map[string]string{"username": "alice"}, nil); st != 403 {
			t.Errorf("passthrough %s for a normal user: %d, want 403", p, st)
		}
	}
	if st := e.call("GET", "/api/v1/users.list", alice, nil, nil); st != 403 {
		t.Errorf("passthrough users.list: %d", st)
	}
	var rooms map[string]any
	if st := e.call("GET", "/api/v1/rooms.get", alice, nil, &rooms); st != 200 {
		t.Errorf("passthrough rooms.get: %d", st)
	}
}

// TestHubRejectsBadJWT: the hub uses the same validation, with the token from Bearer or
// from access_token (browsers' WebSockets).
func TestHubRejectsBadJWT(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	cases := map[string]string{
		"expired":        token(t, "alice", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, nil, nil),
		"wrongly signed": token(t, "alice", nil, []byte("another-key-another-key-another-key!!"), nil),
		"alg none":       token(t, "alice", nil, nil, jwt.SigningMethodNone),
		"wrong audience": token(t, "alice", func(c jwt.MapClaims) { c["aud"] = "other" }, nil, nil),
	}
	for name, tok := range cases {
		if st := e.call("POST", "/signalr/negotiate?negotiateVersion=1", tok, nil, nil); st != 401 {
			t.Errorf("%s: negotiate %d, want 401", name, st)
		}
		if st := e.call("POST", "/signalr/negotiate?negotiateVersion=1&access_token="+tok, "", nil, nil); st != 401 {
			t.Errorf("%s: negotiate (access_token) %d, want 401", name, st)
		}
	}
}

// TestLoginRateLimitIsWaitedOut: Rocket.Chat answers the agent's first login with 429 and
// X-RateLimit-Reset; the gateway waits and becomes ready without operator action.
func TestLoginRateLimitIsWaitedOut(t *testing.T) {
	rc := rctest.Options{}
	e := startWith(t, nil, rc, func(s *rctest.Server) { s.FailNext("login", http.StatusTooManyRequests, 1) })
	var statuses []int
	for _, r := range e.rc.Requests() {
		if strings.HasSuffix(r.Path, "/login") {
			statuses = append(statuses, r.Status)
		}
	}
	if len(statuses) < 2 || statuses[0] != 429 || statuses[len(statuses)-1] != 200 {
		t.Fatalf("login statuses = %v, want 429 then 200", statuses)
	}
}

// TestRESTWithRealSessions: a product user unknown to Rocket.Chat is provisioned on first
// use; REST calls run with the user's own token and start no upstream.
func TestRESTWithRealSessions(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	carol := token(t, "carol", func(c jwt.MapClaims) { c["name"] = "Carol C" }, nil, nil)
	var me map[string]string
	if st := e.call("GET", "/api/im/me", carol, nil, &me); st != 200 || me["username"] != rcName("carol") || me["userId"] != "p-carol" || me["rcUserId"] == "" {
		t.Fatalf("me (provisioned): %d %v", st, me)
	}
	if e.rc.UserID(rcName("carol")) != me["rcUserId"] {
		t.Fatalf("carol not provisioned in Rocket.Chat: %q", e.rc.UserID(rcName("carol")))
	}
	alice, bob := token(t, "alice", nil, nil, nil), token(t, "bob", nil, nil, nil)
	var sent struct{ Message map[string]any }
	// In a channel only a mention raises unread (Unread_Count's default, notifyUsersOnMessage.ts).
	if st := e.call("POST", "/api/im/rooms/GENERAL/messages", alice, map[string]string{"id": "m1", "text": "hi @" + rcName("bob")}, &sent); st != 201 {
		t.Fatalf("send: %d", st)
	}
	u, _ := sent.Message["u"].(map[string]any)
	if u["username"] != rcName("alice") {
		t.Fatalf("message sent as %v, want alice (the caller's own token)", u)
	}
	var unread map[string]int
	if st := e.call("GET", "/api/im/unread", bob, nil, &unread); st != 200 || unread["total"] < 1 {
		t.Fatalf("bob's unread: %d %v", st, unread)
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		if n := e.rc.DDPConnections(e.rc.UserID(rcName(name))); n != 0 {
			t.Errorf("%s has %d upstream connections without any browser connection", name, n)
		}
	}
}
