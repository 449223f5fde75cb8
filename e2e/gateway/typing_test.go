package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// TestTypingBetweenTwoUsers: alice's tab reports the DM open; bob's typing (POST .../typing)
// reaches alice as getTypingNotification through Rocket.Chat's user-activity stream, and
// never comes back to bob; closing the room stops the pushes.
func TestTypingBetweenTwoUsers(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	atok, btok, a, b, rid := e.openDirectRoom()
	// Bob has it open too: his upstream follows the room, and still his own typing is not pushed.
	if st := e.call(http.MethodPut, "/api/im/open-rooms", btok, map[string]any{"tab": "t2", "rooms": []string{rid}}, nil); st != http.StatusNoContent {
		t.Fatalf("open-rooms: %d", st)
	}
	if st := e.call(http.MethodPut, "/api/im/open-rooms", atok, map[string]any{"tab": "bad tab", "rooms": []string{rid}}, nil); st != http.StatusBadRequest {
		t.Fatalf("open-rooms with a bad tab: %d", st)
	}
	if st := e.call(http.MethodPost, "/api/im/rooms/"+rid+"/typing", btok, map[string]any{}, nil); st != http.StatusBadRequest {
		t.Fatalf("typing without typing: %d", st)
	}
	isTyping := func(want bool) func(json.RawMessage) bool {
		return func(r json.RawMessage) bool {
			var v struct {
				RID, Username string
				Typing        bool
			}
			_ = json.Unmarshal(r, &v)
			return v.RID == rid && v.Username == rcName("bob") && v.Typing == want
		}
	}
	// Alice's subscription is set up in the background: bob types once her upstream follows
	// the room's user-activity.
	aliceID := e.rc.UserID(rcName("alice"))
	waitFor(t, "alice's user-activity subscription", 10*time.Second, func() bool {
		return e.rc.StreamSubscribers(aliceID, "stream-notify-room", rid+"/user-activity") > 0
	})
	if st := e.call(http.MethodPost, "/api/im/rooms/"+rid+"/typing", btok, map[string]any{"typing": true}, nil); st != http.StatusNoContent {
		t.Fatalf("typing: %d", st)
	}
	nextTarget(t, a, "getTypingNotification", isTyping(true))
	if st := e.call(http.MethodPost, "/api/im/rooms/"+rid+"/typing", btok, map[string]any{"typing": false}, nil); st != http.StatusNoContent {
		t.Fatalf("typing false: %d", st)
	}
	nextTarget(t, a, "getTypingNotification", isTyping(false))
	// Bob never gets his own: a message after his typing is the next push he sees.
	mid := e.rc.PostMessage(rid, rcName("alice"), "after typing")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		in, err := b.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for alice's message on bob's connection: %v", err)
		}
		if in.Target == "getTypingNotification" {
			t.Fatalf("bob got his own typing back: %s", in.Arg)
		}
		if in.Target == "getRoomMessageNotification" && msgField(in.Arg, "_id") == mid {
			return
		}
	}
}
