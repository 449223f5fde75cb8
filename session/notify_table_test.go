package session

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// notifyCases are desktop-notification rules from apps/meteor/app/lib/server/lib/sendNotificationsOnMessage.ts
// and apps/meteor/app/lib/server/functions/notifications/desktop.ts (defaults: the server
// preference "all", Unread/notification settings untouched). Each case is run against the
// simulator (does alice get <uid>/notification live?) and against gapNotification (would the
// resync rebuild it?). want is Rocket.Chat's answer; gap, when set, is where the rebuild
// knowingly differs.
var notifyCases = []struct {
	name  string
	room  string // "c" or "d"
	prefs rctest.NotificationPrefs
	from  string // who posts: "bob" or "alice"
	// parent, when set, makes the message a thread reply to a parent posted by that user.
	parent string
	text   string
	want   bool
	gap    *bool
}{
	{name: "channel, default preference", room: "c", from: "bob", text: "hello", want: true},
	{name: "DM, default preference", room: "d", from: "bob", text: "hello", want: true},
	{name: "own message", room: "c", from: "alice", text: "hello", want: false},
	{name: "preference nothing", room: "c", prefs: rctest.NotificationPrefs{DesktopNotifications: "nothing"}, from: "bob", text: "hi @alice", want: false},
	{name: "muted room", room: "d", prefs: rctest.NotificationPrefs{DisableNotifications: true}, from: "bob", text: "hello", want: false},
	{name: "mentions, not named", room: "c", prefs: rctest.NotificationPrefs{DesktopNotifications: "mentions"}, from: "bob", text: "hello", want: false},
	{name: "mentions, named", room: "c", prefs: rctest.NotificationPrefs{DesktopNotifications: "mentions"}, from: "bob", text: "hi @alice", want: true},
	{name: "mentions, @all", room: "c", prefs: rctest.NotificationPrefs{DesktopNotifications: "mentions"}, from: "bob", text: "hi @all", want: true},
	{name: "mentions, @here", room: "c", prefs: rctest.NotificationPrefs{DesktopNotifications: "mentions"}, from: "bob", text: "hi @here", want: true},
	{name: "mentions, DM", room: "d", prefs: rctest.NotificationPrefs{DesktopNotifications: "mentions"}, from: "bob", text: "hello", want: true},
	{name: "group mentions muted", room: "c", prefs: rctest.NotificationPrefs{MuteGroupMentions: true}, from: "bob", text: "hi @all", want: false},
	{name: "group mentions muted, named too", room: "c", prefs: rctest.NotificationPrefs{MuteGroupMentions: true}, from: "bob", text: "hi @all @alice", want: true},
	{name: "thread reply, not taking part", room: "c", from: "bob", parent: "bob", text: "reply", want: false},
	{name: "thread reply, @all, not taking part", room: "c", from: "bob", parent: "bob", text: "reply @all", want: false},
	{name: "thread reply naming her", room: "c", from: "bob", parent: "bob", text: "reply @alice", want: true},
	// The parent's author takes part: Rocket.Chat notifies her, the rebuild cannot know.
	{name: "thread reply to her message", room: "c", from: "bob", parent: "alice", text: "reply", want: true, gap: new(bool)},
}

// TestDesktopNotificationsTable holds the simulator and the resync's rebuild to one table.
func TestDesktopNotificationsTable(t *testing.T) {
	f := newFixture(t, nil)
	me := User{ID: "alice", Username: "alice"}
	f.m.Remember(me)
	alice := f.m.Username(me.ID)
	f.s.AddUser(rctest.UserSpec{Username: alice, NoDefaultChannels: true})
	f.s.AddUser(rctest.UserSpec{Username: "bob", NoDefaultChannels: true})
	aliceID := f.online(t, me, 1)
	_, tok := f.s.LoginToken(alice)
	sentinelRoom := f.s.AddRoom(rctest.RoomSpec{Type: "p", Name: "sentinel", Members: []string{alice, "bob"}})
	// A first notification proves the upstream's notification stream is live.
	first := f.s.PostMessage(sentinelRoom, "bob", "ready?")
	waitFor(t, f.rec, "the first notification", func() bool { return f.rec.notified()[first] > 0 })

	for i, tc := range notifyCases {
		t.Run(tc.name, func(t *testing.T) {
			var rid string
			if tc.room == "d" {
				// One DM per case: a DM needs a new partner each time.
				other := fmt.Sprintf("bob%d", i)
				f.s.AddUser(rctest.UserSpec{Username: other, NoDefaultChannels: true})
				rid = f.s.DirectRoom(alice, other)
				tc.from = map[string]string{"bob": other, "alice": alice}[tc.from]
			} else {
				rid = f.s.AddRoom(rctest.RoomSpec{Type: "c", Name: fmt.Sprintf("case-%d", i), Members: []string{alice, "bob"}})
				tc.from = map[string]string{"bob": "bob", "alice": alice}[tc.from]
			}
			if tc.prefs != (rctest.NotificationPrefs{}) {
				f.s.SetNotificationPrefs(alice, rid, tc.prefs)
			}
			// "@alice" names her derived Rocket.Chat account.
			tc.text = strings.ReplaceAll(tc.text, "@alice", "@"+alice)
			from := time.Now()
			var mid string
			if tc.parent != "" {
				parent := f.s.PostMessage(rid, map[string]string{"bob": "bob", "alice": alice}[tc.parent], "parent")
				mid = f.s.PostReply(parent, tc.from, tc.text)
			} else {
				mid = f.s.PostMessage(rid, tc.from, tc.text)
			}
			// Events reach alice in order: once the sentinel's notification is in, the case's
			// would be too.
			sentinel := f.s.PostMessage(sentinelRoom, "bob", "sentinel")
			waitFor(t, f.rec, "the sentinel notification", func() bool { return f.rec.notified()[sentinel] > 0 })
			if got := f.rec.notified()[mid] > 0; got != tc.want {
				t.Errorf("simulator: notified %v, want %v", got, tc.want)
			}
			msg := restField(t, f.s, aliceID, tok, "/api/v1/chat.getMessage?msgId="+mid, "message")
			sub := restField(t, f.s, aliceID, tok, "/api/v1/subscriptions.getOne?roomId="+url.QueryEscape(rid), "subscription")
			want := tc.want
			if tc.gap != nil {
				want = *tc.gap
			}
			if _, got := gapNotification(aliceID, msg, sub, from, time.Now()); got != want {
				t.Errorf("gapNotification: %v, want %v (message %s, subscription %s)", got, want, msg, sub)
			}
		})
	}
}

// notified counts getNotification pushes per message id (payload._id).
func (r *recorder) notified() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[string]int{}
	for _, p := range r.pushes {
		if p.target != TargetNotification {
			continue
		}
		var v struct {
			Payload struct {
				ID string `json:"_id"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(p.arg, &v)
		n[v.Payload.ID]++
	}
	return n
}

// restField GETs path from the simulator as uid and returns the answer's field key.
func restField(t *testing.T, s *rctest.Server, uid, token, path, key string) json.RawMessage {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-User-Id", uid)
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v map[string]json.RawMessage
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil || len(v[key]) == 0 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return v[key]
}

// TestThreadAndSystemMessagesReachTheBrowser: a deleted thread parent becomes a t:"rm"
// placeholder on stream-room-messages with no deleteMessage (deleteMessage.ts forces
// showDeletedStatus when tcount > 0), so the browser gets it as a message update and no
// deletion; an invitation's "au" system message (addUserToRoom.ts) arrives as a message.
func TestThreadAndSystemMessagesReachTheBrowser(t *testing.T) {
	f := newFixture(t, nil)
	me := User{ID: "alice", Username: "alice"}
	f.m.Remember(me)
	alice := f.m.Username(me.ID)
	f.s.AddUser(rctest.UserSpec{Username: alice, NoDefaultChannels: true})
	f.s.AddUser(rctest.UserSpec{Username: "bob", NoDefaultChannels: true})
	f.s.AddUser(rctest.UserSpec{Username: "carol", NoDefaultChannels: true})
	rid := f.s.AddRoom(rctest.RoomSpec{Type: "c", Name: "team", Members: []string{alice, "bob"}})
	f.online(t, me, 1)
	marker := f.s.PostMessage(rid, "bob", "marker")
	waitFor(t, f.rec, "the marker message", func() bool { return f.rec.messagePushes()[marker] > 0 })

	parent := f.s.PostMessage(rid, "bob", "question")
	reply := f.s.PostReply(parent, alice, "answer")
	waitFor(t, f.rec, "the reply", func() bool { return f.rec.messagePushes()[reply] > 0 })
	f.s.DeleteMessage(parent)
	waitFor(t, f.rec, "the placeholder", func() bool { return len(f.rec.messagesOf(parent, "rm")) > 0 })
	if n := f.rec.deletedPushes()[parent]; n != 0 {
		t.Errorf("a thread parent's deletion was pushed as a deletion %d times", n)
	}
	if p := f.rec.messagesOf(parent, "rm")[0]; p["msg"] != "" {
		t.Errorf("placeholder %v", p)
	}

	f.s.AddMember(rid, "carol")
	waitFor(t, f.rec, "the au system message", func() bool {
		for _, m := range f.rec.messagesOf("", "au") {
			if m["msg"] == "carol" && m["rid"] == rid {
				return true
			}
		}
		return false
	})
}

// messagesOf returns the pushed messages with id (any, if empty) and type t.
func (r *recorder) messagesOf(id, t string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, p := range r.pushes {
		var m map[string]any
		if p.target != TargetMessage || json.Unmarshal(p.arg, &m) != nil {
			continue
		}
		if (id == "" || m["_id"] == id) && m["t"] == t {
			out = append(out, m)
		}
	}
	return out
}
