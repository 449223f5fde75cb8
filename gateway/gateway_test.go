package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/internal/apitest"
	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
	"github.com/rcgateway/rcgateway/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeHub records what the gateway asks of the push hub.
type fakeHub struct {
	mu     sync.Mutex
	sent   []string
	kicked []string
	auth   func(*http.Request) (string, time.Time, error)
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	uid, _, err := h.auth(r)
	if err != nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	_, _ = io.WriteString(w, "hub:"+uid)
}
func (h *fakeHub) SendToUser(_ context.Context, uid, target string, arg any) error {
	b, _ := json.Marshal(arg)
	h.mu.Lock()
	h.sent = append(h.sent, uid+" "+target+" "+string(b))
	h.mu.Unlock()
	return nil
}

// SendToUserOnce records like SendToUser: the fake holds nothing back.
func (h *fakeHub) SendToUserOnce(ctx context.Context, uid, _, target string, arg any) error {
	return h.SendToUser(ctx, uid, target, arg)
}

func (h *fakeHub) Kick(_ context.Context, uid, reason string, allow bool) error {
	h.mu.Lock()
	h.kicked = append(h.kicked, uid)
	h.mu.Unlock()
	return nil
}
func (h *fakeHub) Shutdown(context.Context) error { return nil }

// fakeSessions hands out rctest login tokens by product username (= Rocket.Chat username).
// Its admin operations answer as session.Manager does through sessionAdapter: Delete of a
// user it never upserted is ErrUnknownUser (404), and a deleted user is kicked and its
// tokens issued until the deletion are refused (ErrRevoked, 401).
type fakeSessions struct {
	rc   *rctest.Server
	kick func(ctx context.Context, userID, reason string, allowReconnect bool) error
	mu   sync.Mutex
	cr   map[string]rocketchat.Credentials
	// users maps upserted product user ids to their Rocket.Chat usernames; tombs holds
	// when deleted ones were deleted.
	users map[string]string
	tombs map[string]time.Time
	// refreshes counts Refresh calls: a new token minted because Rocket.Chat refused one.
	refreshes atomic.Int64
	admits    atomic.Int64 // Admit calls (a tombstone read each, in a cluster)
}

func (f *fakeSessions) Admit(_ context.Context, id Identity) error {
	f.admits.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if at, ok := f.tombs[id.UserID]; ok && !id.IssuedAt.After(at) {
		return sessionError(fmt.Errorf("fake sessions: %s: %w", id.UserID, session.ErrRevoked))
	}
	return nil
}
func (f *fakeSessions) Credentials(_ context.Context, id Identity) (rocketchat.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.cr[id.Username]; ok {
		return c, nil
	}
	uid, tok := f.rc.LoginToken(id.Username)
	f.cr[id.Username] = rocketchat.Credentials{UserID: uid, Token: tok}
	return f.cr[id.Username], nil
}
func (f *fakeSessions) Refresh(ctx context.Context, id Identity, _ rocketchat.Credentials) (rocketchat.Credentials, error) {
	f.refreshes.Add(1)
	f.mu.Lock()
	delete(f.cr, id.Username)
	f.mu.Unlock()
	return f.Credentials(ctx, id)
}
func (f *fakeSessions) Upsert(_ context.Context, u UserSpec) (string, string, bool, error) {
	f.mu.Lock()
	if f.users == nil {
		f.users = map[string]string{}
	}
	f.users[u.UserID] = u.Username
	delete(f.tombs, u.UserID)
	f.mu.Unlock()
	if id := f.rc.UserID(u.Username); id != "" {
		return id, u.Username, false, nil
	}
	return f.rc.AddUser(rctest.UserSpec{Username: u.Username, Name: u.Name}), u.Username, true, nil
}

// Delete forgets the user, buries it and kicks its connections for good, as
// session.Manager.Delete does; a user it does not know is ErrUnknownUser.
func (f *fakeSessions) Delete(ctx context.Context, id string) error {
	f.mu.Lock()
	name, ok := f.users[id]
	if ok {
		delete(f.users, id)
		delete(f.cr, name)
		if f.tombs == nil {
			f.tombs = map[string]time.Time{}
		}
		f.tombs[id] = time.Now()
	}
	f.mu.Unlock()
	if !ok {
		return sessionError(fmt.Errorf("fake sessions: delete %s: %w", id, session.ErrUnknownUser))
	}
	if f.kick != nil {
		return f.kick(ctx, id, "Your chat account was removed.", false)
	}
	return nil
}
func (f *fakeSessions) SetActive(context.Context, string, bool) error { return nil }
func (f *fakeSessions) Known(context.Context, string) (bool, error)   { return true, nil }
func (f *fakeSessions) Ready(context.Context) error                   { return nil }
func (f *fakeSessions) Shutdown(context.Context) error                { return nil }

type fixture struct {
	t    *testing.T
	rc   *rctest.Server
	srv  *Server
	http *httptest.Server
	hub  *fakeHub
	logs *bytes.Buffer
	cfg  config.Config
}

const testAPIKey = "backend-key-0123456789"

func newFixture(t *testing.T, mod func(*config.Config)) *fixture {
	t.Helper()
	rc := rctest.New(rctest.Options{})
	t.Cleanup(rc.Close)
	rc.AddUser(rctest.UserSpec{Username: "alice", Name: "Alice"})
	rc.AddUser(rctest.UserSpec{Username: "bob", Name: "Bob"})
	return newFixtureWith(t, rc, mod)
}

// baseConfig is the default config pointed at the simulator rc, with its admin and the
// tests' HS256 secret.
func baseConfig(rc *rctest.Server) config.Config {
	cfg := config.Default()
	cfg.RocketChat.URL = rc.URL()
	cfg.RocketChat.Admin.Username, cfg.RocketChat.Admin.Password = "admin", "admin-pass"
	cfg.Auth.JWT.HS256Secret = config.Secret(testSecret)
	return cfg
}

// productConfig is baseConfig with the audience and issuer the tests' product tokens carry
// and the tests' API key.
func productConfig(rc *rctest.Server) config.Config {
	cfg := baseConfig(rc)
	cfg.Auth.JWT.Audience = []string{"im-gateway"}
	cfg.Auth.JWT.Issuer = "product"
	cfg.Auth.APIKeys = []config.Secret{testAPIKey}
	return cfg
}

// newFixtureWith is newFixture on a simulator the test configured.
func newFixtureWith(t *testing.T, rc *rctest.Server, mod func(*config.Config)) *fixture {
	t.Helper()
	cfg := productConfig(rc)
	cfg.HTTP.UploadLimit = 64 << 10
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	hub := &fakeHub{}
	srv, err := New(Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Hub: hub, Sessions: &fakeSessions{rc: rc, kick: hub.Kick, cr: map[string]rocketchat.Credentials{}}, Demo: &Demo{Users: []DemoUser{{UserID: "1", Username: "alice", Name: "Alice"}}}})
	if err != nil {
		t.Fatal(err)
	}
	hub.auth = srv.authenticate
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &fixture{t: t, rc: rc, srv: srv, http: hs, hub: hub, logs: logs, cfg: cfg}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) token(username string) string {
	c := baseClaims()
	c["sub"] = "p-" + username
	c["preferred_username"] = username
	return signHS(f.t, c, testSecret)
}

// do sends a request and decodes a JSON answer into out (if non-nil); it returns the status.
// Every error answer must be the facade's {error, message}.
func (f *fixture) do(method, path, token string, body any, out any, hdr ...string) int {
	f.t.Helper()
	status, b := apitest.Do(f.t, method, f.http.URL+path, token, body, out, hdr...)
	if status >= 400 {
		var e map[string]string
		if err := json.Unmarshal(b, &e); err != nil || e["error"] == "" || e["message"] == "" {
			f.t.Errorf("%s %s: %d body is not {error,message}: %s", method, path, status, b)
		}
	}
	return status
}

func TestJWTRejectedWith401(t *testing.T) {
	f := newFixture(t, nil)
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, baseClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	cases := map[string]string{
		"missing":        "",
		"expired":        signHS(t, with(baseClaims(), "exp", time.Now().Add(-time.Hour).Unix()), testSecret),
		"wrongly signed": signHS(t, baseClaims(), []byte("not-the-secret-not-the-secret-not-the")),
		"alg none":       noneTok,
		"wrong audience": signHS(t, with(baseClaims(), "aud", "other"), testSecret),
	}
	for name, tok := range cases {
		var e map[string]string
		if st := f.do("GET", "/api/im/me", tok, nil, &e); st != http.StatusUnauthorized || e["error"] != "unauthorized" {
			t.Errorf("%s: /api/im/me = %d %v", name, st, e)
		}
		if st := f.do("GET", "/api/v1/rooms.get", tok, nil, nil); st != http.StatusUnauthorized {
			t.Errorf("%s: passthrough = %d", name, st)
		}
		req, _ := http.NewRequest("POST", f.http.URL+"/signalr/negotiate?negotiateVersion=1&access_token="+tok, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: hub = %d", name, resp.StatusCode)
		}
	}
	// A good token on the hub, from the query string as browsers send it.
	resp, err := http.Post(f.http.URL+"/signalr/negotiate?access_token="+f.token("alice"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hub:p-alice" {
		t.Fatalf("hub with good token: %d %s", resp.StatusCode, b)
	}
	// access_token never reaches the log.
	if strings.Contains(f.logs.String(), f.token("alice")[:40]) || !strings.Contains(f.logs.String(), "access_token=REDACTED") {
		t.Fatalf("access log leaks or lacks redaction:\n%s", f.logs.String())
	}
}

func TestAPIKeyRequired(t *testing.T) {
	f := newFixture(t, nil)
	body := map[string]string{"username": "carol", "name": "Carol"}
	if st := f.do("PUT", "/api/admin/users/c1", "", body, nil); st != http.StatusUnauthorized {
		t.Fatalf("no key: %d", st)
	}
	if st := f.do("PUT", "/api/admin/users/c1", "", body, nil, "X-API-Key", "wrong-key-0123456789"); st != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d", st)
	}
	// A product JWT is not an API key.
	if st := f.do("PUT", "/api/admin/users/c1", f.token("alice"), body, nil); st != http.StatusUnauthorized {
		t.Fatalf("jwt instead of key: %d", st)
	}
	var res map[string]any
	if st := f.do("PUT", "/api/admin/users/c1", "", body, &res, "X-API-Key", testAPIKey); st != 200 || res["created"] != true || res["rcUserId"] == "" {
		t.Fatalf("upsert: %d %v", st, res)
	}
	if st := f.do("POST", "/api/admin/users/c1/push", "", map[string]any{"target": "orderShipped", "payload": map[string]int{"n": 1}}, nil, "X-API-Key", testAPIKey); st != http.StatusAccepted {
		t.Fatalf("push: %d", st)
	}
	if st := f.do("POST", "/api/admin/users/c1/push", "", map[string]any{"target": "bad target!"}, nil, "X-API-Key", testAPIKey); st != http.StatusBadRequest {
		t.Fatalf("bad target: %d", st)
	}
	if st := f.do("POST", "/api/admin/users/c1/kick", "", map[string]any{"reason": "bye"}, nil, "X-API-Key", testAPIKey); st != http.StatusNoContent {
		t.Fatalf("kick: %d", st)
	}
	if st := f.do("DELETE", "/api/admin/users/c1", "", nil, nil, "X-API-Key", testAPIKey); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	f.hub.mu.Lock()
	defer f.hub.mu.Unlock()
	// One kick by the admin call, one by the deletion's revocation.
	if len(f.hub.sent) != 1 || f.hub.sent[0] != `c1 orderShipped {"n":1}` || len(f.hub.kicked) != 2 || f.hub.kicked[1] != "c1" {
		t.Fatalf("hub saw sent=%v kicked=%v", f.hub.sent, f.hub.kicked)
	}
}

// TestAdminDeleteRevokes: deleting a user answers 204 once, then 404 user_not_found (as for a
// user never created); the user's connections are kicked and a token issued before the
// deletion is refused with 401 token_revoked.
func TestAdminDeleteRevokes(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token("carol")
	if st := f.do("PUT", "/api/admin/users/p-carol", "", map[string]string{"username": "carol", "name": "Carol"}, nil, "X-API-Key", testAPIKey); st != 200 {
		t.Fatalf("upsert: %d", st)
	}
	if st := f.do("GET", "/api/im/me", tok, nil, nil); st != 200 {
		t.Fatalf("me before the deletion: %d", st)
	}
	if st := f.do("DELETE", "/api/admin/users/p-carol", "", nil, nil, "X-API-Key", testAPIKey); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	f.hub.mu.Lock()
	kicked := slices.Clone(f.hub.kicked)
	f.hub.mu.Unlock()
	if !slices.Equal(kicked, []string{"p-carol"}) {
		t.Fatalf("kicked %v, want the deleted user", kicked)
	}
	var e map[string]string
	if st := f.do("GET", "/api/im/me", tok, nil, &e); st != http.StatusUnauthorized || e["error"] != "token_revoked" {
		t.Fatalf("me with a token from before the deletion: %d %v", st, e)
	}
	for _, id := range []string{"p-carol", "p-nobody"} {
		e = nil
		if st := f.do("DELETE", "/api/admin/users/"+id, "", nil, &e, "X-API-Key", testAPIKey); st != http.StatusNotFound || e["error"] != "user_not_found" {
			t.Fatalf("delete of %s: %d %v, want 404 user_not_found", id, st, e)
		}
	}
}

func TestPassthroughAllowlist(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token("alice")
	before := len(f.rc.Requests())
	for _, p := range []string{"/api/v1/users.create", "/api/v1/users.createToken", "/api/v1/users.delete", "/api/v1/logout", "/api/v1/login", "/api/v1/users.generatePersonalAccessToken"} {
		if st := f.do("POST", p, tok, map[string]string{"username": "x"}, nil); st != http.StatusForbidden {
			t.Errorf("POST %s = %d, want 403", p, st)
		}
	}
	for _, p := range []string{"/api/v1/users.list", "/api/v1/statistics", "/api/v1/settings", "/api/v1/../api/info"} {
		if st := f.do("GET", p, tok, nil, nil); st != http.StatusForbidden && st != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 403", p, st)
		}
	}
	// Refused paths are refused by the gateway: none of them reached Rocket.Chat.
	if reqs := f.rc.Requests(); len(reqs) != before {
		t.Fatalf("refused passthrough calls reached Rocket.Chat: %+v", reqs[before:])
	}
	var rooms struct {
		Update []map[string]any `json:"update"`
	}
	if st := f.do("GET", "/api/v1/rooms.get", tok, nil, &rooms); st != 200 || len(rooms.Update) == 0 {
		t.Fatalf("rooms.get: %d %v", st, rooms)
	}
	// An allowed one is passed through once, as alice.
	if reqs := f.rc.Requests(); len(reqs) != before+1 || reqs[before].Path != "/api/v1/rooms.get" || reqs[before].UserID != f.rc.UserID("alice") {
		t.Fatalf("rooms.get reached Rocket.Chat as %+v", reqs[before:])
	}
	var me map[string]any
	if st := f.do("GET", "/api/v1/me", tok, nil, &me); st != 200 || me["username"] != "alice" {
		t.Fatalf("me through passthrough used the wrong token: %v", me)
	}
	// Rocket.Chat's error body is mapped, not echoed.
	var e map[string]string
	if st := f.do("GET", "/api/v1/rooms.info?roomId=nope", tok, nil, &e); st < 400 || strings.Contains(e["message"], "nope") {
		t.Fatalf("mapped error: %d %v", st, e)
	}
}

func TestFacadeAgainstRctest(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Auth.FrontendAuth = true })
	alice, bob := f.token("alice"), f.token("bob")
	var me map[string]string
	if st := f.do("GET", "/api/im/me", alice, nil, &me); st != 200 || me["userId"] != "p-alice" || me["username"] != "alice" || me["rcUserId"] != f.rc.UserID("alice") {
		t.Fatalf("me: %d %v", st, me)
	}
	var rooms struct{ Rooms []room }
	if st := f.do("GET", "/api/im/rooms", alice, nil, &rooms); st != 200 || len(rooms.Rooms) == 0 {
		t.Fatalf("rooms: %d %+v", st, rooms)
	}
	general := rooms.Rooms[0].ID

	// In a channel only a mention counts as unread (Unread_Count's default,
	// notifyUsersOnMessage.ts), so alice names bob.
	var sent struct{ Message map[string]any }
	if st := f.do("POST", "/api/im/rooms/"+general+"/messages", alice, map[string]string{"id": "c-1", "text": "hello @bob"}, &sent); st != 201 || sent.Message["msg"] != "hello @bob" {
		t.Fatalf("send: %d %v", st, sent)
	}
	var again struct{ Message map[string]any }
	if st := f.do("POST", "/api/im/rooms/"+general+"/messages", alice, map[string]string{"id": "c-1", "text": "hello @bob"}, &again); st != 201 || again.Message["_id"] != sent.Message["_id"] {
		t.Fatalf("idempotent send: %d %v", st, again)
	}
	if n := len(f.rc.Messages(general)); n != 1 {
		t.Fatalf("messages stored = %d, want 1", n)
	}
	mid := sent.Message["_id"].(string)

	var unread map[string]int
	if st := f.do("GET", "/api/im/unread", bob, nil, &unread); st != 200 || unread["total"] != 1 {
		t.Fatalf("bob unread: %d %v", st, unread)
	}
	if st := f.do("POST", "/api/im/rooms/"+general+"/read", bob, nil, nil); st != 204 {
		t.Fatalf("read: %d", st)
	}
	if st := f.do("GET", "/api/im/unread", bob, nil, &unread); st != 200 || unread["total"] != 0 {
		t.Fatalf("bob unread after read: %v", unread)
	}

	var hist struct {
		Messages []map[string]any
		HasMore  bool
	}
	f.do("POST", "/api/im/rooms/"+general+"/messages", alice, map[string]string{"text": "second"}, nil)
	if st := f.do("GET", "/api/im/rooms/"+general+"/messages?count=1", bob, nil, &hist); st != 200 || len(hist.Messages) != 1 || !hist.HasMore || hist.Messages[0]["msg"] != "second" {
		t.Fatalf("history: %d %+v", st, hist)
	}
	if st := f.do("GET", "/api/im/rooms/"+general+"/messages?count=500", bob, nil, nil); st != 400 {
		t.Fatalf("count=500: %d", st)
	}

	var edited struct{ Message map[string]any }
	if st := f.do("PATCH", "/api/im/rooms/"+general+"/messages/"+mid, alice, map[string]string{"text": "hello!"}, &edited); st != 200 || edited.Message["msg"] != "hello!" {
		t.Fatalf("edit: %d %v", st, edited)
	}
	if st := f.do("PATCH", "/api/im/rooms/"+general+"/messages/"+mid, bob, map[string]string{"text": "hijack"}, nil); st != 403 && st != 400 {
		t.Fatalf("bob edits alice's message: %d", st)
	}
	if st := f.do("DELETE", "/api/im/rooms/"+general+"/messages/"+mid, alice, nil, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}

	var dm struct{ Room room }
	if st := f.do("POST", "/api/im/dm", alice, map[string]string{"username": "bob"}, &dm); st != 200 || dm.Room.Type != "d" || dm.Room.ID == "" {
		t.Fatalf("dm: %d %+v", st, dm)
	}
	var created struct{ Room room }
	if st := f.do("POST", "/api/im/rooms", alice, map[string]any{"type": "p", "name": "secret-club"}, &created); st != 201 || created.Room.Type != "p" {
		t.Fatalf("create: %d %+v", st, created)
	}
	if st := f.do("POST", "/api/im/rooms/"+created.Room.ID+"/members", alice, map[string]string{"username": "bob"}, nil); st != 204 {
		t.Fatalf("invite: %d", st)
	}
	if _, ok := f.rc.Subscription("bob", created.Room.ID); !ok {
		t.Fatal("bob not invited")
	}
	if st := f.do("DELETE", "/api/im/rooms/"+created.Room.ID+"/members/bob", alice, nil, nil); st != 204 {
		t.Fatalf("kick: %d", st)
	}
	if _, ok := f.rc.Subscription("bob", created.Room.ID); ok {
		t.Fatal("bob not kicked")
	}

	// Upload, and 413 over the limit.
	upload := func(size int) (int, map[string]any) {
		return uploadFile(t, f, alice, general, "note.txt", "application/octet-stream", bytes.Repeat([]byte("x"), size))
	}
	if st, out := upload(1000); st != 201 || out["message"] == nil {
		t.Fatalf("upload: %d %v", st, out)
	}
	if st, out := upload(100 << 10); st != 413 || out["error"] != "too_large" {
		t.Fatalf("big upload: %d %v", st, out)
	}

	var auth map[string]string
	if st := f.do("POST", "/api/im/authenticate", alice, nil, &auth); st != 200 || auth["userId"] != f.rc.UserID("alice") || auth["authToken"] == "" {
		t.Fatalf("authenticate: %d %v", st, auth)
	}
	// Oversized JSON body.
	if st := f.do("POST", "/api/im/dm", alice, []byte(`{"username":"`+strings.Repeat("a", 2<<20)+`"}`), nil); st != 413 {
		t.Fatalf("big body: %d", st)
	}
}

func TestFrontendAuthOffByDefault(t *testing.T) {
	f := newFixture(t, nil)
	if st := f.do("POST", "/api/im/authenticate", f.token("alice"), nil, nil); st != 404 {
		t.Fatalf("authenticate with frontend_auth off: %d", st)
	}
}

func TestOperationsEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	if st := f.do("GET", "/healthz", "", nil, nil); st != 200 {
		t.Fatalf("healthz %d", st)
	}
	var ready map[string]string
	if st := f.do("GET", "/readyz", "", nil, &ready); st != 200 {
		t.Fatalf("readyz %d %v", st, ready)
	}
	var v map[string]string
	if st := f.do("GET", "/version", "", nil, &v); st != 200 || v["version"] != "dev" || v["go"] == "" {
		t.Fatalf("version %d %v", st, v)
	}
	f.do("GET", "/api/im/me", f.token("alice"), nil, nil)
	resp, err := http.Get(f.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"rcgw_http_requests_total", "rcgw_rocketchat_request_duration_seconds_bucket{endpoint=\"me\"", "rcgw_build_info", "go_goroutines"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	resp, err = http.Get(f.http.URL + "/api/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("unknown api path: %d, request id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	var tok map[string]string
	if st := f.do("POST", "/api/demo/token", "", map[string]string{"username": "alice"}, &tok); st != 200 {
		t.Fatalf("demo token %d", st)
	}
	if id, err := f.srv.verifier.Verify(context.Background(), tok["token"]); err != nil || id.UserID != "1" || id.Username != "alice" {
		t.Fatalf("demo token does not verify: %+v %v", id, err)
	}
	// Rocket.Chat down → not ready.
	f.rc.Close()
	f.srv.readyMu.Lock()
	f.srv.readyAt = time.Time{}
	f.srv.readyMu.Unlock()
	if st := f.do("GET", "/readyz", "", nil, nil); st != 503 {
		t.Fatalf("readyz with Rocket.Chat down: %d", st)
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.HTTP.CORSOrigins = []string{"https://app.example"} })
	req, _ := http.NewRequest("OPTIONS", f.http.URL+"/signalr/negotiate", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("foreign origin allowed")
	}
}

// TestDemoTokenWithoutContentType: the demo token call takes its JSON body whatever the
// Content-Type says, as `curl -d '{"username":"alice"}'` sends it (form-encoded type).
func TestDemoTokenWithoutContentType(t *testing.T) {
	f := newFixture(t, nil)
	for _, ct := range []string{"", "application/x-www-form-urlencoded", "text/plain"} {
		req, _ := http.NewRequest("POST", f.http.URL+"/api/demo/token", strings.NewReader(`{"username":"alice"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || out["token"] == "" {
			t.Fatalf("Content-Type %q: %d %v", ct, resp.StatusCode, out)
		}
	}
}

// TestDemoStatus: POST /api/demo/status sets a demo user's status through Demo.SetStatus
// (the demo wires the simulator's), rejecting unknown statuses and users; without
// SetStatus the route answers 404.
func TestDemoStatus(t *testing.T) {
	f := newFixture(t, nil)
	if st := f.do("POST", "/api/demo/status", "", map[string]string{"username": "alice", "status": "away"}, nil); st != 404 {
		t.Fatalf("without SetStatus: %d, want 404", st)
	}
	var got []string
	f.srv.demo.SetStatus = func(u, st string) { got = append(got, u+"="+st) }
	if st := f.do("POST", "/api/demo/status", "", map[string]string{"username": "alice", "status": "away"}, nil); st != 204 {
		t.Fatalf("set away: %d", st)
	}
	if st := f.do("POST", "/api/demo/status", "", map[string]string{"username": "alice", "status": "sleeping"}, nil); st != 400 {
		t.Fatalf("unknown status: %d, want 400", st)
	}
	if st := f.do("POST", "/api/demo/status", "", map[string]string{"username": "nobody", "status": "busy"}, nil); st != 404 {
		t.Fatalf("unknown user: %d, want 404", st)
	}
	want := session.RocketChatUsername(f.cfg.Identity.UsernamePrefix, "1") + "=away"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("SetStatus calls %v, want [%s]", got, want)
	}
}
