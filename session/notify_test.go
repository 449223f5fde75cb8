package session

import (
	"encoding/json"
	"testing"
	"time"
)

// TestGapNotificationRules: the rebuilt notification follows shouldNotifyDesktop's defaults
// (sendNotificationsOnMessage.ts): not for one's own, system or edited messages, nor outside
// the gap; "nothing" never, "mentions" only in DMs or when mentioned, unset means "all";
// thread replies only when mentioned (following a thread is not known here), @all only to
// participants; muteGroupMentions drops @all/@here.
func TestGapNotificationRules(t *testing.T) {
	now := time.Now()
	ts := now.UTC().Format(time.RFC3339Nano)
	msg := func(extra string) json.RawMessage {
		return json.RawMessage(`{"_id":"m","rid":"r","msg":"hi","ts":"` + ts + `","u":{"_id":"bob","username":"bob","name":"Bob"}` + extra + `}`)
	}
	sub := func(t, extra string) json.RawMessage {
		return json.RawMessage(`{"_id":"s","rid":"r","t":"` + t + `","name":"room"` + extra + `}`)
	}
	for _, tc := range []struct {
		name     string
		msg, sub json.RawMessage
		want     bool
	}{
		{"channel, default all", msg(""), sub("c", ""), true},
		{"own message", json.RawMessage(`{"_id":"m","rid":"r","msg":"hi","ts":"` + ts + `","u":{"_id":"alice","username":"alice"}}`), sub("c", ""), false},
		{"system message", msg(`,"t":"uj"`), sub("c", ""), false},
		{"edited", msg(`,"editedAt":"` + ts + `"`), sub("c", ""), false},
		{"nothing", msg(""), sub("d", `,"desktopNotifications":"nothing"`), false},
		{"muted room", msg(""), sub("c", `,"disableNotifications":true`), false},
		{"mentions, not mentioned", msg(""), sub("c", `,"desktopNotifications":"mentions"`), false},
		{"mentions, mentioned", msg(`,"mentions":[{"_id":"alice"}]`), sub("c", `,"desktopNotifications":"mentions"`), true},
		{"mentions, DM", msg(""), sub("d", `,"desktopNotifications":"mentions"`), true},
		{"thread reply", msg(`,"tmid":"p"`), sub("c", ""), false},
		{"thread reply, @all", msg(`,"tmid":"p","mentions":[{"_id":"all"}]`), sub("c", ""), false},
		{"thread reply naming her", msg(`,"tmid":"p","mentions":[{"_id":"alice"}]`), sub("c", ""), true},
		{"thread reply also sent to the room", msg(`,"tmid":"p","tshow":true`), sub("c", ""), true},
		{"mentions, @all", msg(`,"mentions":[{"_id":"all"}]`), sub("c", `,"desktopNotifications":"mentions"`), true},
		{"group mentions muted", msg(`,"mentions":[{"_id":"here"}]`), sub("c", `,"muteGroupMentions":true`), false},
		{"no subscription", msg(""), nil, false},
	} {
		got, ok := gapNotification("alice", tc.msg, tc.sub, now.Add(-time.Second), now.Add(time.Second))
		if ok != tc.want {
			t.Errorf("%s: notify %v, want %v (%s)", tc.name, ok, tc.want, got)
		}
	}
	if _, ok := gapNotification("alice", msg(""), sub("c", ""), now.Add(time.Second), now.Add(2*time.Second)); ok {
		t.Error("a message before the gap was notified")
	}
	n, _ := gapNotification("alice", msg(""), sub("c", ""), now.Add(-time.Second), now.Add(time.Second))
	var v struct {
		Title, Text string
		Payload     struct {
			ID              string `json:"_id"`
			RID, Type, Name string
			Sender          struct {
				ID string `json:"_id"`
			}
		}
	}
	if json.Unmarshal(n, &v) != nil || v.Title != "room" || v.Text != "bob: hi" || v.Payload.ID != "m" ||
		v.Payload.RID != "r" || v.Payload.Type != "c" || v.Payload.Name != "room" || v.Payload.Sender.ID != "bob" {
		t.Errorf("notification %s", n)
	}
}
