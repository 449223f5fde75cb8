package rocketchat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

func isPresence(username, status string) func(Event) bool {
	return func(ev Event) bool {
		p, ok := ev.(PresenceEvent)
		return ok && p.Username == username && (status == "" || p.Status == status)
	}
}

// TestRealtimePresenceOfWatchedUsers: the watched users' status arrives on one
// stream-user-presence subscription taken from the paced budget ahead of the deletion
// subscriptions (4 per hour here, ten rooms waiting: if deletions went first the presence
// subscription would wait an hour); changing the watched users edits the list with one more
// subscription, after which the user no longer watched is silent.
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

	// The subscription may still be on its way: bob's status flips until one change arrives.
	flip := []string{"away", "busy"}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		s.SetStatus("bob", flip[i%2]) // bob has no connection: stays offline, no event …
		if i == 0 {
			bob := startRealtime(t, s, "bob", nil) // … until he connects: then the default status shows
			bob.next(isConnected(false), "bob connected")
		}
		select {
		case ev := <-alice.events:
			if p, ok := ev.(PresenceEvent); ok {
				if p.UserID != bid || p.Username != "bob" || (p.Status != "away" && p.Status != "busy") {
					t.Fatalf("first presence event %+v", p)
				}
				goto watched
			}
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no presence event for the watched user")
		}
	}
watched:
	st, err := newTestClient(t, s, nil).UsersPresence(context.Background(), userCred(s, "alice"), []string{bid, cid})
	if err != nil {
		t.Fatal(err)
	}
	if st[bid] != s.Status("bob") || st[cid] != "offline" {
		t.Fatalf("UsersPresence = %v, want bob %s and carol offline", st, s.Status("bob"))
	}

	// Watch carol instead of bob: one edit; after carol's first event bob is silent.
	alice.rt.WatchUsers([]string{cid})
	for i := 0; ; i++ {
		s.SetStatus("bob", flip[i%2])
		s.SetStatus("carol", flip[i%2])
		if i == 0 {
			carol := startRealtime(t, s, "carol", nil)
			carol.next(isConnected(false), "carol connected")
		}
		ev := alice.next(func(ev Event) bool { _, ok := ev.(PresenceEvent); return ok }, "presence after the edit")
		if ev.(PresenceEvent).Username == "carol" {
			break
		}
	}
	s.SetStatus("bob", "online")
	s.SetStatus("carol", "online")
	if p := alice.next(func(ev Event) bool { _, ok := ev.(PresenceEvent); return ok }, "carol online").(PresenceEvent); p.Username != "carol" || p.Status != "online" {
		t.Fatalf("after unwatching bob got %+v", p)
	}
}
