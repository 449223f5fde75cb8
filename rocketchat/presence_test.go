package rocketchat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// TestRealtimePresenceOfWatchedUsers: the watched users' status arrives on one
// stream-user-presence subscription taken from the paced budget ahead of the deletion
// subscriptions (4 per hour here, ten rooms waiting: if deletions went first the presence
// subscription would wait an hour), announced by PresenceFollowedEvent once live; changing the
// watched users edits the list with one more subscription, after which the user no longer
// watched is silent.
func TestRealtimePresenceOfWatchedUsers(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x", NoDefaultChannels: true})
	bid := s.AddUser(rctest.UserSpec{Username: "bob", Password: "x", NoDefaultChannels: true})
	cid := s.AddUser(rctest.UserSpec{Username: "carol", Password: "x", NoDefaultChannels: true})
	for i := range 10 {
		s.AddRoom(rctest.RoomSpec{Type: "p", Name: fmt.Sprint("r", i), Members: []string{"alice", "bob"}})
	}
	short := func(o *RealtimeOptions) { o.RoomSubBudget, o.RoomSubWindow = 4, time.Hour }
	alice := startRealtimeWith(t, s, "alice", short, func(rt *Realtime) { rt.WatchUsers([]string{bid}) })
	alice.next(isConnected(false), "alice connected")

	// Followed: announced once the subscription is live; from then on no change is missed.
	if ev := alice.next(func(ev Event) bool { _, ok := ev.(PresenceFollowedEvent); return ok }, "presence followed").(PresenceFollowedEvent); len(ev.UserIDs) != 1 || ev.UserIDs[0] != bid {
		t.Fatalf("followed %v, want [%s]", ev.UserIDs, bid)
	}
	s.SetStatus("bob", "away") // bob has no connection: stays offline, no event …
	bob := startRealtime(t, s, "bob", nil)
	bob.next(isConnected(false), "bob connected") // … until he connects: then his default shows
	if p := alice.next(func(ev Event) bool { _, ok := ev.(PresenceEvent); return ok }, "bob away").(PresenceEvent); p != (PresenceEvent{UserID: bid, Username: "bob", Status: "away"}) {
		t.Fatalf("first presence event %+v, want bob away", p)
	}
	st, err := newTestClient(t, s, nil).UsersPresence(context.Background(), userCred(s, "alice"), []string{bid, cid})
	if err != nil {
		t.Fatal(err)
	}
	if st[bid] != s.Status("bob") || st[cid] != "offline" {
		t.Fatalf("UsersPresence = %v, want bob %s and carol offline", st, s.Status("bob"))
	}

	// Watch carol instead of bob: one edit, announced for carol only; then bob is silent.
	alice.rt.WatchUsers([]string{cid})
	if ev := alice.next(func(ev Event) bool { _, ok := ev.(PresenceFollowedEvent); return ok }, "carol followed").(PresenceFollowedEvent); len(ev.UserIDs) != 1 || ev.UserIDs[0] != cid {
		t.Fatalf("followed %v, want [%s]", ev.UserIDs, cid)
	}
	carol := startRealtime(t, s, "carol", nil)
	carol.next(isConnected(false), "carol connected")
	s.SetStatus("bob", "busy") // bob's change before carol's: it would come first if followed
	s.SetStatus("carol", "busy")
	for _, want := range []string{"online", "busy"} { // carol connecting, then her default
		if p := alice.next(func(ev Event) bool { _, ok := ev.(PresenceEvent); return ok }, "carol").(PresenceEvent); p != (PresenceEvent{UserID: cid, Username: "carol", Status: want}) {
			t.Fatalf("after unwatching bob got %+v, want carol %s", p, want)
		}
	}
}
