package rctest

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestInfo(t *testing.T) {
	s := newTestServer(t, Options{Version: "7.4.2"})
	jsonEq(t, do(t, s, "GET", "/api/info", "", "", nil).want(t, 200).body, `{"version":"7.4.2","success":true}`)
	uid, tok := s.LoginToken("admin")
	r := do(t, s, "GET", "/api/info", uid, tok, nil).want(t, 200)
	if path(r.body, "info", "version") != "7.4.2" {
		t.Fatalf("authenticated info: %s", r.raw)
	}
}

func TestLoginPasswordResumeLogout(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddUser(UserSpec{Username: "alice", Name: "Alice", Password: "pw"})
	r := do(t, s, "POST", "/api/v1/login", "", "", `{"user":"alice","password":"pw"}`).want(t, 200)
	if r.body["status"] != "success" || r.body["success"] != true {
		t.Fatalf("login body: %s", r.raw)
	}
	uid, _ := path(r.body, "data", "userId").(string)
	tok, _ := path(r.body, "data", "authToken").(string)
	if uid != s.UserID("alice") || tok == "" || path(r.body, "data", "me", "username") != "alice" {
		t.Fatalf("login body: %s", r.raw)
	}
	// hashed password and resume
	do(t, s, "POST", "/api/v1/login", "", "", map[string]any{"username": "alice", "password": map[string]any{"hashed": sha256Hex("pw")}}).want(t, 200)
	r = do(t, s, "POST", "/api/v1/login", "", "", map[string]any{"resume": tok}).want(t, 200)
	if path(r.body, "data", "authToken") != tok {
		t.Fatalf("resume returned another token: %s", r.raw)
	}
	if n := s.TokenCount("alice"); n != 2 {
		t.Fatalf("tokens %d, want 2 (resume mints none)", n)
	}
	me := do(t, s, "GET", "/api/v1/me", uid, tok, nil).want(t, 200)
	if me.body["username"] != "alice" || me.body["success"] != true {
		t.Fatalf("me: %s", me.raw)
	}
	jsonEq(t, do(t, s, "POST", "/api/v1/logout", uid, tok, nil).want(t, 200).body,
		`{"status":"success","data":{"message":"You've been logged out!"}}`)
	jsonEq(t, do(t, s, "GET", "/api/v1/me", uid, tok, nil).want(t, 401).body,
		`{"success":false,"status":"error","message":"You must be logged in to do this.","error":"You must be logged in to do this."}`)

	jsonEq(t, do(t, s, "POST", "/api/v1/login", "", "", `{"user":"nobody","password":"pw"}`).want(t, 401).body,
		`{"success":false,"error":"Unauthorized","status":"error","message":"Unauthorized"}`)
	jsonEq(t, do(t, s, "POST", "/api/v1/login", "", "", `{"user":"alice","password":"bad"}`).want(t, 401).body,
		`{"success":false,"error":403,"status":"error","message":"Incorrect password"}`)
	for range 9 {
		do(t, s, "POST", "/api/v1/login", "", "", `{"user":"alice","password":"bad"}`).want(t, 401)
	}
	jsonEq(t, do(t, s, "POST", "/api/v1/login", "", "", `{"user":"alice","password":"pw"}`).want(t, 401).body,
		`{"success":false,"error":"error-login-blocked-for-user","status":"error","message":"Login has been temporarily blocked For User"}`)
}

func TestNotLoggedInBodyPerVersion(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"6.13.0", `{"status":"error","message":"You must be logged in to do this."}`},
		{"8.0.1", `{"success":false,"status":"error","message":"You must be logged in to do this.","error":"You must be logged in to do this."}`},
		{"9.0.0", `{"success":false,"error":"You must be logged in to do this."}`},
	} {
		s := newTestServer(t, Options{Version: tc.version})
		jsonEq(t, do(t, s, "GET", "/api/v1/me", "", "", nil).want(t, 401).body, tc.want)
	}
}

func TestTokenCapAndExpiry(t *testing.T) {
	s := newTestServer(t, Options{MaxLoginTokens: 3})
	s.AddUser(UserSpec{Username: "bob", Password: "pw"})
	_, pat := s.CreatePAT("bob")
	uid, first := s.LoginToken("bob")
	for range 3 {
		s.LoginToken("bob")
	}
	do(t, s, "GET", "/api/v1/me", uid, first, nil).want(t, 401)
	do(t, s, "GET", "/api/v1/me", uid, pat, nil).want(t, 200)
	if n := s.TokenCount("bob"); n != 4 {
		t.Fatalf("tokens %d, want 3 login + 1 PAT", n)
	}
	_, tok := s.LoginToken("bob")
	s.ExpireTokens("bob")
	do(t, s, "GET", "/api/v1/me", uid, tok, nil).want(t, 401)
	jsonEq(t, do(t, s, "POST", "/api/v1/login", "", "", map[string]any{"resume": tok}).want(t, 401).body,
		`{"success":false,"error":403,"status":"error","message":"Your session has expired. Please log in again."}`)
	do(t, s, "GET", "/api/v1/me", uid, pat, nil).want(t, 200)
}

func TestRateLimiter(t *testing.T) {
	s := newTestServer(t, Options{RateLimit: true, RateLimitCalls: 3})
	s.AddUser(UserSpec{Username: "alice", Password: "pw"})
	uid, tok := s.LoginToken("alice")
	for i := range 3 {
		r := do(t, s, "GET", "/api/v1/me", uid, tok, nil).want(t, 200)
		if got := r.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(2-i) {
			t.Fatalf("call %d: remaining %q", i, got)
		}
	}
	r := do(t, s, "GET", "/api/v1/me", uid, tok, nil).want(t, 429)
	if !strings.HasSuffix(r.body["error"].(string), "before trying this endpoint again. [error-too-many-requests]") || r.body["success"] != false {
		t.Fatalf("429 body: %s", r.raw)
	}
	reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < time.Now().UnixMilli() || reset > time.Now().Add(61*time.Second).UnixMilli() {
		t.Fatalf("X-RateLimit-Reset %q is not epoch ms within the window", r.header.Get("X-RateLimit-Reset"))
	}
	if r.header.Get("X-RateLimit-Limit") != "3" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("headers: %v", r.header)
	}
	// Another route has its own budget; the admin bypasses.
	do(t, s, "GET", "/api/v1/subscriptions.get", uid, tok, nil).want(t, 200)
	aid, atok := s.LoginToken("admin")
	for range 5 {
		r := do(t, s, "GET", "/api/v1/me", aid, atok, nil).want(t, 200)
		if r.header.Get("X-RateLimit-Limit") != "" {
			t.Fatal("admin response carries rate-limit headers")
		}
	}
	s.SetRateLimit(false, 0, 0)
	if r := do(t, s, "GET", "/api/v1/me", uid, tok, nil).want(t, 200); r.header.Get("X-RateLimit-Limit") != "" {
		t.Fatal("limiter still on")
	}
}

func TestTwoFactor(t *testing.T) {
	s := newTestServer(t, Options{TwoFactor: true})
	s.AddUser(UserSpec{Username: "vera", Password: "pw", EmailVerified: true})
	s.AddUser(UserSpec{Username: "bob", Password: "pw"})
	r := do(t, s, "POST", "/api/v1/login", "", "", `{"user":"vera","password":"pw"}`).want(t, 401)
	if r.body["error"] != "totp-required" || path(r.body, "details", "method") != "email" {
		t.Fatalf("login body: %s", r.raw)
	}
	r = do(t, s, "POST", "/api/v1/login", "", "", `{"user":"admin","password":"admin-pass"}`).want(t, 200)
	aid, atok := path(r.body, "data", "userId").(string), path(r.body, "data", "authToken").(string)
	upd := map[string]any{"userId": s.UserID("bob"), "data": map[string]any{"name": "Bobby"}}
	jsonEq(t, do(t, s, "POST", "/api/v1/users.update", aid, atok, upd).want(t, 400).body,
		`{"success":false,"error":"TOTP Required [totp-required]","errorType":"totp-required","details":{"method":"password","codeGenerated":false,"availableMethods":[]}}`)
	req, _ := http.NewRequest("POST", s.URL()+"/api/v1/users.update", strings.NewReader(`{"userId":"`+s.UserID("bob")+`","data":{"name":"Bobby"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-Id", aid)
	req.Header.Set("X-Auth-Token", atok)
	req.Header.Set("x-2fa-method", "password")
	req.Header.Set("x-2fa-code", sha256Hex("wrong"))
	if r := send(t, req); r.body["errorType"] != "totp-invalid" {
		t.Fatalf("wrong code: %s", r.raw)
	}
	req.Header.Set("x-2fa-code", sha256Hex("admin-pass"))
	req.Body, _ = req.GetBody()
	if r := send(t, req).want(t, 200); path(r.body, "user", "name") != "Bobby" {
		t.Fatalf("update: %s", r.raw)
	}
	pid, pat := s.CreatePAT("admin")
	do(t, s, "POST", "/api/v1/users.update", pid, pat, upd).want(t, 200)
}

// TestCreateTokenTwoFactor87: 8.7+ marks users.createToken twoFactorRequired
// (apps/meteor/server/api/v1/users.ts); 8.0-8.6 do not. The body and permission rules are in
// contract_test.go.
func TestCreateTokenTwoFactor87(t *testing.T) {
	for _, v := range []string{"8.6.0", "8.7.0", "9.0.0"} {
		t.Run(v, func(t *testing.T) {
			s := newTestServer(t, Options{Version: v, TwoFactor: true, CreateTokenSecret: "s3"})
			bob := s.AddUser(UserSpec{Username: "bob", Password: "pw"})
			aid, atok := s.LoginToken("admin")
			body := map[string]any{"userId": bob, "secret": "s3"}
			r := do(t, s, "POST", "/api/v1/users.createToken", aid, atok, body)
			if v == "8.6.0" {
				r.want(t, 200)
				return
			}
			jsonEq(t, r.want(t, 400).body, `{"success":false,"error":"TOTP Required [totp-required]","errorType":"totp-required","details":{"method":"password","codeGenerated":false,"availableMethods":[]}}`)
			// The password fallback (x-2fa-method: password, sha256 of the password) passes.
			req, _ := http.NewRequest("POST", s.URL()+"/api/v1/users.createToken", strings.NewReader(`{"userId":"`+bob+`","secret":"s3"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-User-Id", aid)
			req.Header.Set("X-Auth-Token", atok)
			req.Header.Set("x-2fa-method", "password")
			_, p := s.AdminCredentials()
			req.Header.Set("x-2fa-code", sha256Hex(p))
			send(t, req).want(t, 200)
		})
	}
}

func TestUsersCRUD(t *testing.T) {
	s := newTestServer(t, Options{})
	aid, atok := s.LoginToken("admin")
	create := map[string]any{"email": "d@x.io", "name": "Dora", "password": "pw", "username": "dora"}
	r := do(t, s, "POST", "/api/v1/users.create", aid, atok, create).want(t, 200)
	did, _ := path(r.body, "user", "_id").(string)
	if path(r.body, "user", "username") != "dora" || path(r.body, "user", "type") != "user" || did == "" {
		t.Fatalf("create: %s", r.raw)
	}
	if _, ok := s.Subscription("dora", "GENERAL"); !ok {
		t.Fatal("new user did not join GENERAL")
	}
	do(t, s, "POST", "/api/v1/users.create", aid, atok, create).want(t, 400)
	// 8.x registers users.create on the typed router: Router.ts's body answer, no " [invalid-params]"
	// suffix (apps/meteor/server/api/v1/users.ts, packages/http-router/src/Router.ts).
	jsonEq(t, do(t, s, "POST", "/api/v1/users.create", aid, atok, `{"email":"x@y"}`).want(t, 400).body,
		`{"success":false,"error":"must have required property 'name'","errorType":"invalid-params"}`)
	if r := do(t, s, "GET", "/api/v1/users.info?username=dora", aid, atok, nil).want(t, 200); path(r.body, "user", "_id") != did {
		t.Fatalf("info: %s", r.raw)
	}
	jsonEq(t, do(t, s, "GET", "/api/v1/users.info?username=nope", aid, atok, nil).want(t, 400).body,
		`{"success":false,"error":"User not found."}`)
	if r := do(t, s, "GET", "/api/v1/users.list", aid, atok, nil).want(t, 200); r.body["total"] != float64(2) {
		t.Fatalf("list: %s", r.raw)
	}
	uid, utok := s.LoginToken("dora")
	jsonEq(t, do(t, s, "POST", "/api/v1/users.create", uid, utok, create).want(t, 403).body,
		`{"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"}`)
	if r := do(t, s, "POST", "/api/v1/users.delete", aid, atok, map[string]any{"userId": did}).want(t, 200); r.body["success"] != true {
		t.Fatalf("delete: %s", r.raw)
	}
	do(t, s, "GET", "/api/v1/me", uid, utok, nil).want(t, 401)
}

func TestRoomsAndHistory(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddUser(UserSpec{Username: "alice"})
	s.AddUser(UserSpec{Username: "bob"})
	s.AddUser(UserSpec{Username: "eve"})
	aid, atok := s.LoginToken("alice")
	eid, etok := s.LoginToken("eve")

	r := do(t, s, "POST", "/api/v1/groups.create", aid, atok, map[string]any{"name": "secret", "members": []string{"bob"}}).want(t, 200)
	gid, _ := path(r.body, "group", "_id").(string)
	if path(r.body, "group", "t") != "p" || path(r.body, "group", "usersCount") != float64(2) {
		t.Fatalf("groups.create: %s", r.raw)
	}
	jsonEq(t, do(t, s, "GET", "/api/v1/groups.info?roomId="+gid, eid, etok, nil).want(t, 400).body,
		`{"success":false,"error":"The required \"roomId\" or \"roomName\" param provided does not match any group [error-room-not-found]","errorType":"error-room-not-found"}`)
	do(t, s, "POST", "/api/v1/groups.create", aid, atok, map[string]any{"name": "secret"}).want(t, 400)

	r = do(t, s, "POST", "/api/v1/channels.create", aid, atok, map[string]any{"name": "town"}).want(t, 200)
	cid, _ := path(r.body, "channel", "_id").(string)
	do(t, s, "POST", "/api/v1/channels.join", eid, etok, map[string]any{"roomId": cid}).want(t, 200)
	do(t, s, "POST", "/api/v1/channels.invite", aid, atok, map[string]any{"roomId": cid, "username": "bob"}).want(t, 200)
	if r := do(t, s, "GET", "/api/v1/channels.info?roomName=town", aid, atok, nil).want(t, 200); path(r.body, "channel", "usersCount") != float64(3) {
		t.Fatalf("info: %s", r.raw)
	}
	var ids []string
	for i := range 3 {
		ids = append(ids, s.PostMessage(cid, "alice", "m"+strconv.Itoa(i)))
	}
	r = do(t, s, "GET", "/api/v1/channels.history?roomId="+cid+"&count=2", eid, etok, nil).want(t, 200)
	msgs := r.body["messages"].([]any)
	if len(msgs) != 2 || path(msgs[0], "_id") != ids[2] || path(msgs[1], "_id") != ids[1] {
		t.Fatalf("history not newest first: %s", r.raw)
	}
	if _, err := time.Parse(time.RFC3339, path(msgs[0], "ts").(string)); err != nil {
		t.Fatalf("REST ts not ISO: %v", path(msgs[0], "ts"))
	}
	do(t, s, "POST", "/api/v1/channels.kick", eid, etok, map[string]any{"roomId": cid, "userId": s.UserID("bob")}).want(t, 400)
	do(t, s, "POST", "/api/v1/channels.kick", aid, atok, map[string]any{"roomId": cid, "userId": s.UserID("bob")}).want(t, 200)
	do(t, s, "POST", "/api/v1/channels.leave", eid, etok, map[string]any{"roomId": cid}).want(t, 200)
	if _, ok := s.Subscription("eve", cid); ok {
		t.Fatal("eve still subscribed after leave")
	}
	if r := do(t, s, "GET", "/api/v1/groups.list", eid, etok, nil).want(t, 200); r.body["total"] != float64(0) {
		t.Fatalf("eve sees groups: %s", r.raw)
	}
	if r := do(t, s, "GET", "/api/v1/channels.list", eid, etok, nil).want(t, 200); r.body["total"] != float64(2) {
		t.Fatalf("channels.list: %s", r.raw)
	}
	// DMs, im.* and dm.* aliases
	r = do(t, s, "POST", "/api/v1/im.create", aid, atok, map[string]any{"username": "bob"}).want(t, 200)
	did, _ := path(r.body, "room", "_id").(string)
	if path(r.body, "room", "rid") != did || path(r.body, "room", "t") != "d" || did != s.DirectRoom("bob", "alice") {
		t.Fatalf("im.create: %s", r.raw)
	}
	s.PostMessage(did, "bob", "hi")
	if r := do(t, s, "GET", "/api/v1/dm.history?roomId="+did, aid, atok, nil).want(t, 200); len(r.body["messages"].([]any)) != 1 {
		t.Fatalf("dm.history: %s", r.raw)
	}
	if r := do(t, s, "GET", "/api/v1/im.list", aid, atok, nil).want(t, 200); r.body["total"] != float64(1) {
		t.Fatalf("im.list: %s", r.raw)
	}
	do(t, s, "GET", "/api/v1/im.history?roomId="+did, eid, etok, nil).want(t, 400)
	if r := do(t, s, "GET", "/api/v1/rooms.info?roomId="+did, aid, atok, nil).want(t, 200); path(r.body, "room", "_id") != did {
		t.Fatalf("rooms.info: %s", r.raw)
	}
}

func TestChatAndSync(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddUser(UserSpec{Username: "alice"})
	s.AddUser(UserSpec{Username: "bob"})
	aid, atok := s.LoginToken("alice")
	bid, btok := s.LoginToken("bob")
	since := time.Now().UTC().Add(-time.Millisecond).Format(time.RFC3339Nano)

	send := map[string]any{"message": map[string]any{"_id": "client-id-1", "rid": "GENERAL", "msg": "hi @bob"}}
	r := do(t, s, "POST", "/api/v1/chat.sendMessage", aid, atok, send).want(t, 200)
	if path(r.body, "message", "_id") != "client-id-1" || path(r.body, "message", "u", "username") != "alice" {
		t.Fatalf("send: %s", r.raw)
	}
	jsonEq(t, do(t, s, "POST", "/api/v1/chat.sendMessage", aid, atok, send).want(t, 400).body,
		`{"success":false,"error":"Cannot read properties of undefined (reading 'starred')"}`)
	do(t, s, "POST", "/api/v1/chat.sendMessage", aid, atok, `{"message":{"msg":"x"}}`).want(t, 400)
	do(t, s, "POST", "/api/v1/chat.sendMessage", aid, atok, `{}`).want(t, 400)

	sb, _ := s.Subscription("bob", "GENERAL")
	if sb.Unread != 1 || !sb.Alert || sb.UserMentions != 1 {
		t.Fatalf("bob's subscription after a mention: %+v", sb)
	}
	r = do(t, s, "GET", "/api/v1/subscriptions.get?updatedSince="+since, bid, btok, nil).want(t, 200)
	if upd := r.body["update"].([]any); len(upd) != 1 || path(upd[0], "unread") != float64(1) {
		t.Fatalf("subscriptions.get: %s", r.raw)
	}
	do(t, s, "POST", "/api/v1/subscriptions.read", bid, btok, map[string]any{"rid": "GENERAL"}).want(t, 200)
	if sb, _ := s.Subscription("bob", "GENERAL"); sb.Unread != 0 || sb.Alert {
		t.Fatalf("after read: %+v", sb)
	}

	upd := do(t, s, "POST", "/api/v1/chat.update", aid, atok, map[string]any{"roomId": "GENERAL", "msgId": "client-id-1", "text": "edited"}).want(t, 200)
	if path(upd.body, "message", "msg") != "edited" || path(upd.body, "message", "editedBy", "username") != "alice" {
		t.Fatalf("update: %s", upd.raw)
	}
	jsonEq(t, do(t, s, "POST", "/api/v1/chat.update", aid, atok, map[string]any{"roomId": "GENERAL", "msgId": "nope", "text": "x"}).want(t, 400).body,
		`{"success":false,"error":"No message found with the id of \"nope\"."}`)
	do(t, s, "POST", "/api/v1/chat.delete", bid, btok, map[string]any{"roomId": "GENERAL", "msgId": "client-id-1"}).want(t, 400)
	r = do(t, s, "POST", "/api/v1/chat.delete", aid, atok, map[string]any{"roomId": "GENERAL", "msgId": "client-id-1"}).want(t, 200)
	if _, ok := r.body["ts"].(string); !ok || r.body["_id"] != "client-id-1" {
		t.Fatalf("delete: %s", r.raw)
	}
	r = do(t, s, "GET", "/api/v1/chat.syncMessages?roomId=GENERAL&lastUpdate="+since, bid, btok, nil).want(t, 200)
	del := path(r.body, "result", "deleted").([]any)
	if len(del) != 1 || path(del[0], "_id") != "client-id-1" {
		t.Fatalf("sync: %s", r.raw)
	}
	r = do(t, s, "GET", "/api/v1/rooms.get?updatedSince="+since, bid, btok, nil).want(t, 200)
	if len(r.body["update"].([]any)) != 1 {
		t.Fatalf("rooms.get: %s", r.raw)
	}
	if r := do(t, s, "GET", "/api/v1/rooms.get?updatedSince="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), bid, btok, nil).want(t, 200); len(r.body["update"].([]any)) != 0 {
		t.Fatalf("rooms.get future: %s", r.raw)
	}
}

func multipartUpload(t *testing.T, s *Server, path, uid, tok string) restResp {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "a.txt")
	fw.Write([]byte("hello"))
	mw.WriteField("msg", "a file")
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL()+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-User-Id", uid)
	req.Header.Set("X-Auth-Token", tok)
	return send(t, req)
}

func TestUploadByVersion(t *testing.T) {
	t.Run("6.x rooms.upload", func(t *testing.T) {
		s := newTestServer(t, Options{Version: "6.13.0"})
		uid, tok := s.LoginToken("admin")
		r := multipartUpload(t, s, "/api/v1/rooms.upload/GENERAL", uid, tok).want(t, 200)
		if path(r.body, "message", "file", "name") != "a.txt" || path(r.body, "message", "msg") != "a file" {
			t.Fatalf("upload: %s", r.raw)
		}
		multipartUpload(t, s, "/api/v1/rooms.media/GENERAL", uid, tok).want(t, 404)
	})
	t.Run("8.x rooms.media", func(t *testing.T) {
		s := newTestServer(t, Options{Version: "8.1.0"})
		uid, tok := s.LoginToken("admin")
		multipartUpload(t, s, "/api/v1/rooms.upload/GENERAL", uid, tok).want(t, 404)
		r := multipartUpload(t, s, "/api/v1/rooms.media/GENERAL", uid, tok).want(t, 200)
		fid, _ := path(r.body, "file", "_id").(string)
		if path(r.body, "file", "url") != "/file-upload/"+fid+"/a.txt" {
			t.Fatalf("media: %s", r.raw)
		}
		r = do(t, s, "POST", "/api/v1/rooms.mediaConfirm/GENERAL/"+fid, uid, tok, map[string]any{"msg": "see"}).want(t, 200)
		if path(r.body, "message", "file", "_id") != fid {
			t.Fatalf("confirm: %s", r.raw)
		}
		link, _ := path(r.body, "message", "attachments").([]any)[0].(map[string]any)["title_link"].(string)
		res, err := http.Get(s.URL() + link + "?rc_uid=" + uid + "&rc_token=" + tok)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(got) != "hello" {
			t.Fatalf("download %s: %d %q", link, res.StatusCode, got)
		}
		res, err = http.Get(s.URL() + link)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 403 {
			t.Fatalf("anonymous download: %d", res.StatusCode)
		}
		jsonEq(t, do(t, s, "POST", "/api/v1/rooms.mediaConfirm/GENERAL/"+fid, uid, tok, map[string]any{}).want(t, 400).body,
			`{"success":false,"error":"Invalid file [invalid-file]","errorType":"invalid-file"}`)
	})
}

func TestFailNextLatencyAndRequestLog(t *testing.T) {
	s := newTestServer(t, Options{})
	uid, tok := s.LoginToken("admin")
	s.FailNext("chat.sendMessage", 500, 2)
	body := map[string]any{"message": map[string]any{"rid": "GENERAL", "msg": "x"}}
	jsonEq(t, do(t, s, "POST", "/api/v1/chat.sendMessage", uid, tok, body).want(t, 500).body, `{"success":false,"error":"Internal server error"}`)
	do(t, s, "POST", "/api/v1/chat.sendMessage", uid, tok, body).want(t, 500)
	do(t, s, "POST", "/api/v1/chat.sendMessage", uid, tok, body).want(t, 200)
	s.FailNext("/api/v1/me", 429, 1)
	if r := do(t, s, "GET", "/api/v1/me", uid, tok, nil).want(t, 429); r.header.Get("X-RateLimit-Reset") == "" {
		t.Fatal("429 without X-RateLimit-Reset")
	}
	s.SetLatency(30 * time.Millisecond)
	start := time.Now()
	do(t, s, "GET", "/api/v1/me?access_token=secret", uid, tok, nil).want(t, 200)
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("latency not applied")
	}
	reqs := s.Requests()
	if len(reqs) != 5 {
		t.Fatalf("request log has %d entries, want 5", len(reqs))
	}
	last := reqs[4]
	if last.Method != "GET" || last.Path != "/api/v1/me" || last.Status != 200 || last.UserID != uid {
		t.Fatalf("last request %+v", last)
	}
	do(t, s, "GET", "/api/v1/no.such", uid, tok, nil).want(t, 404)
}
