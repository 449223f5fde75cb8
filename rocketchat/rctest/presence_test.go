package rctest

import (
	"testing"

	"github.com/coder/websocket"
)

// Presence as Rocket.Chat computes and streams it (ee/packages/presence/src/processPresenceAndStatus.ts,
// apps/meteor/app/notifications/server/lib/Presence.ts, apps/meteor/app/api/server/v1/users.ts
// users.presence / users.setStatus).
func TestDDPUserPresence(t *testing.T) {
	s := newTestServer(t, Options{})
	aid := s.AddUser(UserSpec{Username: "alice"})
	bid := s.AddUser(UserSpec{Username: "bob"})
	_, atok := s.LoginToken("alice")
	_, btok := s.LoginToken("bob")

	a := dialDDP(t, s)
	a.login(atok)
	// users.presence lists only users who are not offline.
	r := do(t, s, "GET", "/api/v1/users.presence?ids="+aid+","+bid, aid, atok, nil).want(t, 200)
	jsonEq(t, path(r.body, "full"), `false`)
	if us := path(r.body, "users").([]any); len(us) != 1 || path(us[0], "_id") != aid || path(us[0], "status") != "online" {
		t.Fatalf("users.presence with alice connected: %v", r.body)
	}

	// The first subscription is the live one; a later one only edits the list and is stopped.
	a.send(`{"msg":"sub","id":"p1","name":"stream-user-presence","params":["",{"added":["nobody"]}]}`)
	a.waitFor("ready p1", func(f map[string]any) bool { return f["msg"] == "ready" })
	a.send(`{"msg":"sub","id":"p2","name":"stream-user-presence","params":["",{"added":["` + bid + `"],"removed":["nobody"]}]}`)
	if f := a.waitFor("nosub p2", func(f map[string]any) bool { return f["msg"] == "nosub" || f["msg"] == "ready" }); f["msg"] != "nosub" || f["id"] != "p2" || f["error"] != nil {
		t.Fatalf("second presence sub answered %v, want a plain nosub", f)
	}

	// bob's first connection: online; a second one changes nothing.
	b := dialDDP(t, s)
	b.login(btok)
	jsonEq(t, a.event("stream-user-presence", bid), `[["bob",1,null]]`)
	b2 := dialDDP(t, s)
	b2.login(btok)
	isPresence := func(f map[string]any) bool { return f["collection"] == "stream-user-presence" }
	a.quiet("presence for a second connection", isPresence)

	// A default status other than online wins while connected.
	s.SetStatus("bob", "away")
	jsonEq(t, a.event("stream-user-presence", bid), `[["bob",2,null]]`)
	do(t, s, "POST", "/api/v1/users.setStatus", bid, btok, map[string]any{"status": "busy", "message": "in a call"}).want(t, 200)
	jsonEq(t, a.event("stream-user-presence", bid), `[["bob",3,"in a call"]]`)
	r = do(t, s, "POST", "/api/v1/users.setStatus", bid, btok, map[string]any{"status": "sleeping"}).want(t, 400)
	jsonEq(t, path(r.body, "errorType"), `"error-invalid-status"`)

	// Closing one of two connections changes nothing; the last one makes bob offline.
	b2.ws.Close(websocket.StatusNormalClosure, "")
	a.quiet("presence while a connection remains", isPresence)
	s.SetStatus("bob", "online")
	jsonEq(t, a.event("stream-user-presence", bid), `[["bob",1,"in a call"]]`)
	b.ws.Close(websocket.StatusNormalClosure, "")
	jsonEq(t, a.event("stream-user-presence", bid), `[["bob",0,"in a call"]]`)
	if st := s.Status("bob"); st != "offline" {
		t.Fatalf("Status(bob) = %q after the last connection closed", st)
	}

	// Not followed: carol's changes do not reach alice.
	s.AddUser(UserSpec{Username: "carol"})
	s.SetStatus("carol", "busy")
	_, ctok := s.LoginToken("carol")
	c := dialDDP(t, s)
	c.login(ctok)
	a.quiet("presence of a user not followed", isPresence)

	// Unsubscribing the live subscription stops everything.
	a.send(`{"msg":"unsub","id":"p1"}`)
	a.waitFor("nosub p1", func(f map[string]any) bool { return f["msg"] == "nosub" && f["id"] == "p1" })
	s.SetStatus("bob", "busy")
	b3 := dialDDP(t, s)
	b3.login(btok)
	a.quiet("presence after unsub", isPresence)
}
