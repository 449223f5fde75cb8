package rctest

import (
	"context"
	"testing"

	"github.com/coder/websocket"
)

func TestForceLogout(t *testing.T) {
	s := newTestServer(t, Options{})
	uid := s.AddUser(UserSpec{Username: "alice"})
	_, tok := s.LoginToken("alice")
	c := dialDDP(t, s)
	c.login(tok)
	c.sub("fl", "stream-notify-user", uid+"/force_logout")
	s.ForceLogout("alice")
	jsonEq(t, c.event("stream-notify-user", uid+"/force_logout"), `[]`)
	c.waitClosed(true)
	if s.TokenCount("alice") != 0 {
		t.Fatal("tokens survive ForceLogout")
	}
}

func TestThreadsReactionsAndReadEndpoints(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddUser(UserSpec{Username: "alice"})
	bid := s.AddUser(UserSpec{Username: "bob"})
	aid, atok := s.LoginToken("alice")
	_, btok := s.LoginToken("bob")
	c := dialDDP(t, s)
	c.login(btok)
	c.sub("g", "stream-room-messages", "GENERAL")
	c.sub("my", "stream-room-messages", "__my_messages__")

	parent := s.PostMessage("GENERAL", "alice", "parent")
	c.event("stream-room-messages", "GENERAL")
	r := do(t, s, "POST", "/api/v1/chat.sendMessage", bid, btok, map[string]any{"message": map[string]any{"rid": "GENERAL", "msg": "reply", "tmid": parent}}).want(t, 200)
	if path(r.body, "message", "tmid") != parent {
		t.Fatalf("reply: %s", r.raw)
	}
	c.event("stream-room-messages", "GENERAL") // the reply
	args := c.event("stream-room-messages", "GENERAL")
	if path(args[0], "_id") != parent || path(args[0], "tcount") != float64(1) {
		t.Fatalf("parent update: %v", args)
	}
	do(t, s, "POST", "/api/v1/chat.react", aid, atok, map[string]any{"messageId": parent, "emoji": "smile"}).want(t, 200)
	args = c.event("stream-room-messages", "GENERAL")
	jsonEq(t, path(args[0], "reactions"), `{":smile:":{"usernames":["alice"]}}`)

	if r := do(t, s, "GET", "/api/v1/subscriptions.getOne?roomId=GENERAL", bid, btok, nil).want(t, 200); path(r.body, "subscription", "rid") != "GENERAL" {
		t.Fatalf("getOne: %s", r.raw)
	}
	if r := do(t, s, "GET", "/api/v1/channels.members?roomId=GENERAL", bid, btok, nil).want(t, 200); r.body["total"] != float64(3) {
		t.Fatalf("members: %s", r.raw)
	}
	if r := do(t, s, "GET", "/api/v1/channels.messages?roomId=GENERAL", bid, btok, nil).want(t, 200); r.body["total"] != float64(2) {
		t.Fatalf("messages: %s", r.raw)
	}
	if r := do(t, s, "GET", "/api/v1/channels.list.joined", bid, btok, nil).want(t, 200); r.body["total"] != float64(1) {
		t.Fatalf("list.joined: %s", r.raw)
	}

	dm := s.DirectRoom("alice", "bob")
	s.PostMessage(dm, "alice", "psst")
	args = c.event("stream-room-messages", "__my_messages__")
	for path(args[0], "rid") != dm {
		args = c.event("stream-room-messages", "__my_messages__")
	}
	jsonEq(t, args[1], `{"roomParticipant":true,"roomType":"d"}`)
	if sb, _ := s.Subscription("bob", dm); sb.Name != "alice" || sb.Unread != 1 {
		t.Fatalf("DM subscription: %+v", sb)
	}
}

func TestMembershipHooks(t *testing.T) {
	s := newTestServer(t, Options{})
	uid := s.AddUser(UserSpec{Username: "alice"})
	_, tok := s.LoginToken("alice")
	rid := s.AddRoom(RoomSpec{Type: "p", Name: "hooks"})
	c := dialDDP(t, s)
	c.login(tok)
	c.sub("s", "stream-notify-user", uid+"/subscriptions-changed")
	s.AddMember(rid, "alice")
	if args := c.event("stream-notify-user", uid+"/subscriptions-changed"); args[0] != "inserted" {
		t.Fatalf("AddMember: %v", args)
	}
	// Unread_Count's default counts mentions only in groups (notifyUsersOnMessage.ts).
	s.PostMessage(rid, "admin", "@alice x")
	if args := c.event("stream-notify-user", uid+"/subscriptions-changed"); path(args[1], "unread") != float64(1) || path(args[1], "userMentions") != float64(1) {
		t.Fatalf("post: %v", args)
	}
	s.MarkRead("alice", rid)
	if args := c.event("stream-notify-user", uid+"/subscriptions-changed"); path(args[1], "unread") != float64(0) {
		t.Fatalf("MarkRead: %v", args)
	}
	s.RemoveMember(rid, "alice")
	if args := c.event("stream-notify-user", uid+"/subscriptions-changed"); args[0] != "removed" {
		t.Fatalf("RemoveMember: %v", args)
	}
	if _, ok := s.Subscription("alice", rid); ok {
		t.Fatal("still subscribed")
	}
}

func TestShowDeletedStatus(t *testing.T) {
	s := newTestServer(t, Options{ShowDeletedStatus: true})
	_, tok := s.LoginToken("admin")
	c := dialDDP(t, s)
	c.login(tok)
	c.sub("g", "stream-room-messages", "GENERAL")
	c.sub("d", "stream-notify-room", "GENERAL/deleteMessage")
	mid := s.PostMessage("GENERAL", "admin", "oops")
	c.event("stream-room-messages", "GENERAL")
	s.DeleteMessage(mid)
	args := c.event("stream-room-messages", "GENERAL")
	if path(args[0], "_id") != mid || path(args[0], "t") != "rm" || path(args[0], "msg") != "" || path(args[0], "editedBy", "username") != "admin" {
		t.Fatalf("rm placeholder: %v", args)
	}
	c.quiet("deleteMessage event", func(f map[string]any) bool { return path(f, "fields", "eventName") == "GENERAL/deleteMessage" })
}

func TestFailNextWebSocket(t *testing.T) {
	s := newTestServer(t, Options{})
	s.FailNext("/websocket", 503, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, res, err := websocket.Dial(ctx, s.WebSocketURL(), nil)
	if err == nil || res == nil || res.StatusCode != 503 {
		t.Fatalf("dial: err %v, res %v; want a 503", err, res)
	}
	dialDDP(t, s) // the next upgrade works
}

func TestGroupDM(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddUser(UserSpec{Username: "alice", Name: "Alice"})
	s.AddUser(UserSpec{Username: "bob", Name: "Bob"})
	s.AddUser(UserSpec{Username: "carol", Name: "Carol"})
	aid, atok := s.LoginToken("alice")
	r := do(t, s, "POST", "/api/v1/im.create", aid, atok, map[string]any{"usernames": "bob,carol"}).want(t, 200)
	rid, _ := path(r.body, "room", "_id").(string)
	if len(path(r.body, "room", "usernames").([]any)) != 3 {
		t.Fatalf("group DM: %s", r.raw)
	}
	if sb, ok := s.Subscription("carol", rid); !ok || sb.Name != "alice, bob" {
		t.Fatalf("carol's subscription: %+v", sb)
	}
	again := do(t, s, "POST", "/api/v1/im.create", aid, atok, map[string]any{"usernames": "carol,bob"}).want(t, 200)
	if path(again.body, "room", "_id") != rid {
		t.Fatal("same participants gave another room")
	}
}
