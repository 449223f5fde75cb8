package session

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// TestDeletionsReachAUserIn300RoomsWithinTheDDPRateLimit: a user in 300 rooms, against
// Rocket.Chat's default DDP rate limiter (its windows scaled down 100 times: 40 stream
// subscriptions per 400 ms per connection, 80 per user), gets every deletion in every room,
// including rooms whose deleteMessage subscription the gateway has not sent yet.
func TestDeletionsReachAUserIn300RoomsWithinTheDDPRateLimit(t *testing.T) {
	const scale = 100
	so := rctest.Options{DDPRateLimit: rctest.DDPRateLimit{
		ConnectionByMethod: rctest.RateRule{Calls: 10, Interval: 10 * time.Second / scale},
		UserByMethod:       rctest.RateRule{Calls: 20, Interval: 10 * time.Second / scale},
		Connection:         rctest.RateRule{Calls: 600, Interval: time.Minute / scale},
		User:               rctest.RateRule{Calls: 1200, Interval: time.Minute / scale},
	}}
	f := newFixtureSim(t, so, func(o *Options) {
		o.Realtime.RoomSubWindow = 40 * time.Second / scale // the budget (30) stays the default
	})
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	var rooms, msgs []string
	for i := range 300 {
		rid := f.s.AddRoom(rctest.RoomSpec{Type: "p", Name: fmt.Sprintf("room-%03d", i), Members: []string{"u-alice", "bob"}})
		rooms = append(rooms, rid)
		msgs = append(msgs, f.s.PostMessage(rid, "bob", "to be deleted"))
	}
	f.online(t, User{ID: "alice", Username: "alice"}, 1)
	// Live events wait for the first resync: once this one is pushed, the resync is over and
	// only live events can bring the deletions.
	marker := f.s.PostMessage(rooms[0], "bob", "marker")
	waitFor(t, f.rec, "the marker message", func() bool { return f.rec.messagePushes()[marker] > 0 })
	for _, mid := range msgs {
		f.s.DeleteMessage(mid)
	}
	waitFor(t, f.rec, "a deletion push for every room", func() bool {
		n := f.rec.deletedPushes()
		for _, mid := range msgs {
			if n[mid] == 0 {
				return false
			}
		}
		return true
	})
	n := f.rec.deletedPushes()
	for _, mid := range msgs {
		if n[mid] != 1 {
			t.Errorf("deletion of %s pushed %d times, want 1", mid, n[mid])
		}
	}
	// Once every room is followed, a deletion arrives live.
	mid := f.s.PostMessage(rooms[299], "bob", "late")
	f.s.DeleteMessage(mid)
	waitFor(t, f.rec, "a later deletion", func() bool { return f.rec.deletedPushes()[mid] == 1 })
}

// TestEphemeralMessagesAreNotRoomMessages: an ephemeral message (<uid>/message) reaches the
// user under its own target, never as a room message.
func TestEphemeralMessagesAreNotRoomMessages(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	f.s.AddUser(rctest.UserSpec{Username: "carol", Password: "pw-carol-1", NoDefaultChannels: true})
	rid := f.s.AddRoom(rctest.RoomSpec{Type: "p", Name: "g", Members: []string{"u-alice", "bob"}})
	f.online(t, User{ID: "alice", Username: "alice"}, 1)
	mid := f.s.PostMessage(rid, "u-alice", "ping @carol")
	waitFor(t, f.rec, "the ephemeral notice", func() bool { return f.rec.count(TargetEphemeralMessage) == 1 })
	waitFor(t, f.rec, "the message itself", func() bool { return f.rec.messagePushes()[mid] == 1 })
	for id := range f.rec.messagePushes() {
		if id != mid {
			t.Errorf("room message push for %s: only %s was posted", id, mid)
		}
	}
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	for _, p := range f.rec.pushes {
		if p.target == TargetEphemeralMessage && !strings.Contains(string(p.arg), `"private":true`) {
			t.Errorf("ephemeral push %s", p.arg)
		}
	}
}

// gap cuts alice's upstream (Rocket.Chat refuses new connections), runs during, then lets it
// reconnect.
func (f *fixture) gap(t *testing.T, during func()) {
	t.Helper()
	f.s.FailNext("websocket", 503, 1<<30)
	f.s.DropConnections()
	waitFor(t, f.rec, "the upstream to go", func() bool { return f.m.Stats().UpstreamsConnected == 0 })
	during()
	f.s.FailNext("websocket", 503, 0)
	waitFor(t, f.rec, "the reconnect", func() bool {
		st := f.m.Stats()
		return st.Reconnects > 0 && st.UpstreamsConnected == 1
	})
}

// subscriptionPushes returns the getRoomSubscriptionChangedNotification arguments.
func (r *recorder) subscriptionPushes() []struct {
	Method string
	Msg    map[string]any
} {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []struct {
		Method string
		Msg    map[string]any
	}
	for _, p := range r.pushes {
		if p.target != TargetSubscriptionChanged {
			continue
		}
		var v struct {
			Method string         `json:"method"`
			Msg    map[string]any `json:"msg"`
		}
		_ = json.Unmarshal(p.arg, &v)
		out = append(out, struct {
			Method string
			Msg    map[string]any
		}{v.Method, v.Msg})
	}
	return out
}

// TestResyncReportsRemovedSubscriptionsWithTheirRoom: a subscription removed during a gap
// comes back from subscriptions.get as {_id, _deletedAt} only; the browser is told which room
// it was.
func TestResyncReportsRemovedSubscriptionsWithTheirRoom(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	rid := f.s.AddRoom(rctest.RoomSpec{Type: "p", Name: "g", Members: []string{"u-alice", "bob"}})
	sub, _ := f.s.Subscription("u-alice", rid)
	f.online(t, User{ID: "alice", Username: "alice"}, 1)
	f.gap(t, func() { f.s.RemoveMember(rid, "u-alice") })
	waitFor(t, f.rec, "the removal", func() bool {
		for _, p := range f.rec.subscriptionPushes() {
			if p.Method == "removed" {
				return true
			}
		}
		return false
	})
	for _, p := range f.rec.subscriptionPushes() {
		if p.Method == "removed" && (p.Msg["_id"] != sub.ID || p.Msg["rid"] != rid) {
			t.Fatalf("removed %v, want _id %s and rid %s", p.Msg, sub.ID, rid)
		}
	}
}

// TestResyncCoversRoomsJoinedInTheGap: rooms the user joined while its upstream was down (a
// group it was added to, a direct room someone opened with it) reach the resync through the
// new connection's room listing: their messages posted in the gap are pushed.
func TestResyncCoversRoomsJoinedInTheGap(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	f.s.AddUser(rctest.UserSpec{Username: "carol", Password: "pw-carol-1"})
	group := f.s.AddRoom(rctest.RoomSpec{Type: "p", Name: "later", Members: []string{"bob"}})
	f.online(t, User{ID: "alice", Username: "alice"}, 1)
	waitFor(t, f.rec, "the first resync", func() bool { return f.m.Stats().ResyncsDone >= 1 })
	var ids []string
	f.gap(t, func() {
		f.s.AddMember(group, "u-alice")
		ids = append(ids, f.s.PostMessage(group, "bob", "welcome to the group"))
		dm := f.s.DirectRoom("carol", "u-alice")
		ids = append(ids, f.s.PostMessage(dm, "carol", "hello, first time"))
	})
	waitFor(t, f.rec, "the messages of the rooms joined in the gap", func() bool {
		n := f.rec.messagePushes()
		return n[ids[0]] == 1 && n[ids[1]] == 1
	})
}

// TestResyncFindsEditsOfOlderMessages: an edit of a message other than the room's last does
// not change the room's _updatedAt (rooms.get?updatedSince does not list the room), yet the
// resync after a gap pushes it.
func TestResyncFindsEditsOfOlderMessages(t *testing.T) {
	// A small slack, so that the resync's updatedSince is after the room's last change (the
	// posts below happen before the upstream even starts).
	f := newFixture(t, func(o *Options) { o.ResyncSlack = time.Millisecond })
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	rid := f.s.DirectRoom("u-alice", "bob")
	old := f.s.PostMessage(rid, "bob", "first")
	f.s.PostMessage(rid, "bob", "second")
	f.online(t, User{ID: "alice", Username: "alice"}, 1)
	f.gap(t, func() { f.s.EditMessage(old, "first, edited") })
	waitFor(t, f.rec, "the edit", func() bool {
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		for _, p := range f.rec.pushes {
			if p.target == TargetMessage && strings.Contains(string(p.arg), "first, edited") {
				return true
			}
		}
		return false
	})
}

// TestBulkDeletionsReachTheBrowser: a prune (rooms.cleanHistory, retention) sends
// deleteMessageBulk, with the ids when a limit chose them and with criteria only otherwise;
// either way the browser gets one deletion push per removed message.
func TestBulkDeletionsReachTheBrowser(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	rid := f.s.AddRoom(rctest.RoomSpec{Type: "p", Name: "g", Members: []string{"u-alice", "bob"}})
	var ids []string
	for i := range 6 {
		ids = append(ids, f.s.PostMessage(rid, "bob", fmt.Sprint("m", i)))
	}
	f.online(t, User{ID: "alice", Username: "alice"}, 1)
	marker := f.s.PostMessage(rid, "bob", "marker")
	waitFor(t, f.rec, "the marker message", func() bool { return f.rec.messagePushes()[marker] > 0 })
	if n := f.s.CleanHistory(rid, 2); n != 2 { // with ids
		t.Fatalf("pruned %d", n)
	}
	if n := f.s.CleanHistory(rid, 0); n != 5 { // criteria only
		t.Fatalf("pruned %d", n)
	}
	want := append(ids, marker)
	waitFor(t, f.rec, "a deletion push per pruned message", func() bool {
		n := f.rec.deletedPushes()
		for _, id := range want {
			if n[id] == 0 {
				return false
			}
		}
		return true
	})
	for id, n := range f.rec.deletedPushes() {
		if n != 1 {
			t.Errorf("deletion of %s pushed %d times", id, n)
		}
	}
}

// TestColdStartKeepsTheNotification: a message posted right after the user's first browser
// connection, while the upstream is still minting a token and logging in (Rocket.Chat answers
// slowly here, so the race always goes this way), reaches the browser with its desktop
// notification, once.
func TestColdStartKeepsTheNotification(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	rid := f.s.DirectRoom("u-alice", "bob")
	f.s.SetLatency(200 * time.Millisecond)
	u := User{ID: "alice", Username: "alice"}
	f.m.Remember(u)
	f.m.UserOnline(u.ID)
	mid := f.s.PostMessage(rid, "bob", "are you there?")
	waitFor(t, f.rec, "the message", func() bool { return f.rec.messagePushes()[mid] == 1 })
	waitFor(t, f.rec, "its notification", func() bool { return f.rec.count(TargetNotification) == 1 })
	f.rec.mu.Lock()
	for _, p := range f.rec.pushes {
		if p.target == TargetNotification && !strings.Contains(string(p.arg), `"_id":"`+mid+`"`) {
			t.Errorf("notification %s, want one for %s", p.arg, mid)
		}
	}
	f.rec.mu.Unlock()
	// A later message notifies live, once.
	f.s.SetLatency(0)
	later := f.s.PostMessage(rid, "bob", "hello?")
	waitFor(t, f.rec, "the later notification", func() bool { return f.rec.count(TargetNotification) == 2 })
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	var last string
	for _, p := range f.rec.pushes {
		if p.target == TargetNotification {
			last = string(p.arg)
		}
	}
	if !strings.Contains(last, `"_id":"`+later+`"`) {
		t.Fatalf("second notification %s, want one for %s", last, later)
	}
}
