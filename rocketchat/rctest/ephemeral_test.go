package rctest

import (
	"strconv"
	"testing"
	"time"
)

// TestEphemeralMentionNotInRoom: mentioning a non-member in a group sends the sender, and only
// the sender, a private ephemeral message on <uid>/message (listeners.module.ts,
// mentionUserNotInChannel.ts); it is not stored and not sent on the room streams.
func TestEphemeralMentionNotInRoom(t *testing.T) {
	s := newTestServer(t, Options{})
	alice := s.AddUser(UserSpec{Username: "alice"})
	s.AddUser(UserSpec{Username: "bob"})
	carol := s.AddUser(UserSpec{Username: "carol"})
	rid := s.AddRoom(RoomSpec{Type: "p", Name: "g", Members: []string{"alice", "bob"}})
	_, tok := s.LoginToken("alice")
	c := dialDDP(t, s)
	c.login(tok)
	if f := c.sub("m", "stream-notify-user", alice+"/message"); f["msg"] != "ready" {
		t.Fatal(f)
	}
	before := time.Now().UnixMilli()
	mid := s.PostMessage(rid, "alice", "hi @carol and @bob")
	args := c.event("stream-notify-user", alice+"/message")
	if len(args) != 1 {
		t.Fatalf("args %v", args)
	}
	m := args[0].(map[string]any)
	id, err := strconv.ParseInt(m["_id"].(string), 10, 64)
	if err != nil || id < before || m["_id"] == mid {
		t.Fatalf("_id %v: want String(Date.now())", m["_id"])
	}
	if m["rid"] != rid || m["private"] != true || m["groupable"] != false || m["msg"] != "" || path(m, "ts", "$date") == nil {
		t.Fatalf("ephemeral %v", m)
	}
	ms, _ := m["mentions"].([]any)
	if len(ms) != 1 || path(ms[0], "_id") != carol {
		t.Fatalf("mentions %v, want only carol", m["mentions"])
	}
	if _, ok := m["u"]; ok {
		t.Fatalf("ephemeral has a sender: %v", m)
	}
	if n := len(s.Messages(rid)); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
	// No ephemeral when every mentioned user is a member.
	s.PostMessage(rid, "alice", "hi @bob")
	c.quiet("ephemeral", func(f map[string]any) bool { return path(f, "fields", "eventName") == alice+"/message" })
}
