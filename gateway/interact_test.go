package gateway

import (
	"net/url"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

func TestReactionsThreadsAndSearch(t *testing.T) {
	f := newFixture(t, nil)
	f.rc.AddUser(rctest.UserSpec{Username: "eve"})
	rid := f.rc.AddRoom(rctest.RoomSpec{Type: "p", Name: "team", Members: []string{"alice", "bob"}})
	alice, bob, eve := f.token("alice"), f.token("bob"), f.token("eve")
	var sent struct{ Message map[string]any }
	if st := f.do("POST", "/api/im/rooms/"+rid+"/messages", alice, map[string]string{"text": "Deploy tonight?"}, &sent); st != 201 {
		t.Fatalf("send: %d", st)
	}
	mid := sent.Message["_id"].(string)
	base := "/api/im/rooms/" + rid + "/messages/" + mid

	// Reactions: stored as ":name:" → {usernames} on the message (setReaction.ts).
	if st := f.do("POST", base+"/reactions", bob, map[string]any{"emoji": "+1"}, nil); st != 204 {
		t.Fatalf("react: %d", st)
	}
	if st := f.do("POST", base+"/reactions", alice, map[string]any{"emoji": ":+1:", "on": true}, nil); st != 204 {
		t.Fatalf("react on: %d", st)
	}
	var hist struct {
		Messages []struct {
			ID        string `json:"_id"`
			Reactions map[string]struct{ Usernames []string }
		}
	}
	if st := f.do("GET", "/api/im/rooms/"+rid+"/messages", alice, nil, &hist); st != 200 || len(hist.Messages) == 0 || hist.Messages[0].ID != mid {
		t.Fatalf("history: %d %+v", st, hist)
	}
	if got := hist.Messages[0].Reactions[":+1:"].Usernames; len(got) != 2 || got[0] != "bob" || got[1] != "alice" {
		t.Fatalf("reactions: %+v", hist.Messages[0].Reactions)
	}
	if st := f.do("POST", base+"/reactions", bob, map[string]any{"emoji": "not an emoji"}, nil); st != 400 {
		t.Fatalf("bad emoji: %d", st)
	}

	// A reply in the thread, then the thread lists it; the main history lists it with tmid.
	var reply struct{ Message map[string]any }
	if st := f.do("POST", "/api/im/rooms/"+rid+"/messages", bob, map[string]string{"text": "yes, after 8", "tmid": mid}, &reply); st != 201 || reply.Message["tmid"] != mid {
		t.Fatalf("reply: %d %v", st, reply.Message)
	}
	var thread struct {
		Messages []map[string]any
		Total    int
		HasMore  bool
	}
	if st := f.do("GET", "/api/im/rooms/"+rid+"/threads/"+mid+"/messages", alice, nil, &thread); st != 200 || len(thread.Messages) != 1 || thread.Total != 1 || thread.HasMore || thread.Messages[0]["msg"] != "yes, after 8" {
		t.Fatalf("thread: %d %+v", st, thread)
	}
	general := f.rc.AddRoom(rctest.RoomSpec{Type: "c", Name: "elsewhere", Members: []string{"alice"}})
	if st := f.do("GET", "/api/im/rooms/"+general+"/threads/"+mid+"/messages", alice, nil, nil); st != 404 {
		t.Fatalf("thread asked through another room: %d", st)
	}
	if st := f.do("GET", "/api/im/rooms/"+rid+"/threads/"+mid+"/messages", eve, nil, nil); st < 400 {
		t.Fatalf("outsider reads the thread: %d", st)
	}

	// Search: case-insensitive words, newest first; an outsider is refused.
	var found struct{ Messages []map[string]any }
	if st := f.do("GET", "/api/im/rooms/"+rid+"/search?q="+url.QueryEscape("deploy"), bob, nil, &found); st != 200 || len(found.Messages) != 1 || found.Messages[0]["_id"] != mid {
		t.Fatalf("search: %d %+v", st, found)
	}
	if st := f.do("GET", "/api/im/rooms/"+rid+"/search?q=", bob, nil, nil); st != 400 {
		t.Fatalf("empty search: %d", st)
	}
	if st := f.do("GET", "/api/im/rooms/"+rid+"/search?q=deploy", eve, nil, nil); st < 400 {
		t.Fatalf("outsider searches: %d", st)
	}
}
