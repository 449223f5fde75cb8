// Package signalr is the ASP.NET Core SignalR hub protocol as bytes: the handshake, the
// record framing (0x1E for JSON, a varint length prefix for MessagePack) and the nine message
// types in both encodings. It does no I/O and knows nothing of HTTP or of what is pushed.
package signalr

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tinylib/msgp/msgp"
)

// MessageType is a hub message's "type".
type MessageType int

// The hub message types.
const (
	Invocation       MessageType = 1
	StreamItem       MessageType = 2
	Completion       MessageType = 3
	StreamInvocation MessageType = 4
	CancelInvocation MessageType = 5
	Ping             MessageType = 6
	Close            MessageType = 7
	Ack              MessageType = 8
	Sequence         MessageType = 9
)

// Message is one hub message. Arguments, Result and Item are JSON whatever the protocol:
// MessagePack values are converted on the way in and out.
type Message struct {
	Type           MessageType
	InvocationID   string
	Target         string
	Arguments      []json.RawMessage
	StreamIDs      []string
	Headers        map[string]string
	Result         json.RawMessage
	HasResult      bool
	Error          string
	Item           json.RawMessage
	AllowReconnect bool
	SequenceID     int64
}

// Protocol is one hub protocol.
type Protocol interface {
	// Name is the handshake name: "json" or "messagepack".
	Name() string
	// Binary reports whether records travel in binary frames.
	Binary() bool
	// Append appends m as one complete record.
	Append(dst []byte, m *Message) ([]byte, error)
	// Parse decodes the first record of buf. n is the number of bytes it used; n == 0 with
	// a nil error means the record is not complete yet. A record over maxSize bytes (when
	// maxSize > 0) is an error. Messages of unknown type decode with only Type set.
	Parse(buf []byte, maxSize int) (m Message, n int, err error)
}

// The two protocols.
var (
	JSON        Protocol = jsonProtocol{}
	MessagePack Protocol = msgpackProtocol{}
)

// ProtocolByName returns the protocol a handshake names.
func ProtocolByName(name string) (Protocol, bool) {
	switch name {
	case "json":
		return JSON, true
	case "messagepack":
		return MessagePack, true
	}
	return nil, false
}

// RecordSeparator ends every JSON record and the handshake.
const RecordSeparator = 0x1e

// Errors.
var (
	ErrTooLarge = errors.New("signalr: message too large")
	ErrInvalid  = errors.New("signalr: invalid message")
)

// HandshakeRequest is the client's first record.
type HandshakeRequest struct {
	Protocol string `json:"protocol"`
	Version  int    `json:"version"`
}

// ParseHandshake reads the handshake request, a JSON record ending in 0x1E. n == 0 with a
// nil error means it is not complete yet.
func ParseHandshake(buf []byte, maxSize int) (req HandshakeRequest, n int, err error) {
	rec, n, err := splitJSON(buf, maxSize)
	if n == 0 || err != nil {
		return HandshakeRequest{}, 0, err
	}
	var raw struct {
		Protocol *string `json:"protocol"`
		Version  *int    `json:"version"`
	}
	if err := json.Unmarshal(rec, &raw); err != nil {
		return HandshakeRequest{}, n, fmt.Errorf("%w: handshake: %v", ErrInvalid, err)
	}
	if raw.Protocol == nil || raw.Version == nil {
		return HandshakeRequest{}, n, fmt.Errorf("%w: handshake needs protocol and version", ErrInvalid)
	}
	return HandshakeRequest{Protocol: *raw.Protocol, Version: *raw.Version}, n, nil
}

// AppendHandshakeResponse appends {} (success) or {"error":...}, with the separator.
func AppendHandshakeResponse(dst []byte, errMsg string) []byte {
	if errMsg == "" {
		return append(dst, '{', '}', RecordSeparator)
	}
	dst = append(dst, `{"error":`...)
	dst = appendJSONString(dst, errMsg)
	return append(dst, '}', RecordSeparator)
}

// AppendInvocationJSON appends a non-blocking invocation as a JSON record. The arguments are
// copied as they are: they must be valid JSON (the hub's own payloads are).
func AppendInvocationJSON(dst []byte, target string, args ...json.RawMessage) []byte {
	dst = append(dst, `{"type":1,"target":`...)
	dst = appendJSONString(dst, target)
	dst = append(dst, `,"arguments":[`...)
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, a...)
	}
	return append(dst, ']', '}', RecordSeparator)
}

// AppendInvocationMsgPack appends a non-blocking invocation, [1, {}, nil, target, [args]],
// as a MessagePack record, converting each JSON argument in one pass. On error dst is
// returned unchanged.
func AppendInvocationMsgPack(dst []byte, target string, args ...json.RawMessage) ([]byte, error) {
	at := len(dst)
	b := append(dst, prefixRoom[:]...)
	b = append(b, 0x95, byte(Invocation), 0x80, 0xc0)
	b = msgp.AppendString(b, target)
	b = msgp.AppendArrayHeader(b, uint32(len(args)))
	for _, a := range args {
		var err error
		if b, err = AppendJSONAsMsgPack(b, a); err != nil {
			return dst[:at], err
		}
	}
	return frameMsgPack(b, at)
}

var (
	pingJSON    = []byte("{\"type\":6}\x1e")
	pingMsgPack = []byte{0x02, 0x91, 0x06}
)

// PingRecord is the framed Ping of p. The slice is shared: do not modify it.
func PingRecord(p Protocol) []byte {
	if p.Binary() {
		return pingMsgPack
	}
	return pingJSON
}
