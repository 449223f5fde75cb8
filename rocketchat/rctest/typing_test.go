package rctest

import "testing"

// The typing relay as Rocket.Chat's streamer does it
// (apps/meteor/server/modules/notifications/notifications.module.ts streamRoom.allowWrite,
// apps/meteor/server/modules/streamer/streamer.module.ts initMethod/sendToManySubscriptions).
func TestDDPTypingRelay(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddUser(UserSpec{Username: "alice"})
	s.AddUser(UserSpec{Username: "bob"})
	_, atok := s.LoginToken("alice")
	_, atok2 := s.LoginToken("alice")
	_, btok := s.LoginToken("bob")

	a := dialDDP(t, s) // alice's typing connection
	a.login(atok)
	a2 := dialDDP(t, s) // another tab of alice
	a2.login(atok2)
	b := dialDDP(t, s)
	b.login(btok)
	for _, c := range []*ddpClient{a, a2, b} {
		if f := c.sub("ua", "stream-notify-room", "GENERAL/user-activity"); f["msg"] != "ready" {
			t.Fatalf("sub user-activity: %v", f)
		}
		if f := c.sub("ty", "stream-notify-room", "GENERAL/typing"); f["msg"] != "ready" {
			t.Fatalf("sub typing: %v", f)
		}
	}
	isEvent := func(f map[string]any) bool { return f["msg"] == "changed" && f["collection"] == "stream-notify-room" }
	call := func(id, params string) map[string]any {
		t.Helper()
		a.send(`{"msg":"method","method":"stream-notify-room","params":` + params + `,"id":"` + id + `"}`)
		return a.waitFor("result "+id, func(f map[string]any) bool {
			if isEvent(f) {
				t.Fatalf("the writer's own connection got its event back: %v", f)
			}
			return f["msg"] == "result" && f["id"] == id
		})
	}

	// Accepted: everyone subscribed gets it except the writing connection, even its own user's
	// other connection does; no <rid>/typing twin (removed in 6.0).
	if f := call("t1", `["GENERAL/user-activity","alice",["user-typing"],{}]`); f["error"] != nil || f["result"] != nil {
		t.Fatalf("accepted write answered %v", f)
	}
	jsonEq(t, b.event("stream-notify-room", "GENERAL/user-activity"), `["alice",["user-typing"],{}]`)
	jsonEq(t, a2.event("stream-notify-room", "GENERAL/user-activity"), `["alice",["user-typing"],{}]`)
	a.quiet("own event", isEvent)
	b.quiet("typing twin", isEvent)

	// Refused writes are silent: no error, no result, no event.
	for id, params := range map[string]string{
		"other-name": `["GENERAL/user-activity","bob",["user-typing"],{}]`,
		"old-typing": `["GENERAL/typing","alice",true]`,
		"no-name":    `["GENERAL/user-activity"]`,
		"other-ev":   `["GENERAL/deleteMessage",{"_id":"x"}]`,
	} {
		if f := call(id, params); f["error"] != nil || f["result"] != nil {
			t.Fatalf("%s: refused write answered %v, want an empty result", id, f)
		}
	}
	b.quiet("refused write's event", isEvent)
	a2.quiet("refused write's event", isEvent)

	// Not logged in: silent too.
	anon := dialDDP(t, s)
	anon.send(`{"msg":"method","method":"stream-notify-room","params":["GENERAL/user-activity","alice",[],{}],"id":"x"}`)
	if f := anon.waitFor("result", func(f map[string]any) bool { return f["msg"] == "result" }); f["error"] != nil {
		t.Fatalf("anonymous write answered %v", f)
	}
	b.quiet("anonymous write's event", isEvent)
}
