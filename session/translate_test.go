package session

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

func TestRewriteDates(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{`{"ts":{"$date":1700000000123}}`, `{"ts":"2023-11-14T22:13:20.123Z"}`},
		{`{"ts":{ "$date" : 0 },"x":[{"$date":1}]}`, `{"ts":"1970-01-01T00:00:00.000Z","x":["1970-01-01T00:00:00.001Z"]}`},
		{`{"msg":"{\"$date\":5}"}`, `{"msg":"{\"$date\":5}"}`},                           // inside a string: untouched
		{`{"ts":{"$date":"x"}}`, `{"ts":{"$date":"x"}}`},                                 // not a number: untouched
		{`{"ts":{"$date":12,"y":1}}`, `{"ts":{"$date":12,"y":1}}`},                       // more keys: untouched
		{`{"ts":{"$date":12`, `{"ts":{"$date":12`},                                       // truncated: copied
		{`{"a":"\\","ts":{"$date":1000}}`, `{"a":"\\","ts":"1970-01-01T00:00:01.000Z"}`}, // escaped backslash
	}
	for _, c := range cases {
		if got := string(rewriteDates([]byte(c.in))); got != c.want {
			t.Errorf("rewriteDates(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func FuzzRewriteDates(f *testing.F) {
	f.Add([]byte(`{"ts":{"$date":1700000000123},"m":"x"}`))
	f.Add([]byte(`{"$date":`))
	f.Add([]byte(`"{\"$date\":1}"`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := rewriteDates(in)
		if json.Valid(in) && !json.Valid(out) {
			t.Fatalf("valid input became invalid: %q -> %q", in, out)
		}
	})
}

func TestTranslate(t *testing.T) {
	msg := json.RawMessage(`{"_id":"m1","rid":"r1","msg":"hi","ts":{"$date":1000},"_updatedAt":{"$date":2000}}`)
	msgISO := `{"_id":"m1","rid":"r1","msg":"hi","ts":"1970-01-01T00:00:01.000Z","_updatedAt":"1970-01-01T00:00:02.000Z"}`
	edited := json.RawMessage(`{"_id":"m1","rid":"r1","msg":"hi!","_updatedAt":{"$date":3000},"editedAt":{"$date":3000}}`)
	room := json.RawMessage(`{"_id":"r1","t":"d","lastMessage":` + string(msg) + `,"_updatedAt":{"$date":2000}}`)
	sub := json.RawMessage(`{"_id":"s1","rid":"r1","unread":2,"_updatedAt":{"$date":2000}}`)
	tr := newTranslator("me")
	steps := []struct {
		name       string
		ev         rocketchat.Event
		wantTarget string
		wantArg    string
	}{
		{"room-messages", rocketchat.MessageEvent{RoomID: "r1", ID: "m1", UpdatedAt: time.UnixMilli(2000), Raw: msg}, TargetMessage, msgISO},
		{"rooms-changed carries the same message", rocketchat.RoomEvent{Action: "updated", Raw: room, LastMessage: msg}, "", ""},
		{"edit is a new version", rocketchat.MessageEvent{RoomID: "r1", ID: "m1", UpdatedAt: time.UnixMilli(3000), Raw: edited}, TargetMessage,
			`{"_id":"m1","rid":"r1","msg":"hi!","_updatedAt":"1970-01-01T00:00:03.000Z","editedAt":"1970-01-01T00:00:03.000Z"}`},
		{"room removed", rocketchat.RoomEvent{Action: "removed", Raw: json.RawMessage(`{"_id":"r1"}`)}, "", ""},
		{"room without lastMessage", rocketchat.RoomEvent{Action: "inserted", Raw: json.RawMessage(`{"_id":"r2"}`)}, "", ""},
		{"subscription inserted", rocketchat.SubscriptionEvent{Action: "inserted", RoomID: "r1", Raw: sub}, TargetSubscriptionChanged,
			`{"method":"inserted","msg":{"_id":"s1","rid":"r1","unread":2,"_updatedAt":"1970-01-01T00:00:02.000Z"}}`},
		{"subscription removed", rocketchat.SubscriptionEvent{Action: "removed", Raw: json.RawMessage(`{"_id":"s1"}`)}, TargetSubscriptionChanged,
			`{"method":"removed","msg":{"_id":"s1"}}`},
		{"deleted", rocketchat.MessageDeletedEvent{RoomID: "r1", MessageID: "m1"}, TargetMessageDeleted, `{"rid":"r1","_id":"m1"}`},
		{"deleted twice", rocketchat.MessageDeletedEvent{RoomID: "r1", MessageID: "m1"}, "", ""},
		{"notification", rocketchat.NotificationEvent{Raw: json.RawMessage(`{"title":"bob","text":"hi","payload":{"rid":"r1"}}`)}, TargetNotification,
			`{"title":"bob","text":"hi","payload":{"rid":"r1"}}`},
		{"state", rocketchat.StateEvent{State: rocketchat.StateConnected}, "", ""},
	}
	for _, s := range steps {
		p, ok := tr.translate(s.ev)
		if s.wantTarget == "" {
			if ok {
				t.Errorf("%s: pushed %s %s, want nothing", s.name, p.Target, p.Arg)
			}
			continue
		}
		if !ok || p.Target != s.wantTarget || string(p.Arg) != s.wantArg {
			t.Errorf("%s: got (%v) %s %s, want %s %s", s.name, ok, p.Target, p.Arg, s.wantTarget, s.wantArg)
		}
	}
	// A REST copy (ISO dates) of an already pushed version is recognised too.
	if p, ok := tr.rawMessage(json.RawMessage(msgISO)); ok {
		t.Errorf("REST copy of a pushed message pushed again: %s", p.Arg)
	}
}

var benchMessage = json.RawMessage(`{"_id":"Xb7pQ2kWcTn4","rid":"GENERAL","msg":"Hello everyone, the build is green again.","ts":{"$date":1763800000123},"u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"_updatedAt":{"$date":1763800000123},"urls":[],"mentions":[],"channels":[],"md":[{"type":"PARAGRAPH","value":[{"type":"PLAIN_TEXT","value":"Hello everyone, the build is green again."}]}]}`)

// BenchmarkRewriteDates is the EJSON rewrite; BenchmarkRewriteDatesBaseline the cost of
// only validating the same bytes with encoding/json, measured in the same run.
func BenchmarkRewriteDates(b *testing.B) {
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		_ = rewriteDates(benchMessage)
	}
}

func BenchmarkRewriteDatesBaseline(b *testing.B) {
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		_ = json.Valid(benchMessage)
	}
}

func BenchmarkTranslateMessage(b *testing.B) {
	tr := newTranslator("me")
	i := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		i++
		_, _ = tr.translate(rocketchat.MessageEvent{RoomID: "GENERAL", ID: "x", UpdatedAt: time.UnixMilli(i), Raw: benchMessage})
	}
}

// BenchmarkTranslateRoomsChanged is a busy room's rooms-changed as the decoder delivers it
// (the room and its lastMessage, a new version each time): the message is pushed once.
func BenchmarkTranslateRoomsChanged(b *testing.B) {
	// Twice the dedupe window of versions, cycled: each is new when it comes round again.
	msgs := make([]json.RawMessage, 2*dedupeWindow)
	for i := range msgs {
		msgs[i] = json.RawMessage(`{"_id":"Xb7pQ2kWcTn4","rid":"GENERAL","msg":"Hello everyone, the build is green again.","ts":{"$date":1763800000123},"u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"_updatedAt":{"$date":` + fmt.Sprint(1763800000123+i) + `},"urls":[],"mentions":[],"channels":[],"md":[{"type":"PARAGRAPH","value":[{"type":"PLAIN_TEXT","value":"Hello everyone, the build is green again."}]}]}`)
	}
	tr := newTranslator("me")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		lm := msgs[i%len(msgs)]
		i++
		if _, ok := tr.translate(rocketchat.RoomEvent{Action: "updated", RoomID: "GENERAL", Raw: lm, LastMessage: lm}); !ok {
			b.Fatal("not pushed")
		}
	}
}

func TestDedupeWindowForgetsOldest(t *testing.T) {
	tr := newTranslator("me")
	for i := range dedupeWindow + 10 {
		if !tr.firstTime(fmt.Sprint(i)) {
			t.Fatalf("key %d seen before", i)
		}
	}
	if tr.firstTime(fmt.Sprint(dedupeWindow + 5)) {
		t.Fatal("a recent key was forgotten")
	}
	if !tr.firstTime("3") {
		t.Fatal("an old key outside the window is still remembered")
	}
	if len(tr.seen) != dedupeWindow || len(tr.ring) != dedupeWindow {
		t.Fatalf("window holds %d/%d keys, want %d", len(tr.seen), len(tr.ring), dedupeWindow)
	}
}

// TestPlaceholderInTheSameMillisecond: a t:"rm" placeholder with the _updatedAt of the
// version before it is still pushed (deleteMessage.ts may follow a thread reply's parent
// update within one millisecond).
func TestPlaceholderInTheSameMillisecond(t *testing.T) {
	tr := newTranslator("me")
	live := json.RawMessage(`{"_id":"p","rid":"r","msg":"question","tcount":1,"_updatedAt":{"$date":5000}}`)
	rm := json.RawMessage(`{"_id":"p","rid":"r","msg":"","t":"rm","tcount":1,"_updatedAt":{"$date":5000}}`)
	if _, ok := tr.rawMessage(live); !ok {
		t.Fatal("the live version was not pushed")
	}
	if _, ok := tr.rawMessage(live); ok {
		t.Fatal("the live version was pushed twice")
	}
	if p, ok := tr.rawMessage(rm); !ok || !strings.Contains(string(p.Arg), `"t":"rm"`) {
		t.Fatalf("the placeholder was not pushed: %s %v", p.Arg, ok)
	}
}

// Another user's typing becomes getTypingNotification; the user's own (which Rocket.Chat
// sends to the user's other clients) is not pushed back.
func TestTranslateTyping(t *testing.T) {
	tr := newTranslator("me")
	p, ok := tr.translate(rocketchat.UserActivityEvent{RoomID: "r1", Username: "bob", Typing: true})
	if !ok || p.Target != TargetTyping || string(p.Arg) != `{"rid":"r1","username":"bob","typing":true}` {
		t.Fatalf("bob typing: %v %s %s", ok, p.Target, p.Arg)
	}
	p, ok = tr.translate(rocketchat.UserActivityEvent{RoomID: "r1", Username: "bob"})
	if !ok || string(p.Arg) != `{"rid":"r1","username":"bob","typing":false}` {
		t.Fatalf("bob stopped: %v %s", ok, p.Arg)
	}
	if p, ok := tr.translate(rocketchat.UserActivityEvent{RoomID: "r1", Username: "me", Typing: true}); ok {
		t.Fatalf("own typing pushed: %s %s", p.Target, p.Arg)
	}
}

func TestWatchBookUnionAndExpiry(t *testing.T) {
	var b watchBook
	now := time.Now()
	b.set("u", "tab1", []string{"b", "a"}, now)
	b.set("u", "tab2", []string{"a", "c"}, now.Add(WatchTTL/2))
	if got := b.rooms("u", now); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("union = %v", got)
	}
	if got := b.rooms("u", now.Add(WatchTTL)); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("after tab1 expired = %v", got)
	}
	b.set("u", "tab2", nil, now)
	if got := b.rooms("u", now); got != nil {
		t.Fatalf("after tab2 closed = %v", got)
	}
}

// TestSameVersionWhateverItsPath: a message's version reads its _updatedAt as the stream's
// decoder does (rocketchat.Date), so one seen on stream-room-messages and again in a room's
// lastMessage or a resync is pushed once, whether _updatedAt is EJSON, ISO-8601 or missing.
func TestSameVersionWhateverItsPath(t *testing.T) {
	tr := newTranslator("me")
	for _, c := range []struct {
		id      string
		updated time.Time
		raw     string
	}{
		{"a", time.UnixMilli(5000), `{"_id":"a","rid":"r","msg":"x","_updatedAt":{"$date":5000}}`},
		{"b", time.UnixMilli(5000), `{"_id":"b","rid":"r","msg":"x","_updatedAt":"1970-01-01T00:00:05.000Z"}`},
		{"c", time.Time{}, `{"_id":"c","rid":"r","msg":"x"}`},
	} {
		if _, ok := tr.translate(rocketchat.MessageEvent{RoomID: "r", ID: c.id, UpdatedAt: c.updated, Raw: json.RawMessage(c.raw)}); !ok {
			t.Fatalf("%s: the stream's message was not pushed", c.id)
		}
		if p, ok := tr.rawMessage(json.RawMessage(c.raw)); ok {
			t.Fatalf("%s: the same version was pushed again: %s", c.id, p.Arg)
		}
	}
}

// TestWatchBookBoundsTabs: a user cannot grow the followed rooms by inventing tab ids; a new
// tab beyond maxWatchTabs replaces the one refreshed least recently.
func TestWatchBookBoundsTabs(t *testing.T) {
	var b watchBook
	now := time.Now()
	for i := range maxWatchTabs + 10 {
		b.set("u", fmt.Sprint("tab", i), []string{fmt.Sprint("r", i)}, now.Add(time.Duration(i)*time.Millisecond))
	}
	got := b.rooms("u", now)
	if len(got) != maxWatchTabs {
		t.Fatalf("%d rooms followed, want %d", len(got), maxWatchTabs)
	}
	if slices.Contains(got, "r0") || !slices.Contains(got, fmt.Sprint("r", maxWatchTabs+9)) {
		t.Fatalf("the stalest tabs should have gone, not the newest: %v", got)
	}
}
