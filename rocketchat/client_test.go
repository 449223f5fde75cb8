package rocketchat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newSim(t *testing.T, opts rctest.Options) *rctest.Server {
	t.Helper()
	s := rctest.New(opts)
	t.Cleanup(s.Close)
	return s
}

func newTestClient(t *testing.T, s *rctest.Server, mod func(*ClientOptions)) *Client {
	t.Helper()
	o := ClientOptions{BaseURL: s.URL(), RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond, RateLimitMaxWait: 3 * time.Second}
	if mod != nil {
		mod(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func adminLogin(t *testing.T, s *rctest.Server, c *Client) Credentials {
	t.Helper()
	u, p := s.AdminCredentials()
	res, err := c.Login(testCtx(t), u, p)
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	return res.Credentials
}

func userCred(s *rctest.Server, username string) Credentials {
	uid, tok := s.LoginToken(username)
	return Credentials{UserID: uid, Token: tok}
}

func field(t *testing.T, raw json.RawMessage, key string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m[key]
}

func countRequests(s *rctest.Server, method, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

func TestNewClientRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "localhost:3000", "http://"} {
		if _, err := NewClient(ClientOptions{BaseURL: u}); err == nil {
			t.Errorf("NewClient(%q) succeeded", u)
		}
	}
}

func TestInfoLoginMeLogout(t *testing.T) {
	s := newSim(t, rctest.Options{Version: "7.4.0"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	si, err := c.Info(ctx)
	if err != nil || si.Version != "7.4.0" || si.Major() != 7 {
		t.Fatalf("Info = %+v, %v", si, err)
	}
	cred := adminLogin(t, s, c)
	if cred.PasswordDigest != PasswordDigest("admin-pass") {
		t.Error("login credentials lack the password digest")
	}
	me, err := c.Me(ctx, cred)
	if err != nil || me.Username != "admin" || me.ID != cred.UserID || len(me.Raw) == 0 {
		t.Fatalf("Me = %+v, %v", me, err)
	}
	if err := c.Logout(ctx, cred); err != nil {
		t.Fatal(err)
	}
	_, err = c.Me(ctx, cred)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Me after logout = %v, want ErrUnauthorized", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("not an APIError: %v", err)
	}
}

func TestLoginFailures(t *testing.T) {
	s := newSim(t, rctest.Options{TwoFactor: true})
	s.AddUser(rctest.UserSpec{Username: "vera", Password: "Secret-Pass-123!", Email: "vera@x.invalid", EmailVerified: true})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	_, err := c.Login(ctx, "admin", "wrong")
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrTOTPRequired) {
		t.Errorf("wrong password = %v", err)
	}
	_, err = c.Login(ctx, "vera", "Secret-Pass-123!")
	if !errors.Is(err, ErrTOTPRequired) {
		t.Errorf("2FA login = %v, want ErrTOTPRequired", err)
	}
}

func TestTwoFactorPasswordFallback(t *testing.T) {
	s := newSim(t, rctest.Options{TwoFactor: true})
	uid := s.AddUser(rctest.UserSpec{Username: "bob", Password: "Secret-Pass-123!", Email: "bob@x.invalid"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	admin := adminLogin(t, s, c)
	noDigest := admin
	noDigest.PasswordDigest = ""
	if _, err := c.UpdateUser(ctx, noDigest, uid, map[string]any{"name": "Bobby"}); !errors.Is(err, ErrTOTPRequired) {
		t.Fatalf("update without 2FA headers = %v, want ErrTOTPRequired", err)
	}
	u, err := c.UpdateUser(ctx, admin, uid, map[string]any{"name": "Bobby"})
	if err != nil || u.Name != "Bobby" {
		t.Fatalf("update with password fallback = %+v, %v", u, err)
	}
}

func TestUsersCRUD(t *testing.T) {
	s := newSim(t, rctest.Options{})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	admin := adminLogin(t, s, c)
	u, err := c.CreateUser(ctx, admin, NewUser{Username: "carol", Name: "Carol", Email: "carol@x.invalid", Password: "Secret-Pass-123!", Verified: true})
	if err != nil || u.Username != "carol" || u.ID == "" {
		t.Fatalf("CreateUser = %+v, %v", u, err)
	}
	got, err := c.UserInfo(ctx, admin, "carol")
	if err != nil || got.ID != u.ID || got.Name != "Carol" {
		t.Fatalf("UserInfo = %+v, %v", got, err)
	}
	if got, err = c.UserInfoByID(ctx, admin, u.ID); err != nil || got.Username != "carol" {
		t.Fatalf("UserInfoByID = %+v, %v", got, err)
	}
	l, err := c.ListUsers(ctx, admin, Page{Count: 50})
	if err != nil || len(l.Items) < 2 || l.Total < 2 {
		t.Fatalf("ListUsers = %+v, %v", l, err)
	}
	if err := c.DeleteUser(ctx, admin, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.UserInfo(ctx, admin, "carol")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("UserInfo of deleted user = %v", err)
	}
	// A user's own credentials cannot create users.
	bob := userCred(s, "admin")
	s.AddUser(rctest.UserSpec{Username: "plain", Password: "x"})
	plain := userCred(s, "plain")
	_ = bob
	if _, err := c.CreateUser(ctx, plain, NewUser{Username: "z", Name: "z", Email: "z@x.invalid", Password: "p"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("CreateUser as plain user = %v, want ErrForbidden", err)
	}
}

func TestCreateTokenChoosesByVersion(t *testing.T) {
	for _, tc := range []struct {
		version, secret, send string
		ok                    bool
	}{
		{"8.0.1", "s3cret", "s3cret", true},
		{"8.0.1", "s3cret", "wrong", false},
		{"7.4.0", "", "ignored", true},
		{"6.13.0", "", "", true},
	} {
		t.Run(tc.version+"/"+tc.send, func(t *testing.T) {
			s := newSim(t, rctest.Options{Version: tc.version, CreateTokenSecret: tc.secret})
			s.AddUser(rctest.UserSpec{Username: "dave", Password: "x"})
			c := newTestClient(t, s, nil)
			ctx := testCtx(t)
			admin := adminLogin(t, s, c)
			cred, err := c.CreateToken(ctx, admin, s.UserID("dave"), tc.send)
			if !tc.ok {
				var ae *APIError
				if !errors.As(err, &ae) || ae.ErrorType != "error-not-authorized" {
					t.Fatalf("CreateToken = %v, want error-not-authorized", err)
				}
				return
			}
			if err != nil || cred.UserID != s.UserID("dave") || cred.Token == "" {
				t.Fatalf("CreateToken = %+v, %v", cred, err)
			}
			me, err := c.Me(ctx, cred)
			if err != nil || me.Username != "dave" {
				t.Fatalf("Me with minted token = %+v, %v", me, err)
			}
		})
	}
}

func TestRoomsAndMessages(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	bobID := s.AddUser(rctest.UserSpec{Username: "bob", Password: "x"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	alice := userCred(s, "alice")
	bob := userCred(s, "bob")

	ch, err := c.CreateRoom(ctx, alice, Channel, "team", nil)
	if err != nil || ch.Type != "c" || ch.Name != "team" {
		t.Fatalf("create channel = %+v, %v", ch, err)
	}
	if _, err := c.Invite(ctx, alice, Channel, ch.ID, bobID); err != nil {
		t.Fatal(err)
	}
	if r, err := c.RoomInfoKind(ctx, bob, Channel, ch.ID); err != nil || r.ID != ch.ID {
		t.Fatalf("channels.info = %+v, %v", r, err)
	}
	if r, err := c.RoomInfo(ctx, bob, ch.ID); err != nil || r.ID != ch.ID {
		t.Fatalf("rooms.info = %+v, %v", r, err)
	}
	start := time.Now().Add(-time.Second)
	id := NewMessageID()
	msg, err := c.SendMessage(ctx, alice, OutgoingMessage{ID: id, RoomID: ch.ID, Text: "hello"})
	if err != nil || field(t, msg, "_id") != id || field(t, msg, "msg") != "hello" {
		t.Fatalf("SendMessage = %s, %v", msg, err)
	}
	// Sending the same id again (a retry) yields the stored message, not a second one.
	again, err := c.SendMessage(ctx, alice, OutgoingMessage{ID: id, RoomID: ch.ID, Text: "hello"})
	if err != nil || field(t, again, "_id") != id {
		t.Fatalf("resend = %s, %v", again, err)
	}
	// Someone else's id is not "our" stored message.
	if _, err := c.SendMessage(ctx, bob, OutgoingMessage{ID: id, RoomID: ch.ID, Text: "hijack"}); err == nil {
		t.Fatal("bob's send with alice's message id succeeded")
	}
	// The invitation left an "au" system message (addUserToRoom.ts); "hello" is the only
	// user message.
	if n := len(s.Messages(ch.ID)); n != 2 {
		t.Fatalf("room has %d messages after a resend, want 2 (au + hello)", n)
	}
	hist, err := c.History(ctx, bob, Channel, ch.ID, HistoryOptions{Count: 10})
	if err != nil || len(hist) != 2 {
		t.Fatalf("history = %d, %v", len(hist), err)
	}
	up, err := c.UpdateMessage(ctx, alice, ch.ID, id, "edited")
	if err != nil || field(t, up, "msg") != "edited" {
		t.Fatalf("update = %s, %v", up, err)
	}
	id2 := NewMessageID()
	if _, err := c.SendMessage(ctx, bob, OutgoingMessage{ID: id2, RoomID: ch.ID, Text: "bye"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteMessage(ctx, bob, ch.ID, id2); err != nil {
		t.Fatal(err)
	}
	updated, deleted, err := c.SyncMessages(ctx, bob, ch.ID, start)
	if err != nil || len(updated) != 2 || len(deleted) != 1 || field(t, deleted[0], "_id") != id2 {
		t.Fatalf("sync = %d updated, %v deleted, %v", len(updated), deleted, err)
	}
	rooms, _, err := c.RoomsGet(ctx, bob, time.Time{})
	if err != nil || len(rooms) < 2 {
		t.Fatalf("rooms.get = %d, %v", len(rooms), err)
	}
	subs, _, err := c.SubscriptionsGet(ctx, bob, start)
	if err != nil || len(subs) == 0 {
		t.Fatalf("subscriptions.get = %d, %v", len(subs), err)
	}
	// Unread_Count defaults to user_and_group_mentions_only: alice's plain messages in a
	// channel raise alert but not unread; naming bob does (notifyUsersOnMessage.ts).
	if sub, _ := s.Subscription("bob", ch.ID); sub.Unread != 0 || !sub.Alert {
		t.Fatalf("bob after plain channel messages: %+v, want alert and unread 0", sub)
	}
	if _, err := c.SendMessage(ctx, alice, OutgoingMessage{ID: NewMessageID(), RoomID: ch.ID, Text: "@bob ping"}); err != nil {
		t.Fatal(err)
	}
	if sub, _ := s.Subscription("bob", ch.ID); sub.Unread != 1 || sub.UserMentions != 1 {
		t.Fatalf("bob after a mention: %+v, want unread 1 and userMentions 1", sub)
	}
	if err := c.SubscriptionsRead(ctx, bob, ch.ID); err != nil {
		t.Fatal(err)
	}
	if sub, _ := s.Subscription("bob", ch.ID); sub.Unread != 0 {
		t.Fatalf("unread after read = %d", sub.Unread)
	}
	if _, err := c.Kick(ctx, alice, Channel, ch.ID, bobID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, bob, ch.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(ctx, bob, Channel, ch.ID); err != nil {
		t.Fatal(err)
	}
	if l, err := c.ListRooms(ctx, bob, Channel, Page{}); err != nil || len(l.Items) < 2 {
		t.Fatalf("channels.list = %+v, %v", l, err)
	}

	// Private groups.
	g, err := c.CreateRoom(ctx, alice, Group, "secret", []string{"bob"})
	if err != nil || g.Type != "p" {
		t.Fatalf("groups.create = %+v, %v", g, err)
	}
	if _, err := c.RoomInfoKind(ctx, bob, Group, g.ID); err != nil {
		t.Fatal(err)
	}
	if l, err := c.ListRooms(ctx, bob, Group, Page{}); err != nil || len(l.Items) != 1 {
		t.Fatalf("groups.list = %+v, %v", l, err)
	}
	if _, err := c.History(ctx, bob, Group, g.ID, HistoryOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kick(ctx, alice, Group, g.ID, bobID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RoomInfoKind(ctx, bob, Group, g.ID); err == nil {
		t.Fatal("kicked user still reads the group")
	}
	if _, err := c.Invite(ctx, alice, Group, g.ID, bobID); err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(ctx, bob, Group, g.ID); err != nil {
		t.Fatal(err)
	}

	// Direct messages.
	dm, err := c.CreateDirect(ctx, alice, "bob")
	if err != nil || dm.Type != "d" {
		t.Fatalf("im.create = %+v, %v", dm, err)
	}
	if _, err := c.SendMessage(ctx, alice, OutgoingMessage{RoomID: dm.ID, Text: "psst"}); err != nil {
		t.Fatal(err)
	}
	if h, err := c.History(ctx, bob, Direct, dm.ID, HistoryOptions{}); err != nil || len(h) != 1 {
		t.Fatalf("im.history = %d, %v", len(h), err)
	}
	if l, err := c.ListRooms(ctx, bob, Direct, Page{}); err != nil || len(l.Items) != 1 {
		t.Fatalf("im.list = %+v, %v", l, err)
	}
	if _, err := c.ListRooms(ctx, bob, RoomKind("bogus"), Page{}); err == nil {
		t.Fatal("bogus kind accepted")
	}
}

func TestUploadByVersion(t *testing.T) {
	for _, v := range []string{"8.0.1", "7.4.0", "6.13.0"} {
		t.Run(v, func(t *testing.T) {
			s := newSim(t, rctest.Options{Version: v})
			s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
			c := newTestClient(t, s, nil)
			msg, err := c.UploadFile(testCtx(t), userCred(s, "alice"), "GENERAL", Upload{FileName: "a.txt", ContentType: "text/plain", Data: []byte("hi"), Msg: "file!"})
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			if field(t, msg, "rid") != "GENERAL" || field(t, msg, "file") == nil && field(t, msg, "files") == nil {
				t.Fatalf("upload message = %s", msg)
			}
			old := countRequests(s, "POST", "/api/v1/rooms.upload/GENERAL")
			if (v == "6.13.0") != (old == 1) {
				t.Fatalf("rooms.upload used %d times on %s", old, v)
			}
		})
	}
}

func TestRateLimitWaitedOut(t *testing.T) {
	s := newSim(t, rctest.Options{})
	c := newTestClient(t, s, nil)
	cred := userCred(s, "admin")
	s.FailNext("me", http.StatusTooManyRequests, 1)
	start := time.Now()
	if _, err := c.Me(testCtx(t), cred); err != nil {
		t.Fatalf("Me after a 429: %v", err)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Fatalf("429 not waited out (%v)", waited)
	}
	if n := countRequests(s, "GET", "/api/v1/me"); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestRateLimitBeyondMaxWait(t *testing.T) {
	s := newSim(t, rctest.Options{})
	c := newTestClient(t, s, func(o *ClientOptions) { o.RateLimitMaxWait = 50 * time.Millisecond })
	s.FailNext("me", http.StatusTooManyRequests, 1)
	_, err := c.Me(testCtx(t), userCred(s, "admin"))
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) || rl.Reset.IsZero() {
		t.Fatalf("err = %v, want *RateLimitError", err)
	}
	if n := countRequests(s, "GET", "/api/v1/me"); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestRealRateLimiter(t *testing.T) {
	s := newSim(t, rctest.Options{RateLimit: true, RateLimitCalls: 2, RateLimitWindow: 300 * time.Millisecond})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	cred := userCred(s, "alice")
	for i := 0; i < 5; i++ {
		if _, err := c.Me(ctx, cred); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func TestRetries(t *testing.T) {
	s := newSim(t, rctest.Options{})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	cred := userCred(s, "admin")
	s.FailNext("me", 503, 2)
	if _, err := c.Me(ctx, cred); err != nil {
		t.Fatalf("5xx not retried: %v", err)
	}
	if n := countRequests(s, "GET", "/api/v1/me"); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	s.FailNext("me", 500, 10)
	_, err := c.Me(ctx, cred)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 {
		t.Fatalf("persistent 500 = %v", err)
	}
	if n := countRequests(s, "GET", "/api/v1/me"); n != 3+4 {
		t.Fatalf("%d requests, want 7 (1 + RetryMax 3)", n)
	}
	s.FailNext("me", 400, 1)
	_, err = c.Me(ctx, cred)
	if !errors.As(err, &ae) || ae.Status != 400 || ae.ErrorType != "error-simulated" {
		t.Fatalf("400 = %v", err)
	}
	if n := countRequests(s, "GET", "/api/v1/me"); n != 8 {
		t.Fatalf("400 retried: %d requests", n)
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var mu sync.Mutex
	accepts := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepts++
			mu.Unlock()
			conn.Close() // drop every request: a network error
		}
	}()
	var observed []int
	c, err := NewClient(ClientOptions{BaseURL: "http://" + addr, RetryMax: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond,
		Observe: func(ep string, status int, d time.Duration, err error) { observed = append(observed, status) }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Me(testCtx(t), Credentials{UserID: "u", Token: "secret-token"})
	ln.Close()
	<-done
	if err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("err = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if accepts != 3 {
		t.Fatalf("%d attempts, want 3", accepts)
	}
	if len(observed) != 1 || observed[0] != 0 {
		t.Fatalf("observed = %v", observed)
	}
}

func TestDecodeAPIError(t *testing.T) {
	for _, tc := range []struct {
		status         int
		body           string
		unauth, forbid bool
		errType        string
	}{
		{401, `{"success":false,"status":"error","message":"You must be logged in to do this.","error":"You must be logged in to do this."}`, true, false, ""},
		{401, `{"status":"error","message":"You must be logged in to do this."}`, true, false, ""},
		{401, `{"success":false,"error":"You must be logged in to do this."}`, true, false, ""},
		{401, `{"success":false,"error":"unauthorized"}`, false, true, "unauthorized"},
		{403, `{"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"}`, false, true, "error-unauthorized"},
		// 9.x: the same permission failure answered through API.v1.unauthorized(e.message)
		// (ApiClass.ts, applyBreakingChanges): not allowed, not a bad token.
		{401, `{"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"}`, false, true, "error-unauthorized"},
		// 9.x permissionsRequired without a user id: a missing session after all.
		{401, `{"success":false,"error":"You must be logged in to do this [error-unauthorized]"}`, true, false, "error-unauthorized"},
		{403, `{"success":false,"error":"User does not have the permissions required for this action [error-forbidden]"}`, false, true, "error-forbidden"},
		{400, `{"success":false,"error":"TOTP Required [totp-required]","errorType":"totp-required","details":{"method":"password"}}`, false, false, "totp-required"},
		{502, `<html>bad gateway</html>`, false, false, ""},
	} {
		e := decodeAPIError("x", tc.status, []byte(tc.body))
		if errors.Is(e, ErrUnauthorized) != tc.unauth || errors.Is(e, ErrForbidden) != tc.forbid || e.ErrorType != tc.errType {
			t.Errorf("%d %s → %+v (unauth %v forbid %v)", tc.status, tc.body, e, errors.Is(e, ErrUnauthorized), errors.Is(e, ErrForbidden))
		}
	}
}

func TestObserveAndNoSecretsInLogs(t *testing.T) {
	s := newSim(t, rctest.Options{})
	var buf bytes.Buffer
	var mu sync.Mutex
	type obs struct {
		ep     string
		status int
	}
	var seen []obs
	c := newTestClient(t, s, func(o *ClientOptions) {
		o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Observe = func(ep string, status int, d time.Duration, err error) {
			mu.Lock()
			seen = append(seen, obs{ep, status})
			mu.Unlock()
		}
	})
	ctx := testCtx(t)
	_, _ = c.Login(ctx, "admin", "admin-pass-wrong")
	cred := adminLogin(t, s, c)
	s.FailNext("chat.sendMessage", 400, 1)
	_, _ = c.SendMessage(ctx, cred, OutgoingMessage{RoomID: "GENERAL", Text: "x"})
	_, _ = c.Me(ctx, Credentials{UserID: cred.UserID, Token: "bad-token-value"})
	mu.Lock()
	defer mu.Unlock()
	logs := buf.String()
	for _, secret := range []string{cred.Token, "admin-pass", "bad-token-value", cred.PasswordDigest} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains a secret %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "chat.sendMessage") {
		t.Fatalf("failed call not logged:\n%s", logs)
	}
	if len(seen) < 4 || seen[0].ep != "login" || seen[0].status != 401 {
		t.Fatalf("observed = %+v", seen)
	}
	if cs := (Credentials{UserID: "u", Token: "tok"}).String(); strings.Contains(cs, "tok") {
		t.Fatal("Credentials.String shows the token")
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestClientBodiesAcceptedOnEveryVersion sends what our client actually sends to the strict
// simulator of each release line: a body Rocket.Chat refuses fails here (the 8.x schema check
// of users.createToken refused the {username, secret} body this client sent before).
func TestClientBodiesAcceptedOnEveryVersion(t *testing.T) {
	for _, v := range []string{"7.10.0", "8.0.1", "8.6.0", "8.8.1", "9.0.0"} {
		t.Run(v, func(t *testing.T) {
			s := newSim(t, rctest.Options{Version: v, CreateTokenSecret: "s3"})
			dave := s.AddUser(rctest.UserSpec{Username: "dave", Password: "x"})
			s.AddUser(rctest.UserSpec{Username: "erin", Password: "y"})
			c := newTestClient(t, s, nil)
			ctx := testCtx(t)
			admin := adminLogin(t, s, c)
			cred, err := c.CreateToken(ctx, admin, dave, "s3")
			if err != nil || cred.UserID != dave {
				t.Fatalf("CreateToken = %+v, %v", cred, err)
			}
			step := func(name string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s on %s: %v", name, v, err)
				}
			}
			msg, err := c.SendMessage(ctx, cred, OutgoingMessage{ID: "acc-1", RoomID: "GENERAL", Text: "hi"})
			step("SendMessage", err)
			again, err := c.SendMessage(ctx, cred, OutgoingMessage{ID: "acc-1", RoomID: "GENERAL", Text: "hi"})
			step("SendMessage resend", err)
			if !bytes.Contains(again, []byte(`"acc-1"`)) || len(msg) == 0 {
				t.Fatalf("resend answered %s", again)
			}
			_, err = c.UpdateMessage(ctx, cred, "GENERAL", "acc-1", "edited")
			step("UpdateMessage", err)
			_, err = c.History(ctx, cred, Channel, "GENERAL", HistoryOptions{Count: 10})
			step("History", err)
			step("SubscriptionsRead", c.SubscriptionsRead(ctx, cred, "GENERAL"))
			_, err = c.CreateDirect(ctx, cred, "erin")
			step("CreateDirect", err)
			room, err := c.CreateRoom(ctx, cred, Group, "acc-room", nil)
			step("CreateRoom", err)
			_, err = c.Invite(ctx, cred, Group, room.ID, s.UserID("erin"))
			step("Invite", err)
			_, err = c.Kick(ctx, cred, Group, room.ID, s.UserID("erin"))
			step("Kick", err)
			_, err = c.UploadFile(ctx, cred, "GENERAL", Upload{FileName: "a.txt", ContentType: "text/plain", Data: []byte("x"), Description: "d"})
			step("UploadFile", err)
			_, _, err = c.SyncMessages(ctx, cred, "GENERAL", time.Now().Add(-time.Hour))
			step("SyncMessages", err)
			kept, err := c.SendMessage(ctx, cred, OutgoingMessage{RoomID: "GENERAL", Text: "kept", ThreadID: msgID(t, msg)})
			step("SendMessage in a thread", err)
			_, err = c.GetMessage(ctx, cred, msgID(t, kept))
			step("GetMessage", err)
			step("DeleteMessage", c.DeleteMessage(ctx, cred, "GENERAL", "acc-1"))

			// Every other method the gateway calls, with its optional fields set, so that a
			// body or query key the server's schema refuses (rctest/validate.go) fails here.
			_, err = c.Me(ctx, cred)
			step("Me", err)
			_, _, err = c.RoomsGet(ctx, cred, time.Time{})
			step("RoomsGet", err)
			_, _, err = c.RoomsGet(ctx, cred, time.Now().Add(-time.Hour))
			step("RoomsGet since", err)
			_, _, err = c.SubscriptionsGet(ctx, cred, time.Time{})
			step("SubscriptionsGet", err)
			_, _, err = c.SubscriptionsGet(ctx, cred, time.Now().Add(-time.Hour))
			step("SubscriptionsGet since", err)
			_, err = c.History(ctx, cred, Channel, "GENERAL", HistoryOptions{Latest: time.Now(), Oldest: time.Now().Add(-time.Hour), Inclusive: true, Count: 5, Offset: 1})
			step("History with every option", err)
			_, err = c.History(ctx, cred, Group, room.ID, HistoryOptions{Count: 5})
			step("History group", err)
			dm, err := c.CreateDirect(ctx, cred, "erin", "admin")
			step("CreateDirect group DM", err)
			_, err = c.History(ctx, cred, Direct, dm.ID, HistoryOptions{Count: 5})
			step("History direct", err)
			_, err = c.RoomInfo(ctx, cred, "GENERAL")
			step("RoomInfo", err)
			_, err = c.RoomInfoKind(ctx, cred, Group, room.ID)
			step("RoomInfoKind", err)
			_, err = c.ListRooms(ctx, cred, Channel, Page{Offset: 0, Count: 10})
			step("ListRooms", err)
			pub, err := c.CreateRoom(ctx, admin, Channel, "acc-pub", []string{"erin"})
			step("CreateRoom channel with members", err)
			_, err = c.Join(ctx, cred, pub.ID)
			step("Join", err)
			step("Leave", c.Leave(ctx, cred, Channel, pub.ID))
			_, err = c.Kick(ctx, admin, Channel, pub.ID, s.UserID("erin"))
			step("Kick channel", err)
			for _, k := range []RoomKind{Channel, Group, Direct} {
				id := map[RoomKind]string{Channel: "GENERAL", Group: room.ID, Direct: dm.ID}[k]
				_, err = c.History(ctx, cred, k, id, HistoryOptions{ThreadReplies: true, Count: 5, Latest: time.Now()})
				step("History with thread replies "+string(k), err)
				_, err = c.ListRooms(ctx, cred, k, Page{Offset: 1, Count: 5})
				step("ListRooms "+string(k), err)
			}
			step("Leave group", c.Leave(ctx, cred, Group, room.ID))
			_, err = c.UserInfo(ctx, cred, "erin")
			step("UserInfo", err)
			join := false
			nu, err := c.CreateUser(ctx, admin, NewUser{Username: "acc-user", Name: "Acc", Email: "acc@example.com",
				Password: "pw-Acc-1", Verified: true, Roles: []string{"user"}, JoinDefaultChannels: &join})
			step("CreateUser", err)
			_, err = c.UserInfoByID(ctx, admin, nu.ID)
			step("UserInfoByID", err)
			_, err = c.UpdateUser(ctx, admin, nu.ID, map[string]any{"name": "Acc 2", "email": "acc2@example.com"})
			step("UpdateUser", err)
			_, err = c.ListUsers(ctx, admin, Page{Count: 5})
			step("ListUsers", err)
			step("DeleteUser", c.DeleteUser(ctx, admin, nu.ID))
			// Message interactions: chat.react (isChatReactProps, with and without shouldReact),
			// chat.getThreadMessages and chat.search with paging (validate.go).
			on := true
			step("React", c.React(ctx, cred, msgID(t, kept), "thumbsup", &on))
			step("React toggle", c.React(ctx, cred, msgID(t, kept), ":thumbsup:", nil))
			_, err = c.ThreadMessages(ctx, cred, msgID(t, msg), Page{Offset: 1, Count: 5})
			step("ThreadMessages", err)
			_, err = c.SearchMessages(ctx, cred, "GENERAL", "kept", Page{Offset: 1, Count: 5})
			step("SearchMessages", err)
			_, err = c.UploadFile(ctx, cred, "GENERAL", Upload{FileName: "b.png", Data: []byte("x"), Msg: "m", ThreadID: msgID(t, msg)})
			step("UploadFile with msg and thread", err)
			fresh, err := c.Login(ctx, "erin", "y")
			step("Login", err)
			step("Logout", c.Logout(ctx, fresh.Credentials))
		})
	}
}

// TestCreatingCallsAreSentAtMostOnce: a 5xx after users.create or users.createToken may come
// after Rocket.Chat did the work (a proxy timing out, a crash after the insert), so repeating
// the call creates a second user or leaks a token; only a refusal that proves nothing ran (a
// 429) is retried. Idempotent reads keep their retries (TestRetries).
func TestCreatingCallsAreSentAtMostOnce(t *testing.T) {
	s := newSim(t, rctest.Options{Version: "8.8.1", CreateTokenSecret: "s3"})
	c := newTestClient(t, s, nil)
	ctx := testCtx(t)
	admin := userCred(s, "admin")
	uid := s.AddUser(rctest.UserSpec{Username: "dave", Name: "Dave"})
	s.FailNext("users.createToken", 502, 1)
	if _, err := c.CreateToken(ctx, admin, uid, "s3"); err == nil {
		t.Fatal("createToken after a 502 succeeded: it was repeated")
	}
	if n := countRequests(s, "POST", "/api/v1/users.createToken"); n != 1 {
		t.Fatalf("users.createToken sent %d times after a 502, want 1", n)
	}
	s.FailNext("users.create", 503, 1)
	if _, err := c.CreateUser(ctx, admin, NewUser{Username: "erin", Name: "Erin", Email: "erin@example.com", Password: "Pw-123456789!"}); err == nil {
		t.Fatal("users.create after a 503 succeeded: it was repeated")
	}
	if n := countRequests(s, "POST", "/api/v1/users.create"); n != 1 {
		t.Fatalf("users.create sent %d times after a 503, want 1", n)
	}
	// A 429 says the call did not run: it is waited out and sent again.
	s.FailNext("users.createToken", 429, 1)
	if _, err := c.CreateToken(ctx, admin, uid, "s3"); err != nil {
		t.Fatalf("createToken after a 429: %v", err)
	}
	if n := countRequests(s, "POST", "/api/v1/users.createToken"); n != 3 {
		t.Fatalf("users.createToken sent %d times in all, want 3", n)
	}
}

// TestCreatingCallRetriedWhenNeverSent: a refused connection proves the call never ran.
func TestCreatingCallRetriedWhenNeverSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	attempts := 0
	c, err := NewClient(ClientOptions{BaseURL: "http://" + addr, RetryMax: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond,
		Observe: func(string, int, time.Duration, error) { attempts++ }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateUser(testCtx(t), Credentials{UserID: "a", Token: "t"}, NewUser{Username: "x", Name: "X", Email: "x@example.com", Password: "Pw-123456789!"})
	if err == nil || !neverSent(errors.Unwrap(err)) && !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want a refused connection", err)
	}
}

// msgID reads a message's _id.
func msgID(t *testing.T, raw []byte) string {
	t.Helper()
	var m struct {
		ID string `json:"_id"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.ID == "" {
		t.Fatalf("message without _id: %s", raw)
	}
	return m.ID
}

// TestOpenFileRefusesPathChangingSegments: an id or name that would leave
// /file-upload/<id>/<name> is refused before any request carries the user's token.
func TestOpenFileRefusesPathChangingSegments(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(ClientOptions{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	cred := Credentials{UserID: "u", Token: "t"}
	for _, p := range [][2]string{{"", "a.txt"}, {"..", "api"}, {"id", ".."}, {"id", "."}, {"id", ""},
		{"id", "../../api/v1/me"}, {"a/b", "x"}, {"id", `..\me`}} {
		if f, err := c.OpenFile(testCtx(t), cred, p[0], p[1], time.Second); err == nil {
			f.Body.Close()
			t.Errorf("OpenFile(%q, %q) succeeded", p[0], p[1])
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
	f, err := c.OpenFile(testCtx(t), cred, "id", "a b.txt", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f.Body.Close()
	if hits.Load() != 1 {
		t.Fatal("a valid id and name did not reach the server")
	}
}
