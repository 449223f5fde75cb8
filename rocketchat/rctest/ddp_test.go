package rctest

import (
	"testing"
	"time"
)

func TestDDPHandshakeAndProtocolErrors(t *testing.T) {
	s := newTestServer(t, Options{})
	c := dialRaw(t, s)
	jsonEq(t, c.next(), `{"server_id":"0"}`)
	c.send(`{"msg":"sub","id":"1","name":"x","params":[]}`)
	jsonEq(t, c.next(), `{"msg":"error","reason":"Must connect first","offendingMessage":{"msg":"sub","id":"1","name":"x","params":[]}}`)
	c.send(`{"msg":"connect","version":"1","support":["1","pre2","pre1"]}`)
	if f := c.next(); f["msg"] != "connected" || len(f["session"].(string)) != 17 {
		t.Fatalf("connected: %v", f)
	}
	c.send(`{"msg":"connect","version":"1","support":["1"]}`)
	if f := c.next(); f["reason"] != "Already connected" {
		t.Fatalf("second connect: %v", f)
	}
	c.send(`not json`)
	jsonEq(t, c.next(), `{"msg":"error","reason":"Parse error"}`)
	c.send(`{"msg":"frobnicate"}`)
	jsonEq(t, c.next(), `{"msg":"error","reason":"Bad request","offendingMessage":{"msg":"frobnicate"}}`)
	c.send(`{"nomsg":1}`)
	jsonEq(t, c.next(), `{"msg":"error","reason":"Bad request","offendingMessage":{"nomsg":1}}`)
	c.send(`{"msg":"ping","id":"p1"}`)
	jsonEq(t, c.next(), `{"msg":"pong","id":"p1"}`)
	c.send(`{"msg":"ping"}`)
	jsonEq(t, c.next(), `{"msg":"pong"}`)
	c.send(`{"msg":"method","method":"nope","params":[],"id":"m1"}`)
	jsonEq(t, c.next(), `{"msg":"updated","methods":["m1"]}`)
	jsonEq(t, c.next(), `{"msg":"result","id":"m1","error":{"isClientSafe":true,"error":404,"reason":"Method 'nope' not found","message":"Method 'nope' not found [404]","errorType":"Meteor.Error"}}`)
	c.send(`{"msg":"sub","id":"s1","name":"nope","params":[]}`)
	jsonEq(t, c.next(), `{"msg":"nosub","id":"s1","error":{"isClientSafe":true,"error":404,"reason":"Subscription 'nope' not found","message":"Subscription 'nope' not found [404]","errorType":"Meteor.Error"}}`)

	for _, bad := range []string{
		`{"msg":"connect","version":"2","support":["2"]}`,
		`{"msg":"connect","version":"1","support":["pre1"]}`,
		`{"msg":"connect","version":1}`,
	} {
		c := dialRaw(t, s)
		c.next()
		c.send(bad)
		jsonEq(t, c.next(), `{"msg":"failed","version":"1"}`)
		c.waitClosed(true)
	}
	c = dialRaw(t, s)
	c.next()
	c.send(`{"msg":"connect","version":"pre2","support":["1","pre2"]}`)
	jsonEq(t, c.next(), `{"msg":"failed","version":"1"}`)
	c.waitClosed(true)
}

func TestDDPLoginResume(t *testing.T) {
	s := newTestServer(t, Options{ResultBeforeUpdated: true})
	uid := s.AddUser(UserSpec{Username: "alice", Name: "Alice"})
	_, tok := s.LoginToken("alice")
	c := dialDDP(t, s)
	c.send(`{"msg":"method","method":"login","params":[{"resume":"` + tok + `"}],"id":"2"}`)
	added := c.next()
	if added["msg"] != "added" || added["collection"] != "users" || added["id"] != uid || path(added, "fields", "username") != "alice" {
		t.Fatalf("added users: %v", added)
	}
	res := c.next()
	if res["msg"] != "result" || res["id"] != "2" {
		t.Fatalf("result: %v", res)
	}
	exp, _ := path(res, "result", "tokenExpires", "$date").(float64)
	want := time.Now().Add(90 * 24 * time.Hour).UnixMilli()
	if d := int64(exp) - want; d > 5000 || d < -5000 {
		t.Fatalf("tokenExpires %v, want ~%d", path(res, "result", "tokenExpires"), want)
	}
	if path(res, "result", "id") != uid || path(res, "result", "token") != tok || path(res, "result", "type") != "resume" {
		t.Fatalf("result: %v", res)
	}
	jsonEq(t, c.next(), `{"msg":"updated","methods":["2"]}`)
	if n := s.DDPConnections(uid); n != 1 {
		t.Fatalf("DDPConnections %d", n)
	}

	c2 := dialDDP(t, s)
	jsonEq(t, c2.login("bogus")["error"], `{"isClientSafe":true,"error":403,"reason":"You've been logged out by the server. Please log in again.","message":"You've been logged out by the server. Please log in again. [403]","errorType":"Meteor.Error"}`)
	s.ExpireTokens("alice")
	jsonEq(t, c2.login(tok)["error"], `{"isClientSafe":true,"error":403,"reason":"Your session has expired. Please log in again.","message":"Your session has expired. Please log in again. [403]","errorType":"Meteor.Error"}`)
	c2.send(`{"msg":"method","method":"login","params":[{"foo":1}],"id":"login"}`)
	f := c2.waitFor("result", func(f map[string]any) bool { return f["msg"] == "result" })
	if path(f, "error", "error") != float64(400) {
		t.Fatalf("unrecognized login: %v", f)
	}
	_, pat := s.CreatePAT("alice")
	if r := c2.login(pat); path(r, "result", "id") != uid {
		t.Fatalf("PAT login: %v", r)
	}
	c2.send(`{"msg":"method","method":"login","params":[{"user":{"username":"alice"},"password":{"digest":"` + sha256Hex("") + `","algorithm":"sha-256"}}],"id":"login"}`)
	f = c2.waitFor("result", func(f map[string]any) bool { return f["msg"] == "result" })
	if path(f, "error", "reason") != "Incorrect password" {
		t.Fatalf("password login: %v", f)
	}
}

func TestDDPRevocationClosesSocket(t *testing.T) {
	s := newTestServer(t, Options{})
	uid := s.AddUser(UserSpec{Username: "alice"})
	_, tok := s.LoginToken("alice")
	_, other := s.LoginToken("alice")
	c := dialDDP(t, s)
	c.login(tok)
	c2 := dialDDP(t, s)
	c2.login(other)
	// REST logout of one token closes only the socket that used it, with no frame first.
	do(t, s, "POST", "/api/v1/logout", uid, tok, nil).want(t, 200)
	c.waitClosed(true)
	c2.quiet("frame", func(map[string]any) bool { return true })
	s.RevokeTokens("alice")
	c2.waitClosed(true)
	c3 := dialDDP(t, s)
	if r := c3.login(other); path(r, "error", "error") != float64(403) {
		t.Fatalf("resume after revoke: %v", r)
	}
	if n := s.DDPConnections(uid); n != 0 {
		t.Fatalf("DDPConnections %d after revoke", n)
	}
	// DropConnections keeps tokens valid.
	_, tok = s.LoginToken("alice")
	c4 := dialDDP(t, s)
	c4.login(tok)
	s.DropConnections()
	c4.waitClosed(false)
	c5 := dialDDP(t, s)
	if r := c5.login(tok); r["error"] != nil {
		t.Fatalf("resume after drop: %v", r)
	}
}

func TestDDPHeartbeat(t *testing.T) {
	s := newTestServer(t, Options{PingInterval: 40 * time.Millisecond, PingTimeout: 40 * time.Millisecond})
	c := dialDDP(t, s)
	jsonEq(t, c.next(), `{"msg":"ping"}`)
	c.send(`{"msg":"pong"}`)
	jsonEq(t, c.next(), `{"msg":"ping"}`)
	// stay silent: the server closes with no DDP frame
	c.waitClosed(true)
}

func TestDDPStreams(t *testing.T) {
	s := newTestServer(t, Options{})
	aid := s.AddUser(UserSpec{Username: "alice", Name: "Alice"})
	bid := s.AddUser(UserSpec{Username: "bob", Name: "Bob"})
	_, btok := s.LoginToken("bob")
	rid := s.AddRoom(RoomSpec{Type: "p", Name: "team", Owner: "alice", Members: []string{"bob"}})
	secret := s.AddRoom(RoomSpec{Type: "p", Name: "secret", Owner: "alice"})

	c := dialDDP(t, s)
	// Not logged in: own-uid rule fails.
	jsonEq(t, c.sub("early", "stream-notify-user", bid+"/subscriptions-changed"),
		`{"msg":"nosub","id":"early","error":{"isClientSafe":true,"error":"not-allowed","message":"not-allowed","errorType":"Meteor.Error"}}`)
	c.login(btok)
	for _, ev := range []string{"subscriptions-changed", "rooms-changed", "notification"} {
		if f := c.sub(ev, "stream-notify-user", bid+"/"+ev); f["msg"] != "ready" {
			t.Fatalf("sub %s: %v", ev, f)
		}
	}
	jsonEq(t, c.sub("theirs", "stream-notify-user", aid+"/subscriptions-changed"),
		`{"msg":"nosub","id":"theirs","error":{"isClientSafe":true,"error":"not-allowed","message":"not-allowed","errorType":"Meteor.Error"}}`)
	if f := c.sub("secret", "stream-room-messages", secret); f["msg"] != "nosub" || path(f, "error", "error") != "not-allowed" {
		t.Fatalf("sub to a private room bob is not in: %v", f)
	}
	for id, ev := range map[string]string{"rm": rid, "my": "__my_messages__"} {
		if f := c.sub(id, "stream-room-messages", ev); f["msg"] != "ready" {
			t.Fatalf("sub %s: %v", ev, f)
		}
	}
	if f := c.sub("del", "stream-notify-room", rid+"/deleteMessage"); f["msg"] != "ready" {
		t.Fatalf("sub deleteMessage: %v", f)
	}
	// legacy boolean options with useCollection true
	c.send(`{"msg":"sub","id":"legacy","name":"stream-notify-all","params":["public-settings-changed",true]}`)
	jsonEq(t, c.next(), `{"msg":"added","collection":"stream-notify-all","id":"id","fields":{"eventName":"public-settings-changed"}}`)
	jsonEq(t, c.next(), `{"msg":"ready","subs":["legacy"]}`)

	// insert
	mid := s.PostMessage(rid, "alice", "hello @bob")
	args := c.event("stream-room-messages", rid)
	if len(args) != 1 || path(args[0], "_id") != mid || path(args[0], "msg") != "hello @bob" {
		t.Fatalf("room message args: %v", args)
	}
	if _, ok := path(args[0], "ts", "$date").(float64); !ok {
		t.Fatalf("ts is not EJSON: %v", path(args[0], "ts"))
	}
	args = c.event("stream-room-messages", "__my_messages__")
	if len(args) != 2 || path(args[0], "_id") != mid {
		t.Fatalf("__my_messages__ args: %v", args)
	}
	jsonEq(t, args[1], `{"roomParticipant":true,"roomType":"p","roomName":"team"}`)
	args = c.event("stream-notify-user", bid+"/rooms-changed")
	if args[0] != "updated" || path(args[1], "lastMessage", "_id") != mid {
		t.Fatalf("rooms-changed: %v", args)
	}
	args = c.event("stream-notify-user", bid+"/subscriptions-changed")
	if args[0] != "updated" || path(args[1], "unread") != float64(1) || path(args[1], "alert") != true || path(args[1], "userMentions") != float64(1) {
		t.Fatalf("subscriptions-changed: %v", args)
	}
	args = c.event("stream-notify-user", bid+"/notification")
	if path(args[0], "payload", "_id") != mid || path(args[0], "payload", "rid") != rid {
		t.Fatalf("notification: %v", args)
	}

	// edit
	s.EditMessage(mid, "edited")
	args = c.event("stream-room-messages", rid)
	if path(args[0], "msg") != "edited" || path(args[0], "editedAt", "$date") == nil {
		t.Fatalf("edit: %v", args)
	}

	// read
	do(t, s, "POST", "/api/v1/subscriptions.read", bid, btok, map[string]any{"rid": rid}).want(t, 200)
	args = c.event("stream-notify-user", bid+"/subscriptions-changed")
	if args[0] != "updated" || path(args[1], "unread") != float64(0) || path(args[1], "alert") != false {
		t.Fatalf("read: %v", args)
	}

	// delete
	s.DeleteMessage(mid)
	jsonEq(t, c.event("stream-notify-room", rid+"/deleteMessage"), `[{"_id":"`+mid+`"}]`)

	// join: inserted subscription, then inserted room
	_, atok := s.LoginToken("alice")
	r := do(t, s, "POST", "/api/v1/groups.invite", aid, atok, map[string]any{"roomId": secret, "username": "bob"}).want(t, 200)
	_ = r
	f := c.waitFor("join events", func(f map[string]any) bool {
		ev := path(f, "fields", "eventName")
		args, _ := path(f, "fields", "args").([]any)
		return (ev == bid+"/subscriptions-changed" || ev == bid+"/rooms-changed") && len(args) > 0 && args[0] == "inserted"
	})
	if path(f, "fields", "eventName") != bid+"/subscriptions-changed" || path(f, "fields", "args").([]any)[0] != "inserted" {
		t.Fatalf("first join event: %v", f)
	}
	args = c.event("stream-notify-user", bid+"/rooms-changed")
	if args[0] != "inserted" || path(args[1], "_id") != secret {
		t.Fatalf("join room event: %v", args)
	}

	// kick: removed subscription; room-messages for the room stops silently
	do(t, s, "POST", "/api/v1/groups.kick", aid, atok, map[string]any{"roomId": rid, "userId": bid}).want(t, 200)
	args = c.event("stream-notify-user", bid+"/subscriptions-changed")
	if args[0] != "removed" || path(args[1], "rid") != rid || path(args[1], "t") != "p" || path(args[1], "u", "_id") != bid {
		t.Fatalf("removed: %v", args)
	}
	s.PostMessage(rid, "alice", "after kick")
	c.quiet("event after kick", func(f map[string]any) bool {
		return f["msg"] == "nosub" || (f["msg"] == "changed" && (path(f, "fields", "eventName") == rid || path(f, "fields", "eventName") == "__my_messages__"))
	})

	// unsub
	c.send(`{"msg":"unsub","id":"my"}`)
	c.waitFor("nosub", func(f map[string]any) bool { return f["msg"] == "nosub" && f["id"] == "my" && f["error"] == nil })

	// logout re-runs subscriptions: own notify-user subs end with not-allowed
	c.send(`{"msg":"method","method":"logout","params":[],"id":"lo"}`)
	f = c.waitFor("nosub after logout", func(f map[string]any) bool { return f["msg"] == "nosub" && f["id"] == "rooms-changed" })
	if path(f, "error", "error") != "not-allowed" {
		t.Fatalf("nosub after logout: %v", f)
	}
}

func TestDDPPublicChannelAndTyping(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddUser(UserSpec{Username: "alice"})
	s.AddUser(UserSpec{Username: "eve", NoDefaultChannels: true})
	_, etok := s.LoginToken("eve")
	_, atok := s.LoginToken("alice")
	c := dialDDP(t, s)
	c.login(etok)
	// Public channels are readable without membership; __my_messages__ marks them.
	if f := c.sub("g", "stream-room-messages", "GENERAL"); f["msg"] != "ready" {
		t.Fatalf("sub GENERAL: %v", f)
	}
	c.sub("my", "stream-room-messages", "__my_messages__")
	c.sub("typing", "stream-notify-room", "GENERAL/user-activity")
	s.PostMessage("GENERAL", "alice", "public")
	c.event("stream-room-messages", "GENERAL")
	args := c.event("stream-room-messages", "__my_messages__")
	jsonEq(t, args[1], `{"roomParticipant":false,"roomType":"c","roomName":"general"}`)

	a := dialDDP(t, s)
	a.login(atok)
	a.send(`{"msg":"method","method":"stream-notify-room","params":["GENERAL/user-activity","alice",["user-typing"],{}],"id":"t1"}`)
	a.waitFor("result", func(f map[string]any) bool { return f["msg"] == "result" && f["id"] == "t1" && f["error"] == nil })
	jsonEq(t, c.event("stream-notify-room", "GENERAL/user-activity"), `["alice",["user-typing"],{}]`)
}
