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
	_, _, a, _, _ := e.openDirectRoom()
	bobID := e.rc.UserID(rcName("bob"))
	is := func(status string) func(json.RawMessage) bool {
		return func(r json.RawMessage) bool {
			var v struct{ UserID, Username, Status string }
			_ = json.Unmarshal(r, &v)
			return v.UserID == bobID && v.Username == rcName("bob") && v.Status == status
		}
	}
	nextTarget(t, a, "getPresenceNotification", is("online"))
	// The current status is read once the subscription is live: the next change follows.
	e.rc.SetStatus(rcName("bob"), "away")
	nextTarget(t, a, "getPresenceNotification", is("away"))
}

// openDirectRoom signs alice and bob in, settles one connection each and has alice's tab
// "t1" report their direct room open; it returns their tokens, connections and the room.
func (e *env) openDirectRoom() (atok, btok string, a, b conn, rid string) {
	e.t.Helper()
	atok, btok = token(e.t, "alice", nil, nil, nil), token(e.t, "bob", nil, nil, nil)
	a, b = e.dial(atok), e.dial(btok)
	e.settle("alice", a)
	e.settle("bob", b)
	rid = e.rc.DirectRoom(rcName("alice"), rcName("bob"))
	if st := e.call(http.MethodPut, "/api/im/open-rooms", atok, map[string]any{"tab": "t1", "rooms": []string{rid}}, nil); st != http.StatusNoContent {
		e.t.Fatalf("open-rooms: %d", st)
	}
	return atok, btok, a, b, rid
}
