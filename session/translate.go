package session

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// The push targets a browser receives. Each has one argument.
const (
	TargetMessage             = "getRoomMessageNotification"
	TargetSubscriptionChanged = "getRoomSubscriptionChangedNotification"
	TargetMessageDeleted      = "getRoomMessageDeletedNotification"
	TargetNotification        = "getNotification"
	// TargetEphemeralMessage carries an ephemeral message (stream-notify-user <uid>/message):
	// a private notice to this user only, e.g. "you mentioned someone who is not in this
	// room", never stored by Rocket.Chat and not a room message.
	TargetEphemeralMessage = "getEphemeralMessageNotification"
	// TargetTyping carries {rid, username, typing}: another user started (true) or stopped
	// typing in a room one of the user's tabs has open (never the user's own typing).
	TargetTyping = "getTypingNotification"
	// TargetPresence carries {userId, username, status}: the status (online, away, busy,
	// offline) of the partner of a direct room one of the user's tabs has open, once when the
	// room opens and on every change (presence.go).
	TargetPresence = "getPresenceNotification"
)

// A Push is one invocation for all of a user's connections.
type Push struct {
	Target string
	Arg    json.RawMessage
	// Key names the version of what the push carries (a message's id, _updatedAt and type;
	// a deletion; a notification's message), empty for pushes that are harmless to repeat
	// (subscription states, typing, presence). The
	// hub sends a connection at most one push per key (push.Hub.SendToUserOnce): a node that
	// takes a user over resyncs from the previous owner's last recorded watermark, and
	// repeats what that owner pushed after it.
	Key string
}

// translator turns one user's Rocket.Chat events into pushes. It remembers recently pushed
// message versions so that a message seen on both rooms-changed and stream-room-messages
// (or again in a resync) is pushed once.
type translator struct {
	self string // the user's own Rocket.Chat username: its typing is not pushed back
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int
}

const dedupeWindow = 1024

// newTranslator starts empty: the dedupe window grows with use, so an idle user costs
// almost nothing.
func newTranslator(self string) *translator {
	return &translator{self: self, seen: map[string]struct{}{}}
}

// firstTime records key and reports whether it was new.
func (t *translator) firstTime(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[key]; ok {
		return false
	}
	if len(t.ring) < dedupeWindow {
		t.ring = append(t.ring, key)
	} else {
		delete(t.seen, t.ring[t.next])
		t.ring[t.next] = key
		t.next = (t.next + 1) % dedupeWindow
	}
	t.seen[key] = struct{}{}
	return true
}

// translate maps ev to at most one push. ok is false when nothing is to be pushed.
func (t *translator) translate(ev rocketchat.Event) (p Push, ok bool) {
	switch e := ev.(type) {
	case rocketchat.MessageEvent:
		if e.Ephemeral {
			// Its _id is the send time in ms and it is never updated: nothing to dedupe.
			return Push{Target: TargetEphemeralMessage, Arg: rewriteDates(e.Raw)}, true
		}
		return t.message(e.ID, e.UpdatedAt.UnixMilli(), e.Type, e.Raw)
	case rocketchat.RoomEvent:
		if e.Action == "removed" {
			return Push{}, false
		}
		// The decoder took lastMessage out of the room, and its version when it could read it
		// plainly; otherwise the message is read here.
		lm := e.LastMessage
		if !isObject(lm) {
			return Push{}, false
		}
		if v := e.LastVersion; v.ID != "" {
			return t.message(v.ID, v.UpdatedAt.UnixMilli(), v.Type, lm)
		}
		return t.rawMessage(lm)
	case rocketchat.SubscriptionEvent:
		return subscriptionPush(e.Action, e.Raw), true
	case rocketchat.NotificationEvent:
		return t.notification(e.Raw)
	case rocketchat.MessageDeletedEvent:
		if !t.firstTime(deletedKey(e.MessageID)) {
			return Push{}, false
		}
		return deletedPush(e.RoomID, e.MessageID), true
	case rocketchat.UserActivityEvent:
		return t.typingPush(e)
	case rocketchat.PresenceEvent:
		return presencePush(e)
	}
	return Push{}, false
}

// notification pushes a desktop notification once per message (payload._id): a live one and
// one a resync rebuilt for the same message are the same notification.
func (t *translator) notification(raw json.RawMessage) (Push, bool) {
	var n struct {
		Payload struct {
			ID string `json:"_id"`
		} `json:"payload"`
	}
	var key string
	if json.Unmarshal(raw, &n) == nil && n.Payload.ID != "" {
		if key = "n:" + n.Payload.ID; !t.firstTime(key) {
			return Push{}, false
		}
	}
	return Push{Target: TargetNotification, Arg: rewriteDates(raw), Key: key}, true
}

// rawMessage pushes a message object whose id, update time and type are read from it.
func (t *translator) rawMessage(raw json.RawMessage) (Push, bool) {
	v, ok := rocketchat.ReadMessageVersion(raw)
	if !ok {
		return Push{}, false
	}
	return t.message(v.ID, v.UpdatedAt.UnixMilli(), v.Type, raw)
}

// message pushes one version of a message once. A version is its _id and _updatedAt (ms)
// and its type typ (t): a deletion that turns a message into a t:"rm" placeholder (always so
// for a thread parent, apps/meteor/app/lib/server/functions/deleteMessage.ts) can land in
// the same millisecond as the update before it, and must not be taken for that update.
func (t *translator) message(id string, updatedMs int64, typ string, raw json.RawMessage) (Push, bool) {
	var buf [64]byte
	k := append(buf[:0], "m:"...)
	k = append(k, id...)
	k = append(k, '@')
	k = strconv.AppendInt(k, updatedMs, 10)
	k = append(k, typ...)
	key := string(k)
	if !t.firstTime(key) {
		return Push{}, false
	}
	return Push{Target: TargetMessage, Arg: rewriteDates(raw), Key: key}, true
}

// subscriptionPush is never keyed: a subscription push is the subscription's whole state and
// the newest wins, so a repeat does no harm, while two different states can share one
// _updatedAt millisecond (Rocket.Chat updates the unread count and the alert flag in separate
// writes), and a key would drop the second.
func subscriptionPush(action string, raw json.RawMessage) Push {
	arg := make([]byte, 0, len(raw)+40)
	arg = append(arg, `{"method":`...)
	arg = strconv.AppendQuote(arg, action)
	arg = append(arg, `,"msg":`...)
	arg = append(arg, rewriteDates(raw)...)
	arg = append(arg, '}')
	return Push{Target: TargetSubscriptionChanged, Arg: arg}
}

func deletedPush(rid, id string) Push {
	arg, _ := json.Marshal(struct {
		RID string `json:"rid"`
		ID  string `json:"_id"`
	}{rid, id})
	return Push{Target: TargetMessageDeleted, Arg: arg, Key: deletedKey(id)}
}

func deletedKey(id string) string { return "d:" + id }

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}
