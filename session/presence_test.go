package session

import (
	"context"
	"encoding/json"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

type presenceArg struct {
	UserID   string `json:"userId"`
	Username string `json:"username"`
	Status   string `json:"status"`
}

func (r *recorder) presences() []presenceArg {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []presenceArg
	for _, p := range r.pushes {
		if p.target == TargetPresence {
			var a presenceArg
			_ = json.Unmarshal(p.arg, &a)
			out = append(out, a)
		}
	}
	return out
}

// TestPresenceOfOpenDirectRooms: opening a direct room pushes its partner's current status
// once (users.presence), again for another tab opening it, and then each change (stream-user-presence); a group room's members
// are not followed; a room no longer open stops its partner's pushes.
func TestPresenceOfOpenDirectRooms(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	f.s.AddUser(rctest.UserSpec{Username: "carol", Password: "pw-carol-1"})
	f.s.AddUser(rctest.UserSpec{Username: "dave", Password: "pw-dave-1"})
	dm := f.s.DirectRoom("u-alice", "bob")
	dmCarol := f.s.DirectRoom("u-alice", "carol")
	group := f.s.AddRoom(rctest.RoomSpec{Type: "p", Name: "team", Members: []string{"u-alice", "dave"}})
	bobID, carolID := f.s.UserID("bob"), f.s.UserID("carol")
	f.s.SetStatus("dave", "busy")
	alice := User{ID: "alice", Username: "alice"}
	f.online(t, alice, 1)

	if err := f.m.Watch(context.Background(), alice.ID, "tab1", []string{dm, group}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f.rec, "bob's current status", func() bool { return len(f.rec.presences()) > 0 })
	if got := f.rec.presences(); got[0] != (presenceArg{bobID, "bob", "offline"}) {
		t.Fatalf("first presence push %+v, want bob offline", got[0])
	}

	// The current status is read once the subscription is live, so bob signing in right
	// after it (another client of his) is never missed.
	bob := f.s.Connect("bob")
	defer bob()
	waitFor(t, f.rec, "bob online", func() bool {
		return slices.Contains(f.rec.presences(), presenceArg{bobID, "bob", "online"})
	})
	f.s.SetStatus("bob", "busy")
	waitFor(t, f.rec, "bob busy", func() bool {
		ps := f.rec.presences()
		return ps[len(ps)-1] == presenceArg{bobID, "bob", "busy"}
	})

	// A second tab opening the same room is sent the current status again (it cannot know
	// what the first tab was sent), from memory: Rocket.Chat's REST limiter counts each read.
	busy := func() int {
		n := 0
		for _, p := range f.rec.presences() {
			if p == (presenceArg{bobID, "bob", "busy"}) {
				n++
			}
		}
		return n
	}
	reads := func() int {
		n := 0
		for _, r := range f.s.Requests() {
			if r.Path == "/api/v1/users.presence" {
				n++
			}
		}
		return n
	}
	before := reads()
	if err := f.m.Watch(context.Background(), alice.ID, "tab2", []string{dm}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f.rec, "bob's status for the second tab", func() bool { return busy() == 2 })
	if n := reads(); n != before {
		t.Fatalf("users.presence read %d more times for the second tab: the stream keeps the status current", n-before)
	}
	if err := f.m.Watch(context.Background(), alice.ID, "tab2", nil); err != nil {
		t.Fatal(err)
	}

	// The tab shows carol's room instead: carol's status is pushed; bob's changes stop.
	if err := f.m.Watch(context.Background(), alice.ID, "tab1", []string{dmCarol}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f.rec, "carol's current status", func() bool {
		return slices.Contains(f.rec.presences(), presenceArg{carolID, "carol", "offline"})
	})
	carol := f.s.Connect("carol")
	defer carol()
	waitFor(t, f.rec, "carol online", func() bool {
		return slices.Contains(f.rec.presences(), presenceArg{carolID, "carol", "online"})
	})
	n := len(f.rec.presences())
	f.s.SetStatus("bob", "away")
	f.s.SetStatus("carol", "busy")
	waitFor(t, f.rec, "carol busy", func() bool {
		return slices.Contains(f.rec.presences()[n:], presenceArg{carolID, "carol", "busy"})
	})
	for i, p := range f.rec.presences() {
		if p.Username == "dave" || (p.Username == "bob" && i >= n) {
			t.Fatalf("presence push %+v for a user no open direct room needs", p)
		}
	}
}

// TestIdleUpstreamHasNoPresenceGoroutine: the presence follower has a goroutine only while
// it works (W1: every goroutine of an idle user is a stack the gateway holds per user); it
// still follows a direct room opened afterwards.
func TestIdleUpstreamHasNoPresenceGoroutine(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	dm := f.s.DirectRoom("u-alice", "bob")
	bobID := f.s.UserID("bob")
	alice := User{ID: "alice", Username: "alice"}
	f.online(t, alice, 1)
	// The worker's name from the function itself, so that a rename cannot make the stack
	// search find nothing and the test pass without looking.
	worker := runtime.FuncForPC(reflect.ValueOf((*upstream).presenceWork).Pointer()).Name()
	worker = worker[strings.LastIndex(worker, "/")+1:]
	presence := func() (n int) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, worker) {
				n++
			}
		}
		return n
	}
	waitFor(t, f.rec, "no presence goroutine", func() bool { return presence() == 0 })
	if err := f.m.Watch(context.Background(), alice.ID, "tab1", []string{dm}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f.rec, "bob's current status", func() bool {
		return slices.Contains(f.rec.presences(), presenceArg{bobID, "bob", "offline"})
	})
	waitFor(t, f.rec, "no presence goroutine after the push", func() bool { return presence() == 0 })
}

// TestRefusedRoomIsLookedUpOnce: a tab may report the id of a room the user cannot read;
// Rocket.Chat refuses rooms.info for it (403), and asking on every presence wake (each lease
// renewal, each tab refresh) would only be refused again.
func TestRefusedRoomIsLookedUpOnce(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	f.s.AddUser(rctest.UserSpec{Username: "carol", Password: "pw-carol-1"})
	secret := f.s.AddRoom(rctest.RoomSpec{Type: "p", Name: "secret", Members: []string{"bob"}})
	dm := f.s.DirectRoom("u-alice", "carol")
	alice := User{ID: "alice", Username: "alice"}
	f.online(t, alice, 1)
	infos := func() (n, refused int) {
		for _, r := range f.s.Requests() {
			if strings.HasSuffix(r.Path, "rooms.info") {
				n++
				if r.Status >= 400 {
					refused++
				}
			}
		}
		return n, refused
	}
	// Each tab change wakes the presence work; a readable room after it shows it ran.
	for i, rooms := range [][]string{{secret}, {secret, dm}} {
		if err := f.m.Watch(context.Background(), alice.ID, "tab1", rooms); err != nil {
			t.Fatal(err)
		}
		want := i + 1 // rooms.info answers so far: secret, then dm
		waitFor(t, f.rec, "the room lookups", func() bool { n, _ := infos(); return n >= want })
	}
	waitFor(t, f.rec, "carol's status", func() bool { return len(f.rec.presences()) > 0 })
	if n, refused := infos(); refused != 1 || n != 2 {
		t.Fatalf("rooms.info asked %d times, %d refused; want the refused room asked once", n, refused)
	}
}
