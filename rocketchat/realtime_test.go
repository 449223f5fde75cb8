package rocketchat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// runner runs a Realtime in the background and collects its events.
type runner struct {
	rt     *Realtime
	t      *testing.T
	events chan Event
	done   chan error
	cancel context.CancelFunc
}

func startRealtime(t *testing.T, s *rctest.Server, username string, mod func(*RealtimeOptions)) *runner {
	t.Helper()
	return startRealtimeWith(t, s, username, mod, nil)
}

// startRealtimeWith is startRealtime with before run on the Realtime before Run starts.
func startRealtimeWith(t *testing.T, s *rctest.Server, username string, mod func(*RealtimeOptions), before func(*Realtime)) *runner {
	t.Helper()
	uid, tok := s.LoginToken(username)
	c := newTestClient(t, s, nil)
	o := RealtimeOptions{URL: s.WebSocketURL(), UserID: uid, Token: tok, Client: c,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	rt, err := NewRealtime(o)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(rt)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{rt: rt, t: t, events: make(chan Event, 1000), done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- rt.Run(ctx, func(ev Event) { r.events <- ev }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

// next waits for the first event satisfying match, skipping others.
func (r *runner) next(match func(Event) bool, what string) Event {
	r.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-r.events:
			if match(ev) {
				return ev
			}
		case err := <-r.done:
			r.t.Fatalf("Run returned %v while waiting for %s", err, what)
		case <-deadline:
			r.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func isConnected(gap bool) func(Event) bool {
	return func(ev Event) bool {
		s, ok := ev.(StateEvent)
		return ok && s.State == StateConnected && s.Gap == gap
	}
}

func (r *runner) result() error {
	r.t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // keep it for Cleanup
		return err
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return")
		return nil
	}
}

func TestRealtimeEvents(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.AddUser(rctest.UserSpec{Username: "bob", Password: "x"})
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")

	mid := s.PostMessage("GENERAL", "bob", "hello @alice")
	m := r.next(func(ev Event) bool { _, ok := ev.(MessageEvent); return ok }, "message").(MessageEvent)
	if m.ID != mid || m.RoomID != "GENERAL" || m.UpdatedAt.IsZero() || m.Ephemeral {
		t.Fatalf("message event = %+v", m)
	}
	r.next(func(ev Event) bool { e, ok := ev.(RoomEvent); return ok && e.Action == "updated" }, "rooms-changed")
	r.next(func(ev Event) bool { e, ok := ev.(SubscriptionEvent); return ok && e.RoomID == "GENERAL" }, "subscriptions-changed")
	r.next(func(ev Event) bool { _, ok := ev.(NotificationEvent); return ok }, "notification")

	s.DeleteMessage(mid)
	d := r.next(func(ev Event) bool { _, ok := ev.(MessageDeletedEvent); return ok }, "deleteMessage").(MessageDeletedEvent)
	if d.RoomID != "GENERAL" || d.MessageID != mid {
		t.Fatalf("delete event = %+v", d)
	}

	// A room joined later is followed for deletions too.
	rid := s.AddRoom(rctest.RoomSpec{Type: "p", Name: "later", Members: []string{"bob"}})
	s.AddMember(rid, "alice")
	r.next(func(ev Event) bool {
		e, ok := ev.(SubscriptionEvent)
		return ok && e.Action == "inserted" && e.RoomID == rid
	}, "subscription inserted")
	// The subscription to <rid>/deleteMessage is made asynchronously; post until one of our
	// deletions is reported.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mid2 := s.PostMessage(rid, "bob", "x")
		r.next(func(ev Event) bool { e, ok := ev.(MessageEvent); return ok && e.ID == mid2 }, "message in new room")
		s.DeleteMessage(mid2)
		got := false
		timeout := time.After(300 * time.Millisecond)
	wait:
		for {
			select {
			case ev := <-r.events:
				if e, ok := ev.(MessageDeletedEvent); ok && e.MessageID == mid2 && e.RoomID == rid {
					got = true
					break wait
				}
			case <-timeout:
				break wait
			}
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deletions in a later-joined room are not reported")
		}
	}

	// A message in a public channel alice has not joined is not hers.
	pub := s.AddRoom(rctest.RoomSpec{Type: "c", Name: "public", Members: []string{"bob"}})
	other := s.PostMessage(pub, "bob", "not for alice")
	mine := s.PostMessage("GENERAL", "bob", "for alice")
	ev := r.next(func(ev Event) bool { _, ok := ev.(MessageEvent); return ok }, "next message").(MessageEvent)
	if ev.ID == other || ev.ID != mine {
		t.Fatalf("got message %s, want %s (not %s)", ev.ID, mine, other)
	}
}

func TestRealtimeReconnectsAfterDrop(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.AddUser(rctest.UserSpec{Username: "bob", Password: "x"})
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")
	for i := 0; i < 2; i++ {
		s.DropConnections()
		r.next(func(ev Event) bool {
			e, ok := ev.(StateEvent)
			return ok && e.State == StateDisconnected && e.Err != nil
		}, "disconnected")
		r.next(isConnected(true), "reconnected with gap")
		mid := s.PostMessage("GENERAL", "bob", fmt.Sprintf("after drop %d", i))
		r.next(func(ev Event) bool { e, ok := ev.(MessageEvent); return ok && e.ID == mid }, "message after reconnect")
	}
	if n := s.DDPConnections(s.UserID("alice")); n != 1 {
		t.Fatalf("%d upstream connections, want 1", n)
	}
}

func TestRealtimeReconnectsAfterFailedUpgrades(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")
	s.FailNext("websocket", 503, 3)
	s.DropConnections()
	r.next(isConnected(true), "reconnected after failed upgrades")
}

func TestRealtimeAuthLostOnRevocation(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")
	s.RevokeTokens("alice")
	if err := r.result(); !errors.Is(err, ErrAuthLost) {
		t.Fatalf("Run = %v, want ErrAuthLost", err)
	}
}

func TestRealtimeForcedLogout(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")
	s.ForceLogout("alice")
	r.next(func(ev Event) bool { _, ok := ev.(ForcedLogoutEvent); return ok }, "force_logout")
	if err := r.result(); !errors.Is(err, ErrAuthLost) {
		t.Fatalf("Run = %v, want ErrAuthLost", err)
	}
}

func TestRealtimeExpiredTokenAtStart(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	uid, tok := s.LoginToken("alice")
	s.ExpireTokens("alice")
	r := startRealtime(t, s, "alice", func(o *RealtimeOptions) { o.UserID, o.Token = uid, tok })
	if err := r.result(); !errors.Is(err, ErrAuthLost) {
		t.Fatalf("Run = %v, want ErrAuthLost", err)
	}
}

func TestRealtimeCancel(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")
	r.cancel()
	if err := r.result(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

func TestRealtimeUnreachableKeepsRetrying(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.FailNext("websocket", 502, 1000)
	r := startRealtime(t, s, "alice", nil)
	for i := 0; i < 3; i++ {
		r.next(func(ev Event) bool { e, ok := ev.(StateEvent); return ok && e.State == StateDisconnected }, "disconnected")
	}
	s.FailNext("websocket", 502, 0)
	r.next(isConnected(false), "connected once the server is back")
}

func TestNewRealtimeValidates(t *testing.T) {
	if _, err := NewRealtime(RealtimeOptions{URL: "ws://x"}); err == nil {
		t.Fatal("missing credentials accepted")
	}
	for in, want := range map[string]string{
		"ws://h/websocket":    "ws://h/websocket",
		"https://h":           "wss://h/websocket",
		"http://h:3000/chat/": "ws://h:3000/chat/websocket",
		"ftp://h":             "",
		"h:3000":              "",
	} {
		rt, err := NewRealtime(RealtimeOptions{URL: in, UserID: "u", Token: "t"})
		if want == "" {
			if err == nil {
				t.Errorf("%q accepted", in)
			}
			continue
		}
		if err != nil || rt.opts.URL != want {
			t.Errorf("%q → %v, %v; want %q", in, rt, err, want)
		}
	}
}

func TestRealtimeHeartbeatsWithServer(t *testing.T) {
	// The simulator pings after 30 ms of silence and closes after 60 ms more; the client
	// pings after 40 ms. The connection must survive several rounds of both.
	s := newSim(t, rctest.Options{PingInterval: 30 * time.Millisecond, PingTimeout: 60 * time.Millisecond, ResultBeforeUpdated: true})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.AddUser(rctest.UserSpec{Username: "bob", Password: "x"})
	r := startRealtime(t, s, "alice", func(o *RealtimeOptions) {
		o.URL = s.URL()
		o.PingInterval, o.PingTimeout = 40*time.Millisecond, 200*time.Millisecond
	})
	r.next(isConnected(false), "connected")
	window := time.After(600 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-r.events:
			if st, ok := ev.(StateEvent); ok && st.State == StateDisconnected {
				t.Fatalf("connection lost during heartbeats: %v", st.Err)
			}
		case <-window:
			done = true
		}
	}
	mid := s.PostMessage("GENERAL", "bob", "still there?")
	r.next(func(ev Event) bool { e, ok := ev.(MessageEvent); return ok && e.ID == mid }, "message after heartbeats")
}

func TestDecodeEvent(t *testing.T) {
	const uid = "u1"
	for _, tc := range []struct {
		coll, fields string
		want         Event
		ignored      bool
	}{
		{"stream-room-messages", `{"eventName":"__my_messages__","args":[{"_id":"m","rid":"r","_updatedAt":{"$date":1000}},{"roomParticipant":true,"roomType":"c","roomName":"x"}]}`,
			MessageEvent{RoomID: "r", ID: "m", UpdatedAt: time.UnixMilli(1000), Raw: json.RawMessage(`{"_id":"m","rid":"r","_updatedAt":{"$date":1000}}`)}, false},
		{"stream-room-messages", `{"eventName":"__my_messages__","args":[{"_id":"m","rid":"r"},{"roomParticipant":false}]}`, nil, true},
		{"stream-room-messages", `{"eventName":"r","args":[{"_id":"m","rid":"r","_updatedAt":"2024-07-10T13:48:28.296Z"}]}`,
			MessageEvent{RoomID: "r", ID: "m", UpdatedAt: time.Date(2024, 7, 10, 13, 48, 28, 296e6, time.UTC), Raw: json.RawMessage(`{"_id":"m","rid":"r","_updatedAt":"2024-07-10T13:48:28.296Z"}`)}, false},
		{"stream-notify-user", `{"eventName":"u1/message","args":[{"_id":"e","rid":"r"}]}`,
			MessageEvent{RoomID: "r", ID: "e", Ephemeral: true, Raw: json.RawMessage(`{"_id":"e","rid":"r"}`)}, false},
		{"stream-notify-user", `{"eventName":"u1/subscriptions-changed","args":["removed",{"_id":"s","rid":"r"}]}`,
			SubscriptionEvent{Action: "removed", ID: "s", RoomID: "r", Raw: json.RawMessage(`{"_id":"s","rid":"r"}`)}, false},
		{"stream-notify-user", `{"eventName":"u1/rooms-changed","args":["inserted",{"_id":"r"}]}`,
			RoomEvent{Action: "inserted", RoomID: "r", Raw: json.RawMessage(`{"_id":"r"}`)}, false},
		{"stream-notify-user", `{"eventName":"u1/notification","args":[{"title":"t"}]}`,
			NotificationEvent{Raw: json.RawMessage(`{"title":"t"}`)}, false},
		{"stream-notify-user", `{"eventName":"u1/force_logout","args":[]}`, ForcedLogoutEvent{}, false},
		{"stream-notify-user", `{"eventName":"u2/force_logout","args":[]}`, nil, true},
		{"stream-notify-user", `{"eventName":"u1/userData","args":[{}]}`, nil, true},
		{"stream-notify-room", `{"eventName":"r/deleteMessage","args":[{"_id":"m"}]}`, MessageDeletedEvent{RoomID: "r", MessageID: "m"}, false},
		{"stream-notify-room", `{"eventName":"r/user-activity","args":["bob",[]]}`, UserActivityEvent{RoomID: "r", Username: "bob"}, false},
		{"stream-notify-room", `{"eventName":"r/user-activity","args":["bob",["user-typing"],{}]}`, UserActivityEvent{RoomID: "r", Username: "bob", Typing: true}, false},
		{"stream-notify-room", `{"eventName":"r/typing","args":["bob",true]}`, nil, true},
		{"users", `{"username":"x"}`, nil, true},
	} {
		got, err := decodeEvent(uid, tc.coll, json.RawMessage(tc.fields))
		if tc.ignored {
			if !errors.Is(err, errIgnored) {
				t.Errorf("%s %s: got %v, %v; want ignored", tc.coll, tc.fields, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tc.coll, tc.fields, err)
			continue
		}
		if fmt.Sprintf("%#v", normalize(got)) != fmt.Sprintf("%#v", normalize(tc.want)) {
			t.Errorf("%s %s:\n got %#v\nwant %#v", tc.coll, tc.fields, got, tc.want)
		}
	}
	for _, bad := range []string{
		`{"eventName":"u1/subscriptions-changed","args":[1,{}]}`,
		`{"eventName":"u1/rooms-changed","args":["updated","x"]}`,
		`{"eventName":"u1/notification","args":[]}`,
		`{"eventName":"u1/message","args":[{"_id":"x"}]}`,
		`[1]`,
	} {
		if _, err := decodeEvent(uid, "stream-notify-user", json.RawMessage(bad)); err == nil || errors.Is(err, errIgnored) {
			t.Errorf("%s: err = %v, want a decode error", bad, err)
		}
	}
	if _, err := decodeEvent(uid, "stream-notify-room", json.RawMessage(`{"eventName":"r/deleteMessage","args":[{}]}`)); err == nil {
		t.Error("deleteMessage without _id accepted")
	}
}

func normalize(ev Event) Event {
	if m, ok := ev.(MessageEvent); ok {
		m.UpdatedAt = m.UpdatedAt.UTC()
		return m
	}
	return ev
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add("stream-notify-user", []byte(`{"eventName":"u1/rooms-changed","args":["updated",{"_id":"r"}]}`))
	f.Add("stream-room-messages", []byte(`{"eventName":"__my_messages__","args":[{"_id":"m","rid":"r","_updatedAt":{"$date":1e300}}]}`))
	f.Fuzz(func(t *testing.T, coll string, fields []byte) {
		ev, err := decodeEvent("u1", coll, fields)
		if err == nil && ev == nil {
			t.Fatal("nil event without error")
		}
		if err != nil && ev != nil {
			t.Fatal("event with error")
		}
	})
}

// TestRealtimeFollowsEveryRoomAtLogin: the deletions of every room the user is in at login
// are followed (the room subscriptions go out together, in one round trip).
func TestRealtimeFollowsEveryRoomAtLogin(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.AddUser(rctest.UserSpec{Username: "bob", Password: "x"})
	rooms := []string{"GENERAL"}
	for _, name := range []string{"one", "two", "three"} {
		rid := s.AddRoom(rctest.RoomSpec{Type: "p", Name: name, Members: []string{"bob"}})
		s.AddMember(rid, "alice")
		rooms = append(rooms, rid)
	}
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")
	for _, rid := range rooms {
		mid := s.PostMessage(rid, "bob", "to delete")
		s.DeleteMessage(mid)
		// A deletion may be reported twice (live and by a catch-up fetch): the session dedupes.
		d := r.next(func(ev Event) bool { d, ok := ev.(MessageDeletedEvent); return ok && d.MessageID == mid }, "deleteMessage in "+rid).(MessageDeletedEvent)
		if d.RoomID != rid {
			t.Fatalf("delete event = %+v, want %s in %s", d, mid, rid)
		}
	}
}

// TestRealtimeRetriesRefusedRoomSubscriptions: a server stricter than the pacing budget
// (8 stream subscriptions per 200 ms per connection, 80 per user, against 30 per 200 ms)
// answers too-many-requests; the
// refused rooms are retried after the timeToReset it gives, and no deletion is lost.
func TestRealtimeRetriesRefusedRoomSubscriptions(t *testing.T) {
	s := newSim(t, rctest.Options{DDPRateLimit: rctest.DDPRateLimit{
		ConnectionByMethod: rctest.RateRule{Calls: 2, Interval: 50 * time.Millisecond},
		UserByMethod:       rctest.RateRule{Calls: 20, Interval: 50 * time.Millisecond}}})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.AddUser(rctest.UserSpec{Username: "bob", Password: "x"})
	var rooms []string
	for i := range 25 {
		rooms = append(rooms, s.AddRoom(rctest.RoomSpec{Type: "p", Name: fmt.Sprint("r", i), Members: []string{"alice", "bob"}}))
	}
	r := startRealtime(t, s, "alice", func(o *RealtimeOptions) { o.RoomSubWindow = 200 * time.Millisecond })
	r.next(isConnected(false), "connected")
	want := map[string]string{}
	for _, rid := range rooms {
		want[s.PostMessage(rid, "bob", "x")] = rid
	}
	for mid := range want {
		s.DeleteMessage(mid)
	}
	for len(want) > 0 {
		d := r.next(func(ev Event) bool { _, ok := ev.(MessageDeletedEvent); return ok }, fmt.Sprintf("%d more deletions", len(want))).(MessageDeletedEvent)
		if rid, ok := want[d.MessageID]; ok {
			if d.RoomID != rid {
				t.Fatalf("deletion %+v, want room %s", d, rid)
			}
			delete(want, d.MessageID)
		}
	}
}

// TestRealtimeFollowsDeleteMessageBulk: a prune whose deleteMessageBulk names the ids is
// reported from the event itself (chat.syncMessages is failing here, so no fetch can stand in);
// one without ids is fetched once chat.syncMessages works again.
func TestRealtimeFollowsDeleteMessageBulk(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.AddUser(rctest.UserSpec{Username: "bob", Password: "x"})
	rid := s.AddRoom(rctest.RoomSpec{Type: "p", Name: "g", Members: []string{"alice", "bob"}})
	var ids []string
	for i := range 3 {
		ids = append(ids, s.PostMessage(rid, "bob", fmt.Sprint(i)))
	}
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")
	// A deletion arriving live proves the room is followed.
	mid := s.PostMessage(rid, "bob", "probe")
	s.DeleteMessage(mid)
	r.next(func(ev Event) bool { d, ok := ev.(MessageDeletedEvent); return ok && d.MessageID == mid }, "the probe's deletion")
	// The bulk subscription is paced separately from deleteMessage: wait until it is there, or
	// the bulk event below could only come through the catch-up this test makes fail.
	waitBulkFollowed(t, s, s.UserID("alice"), rid)
	s.FailNext("chat.syncMessages", 500, 1<<30)
	s.CleanHistory(rid, 2)
	for _, id := range ids[:2] {
		r.next(func(ev Event) bool {
			d, ok := ev.(MessageDeletedEvent)
			return ok && d.MessageID == id && d.RoomID == rid
		}, "deletion of "+id)
	}
	s.CleanHistory(rid, 0)
	s.FailNext("chat.syncMessages", 500, 0)
	r.next(func(ev Event) bool { d, ok := ev.(MessageDeletedEvent); return ok && d.MessageID == ids[2] }, "deletion of "+ids[2])
}

// TestRealtimeBusyRoomFetchedOnceInGrace: a busy room sends rooms-changed for every message
// (sendMessage.ts ends with notifyOnRoomChangedById). Marks that arrive within the grace after
// the room's subscription became ready make one catch-up fetch when the grace ends, not one
// chat.syncMessages per message (20 messages made up to 20 fetches per member before).
func TestRealtimeBusyRoomFetchedOnceInGrace(t *testing.T) {
	s := newSim(t, rctest.Options{})
	aid := s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.AddUser(rctest.UserSpec{Username: "bob", Password: "x"})
	rid := s.AddRoom(rctest.RoomSpec{Type: "p", Name: "busy", Members: []string{"alice", "bob"}})
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")
	probe := s.PostMessage(rid, "bob", "probe")
	s.DeleteMessage(probe)
	r.next(func(ev Event) bool { d, ok := ev.(MessageDeletedEvent); return ok && d.MessageID == probe }, "the probe's deletion")
	// Both of the room's subscriptions are in place (deleteMessageBulk is paced apart and has
	// a grace of its own), so one grace fetch is what the room owes.
	waitBulkFollowed(t, s, aid, rid)
	t0 := time.Now()
	for i := range 20 {
		s.PostMessage(rid, "bob", fmt.Sprint("busy ", i))
	}
	fetches := func() int {
		n := 0
		for _, q := range s.Requests() {
			if q.UserID == aid && strings.Contains(q.Path, "chat.syncMessages") && !q.Time.Before(t0) {
				n++
			}
		}
		return n
	}
	// The grace fetch comes when the grace ends (followGrace after the subscription, which
	// was before t0); count once it has come and the grace is surely over.
	deadline := time.Now().Add(followGrace + 5*time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for fetches() == 0 || time.Since(t0) < followGrace+time.Second {
		if time.Now().After(deadline) {
			t.Fatal("no catch-up fetch after the grace")
		}
		<-tick.C
	}
	if n := fetches(); n > 1 {
		t.Fatalf("%d chat.syncMessages for 20 messages in the grace, want 1", n)
	}
}

// waitBulkFollowed waits until uid's upstream follows rid's deleteMessageBulk.
func waitBulkFollowed(t *testing.T, s *rctest.Server, uid, rid string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.StreamSubscribers(uid, "stream-notify-room", rid+"/deleteMessageBulk") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the room's deleteMessageBulk was never followed")
		}
		<-tick.C
	}
}

// TestRealtimeIdleHasOneGoroutine: once its rooms are followed, an idle upstream is one
// goroutine — Run's, which reads the connection (no reader of the ddp client's own, no loop
// for the room follower). Per-user memory in the gateway is mostly goroutine stacks (W1).
func TestRealtimeIdleHasOneGoroutine(t *testing.T) {
	s := newSim(t, rctest.Options{})
	s.AddUser(rctest.UserSpec{Username: "alice", Password: "x"})
	s.AddUser(rctest.UserSpec{Username: "bob", Password: "x"})
	rid := s.AddRoom(rctest.RoomSpec{Type: "p", Name: "one", Members: []string{"bob"}})
	s.AddMember(rid, "alice")
	r := startRealtime(t, s, "alice", nil)
	r.next(isConnected(false), "connected")
	// Followed: a deletion arrives live.
	mid := s.PostMessage(rid, "bob", "to delete")
	s.DeleteMessage(mid)
	r.next(func(ev Event) bool { d, ok := ev.(MessageDeletedEvent); return ok && d.MessageID == mid }, "deleteMessage")
	count := func() (n int, stacks string) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "rocketchat.(*Realtime)") || strings.Contains(g, "rocketchat.(*roomWorker)") ||
				strings.Contains(g, "rocketchat/ddp.(*Client)") {
				n++
				stacks += g + "\n\n"
			}
		}
		return n, stacks
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		n, stacks := count()
		if n == 1 {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d goroutines of the upstream, want 1:\n%s", n, stacks)
		}
	}
	// The follower still works from wake-ups: a room joined now is followed (its deletion
	// arrives live, or from the catch-up its subscription triggers).
	rid2 := s.AddRoom(rctest.RoomSpec{Type: "p", Name: "two", Members: []string{"bob"}})
	s.AddMember(rid2, "alice")
	r.next(func(ev Event) bool { se, ok := ev.(SubscriptionEvent); return ok && se.RoomID == rid2 }, "subscription of the new room")
	mid2 := s.PostMessage(rid2, "bob", "to delete")
	s.DeleteMessage(mid2)
	r.next(func(ev Event) bool { d, ok := ev.(MessageDeletedEvent); return ok && d.MessageID == mid2 }, "deleteMessage in the room joined while idle")
}

// TestFollowerWaitsForARoomsWholeBudget: a room takes two subscriptions (deleteMessage and
// deleteMessageBulk) sent together, so with one slot free the follower's next step is when a
// second frees, not now (waking at once would subscribe nothing and wake again at once).
func TestFollowerWaitsForARoomsWholeBudget(t *testing.T) {
	rt, err := NewRealtime(RealtimeOptions{URL: "ws://x/websocket", UserID: "u", Token: "t", RoomSubBudget: 3, RoomSubWindow: 40 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rt.subSent = []time.Time{now.Add(-30 * time.Second), now.Add(-10 * time.Second)}
	f := rt.newFollower(nil, now)
	f.add(false, "r1")
	if got, want := f.next(now), now.Add(10*time.Second); !got.Equal(want) {
		t.Fatalf("next = now%+v, want now+10s", got.Sub(now))
	}
	rt.Watch([]string{"r1"}) // a typing subscription needs one slot: now
	if got := f.next(now); !got.Equal(now) {
		t.Fatalf("next with typing pending = now%+v, want now", got.Sub(now))
	}
}
