package rocketchat

import (
	"encoding/json"
	"testing"
)

var benchFields = json.RawMessage(`{"eventName":"__my_messages__","args":[{"_id":"jC9chsFddTvsbFQG7","rid":"GENERAL","msg":"hello @bob","ts":{"$date":1720619308262},"u":{"_id":"fZ3bvXC72pobjFPLJ","username":"alice","name":"Alice"},"_updatedAt":{"$date":1720619308296},"mentions":[{"_id":"WbYJfC5kTArcECGkp","username":"bob","name":"Bob","type":"user"}],"channels":[],"urls":[],"md":[{"type":"PARAGRAPH","value":[{"type":"PLAIN_TEXT","value":"hello "},{"type":"MENTION_USER","value":{"type":"PLAIN_TEXT","value":"bob"}}]}]},{"roomParticipant":true,"roomType":"c","roomName":"general"}]}`)

// BenchmarkDecodeEvent decodes a typical message event; compare with
// BenchmarkBaselineUnmarshalAny, a plain json.Unmarshal of the same bytes into any.
func BenchmarkDecodeEvent(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeEvent("u1", streamRoomMessages, benchFields); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineUnmarshalAny(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(benchFields, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRoomFields is a busy channel's rooms-changed as every member's upstream receives it
// for each message: the room, whose lastMessage is the message just sent.
var benchRoomFields = json.RawMessage(`{"eventName":"u1/rooms-changed","args":["updated",{"_id":"GENERAL","t":"c","name":"general","fname":"general","u":{"_id":"rocket.cat","username":"rocket.cat"},"ts":{"$date":1720000000000},"ro":false,"default":true,"sysMes":true,"usersCount":1000,"msgs":52311,"lm":{"$date":1720619308262},"_updatedAt":{"$date":1720619308296},"lastMessage":{"_id":"jC9chsFddTvsbFQG7","rid":"GENERAL","msg":"hello @bob","ts":{"$date":1720619308262},"u":{"_id":"fZ3bvXC72pobjFPLJ","username":"alice","name":"Alice"},"_updatedAt":{"$date":1720619308296},"mentions":[{"_id":"WbYJfC5kTArcECGkp","username":"bob","name":"Bob","type":"user"}],"channels":[],"urls":[],"md":[{"type":"PARAGRAPH","value":[{"type":"PLAIN_TEXT","value":"hello "},{"type":"MENTION_USER","value":{"type":"PLAIN_TEXT","value":"bob"}}]}]}}]}`)

// BenchmarkDecodeRoomsChanged decodes that rooms-changed (the room, its _id and its
// lastMessage); compare with BenchmarkBaselineUnmarshalAnyRoom.
func BenchmarkDecodeRoomsChanged(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ev, err := decodeEvent("u1", streamNotifyUser, benchRoomFields)
		if err != nil || ev.(RoomEvent).LastMessage == nil {
			b.Fatal(ev, err)
		}
	}
}

func BenchmarkBaselineUnmarshalAnyRoom(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(benchRoomFields, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeTrusted is BenchmarkDecodeEvent as the upstream decodes: its fields come
// from a frame the DDP client validated whole, so they are not validated again.
func BenchmarkDecodeTrusted(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeTrusted("u1", streamRoomMessages, benchFields); err != nil {
			b.Fatal(err)
		}
	}
}
