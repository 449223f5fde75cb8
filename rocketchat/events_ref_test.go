package rocketchat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The reference decoder below is the event decoder as it was before the fast readers
// (scan.go): encoding/json throughout. FuzzDecodeEventFast checks the decoder against it.
// Type and LastVersion, which it did not read, are read as the session's translator then
// read them (refMessageType, refVersion).

func refDecodeEvent(uid, collection string, fields json.RawMessage) (Event, error) {
	var f struct {
		EventName string            `json:"eventName"`
		Args      []json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(fields, &f); err != nil {
		return nil, fmt.Errorf("rocketchat: event fields: %w", err)
	}
	arg := func(i int) json.RawMessage {
		if i < len(f.Args) {
			return f.Args[i]
		}
		return nil
	}
	switch collection {
	case streamUserPresence:
		return decodePresence(f.EventName, f.Args)
	case streamNotifyUser:
		prefix := uid + "/"
		if !strings.HasPrefix(f.EventName, prefix) {
			return nil, errIgnored
		}
		switch strings.TrimPrefix(f.EventName, prefix) {
		case "message":
			ev, err := refDecodeMessage(arg(0))
			if err != nil {
				return nil, err
			}
			ev.Ephemeral = true
			return ev, nil
		case "subscriptions-changed":
			action, err := refDecodeAction(arg(0))
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
			_ = json.Unmarshal(raw, &v)
			return SubscriptionEvent{Action: action, ID: v.ID, RoomID: v.RID, Raw: raw}, nil
		case "rooms-changed":
			action, err := refDecodeAction(arg(0))
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
			_ = json.Unmarshal(raw, &v)
			ev := RoomEvent{Action: action, RoomID: v.ID, Raw: raw}
			if lm := bytes.TrimSpace(v.LastMessage); len(lm) > 0 && lm[0] == '{' {
				ev.LastMessage = lm
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
		ev, err := refDecodeMessage(arg(0))
		if err != nil {
			return nil, err
		}
		if f.EventName == myMessages && len(arg(1)) > 0 {
			var meta struct {
				RoomParticipant *bool `json:"roomParticipant"`
			}
			if json.Unmarshal(arg(1), &meta) == nil && meta.RoomParticipant != nil && !*meta.RoomParticipant {
				return nil, errIgnored // a public channel the user can read but has not joined
			}
		}
		return ev, nil
	case streamNotifyRoom:
		rid, name, ok := strings.Cut(f.EventName, "/")
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
		if err := json.Unmarshal(raw, &v); err != nil || v.ID == "" {
			return nil, errors.New("rocketchat: deleteMessage without _id")
		}
		return MessageDeletedEvent{RoomID: rid, MessageID: v.ID}, nil
	}
	return nil, errIgnored
}

func refDecodeAction(raw json.RawMessage) (string, error) {
	var a string
	if err := json.Unmarshal(raw, &a); err != nil || a == "" {
		return "", errors.New("rocketchat: event without action")
	}
	return a, nil
}

func refDecodeMessage(raw json.RawMessage) (MessageEvent, error) {
	raw, err := object(raw, "message")
	if err != nil {
		return MessageEvent{}, err
	}
	var m struct {
		ID        string          `json:"_id"`
		RID       string          `json:"rid"`
		UpdatedAt json.RawMessage `json:"_updatedAt"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return MessageEvent{}, fmt.Errorf("rocketchat: message: %w", err)
	}
	if m.ID == "" || m.RID == "" {
		return MessageEvent{}, errors.New("rocketchat: message without _id or rid")
	}
	t, _ := refParseDate(m.UpdatedAt)
	return MessageEvent{RoomID: m.RID, ID: m.ID, UpdatedAt: t, Raw: raw}, nil
}

// parseDate reads an EJSON {"$date": ms} or an ISO-8601 string.
func refParseDate(raw json.RawMessage) (time.Time, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return time.Time{}, false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	var d struct {
		Date *float64 `json:"$date"`
	}
	if json.Unmarshal(raw, &d) != nil || d.Date == nil || *d.Date < -1e15 || *d.Date > 1e15 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(*d.Date)), true
}

func refMessageType(raw json.RawMessage) string {
	var typ struct {
		T string `json:"t"`
	}
	_ = json.Unmarshal(raw, &typ)
	return typ.T
}

// refVersion is how the translator read a message object's version.
func refVersion(raw json.RawMessage) (MessageVersion, bool) {
	var m struct {
		ID        string `json:"_id"`
		UpdatedAt Date   `json:"_updatedAt"`
	}
	if json.Unmarshal(raw, &m) != nil || m.ID == "" {
		return MessageVersion{}, false
	}
	return MessageVersion{ID: m.ID, UpdatedAt: m.UpdatedAt.Time, Type: refMessageType(raw)}, true
}

// refDecode is refDecodeEvent with the fields the old decoder did not fill filled in.
func refDecode(uid, collection string, fields json.RawMessage) (Event, error) {
	ev, err := refDecodeEvent(uid, collection, fields)
	switch e := ev.(type) {
	case MessageEvent:
		e.Type = refMessageType(e.Raw)
		ev = e
	case RoomEvent:
		if e.LastMessage != nil {
			e.LastVersion, _ = refVersion(e.LastMessage)
		}
		ev = e
	}
	return ev, err
}

func sameVersion(a, b MessageVersion) bool {
	return a.ID == b.ID && a.Type == b.Type && a.UpdatedAt.Equal(b.UpdatedAt)
}

// sameEvent compares decoded events by value (raw bytes by content, times by instant).
func sameEvent(a, b Event) bool {
	switch x := a.(type) {
	case MessageEvent:
		y, ok := b.(MessageEvent)
		return ok && x.RoomID == y.RoomID && x.ID == y.ID && x.UpdatedAt.Equal(y.UpdatedAt) && x.Type == y.Type &&
			x.Ephemeral == y.Ephemeral && bytes.Equal(x.Raw, y.Raw)
	case RoomEvent:
		y, ok := b.(RoomEvent)
		return ok && x.Action == y.Action && x.RoomID == y.RoomID && bytes.Equal(x.Raw, y.Raw) &&
			bytes.Equal(x.LastMessage, y.LastMessage) && (x.LastMessage == nil) == (y.LastMessage == nil) && sameVersion(x.LastVersion, y.LastVersion)
	case SubscriptionEvent:
		y, ok := b.(SubscriptionEvent)
		return ok && x.Action == y.Action && x.RoomID == y.RoomID && bytes.Equal(x.Raw, y.Raw)
	case NotificationEvent:
		y, ok := b.(NotificationEvent)
		return ok && bytes.Equal(x.Raw, y.Raw)
	}
	return reflect.DeepEqual(a, b)
}

// checkDecode decodes fields with the decoder (and, for valid JSON, its trusted entry) and
// with the reference, and fails on any difference.
func checkDecode(t *testing.T, coll string, fields []byte) {
	t.Helper()
	want, wantErr := refDecode("u1", coll, fields)
	check := func(name string, ev Event, err error) {
		t.Helper()
		if (err == nil) != (wantErr == nil) || errors.Is(err, errIgnored) != errors.Is(wantErr, errIgnored) {
			t.Fatalf("%s(%q, %s): err %v, reference %v", name, coll, fields, err, wantErr)
		}
		if !sameEvent(ev, want) {
			t.Fatalf("%s(%q, %s):\n got %#v\nwant %#v", name, coll, fields, ev, want)
		}
	}
	ev, err := decodeEvent("u1", coll, fields)
	check("decodeEvent", ev, err)
	if json.Valid(fields) {
		ev, err := decodeTrusted("u1", coll, fields)
		check("decodeTrusted", ev, err)
	}
}

var decodeSeeds = []struct{ coll, fields string }{
	{streamRoomMessages, string(benchFields)},
	{streamNotifyUser, string(benchRoomFields)},
	{streamRoomMessages, `{"eventName":"__my_messages__","args":[{"_id":"m","rid":"r","t":"rm","_updatedAt":{"$date":1e3}},{"roomParticipant":false}]}`},
	{streamRoomMessages, `{"eventName":"r","args":[{"_id":"m","rid":"r","t":5,"_updatedAt":"2024-07-10T13:48:28.296Z"}]}`},
	{streamRoomMessages, `{"eventName":"r","args":[{"_ID":"m","rid":"r","_updatedAt":{"$date":-12}}, {"roomParticipant":null}]}`},
	{streamRoomMessages, ` { "args" : [ { "_id" : "m" , "rid":"r\u0041", "_updatedAt" : { "$date" : 0123 } } ] , "eventName":"x"} `},
	{streamNotifyUser, `{"eventName":"u1/rooms-changed","args":["updated",{"_id":"r","lastMessage":{"_id":"m","t":"uj","_updatedAt":{"$date":1720619308296}}}]}`},
	{streamNotifyUser, `{"eventName":"u1/rooms-changed","args":["upd\u0061ted",{"_id":5,"lastMessage":{"_id":"m","_id":6}},1]}`},
	{streamNotifyUser, `{"eventName":"u1/subscriptions-changed","args":["inserted",{"rid":"r","_id":"s"}]}`},
	{streamNotifyUser, `{"eventName":"u1/message","args":[{"_id":"e","rid":"r","msg":"x"}]}`},
	{streamNotifyUser, `{"eventName":"u1/notification","args":[{"payload":{"_id":"m"}}]}`},
	{streamNotifyRoom, `{"eventName":"r/deleteMessage","args":[{"_id":"m"}]}`},
	{streamNotifyRoom, `{"eventName":"r/deleteMessage","args":[{"_id":""}],"EventName":"x"}`},
	{streamNotifyRoom, `{"eventName":"r/deleteMessageBulk","args":[{"rid":"r","ids":["a","b"]}]}`},
	{streamNotifyRoom, `{"eventName":"r/user-activity","args":["bob",["user-typing"],{}]}`},
	{streamUserPresence, `{"eventName":"uid","args":[["bob",1,""]]}`},
	{streamRoomMessages, `{"eventName":"__my_messages__","args":[{"_id":"m","rid":"r"},{"roomParticipant":false,"roomParticipant":null}]}`},
	{streamRoomMessages, `{"eventName":"__my_messages__","args":[{"_id":"m","rid":"r"},{"roomParticipant":"no"}]}`},
	{streamRoomMessages, `{"eventName":"x","args":null}`},
	{streamRoomMessages, `null`},
}

func TestDecodeEventMatchesReference(t *testing.T) {
	for _, s := range decodeSeeds {
		checkDecode(t, s.coll, []byte(s.fields))
	}
}

// FuzzDecodeEventFast: the decoder's fast readers give what encoding/json gave, for any
// collection and fields.
func FuzzDecodeEventFast(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add(s.coll, []byte(s.fields))
	}
	f.Fuzz(func(t *testing.T, coll string, fields []byte) {
		if !strings.HasPrefix(coll, "stream-") {
			coll = []string{streamRoomMessages, streamNotifyUser, streamNotifyRoom, streamUserPresence}[len(coll)%4]
		}
		checkDecode(t, coll, fields)
	})
}

// FuzzParseDate: the fast date reader gives what encoding/json gave, and so does
// ReadMessageVersion against the translator's old reading.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{`{"$date":1720619308296}`, `{ "$date" : -5 }`, `{"$date":1e15}`, `{"$date":1000000000000001}`,
		`{"$date":01}`, `"2024-07-10T13:48:28.296Z"`, `"2024-07-10T13:48:28.296\u005a"`, `{"$DATE":3}`, `{"$date":3,"x":1}`, `null`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return // parseDate's callers hand it valid JSON
		}
		got, gotOK := parseDate(b)
		want, wantOK := refParseDate(b)
		if gotOK != wantOK || !got.Equal(want) {
			t.Fatalf("parseDate(%s) = %v %v, reference %v %v", b, got, gotOK, want, wantOK)
		}
		msg := []byte(`{"_id":"m","_updatedAt":` + string(b) + `,"t":"x"}`)
		v, ok := ReadMessageVersion(msg)
		rv, rok := refVersion(msg)
		if ok != rok || !sameVersion(v, rv) {
			t.Fatalf("ReadMessageVersion(%s) = %+v %v, reference %+v %v", msg, v, ok, rv, rok)
		}
	})
}

// FuzzReadMessageVersion: ReadMessageVersion reads any input as the translator did.
func FuzzReadMessageVersion(f *testing.F) {
	for _, s := range []string{`{"_id":"m","_updatedAt":{"$date":5},"t":"rm"}`, `{"_id":"m","t":5}`, `{"_id":5}`, `{"_id":""}`, `[]`, `null`,
		`{"_Id":"m"}`, `{"_id":"m","_id":"n","t":"a","t":null}`, `{"_id":"\u006d"}`, `{"_id":"m","_updatedAt":"bad"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := ReadMessageVersion(b)
		rv, rok := refVersion(b)
		if ok != rok || !sameVersion(v, rv) {
			t.Fatalf("ReadMessageVersion(%s) = %+v %v, reference %+v %v", b, v, ok, rv, rok)
		}
	})
}

// decodeEvent is the decoder for fields of unknown validity, as tests and benchmarks feed it:
// valid JSON takes the upstream's path (decodeTrusted), anything else encoding/json's, which
// reports why.
func decodeEvent(uid, collection string, fields json.RawMessage) (Event, error) {
	if json.Valid(fields) {
		return decodeTrusted(uid, collection, fields)
	}
	return decodeFields(uid, collection, fields)
}

// FuzzRefused2xxScan: on a valid body, the top-level scan says what decoding says.
func FuzzRefused2xxScan(f *testing.F) {
	for _, s := range []string{`{"success":false,"error":"x"}`, `{"success":true}`, `{"status":"error","message":"m"}`,
		`{"status":"success"}`, `{"Success":false}`, `{"a":{"success":false}}`, `{"status":"err\u006fr"}`, `[1]`, `{}`,
		`{"success":false,"success":true}`, `{"success":1}`, `{"status":null}`, `{"success":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if scan, dec := refused2xx(b, true), refused2xx(b, false); scan != dec {
			t.Fatalf("%s: scan says %v, decoding %v", b, scan, dec)
		}
	})
}
