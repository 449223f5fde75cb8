package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// TestPresenceOfTheOpenDirectRoom: alice's tab reports her DM with bob open; her SignalR
// connection gets bob's current status (online: his own connection is up), then his change
// to away through Rocket.Chat's stream-user-presence, as getPresenceNotification.
func TestPresenceOfTheOpenDirectRoom(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	atok, btok := token(t, "alice", nil, nil, nil), token(t, "bob", nil, nil, nil)
	a, b := e.dial(atok), e.dial(btok)
	e.settle("alice", a)
	e.settle("bob", b)
	rid := e.rc.DirectRoom(rcName("alice"), rcName("bob"))
	bobID := e.rc.UserID(rcName("bob"))
	is := func(status string) func(json.RawMessage) bool {
		return func(r json.RawMessage) bool {
			var v struct{ UserID, Username, Status string }
			_ = json.Unmarshal(r, &v)
			return v.UserID == bobID && v.Username == rcName("bob") && v.Status == status
		}
	}
	if st := e.call(http.MethodPut, "/api/im/open-rooms", atok, map[string]any{"tab": "t1", "rooms": []string{rid}}, nil); st != http.StatusNoContent {
		t.Fatalf("open-rooms: %d", st)
	}
	nextTarget(t, a, "getPresenceNotification", is("online"))
	// The current status is read once the subscription is live: the next change follows.
	e.rc.SetStatus(rcName("bob"), "away")
	nextTarget(t, a, "getPresenceNotification", is("away"))
}
