package rctest

import (
	"fmt"
	"net/url"
	"testing"
)

// TestUnreadCountsFollowTheSetting: expectations from updateUsersSubscriptions
// (apps/meteor/app/lib/server/lib/notifyUsersOnMessage.ts): user mentions take priority over
// group mentions, each counted in unread only if Unread_Count includes them, "all_messages"
// counts everything without a group mention, DMs count mentions always and use
// Unread_Count_DM, thread-only replies never count; every other member gets alert.
func TestUnreadCountsFollowTheSetting(t *testing.T) {
	type counts struct{ unread, user, group int }
	for _, tc := range []struct {
		setting, room, text string
		thread              bool
		bob, carol          counts
	}{
		{"", "c", "hello", false, counts{}, counts{}},
		{"", "c", "hi @bob", false, counts{1, 1, 0}, counts{}},
		{"", "c", "hi @all", false, counts{1, 0, 1}, counts{1, 0, 1}},
		{"", "c", "hi @here", false, counts{1, 0, 1}, counts{1, 0, 1}},
		{"", "c", "hi @bob and @all", false, counts{1, 1, 0}, counts{}}, // user mentions win
		{"", "c", "hi @bob", true, counts{}, counts{}},                  // thread replies never count
		{"", "d", "hello", false, counts{1, 0, 0}, counts{}},            // Unread_Count_DM: all_messages
		{UnreadAll, "c", "hello", false, counts{1, 0, 0}, counts{1, 0, 0}},
		{UnreadAll, "c", "hi @bob", false, counts{1, 1, 0}, counts{1, 0, 0}},
		{UnreadAll, "c", "hi @all", false, counts{1, 0, 1}, counts{1, 0, 1}},
		{UnreadUserMentions, "c", "hi @all", false, counts{0, 0, 1}, counts{0, 0, 1}},
		{UnreadUserMentions, "c", "hi @bob", false, counts{1, 1, 0}, counts{}},
		{UnreadGroupMentions, "c", "hi @bob", false, counts{0, 1, 0}, counts{}},
		{UnreadGroupMentions, "c", "hi @all", false, counts{1, 0, 1}, counts{1, 0, 1}},
	} {
		name := fmt.Sprintf("%s/%s/%q/thread=%v", tc.setting, tc.room, tc.text, tc.thread)
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, Options{UnreadCount: tc.setting})
			for _, u := range []string{"alice", "bob", "carol"} {
				s.AddUser(UserSpec{Username: u, NoDefaultChannels: true})
			}
			rid := s.DirectRoom("alice", "bob")
			if tc.room == "c" {
				rid = s.AddRoom(RoomSpec{Type: "c", Name: "team", Owner: "alice", Members: []string{"bob", "carol"}})
			}
			if tc.thread {
				parent := s.PostMessage(rid, "alice", "parent")
				s.MarkRead("bob", rid)
				if tc.room == "c" {
					s.MarkRead("carol", rid)
				}
				s.PostReply(parent, "alice", tc.text)
			} else {
				s.PostMessage(rid, "alice", tc.text)
			}
			check := func(who string, want counts) {
				sb, ok := s.Subscription(who, rid)
				if !ok {
					return
				}
				if got := (counts{sb.Unread, sb.UserMentions, sb.GroupMentions}); got != want {
					t.Errorf("%s: unread/userMentions/groupMentions = %v, want %v", who, got, want)
				}
				if !tc.thread && !sb.Alert {
					t.Errorf("%s: no alert", who)
				}
			}
			check("bob", tc.bob)
			check("carol", tc.carol)
			if sb, _ := s.Subscription("alice", rid); sb.Unread != 0 || sb.Alert {
				t.Errorf("the sender's own subscription changed: %+v", sb)
			}
		})
	}
}

// TestThreadRepliesInHistory: channels.history and im.history pass showThreadMessages ===
// 'true', groups.history showThreadMessages !== 'false' (channels.ts, im.ts, groups.ts under
// apps/meteor/app/api/server/v1); a reply updates its parent's tcount, tlm and replies
// (threads/server/functions.ts reply) and leaves the room's lastMessage alone.
func TestThreadRepliesInHistory(t *testing.T) {
	s := newTestServer(t, Options{})
	aid := s.AddUser(UserSpec{Username: "alice", NoDefaultChannels: true})
	bid := s.AddUser(UserSpec{Username: "bob", NoDefaultChannels: true})
	uid, tok := s.LoginToken("alice")
	rooms := map[string]string{
		"channels": s.AddRoom(RoomSpec{Type: "c", Name: "pub", Owner: "alice", Members: []string{"bob"}}),
		"groups":   s.AddRoom(RoomSpec{Type: "p", Name: "priv", Owner: "alice", Members: []string{"bob"}}),
		"im":       s.DirectRoom("alice", "bob"),
	}
	for kind, rid := range rooms {
		parent := s.PostMessage(rid, "alice", "parent")
		reply := s.PostReply(parent, "bob", "reply")
		ids := func(query string) map[string]bool {
			r := do(t, s, "GET", "/api/v1/"+kind+".history?roomId="+url.QueryEscape(rid)+query, uid, tok, nil).want(t, 200)
			out := map[string]bool{}
			for _, m := range r.body["messages"].([]any) {
				out[path(m, "_id").(string)] = true
			}
			return out
		}
		byDefault := kind == "groups"
		if got := ids(""); !got[parent] || got[reply] != byDefault {
			t.Errorf("%s.history: reply listed %v, want %v (%v)", kind, got[reply], byDefault, got)
		}
		if got := ids("&showThreadMessages=true"); !got[reply] {
			t.Errorf("%s.history?showThreadMessages=true left the reply out", kind)
		}
		if got := ids("&showThreadMessages=false"); got[reply] {
			t.Errorf("%s.history?showThreadMessages=false listed the reply", kind)
		}
		r := do(t, s, "GET", "/api/v1/chat.getMessage?msgId="+parent, uid, tok, nil).want(t, 200)
		m := r.body["message"]
		if path(m, "tcount") != float64(1) || path(m, "tlm") == nil {
			t.Errorf("%s: parent after a reply: %v", kind, m)
		}
		replies, _ := path(m, "replies").([]any)
		if len(replies) != 2 || replies[0] != aid || replies[1] != bid {
			t.Errorf("%s: parent replies %v, want [alice bob]", kind, replies)
		}
		info := do(t, s, "GET", "/api/v1/rooms.info?roomId="+url.QueryEscape(rid), uid, tok, nil).want(t, 200)
		if path(info.body["room"], "lastMessage", "_id") != parent {
			t.Errorf("%s: lastMessage %v, want the parent (a thread-only reply is not the room's last message)", kind, path(info.body["room"], "lastMessage"))
		}
	}
}

// TestDeletingAThreadParentLeavesAPlaceholder: deleteMessage.ts forces keepHistory and
// showDeletedStatus for a message with tcount > 0: it becomes t:"rm" with msg "" and is
// re-emitted on stream-room-messages; no deleteMessage goes out. Deleting a reply lowers the
// parent's tcount (decreaseReplyCountById) and does send deleteMessage.
func TestDeletingAThreadParentLeavesAPlaceholder(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddUser(UserSpec{Username: "alice"})
	s.AddUser(UserSpec{Username: "bob"})
	_, tok := s.LoginToken("bob")
	rid := s.AddRoom(RoomSpec{Type: "c", Name: "team", Members: []string{"alice", "bob"}})
	parent := s.PostMessage(rid, "alice", "parent")
	r1 := s.PostReply(parent, "bob", "one")
	r2 := s.PostReply(parent, "bob", "two")
	c := dialDDP(t, s)
	c.login(tok)
	c.sub("m", "stream-room-messages", rid)
	c.sub("d", "stream-notify-room", rid+"/deleteMessage")

	s.DeleteMessage(r2)
	if args := c.event("stream-room-messages", rid); path(args[0], "_id") != parent || path(args[0], "tcount") != float64(1) {
		t.Fatalf("after deleting a reply: %v, want the parent with tcount 1", args)
	}
	if args := c.event("stream-notify-room", rid+"/deleteMessage"); path(args[0], "_id") != r2 {
		t.Fatalf("deleteMessage %v, want %s", args, r2)
	}

	s.DeleteMessage(parent)
	args := c.event("stream-room-messages", rid)
	if path(args[0], "_id") != parent || path(args[0], "t") != "rm" || path(args[0], "msg") != "" {
		t.Fatalf("deleted parent: %v, want a t:rm placeholder", args)
	}
	c.quiet("deleteMessage for a thread parent", func(f map[string]any) bool {
		return f["collection"] == "stream-notify-room"
	})
	var kept bool
	for _, m := range s.Messages(rid) {
		if m.ID == parent && m.Type == "rm" {
			kept = true
		}
	}
	if !kept {
		t.Fatal("the placeholder is not stored")
	}
	_ = r1
}

// TestSystemMessages: addUserToRoom.ts saves "au" (u: the inviter, msg: the added username)
// or "uj"; removeUserFromRoom.ts "ru" (u: the remover) or "ul", before the subscription goes,
// so the leaving user receives it. saveSystemMessage (apps/meteor/server/services/messages/service.ts)
// counts it in msgs but does not make it the room's lastMessage, nor touch unread.
// Hide_System_Messages leaves the listed types out of history (getChannelHistory.ts).
func TestSystemMessages(t *testing.T) {
	s := newTestServer(t, Options{})
	aid := s.AddUser(UserSpec{Username: "alice", NoDefaultChannels: true})
	bid := s.AddUser(UserSpec{Username: "bob", NoDefaultChannels: true})
	s.AddUser(UserSpec{Username: "carol", NoDefaultChannels: true})
	_, atok := s.LoginToken("alice")
	_, btok := s.LoginToken("bob")
	_, ctok := s.LoginToken("carol")
	rid := s.AddRoom(RoomSpec{Type: "c", Name: "team", Owner: "alice"})
	first := s.PostMessage(rid, "alice", "first")
	c := dialDDP(t, s)
	c.login(btok)
	c.sub("m", "stream-room-messages", rid)

	do(t, s, "POST", "/api/v1/channels.invite", aid, atok, map[string]any{"roomId": rid, "userId": bid}).want(t, 200)
	wantSys := func(typ, msg, by string) {
		t.Helper()
		args := c.event("stream-room-messages", rid)
		if path(args[0], "t") != typ || path(args[0], "msg") != msg || path(args[0], "u", "username") != by || path(args[0], "groupable") != false {
			t.Fatalf("want %s %q by %s, got %v", typ, msg, by, args[0])
		}
	}
	wantSys("au", "bob", "alice")
	cid := s.UserID("carol")
	do(t, s, "POST", "/api/v1/channels.join", cid, ctok, map[string]any{"roomId": rid}).want(t, 200)
	wantSys("uj", "carol", "carol")
	do(t, s, "POST", "/api/v1/channels.kick", aid, atok, map[string]any{"roomId": rid, "userId": cid}).want(t, 200)
	wantSys("ru", "carol", "alice")
	do(t, s, "POST", "/api/v1/channels.leave", bid, btok, map[string]any{"roomId": rid}).want(t, 200)
	wantSys("ul", "bob", "bob") // bob still gets his own leave message

	info := do(t, s, "GET", "/api/v1/channels.info?roomId="+rid, aid, atok, nil).want(t, 200)
	if path(info.body["channel"], "lastMessage", "_id") != first || path(info.body["channel"], "msgs") != float64(5) {
		t.Errorf("room after four system messages: lastMessage %v msgs %v, want %s and 5",
			path(info.body["channel"], "lastMessage", "_id"), path(info.body["channel"], "msgs"), first)
	}
	if sb, _ := s.Subscription("alice", rid); sb.Unread != 0 || sb.Alert {
		t.Errorf("system messages changed the owner's subscription: %+v", sb)
	}
	hist := do(t, s, "GET", "/api/v1/channels.history?roomId="+rid, aid, atok, nil).want(t, 200)
	if n := len(hist.body["messages"].([]any)); n != 5 {
		t.Errorf("history lists %d messages, want 5", n)
	}

	h := newTestServer(t, Options{HideSystemMessages: []string{"uj", "au"}})
	h.AddUser(UserSpec{Username: "alice", NoDefaultChannels: true})
	h.AddUser(UserSpec{Username: "bob", NoDefaultChannels: true})
	hid, htok := h.LoginToken("alice")
	hr := h.AddRoom(RoomSpec{Type: "c", Name: "team", Owner: "alice"})
	hc := dialDDP(t, h)
	hc.login(htok)
	hc.sub("m", "stream-room-messages", hr)
	h.AddMember(hr, "bob")
	h.RemoveMember(hr, "bob")
	// A hidden type is not broadcast either (notifyListener.ts getMessageToBroadcast).
	if args := hc.event("stream-room-messages", hr); path(args[0], "t") != "ru" {
		t.Errorf("first broadcast with au hidden: %v, want the ru", args[0])
	}
	hist = do(t, h, "GET", "/api/v1/channels.history?roomId="+hr, hid, htok, nil).want(t, 200)
	if ms := hist.body["messages"].([]any); len(ms) != 1 || path(ms[0], "t") != "ru" {
		t.Errorf("history with au and uj hidden: %v, want only the ru", ms)
	}
}
