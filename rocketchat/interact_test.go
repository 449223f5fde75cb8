package rocketchat

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// TestReactTogglesAndSets: chat.react stores ":name:" → {usernames} on the message
// (setReaction.ts); without shouldReact it toggles, with it it sets, and the last
// reaction removed drops the field.
func TestReactTogglesAndSets(t *testing.T) {
	s := newSim(t, rctest.Options{})
	c := newTestClient(t, s, nil)
	s.AddUser(rctest.UserSpec{Username: "alice"})
	s.AddUser(rctest.UserSpec{Username: "bob"})
	rid := s.AddRoom(rctest.RoomSpec{Type: "p", Name: "team", Members: []string{"alice", "bob"}})
	mid := s.PostMessage(rid, "alice", "ship it")
	alice, bob := userCred(s, "alice"), userCred(s, "bob")
	ctx := testCtx(t)
	reactions := func() map[string]struct{ Usernames []string } {
		t.Helper()
		raw, err := c.GetMessage(ctx, alice, mid)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Reactions map[string]struct{ Usernames []string } `json:"reactions"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m.Reactions
	}
	if err := c.React(ctx, alice, mid, "thumbsup", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.React(ctx, bob, mid, ":thumbsup:", nil); err != nil {
		t.Fatal(err)
	}
	got := reactions()
	if u := got[":thumbsup:"].Usernames; len(u) != 2 || u[0] != "alice" || u[1] != "bob" {
		t.Fatalf("after two reactions: %+v", got)
	}
	on := true
	if err := c.React(ctx, alice, mid, "thumbsup", &on); err != nil { // already on: no change
		t.Fatal(err)
	}
	if err := c.React(ctx, alice, mid, "thumbsup", nil); err != nil { // toggles off
		t.Fatal(err)
	}
	off := false
	if err := c.React(ctx, bob, mid, "thumbsup", &off); err != nil {
		t.Fatal(err)
	}
	if got := reactions(); got != nil {
		t.Fatalf("every reaction removed, want no reactions field: %+v", got)
	}
	var ae *APIError
	if err := c.React(ctx, alice, "nosuchmessage0000", "thumbsup", nil); !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("unknown message: %v", err)
	}
}

// TestThreadMessagesListsRepliesOldestFirst: chat.getThreadMessages answers the replies
// (not the thread's first message) oldest first, and refuses a room the caller cannot
// read (error-not-allowed) and an unknown thread (error-invalid-message).
func TestThreadMessagesListsRepliesOldestFirst(t *testing.T) {
	s := newSim(t, rctest.Options{})
	c := newTestClient(t, s, nil)
	s.AddUser(rctest.UserSpec{Username: "alice"})
	s.AddUser(rctest.UserSpec{Username: "eve"})
	rid := s.AddRoom(rctest.RoomSpec{Type: "p", Name: "team", Members: []string{"alice"}})
	parent := s.PostMessage(rid, "alice", "question")
	s.PostMessage(rid, "alice", "unrelated")
	r1 := s.PostReply(parent, "alice", "first answer")
	r2 := s.PostReply(parent, "alice", "second answer")
	ctx := testCtx(t)
	l, err := c.ThreadMessages(ctx, userCred(s, "alice"), parent, Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 2 || l.Total != 2 || field(t, l.Items[0], "_id") != r1 || field(t, l.Items[1], "_id") != r2 || field(t, l.Items[0], "tmid") != parent {
		t.Fatalf("thread: %+v", l)
	}
	var ae *APIError
	if _, err := c.ThreadMessages(ctx, userCred(s, "eve"), parent, Page{}); !errors.As(err, &ae) || ae.ErrorType != "error-not-allowed" {
		t.Fatalf("outsider: %v", err)
	}
	if _, err := c.ThreadMessages(ctx, userCred(s, "alice"), "nosuchmessage0000", Page{}); !errors.As(err, &ae) || ae.ErrorType != "error-invalid-message" {
		t.Fatalf("unknown thread: %v", err)
	}
}

// TestSearchMessagesInARoom: chat.search matches text case-insensitively, newest first,
// honours from:, ignores texts under two characters, and refuses a room the caller cannot
// read (messageSearch answers false → API.v1.failure()).
func TestSearchMessagesInARoom(t *testing.T) {
	s := newSim(t, rctest.Options{})
	c := newTestClient(t, s, nil)
	s.AddUser(rctest.UserSpec{Username: "alice"})
	s.AddUser(rctest.UserSpec{Username: "bob"})
	s.AddUser(rctest.UserSpec{Username: "eve"})
	rid := s.AddRoom(rctest.RoomSpec{Type: "p", Name: "team", Members: []string{"alice", "bob"}})
	m1 := s.PostMessage(rid, "alice", "The Deploy is done")
	s.PostMessage(rid, "bob", "lunch?")
	m3 := s.PostMessage(rid, "bob", "next deploy friday")
	ctx := testCtx(t)
	alice := userCred(s, "alice")
	ids := func(ms []json.RawMessage) []any {
		var out []any
		for _, m := range ms {
			out = append(out, field(t, m, "_id"))
		}
		return out
	}
	got, err := c.SearchMessages(ctx, alice, rid, "deploy", Page{})
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(got); len(g) != 2 || g[0] != m3 || g[1] != m1 {
		t.Fatalf("deploy: %v, want [%s %s]", g, m3, m1)
	}
	if got, err = c.SearchMessages(ctx, alice, rid, "deploy from:alice", Page{}); err != nil || len(got) != 1 || ids(got)[0] != m1 {
		t.Fatalf("from:alice: %v %v", ids(got), err)
	}
	if got, err = c.SearchMessages(ctx, alice, rid, "d", Page{}); err != nil || len(got) != 0 {
		t.Fatalf("one character: %v %v", ids(got), err)
	}
	var ae *APIError
	if _, err := c.SearchMessages(ctx, userCred(s, "eve"), rid, "deploy", Page{}); !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("outsider: %v", err)
	}
}
