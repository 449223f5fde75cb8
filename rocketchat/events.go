package rocketchat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/internal/jsonscan"
)

// Event is one thing a user's realtime upstream reports. The set is closed: MessageEvent,
// SubscriptionEvent, SubscriptionListEvent, RoomEvent, NotificationEvent, MessageDeletedEvent,
// ForcedLogoutEvent, UserActivityEvent, PresenceEvent, PresenceFollowedEvent, StateEvent. Raw payloads are Rocket.Chat's objects as received (EJSON dates untouched).
type Event interface{ isEvent() }

// MessageEvent is a new or changed message (edits, reactions, thread counters and t:"rm"
// placeholders arrive the same way). Ephemeral is set for <uid>/message (bot/system replies
// only this user sees).
type MessageEvent struct {
	RoomID, ID string
	UpdatedAt  time.Time
	// Type is the message's t ("" for a plain message, or when t is not a string), read
	// with the rest so that nobody parses Raw again to find it.
	Type      string
	Ephemeral bool
	Raw       json.RawMessage
}

// MessageVersion names one version of a message object: its _id, its _updatedAt (EJSON or
// ISO-8601, the zero time when missing or neither) and its type t ("" for a plain message,
// or when t is not a string).
type MessageVersion struct {
	ID        string
	UpdatedAt time.Time
	Type      string
}

// SubscriptionEvent is <uid>/subscriptions-changed: Action is inserted, updated or removed.
type SubscriptionEvent struct {
	Action string
	ID     string // the subscription's _id, if present
	RoomID string // rid from the payload, if present
	Raw    json.RawMessage
}

// SubscriptionListEvent lists every subscription of the user (subscriptions.get), sent after
// each login before StateConnected when RealtimeOptions.Client is set. It is not a change:
// it tells which subscription _id belongs to which room, which a later removal (reported by
// subscriptions.get?updatedSince as {_id, _deletedAt} only) does not say.
type SubscriptionListEvent struct{ Subscriptions []json.RawMessage }

// RoomEvent is <uid>/rooms-changed: Action is inserted, updated or removed.
type RoomEvent struct {
	Action string
	RoomID string // _id from the payload, if present
	Raw    json.RawMessage
	// LastMessage is the room's lastMessage object from Raw, nil if it has none: read while
	// the room is decoded, so that a busy room's rooms-changed (one per message, to every
	// member) is not parsed again to find it.
	LastMessage json.RawMessage
	// LastVersion is LastMessage's version, read with it; its ID is empty when LastMessage
	// is nil or has no string _id.
	LastVersion MessageVersion
}

// NotificationEvent is <uid>/notification (desktop-notification payload).
type NotificationEvent struct{ Raw json.RawMessage }

// MessageDeletedEvent is stream-notify-room <rid>/deleteMessage.
type MessageDeletedEvent struct{ RoomID, MessageID string }

// ForcedLogoutEvent is <uid>/force_logout; the socket closes next and resume will fail.
type ForcedLogoutEvent struct{}

// State is the upstream's connection state.
type State int

const (
	StateConnecting State = iota
	StateConnected
	StateDisconnected
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StateEvent reports a state change. Gap is true on StateConnected after an earlier
// connection was lost: events may have been missed, so the caller resyncs. Err is the cause
// of a disconnect. On the StateDisconnected that ends a connection that was up, LastFrame is
// when its last frame arrived: every event Rocket.Chat sent before then was delivered, so a
// resync need not reach further back. It is zero after an attempt that never came up.
type StateEvent struct {
	State     State
	Gap       bool
	Err       error
	LastFrame time.Time
}

func (MessageEvent) isEvent()          {}
func (SubscriptionEvent) isEvent()     {}
func (SubscriptionListEvent) isEvent() {}
func (RoomEvent) isEvent()             {}
func (NotificationEvent) isEvent()     {}
func (MessageDeletedEvent) isEvent()   {}
func (ForcedLogoutEvent) isEvent()     {}
func (StateEvent) isEvent()            {}
func (bulkDeleted) isEvent()           {}

// bulkDeleted is stream-notify-room <rid>/deleteMessageBulk (pruning, retention,
// rooms.cleanHistory: apps/meteor/app/lib/server/functions/cleanRoomHistory.ts). Its payload
// is the criteria {rid, excludePinned, ignoreDiscussion, ts, users} and, in recent releases
// when a limit selected the messages, their ids. Realtime turns it into MessageDeletedEvents
// and never emits it.
type bulkDeleted struct {
	RoomID string
	IDs    []string
}

// Stream and event names the realtime upstream uses.
const (
	streamNotifyUser   = "stream-notify-user"
	streamRoomMessages = "stream-room-messages"
	streamNotifyRoom   = "stream-notify-room"
	myMessages         = "__my_messages__"
)

var errIgnored = errors.New("event not for the gateway")

// decodeTrusted turns the fields of a stream "changed" frame, known to be valid JSON
// (ddp.Data.Fields: the frame was validated whole when it was read), into an Event. It returns
// errIgnored for frames the gateway does not use (other collections, events, or
// __my_messages__ messages from rooms the user is not a member of) and another error for
// malformed frames.
func decodeTrusted(uid, collection string, fields json.RawMessage) (Event, error) {
	var name string
	var buf [4]json.RawMessage
	args := buf[:0]
	ok := members(fields, func(key, val []byte) bool {
		switch string(key) {
		case "eventName":
			var ok bool
			name, ok = stringValue(val)
			return ok
		case "args":
			var ok bool
			args, ok = elements(args[:0], val)
			return ok
		}
		return other(key, "eventName", "args")
	})
	if !ok {
		return decodeFields(uid, collection, fields)
	}
	return decodeArgs(uid, collection, name, args)
}

// decodeFields is decodeTrusted through encoding/json, for fields the fast reader does not
// handle (and fields not known to be valid).
func decodeFields(uid, collection string, fields json.RawMessage) (Event, error) {
	var f struct {
		EventName string            `json:"eventName"`
		Args      []json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(fields, &f); err != nil {
		return nil, fmt.Errorf("rocketchat: event fields: %w", err)
	}
	return decodeArgs(uid, collection, f.EventName, f.Args)
}

// decodeArgs decodes an event's name and args (each valid JSON).
func decodeArgs(uid, collection, eventName string, args []json.RawMessage) (Event, error) {
	arg := func(i int) json.RawMessage {
		if i < len(args) {
			return args[i]
		}
		return nil
	}
	switch collection {
	case streamUserPresence:
		return decodePresence(eventName, args)
	case streamNotifyUser:
		prefix := uid + "/"
		if !strings.HasPrefix(eventName, prefix) {
			return nil, errIgnored
		}
		switch strings.TrimPrefix(eventName, prefix) {
		case "message":
			ev, err := decodeMessage(arg(0))
			if err != nil {
				return nil, err
			}
			ev.Ephemeral = true
			return ev, nil
		case "subscriptions-changed":
			action, err := decodeAction(arg(0))
			if err != nil {
				return nil, err
			}
			raw, err := object(arg(1), "subscription")
			if err != nil {
				return nil, err
			}
			var v struct {
				ID  string `json:"_id"`
				RID string `json:"rid"`
			}
			if !members(raw, func(key, val []byte) bool {
				var ok bool
				switch string(key) {
				case "_id":
					v.ID, ok = stringValue(val)
				case "rid":
					v.RID, ok = stringValue(val)
				default:
					return other(key, "_id", "rid")
				}
				return ok
			}) {
				v.ID, v.RID = "", ""
				_ = json.Unmarshal(raw, &v)
			}
			return SubscriptionEvent{Action: action, ID: v.ID, RoomID: v.RID, Raw: raw}, nil
		case "rooms-changed":
			action, err := decodeAction(arg(0))
			if err != nil {
				return nil, err
			}
			raw, err := object(arg(1), "room")
			if err != nil {
				return nil, err
			}
			var v struct {
				ID          string          `json:"_id"`
				LastMessage json.RawMessage `json:"lastMessage"`
			}
			if !members(raw, func(key, val []byte) bool {
				switch string(key) {
				case "_id":
					var ok bool
					v.ID, ok = stringValue(val)
					return ok
				case "lastMessage":
					v.LastMessage = val
					return true
				}
				return other(key, "_id", "lastMessage")
			}) {
				v.ID, v.LastMessage = "", nil
				_ = json.Unmarshal(raw, &v)
			}
			ev := RoomEvent{Action: action, RoomID: v.ID, Raw: raw}
			if lm := bytes.TrimSpace(v.LastMessage); len(lm) > 0 && lm[0] == '{' {
				ev.LastMessage = lm
				ev.LastVersion, _ = readVersion(lm)
			}
			return ev, nil
		case "notification":
			raw, err := object(arg(0), "notification")
			if err != nil {
				return nil, err
			}
			return NotificationEvent{Raw: raw}, nil
		case "force_logout":
			return ForcedLogoutEvent{}, nil
		}
		return nil, errIgnored
	case streamRoomMessages:
		ev, err := decodeMessage(arg(0))
		if err != nil {
			return nil, err
		}
		if eventName == myMessages && len(arg(1)) > 0 && !roomParticipant(arg(1)) {
			return nil, errIgnored // a public channel the user can read but has not joined
		}
		return ev, nil
	case streamNotifyRoom:
		rid, name, ok := strings.Cut(eventName, "/")
		if ok && name == "deleteMessageBulk" {
			raw, err := object(arg(0), "deleteMessageBulk")
			if err != nil {
				return nil, err
			}
			var v struct {
				IDs []string `json:"ids"`
			}
			_ = json.Unmarshal(raw, &v)
			return bulkDeleted{RoomID: rid, IDs: v.IDs}, nil
		}
		if ok && name == typingEvent {
			return decodeUserActivity(rid, arg(0), arg(1))
		}
		if !ok || name != "deleteMessage" {
			return nil, errIgnored
		}
		raw, err := object(arg(0), "deleteMessage")
		if err != nil {
			return nil, err
		}
		var v struct {
			ID string `json:"_id"`
		}
		if !members(raw, func(key, val []byte) bool {
			if string(key) == "_id" {
				var ok bool
				v.ID, ok = stringValue(val)
				return ok
			}
			return other(key, "_id")
		}) || v.ID == "" {
			v.ID = ""
			if err := json.Unmarshal(raw, &v); err != nil || v.ID == "" {
				return nil, errors.New("rocketchat: deleteMessage without _id")
			}
		}
		return MessageDeletedEvent{RoomID: rid, MessageID: v.ID}, nil
	}
	return nil, errIgnored
}

// roomParticipant reads __my_messages__'s second arg, {roomParticipant, roomType, ...}: it
// is false only when roomParticipant is false.
func roomParticipant(meta json.RawMessage) bool {
	participant := true // missing or null
	if members(meta, func(key, val []byte) bool {
		if string(key) != "roomParticipant" {
			return other(key, "roomParticipant")
		}
		switch string(val) {
		case "true", "null":
			participant = true
		case "false":
			participant = false
		default:
			return false
		}
		return true
	}) {
		return participant
	}
	var m struct {
		RoomParticipant *bool `json:"roomParticipant"`
	}
	return json.Unmarshal(meta, &m) != nil || m.RoomParticipant == nil || *m.RoomParticipant
}

// object returns raw if it is a JSON object. raw is one of the args json.Unmarshal took out
// of the event's fields, so it is valid JSON: its first byte tells an object.
func object(raw json.RawMessage, what string) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("rocketchat: %s payload is not an object", what)
	}
	return raw, nil
}

func decodeAction(raw json.RawMessage) (string, error) {
	if a, ok := stringValue(bytes.TrimSpace(raw)); ok && a != "" {
		return a, nil
	}
	var a string
	if err := json.Unmarshal(raw, &a); err != nil || a == "" {
		return "", errors.New("rocketchat: event without action")
	}
	return a, nil
}

// decodeMessage reads a message object (valid JSON).
func decodeMessage(raw json.RawMessage) (MessageEvent, error) {
	raw, err := object(raw, "message")
	if err != nil {
		return MessageEvent{}, err
	}
	var m struct {
		ID, RID, T string
		UpdatedAt  json.RawMessage
	}
	if !members(raw, func(key, val []byte) bool {
		var ok bool
		switch string(key) {
		case "_id":
			m.ID, ok = stringValue(val)
		case "rid":
			m.RID, ok = stringValue(val)
		case "t":
			m.T, ok = stringValue(val)
		case "_updatedAt":
			m.UpdatedAt, ok = val, true
		default:
			ok = other(key, "_id", "rid", "t", "_updatedAt")
		}
		return ok
	}) {
		var s struct { // m stays on the stack
			ID        string          `json:"_id"`
			RID       string          `json:"rid"`
			UpdatedAt json.RawMessage `json:"_updatedAt"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return MessageEvent{}, fmt.Errorf("rocketchat: message: %w", err)
		}
		m.ID, m.RID, m.UpdatedAt, m.T = s.ID, s.RID, s.UpdatedAt, messageType(raw)
	}
	if m.ID == "" || m.RID == "" {
		return MessageEvent{}, errors.New("rocketchat: message without _id or rid")
	}
	t, _ := parseDate(m.UpdatedAt)
	return MessageEvent{RoomID: m.RID, ID: m.ID, UpdatedAt: t, Type: m.T, Raw: raw}, nil
}

// messageType is a message's t through encoding/json: "" unless it is a string.
func messageType(raw json.RawMessage) string {
	var typ struct {
		T string `json:"t"`
	}
	_ = json.Unmarshal(raw, &typ)
	return typ.T
}

// ReadMessageVersion reads the version of a message object (a room's lastMessage, a message
// from REST). ok is false unless raw is a JSON object whose _id is a non-empty string.
func ReadMessageVersion(raw json.RawMessage) (v MessageVersion, ok bool) {
	if !jsonscan.Valid(raw) {
		return MessageVersion{}, false
	}
	return readVersion(raw)
}

// readVersion is ReadMessageVersion for valid JSON.
func readVersion(raw json.RawMessage) (v MessageVersion, ok bool) {
	var updated []byte
	if members(raw, func(key, val []byte) bool {
		var ok bool
		switch string(key) {
		case "_id":
			v.ID, ok = stringValue(val)
		case "t":
			v.Type, ok = stringValue(val)
		case "_updatedAt":
			updated, ok = val, true
		default:
			ok = other(key, "_id", "t", "_updatedAt")
		}
		return ok
	}) {
		if v.ID == "" {
			return MessageVersion{}, false
		}
		if t, ok := parseDate(updated); ok {
			v.UpdatedAt = t.UTC()
		}
		return v, true
	}
	var m struct {
		ID        string `json:"_id"`
		UpdatedAt Date   `json:"_updatedAt"`
	}
	if json.Unmarshal(raw, &m) != nil || m.ID == "" {
		return MessageVersion{}, false
	}
	return MessageVersion{ID: m.ID, UpdatedAt: m.UpdatedAt.Time, Type: messageType(raw)}, true
}

// parseDate reads an EJSON {"$date": ms} or an ISO-8601 string.
func parseDate(raw json.RawMessage) (time.Time, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return time.Time{}, false
	}
	if raw[0] == '"' {
		if s, ok := stringValue(raw); ok {
			t, err := time.Parse(time.RFC3339Nano, s)
			return t, err == nil
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	if ms, ok := ejsonMillis(raw); ok {
		return time.UnixMilli(ms), true
	}
	var d struct {
		Date *float64 `json:"$date"`
	}
	if json.Unmarshal(raw, &d) != nil || d.Date == nil || *d.Date < -1e15 || *d.Date > 1e15 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(*d.Date)), true
}

// ejsonMillis reads {"$date": <integer>} whose integer is within ±1e15 (exact as a float64,
// as encoding/json would read it); ok is false for any other shape.
func ejsonMillis(raw []byte) (ms int64, ok bool) {
	const key = `"$date"`
	if len(raw) < len(key)+4 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return 0, false
	}
	i := jsonscan.SkipWS(raw, 1)
	if !bytes.HasPrefix(raw[i:], []byte(key)) {
		return 0, false
	}
	i = jsonscan.SkipWS(raw, i+len(key))
	if i >= len(raw) || raw[i] != ':' {
		return 0, false
	}
	i = jsonscan.SkipWS(raw, i+1)
	neg := i < len(raw) && raw[i] == '-'
	if neg {
		i++
	}
	start := i
	for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
		ms = ms*10 + int64(raw[i]-'0')
		if i++; i-start > 16 {
			return 0, false
		}
	}
	if i == start || (raw[start] == '0' && i-start > 1) || ms > 1e15 || jsonscan.SkipWS(raw, i) != len(raw)-1 {
		return 0, false
	}
	if neg {
		ms = -ms
	}
	return ms, true
}

func decodeJSON(raw json.RawMessage, v any) error { return json.Unmarshal(raw, v) }

// decodeUserActivity reads <rid>/user-activity args [username, activities, extraData?]
// (notifications.module.ts streamRoom.allowWrite; the client's UserAction sends them).
func decodeUserActivity(rid string, user, activities json.RawMessage) (Event, error) {
	var username string
	if err := json.Unmarshal(user, &username); err != nil || username == "" {
		return nil, errors.New("rocketchat: user-activity without a username")
	}
	var acts []string
	if len(activities) > 0 && !bytes.Equal(activities, []byte("null")) {
		if err := json.Unmarshal(activities, &acts); err != nil {
			return nil, fmt.Errorf("rocketchat: user-activity activities: %w", err)
		}
	}
	return UserActivityEvent{RoomID: rid, Username: username, Typing: slices.Contains(acts, "user-typing")}, nil
}
