package rocketchat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

func isTyping(rid, username string, typing bool) func(Event) bool {
	return func(ev Event) bool {
		a, ok := ev.(UserActivityEvent)
		return ok && a.RoomID == rid && a.Username == username && a.Typing == typing
	}
}

// TestRealtimeTypingOfWatchedRooms: typing is followed only for watched rooms, ahead of the
// deletion subscriptions when the budget is short (4 per hour here: the watched room is the
// last of ten, and its typing still arrives; one room of deletions takes two more), and a
// room no longer watched is unsubscribed.
// Typing goes out with NotifyTyping as Rocket.Chat's own client sends it.
func TestRealtimeTypingOfWatchedRooms(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x", NoDefaultChannels: true})
	s.AddUser(rctest.UserSpec{Username: "bob", Password: "x", NoDefaultChannels: true})
	var rooms []string
	for i := range 10 {
		rooms = append(rooms, s.AddRoom(rctest.RoomSpec{Type: "p", Name: fmt.Sprint("r", i), Members: []string{"alice", "bob"}}))
	}
	watched, other := rooms[9], rooms[8]
	short := func(o *RealtimeOptions) { o.RoomSubBudget, o.RoomSubWindow = 4, time.Hour }
	alice := startRealtimeWith(t, s, "alice", short, func(rt *Realtime) { rt.Watch([]string{watched}) })
	alice.next(isConnected(false), "alice connected")
	bob := startRealtime(t, s, "bob", short)
	bob.next(isConnected(false), "bob connected")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Alice's typing subscription may still be on its way: bob types until it arrives.
	typed := make(chan struct{})
	go func() {
		defer close(typed)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := bob.rt.NotifyTyping(ctx, watched, "bob", true); err != nil && !errors.Is(err, ErrNotConnected) && ctx.Err() == nil {
				t.Errorf("NotifyTyping: %v", err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	alice.next(isTyping(watched, "bob", true), "bob typing in the watched room")
	cancel()
	<-typed

	if err := bob.rt.NotifyTyping(context.Background(), watched, "bob", false); err != nil {
		t.Fatal(err)
	}
	alice.next(isTyping(watched, "bob", false), "bob stopped")

	// Watch another room instead: the first is unsubscribed before the second is subscribed,
	// so bob's typing in the first (sent before) must not arrive before his typing in the second.
	alice.rt.Watch(nil)
	alice.rt.Watch([]string{other})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	for {
		_ = bob.rt.NotifyTyping(ctx2, watched, "bob", true)
		if err := bob.rt.NotifyTyping(ctx2, other, "bob", true); err != nil {
			t.Fatal(err)
		}
		ev := alice.next(func(ev Event) bool { _, ok := ev.(UserActivityEvent); return ok }, "typing")
		if a := ev.(UserActivityEvent); a.RoomID == other {
			break
		} else if a.RoomID == watched && a.Typing {
			// Only possible while the unsubscribe is still on its way; the other room's
			// subscription comes after it, so keep going until the other room's event.
			continue
		}
	}
	if err := bob.rt.NotifyTyping(ctx2, watched, "bob", false); err != nil {
		t.Fatal(err)
	}
	if err := bob.rt.NotifyTyping(ctx2, other, "bob", false); err != nil {
		t.Fatal(err)
	}
	for {
		a := alice.next(func(ev Event) bool { _, ok := ev.(UserActivityEvent); return ok }, "typing after unwatch").(UserActivityEvent)
		if a.RoomID == watched {
			t.Fatalf("after unwatching %s got %+v", watched, a)
		}
		if !a.Typing {
			return
		}
	}
}

// TestWatchAndTypingRefuseIDsThatAreNotIDs: room ids reach Realtime from browsers (through the
// gateway or another node's relay) and become DDP event names "<rid>/user-activity"; an id with
// a separator would name another event.
func TestWatchAndTypingRefuseIDsThatAreNotIDs(t *testing.T) {
	r := &Realtime{}
	r.Watch([]string{"GENERAL", "x/deleteMessage", "", "a b"})
	if got := r.watched(); len(got) != 1 || got[0] != "GENERAL" {
		t.Fatalf("watched %q, want only GENERAL", got)
	}
	if err := r.NotifyTyping(context.Background(), "GENERAL/other-event", "u", true); err == nil || errors.Is(err, ErrNotConnected) {
		t.Fatalf("typing in a room id with a separator: %v, want refused before anything else", err)
	}
}
