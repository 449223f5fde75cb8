package rctest

import (
	"net/url"
	"testing"
	"time"
)

// TestRoomsCleanHistory: rooms.cleanHistory needs clean-channel-history (the owner or an
// admin), removes the messages in the range into the trash (chat.syncMessages lists them as
// deleted), and sends <rid>/deleteMessageBulk with the criteria, with ids only when a limit
// selected them (cleanRoomHistory.ts).
func TestRoomsCleanHistory(t *testing.T) {
	s := newTestServer(t, Options{})
	aliceID := s.AddUser(UserSpec{Username: "alice"})
	s.AddUser(UserSpec{Username: "bob"})
	rid := s.AddRoom(RoomSpec{Type: "p", Name: "g", Owner: "alice", Members: []string{"alice", "bob"}})
	var ids []string
	for range 4 {
		ids = append(ids, s.PostMessage(rid, "bob", "x"))
	}
	_, aliceTok := s.LoginToken("alice")
	bobID, bobTok := s.LoginToken("bob")
	c := dialDDP(t, s)
	c.login(bobTok)
	if f := c.sub("b", "stream-notify-room", rid+"/deleteMessageBulk"); f["msg"] != "ready" {
		t.Fatal(f)
	}
	since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	all := map[string]any{"roomId": rid, "latest": "9999-12-31T23:59:59Z", "oldest": "0001-01-01T00:00:00Z"}

	r := do(t, s, "POST", "/api/v1/rooms.cleanHistory", bobID, bobTok, all).want(t, 400)
	if r.body["errorType"] != "error-not-allowed" {
		t.Fatalf("member's clean: %s", r.raw)
	}
	do(t, s, "POST", "/api/v1/rooms.cleanHistory", aliceID, aliceTok, map[string]any{"roomId": rid, "oldest": "0001-01-01T00:00:00Z"}).want(t, 400)

	limited := map[string]any{"roomId": rid, "latest": "9999-12-31T23:59:59Z", "oldest": "0001-01-01T00:00:00Z", "limit": 1, "inclusive": true}
	r = do(t, s, "POST", "/api/v1/rooms.cleanHistory", aliceID, aliceTok, limited).want(t, 200)
	jsonEq(t, r.body, `{"_id":"`+rid+`","count":1,"success":true}`)
	args := c.event("stream-notify-room", rid+"/deleteMessageBulk")
	jsonEq(t, args, `[{"rid":"`+rid+`","excludePinned":false,"ignoreDiscussion":false,"ts":{"$gte":{"$date":-62135596800000},"$lte":{"$date":253402300799000}},"users":[],"ids":["`+ids[0]+`"]}]`)

	r = do(t, s, "POST", "/api/v1/rooms.cleanHistory", aliceID, aliceTok, all).want(t, 200)
	if r.body["count"] != float64(3) {
		t.Fatalf("count %v, want 3", r.body["count"])
	}
	args = c.event("stream-notify-room", rid+"/deleteMessageBulk")
	if p, _ := args[0].(map[string]any); p == nil || p["ids"] != nil || path(p, "ts", "$gt") == nil {
		t.Fatalf("unlimited clean: %v, want criteria without ids", args)
	}
	if n := len(s.Messages(rid)); n != 0 {
		t.Fatalf("%d messages left", n)
	}
	r = do(t, s, "GET", "/api/v1/chat.syncMessages?roomId="+rid+"&lastUpdate="+url.QueryEscape(since), bobID, bobTok, nil).want(t, 200)
	deleted, _ := path(r.body, "result", "deleted").([]any)
	if len(deleted) != 4 {
		t.Fatalf("syncMessages deleted %v, want the 4 pruned messages", deleted)
	}
}
