package signalr

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/tinylib/msgp/msgp"
)

type msgpackProtocol struct{}

func (msgpackProtocol) Name() string { return "messagepack" }
func (msgpackProtocol) Binary() bool { return true }

// maxRecord is the largest length a varint prefix may announce (2 GiB - 1).
const maxRecord = math.MaxInt32

// readVarint reads the record length prefix: 7-bit groups, least significant first, at
// most 5 bytes. n == 0 means more bytes are needed.
func readVarint(b []byte) (v uint64, n int, err error) {
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, nil
		}
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if v > maxRecord {
				return 0, 0, fmt.Errorf("%w: record length %d", ErrInvalid, v)
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: length prefix longer than 5 bytes", ErrInvalid)
}

func appendVarint(b []byte, v int) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func (msgpackProtocol) Parse(buf []byte, maxSize int) (Message, int, error) {
	size, hn, err := readVarint(buf)
	if err != nil || hn == 0 {
		return Message{}, 0, err
	}
	if maxSize > 0 && size > uint64(maxSize) {
		return Message{}, 0, ErrTooLarge
	}
	if uint64(len(buf)-hn) < size {
		return Message{}, 0, nil
	}
	n := hn + int(size)
	m, err := decodeMsgPack(buf[hn:n])
	if err != nil {
		return Message{}, n, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return m, n, nil
}

func decodeMsgPack(b []byte) (m Message, err error) {
	sz, b, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return m, err
	}
	if sz == 0 {
		return m, fmt.Errorf("empty message array")
	}
	t, b, err := msgp.ReadInt64Bytes(b)
	if err != nil {
		return m, err
	}
	m.Type = MessageType(t)
	need := func(n uint32) error {
		if sz < n {
			return fmt.Errorf("message type %d needs %d elements, has %d", t, n, sz)
		}
		return nil
	}
	switch m.Type {
	case Invocation, StreamInvocation:
		if err := need(5); err != nil {
			return m, err
		}
		if m.Headers, b, err = readHeaders(b); err != nil {
			return m, err
		}
		if m.InvocationID, b, err = readOptString(b); err != nil {
			return m, err
		}
		var target string
		if target, b, err = msgp.ReadStringBytes(b); err != nil {
			return m, err
		}
		if target == "" {
			return m, fmt.Errorf("empty target")
		}
		m.Target = target
		var n uint32
		if n, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
			return m, err
		}
		if int64(n) > int64(len(b)) { // every value takes at least one byte
			return m, msgp.ErrShortBytes
		}
		m.Arguments = make([]json.RawMessage, 0, n)
		for range n {
			var v json.RawMessage
			if v, b, err = toJSON(b); err != nil {
				return m, err
			}
			m.Arguments = append(m.Arguments, v)
		}
		if sz >= 6 {
			if n, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
				return m, err
			}
			if int64(n) > int64(len(b)) {
				return m, msgp.ErrShortBytes
			}
			for range n {
				var s string
				if s, b, err = msgp.ReadStringBytes(b); err != nil {
					return m, err
				}
				m.StreamIDs = append(m.StreamIDs, s)
			}
		}
	case StreamItem:
		if err := need(4); err != nil {
			return m, err
		}
		if m.Headers, b, err = readHeaders(b); err != nil {
			return m, err
		}
		if m.InvocationID, b, err = msgp.ReadStringBytes(b); err != nil {
			return m, err
		}
		if m.Item, _, err = toJSON(b); err != nil {
			return m, err
		}
	case Completion:
		if err := need(4); err != nil {
			return m, err
		}
		if m.Headers, b, err = readHeaders(b); err != nil {
			return m, err
		}
		if m.InvocationID, b, err = msgp.ReadStringBytes(b); err != nil {
			return m, err
		}
		var kind int64
		if kind, b, err = msgp.ReadInt64Bytes(b); err != nil {
			return m, err
		}
		switch kind {
		case 1:
			if err := need(5); err != nil {
				return m, err
			}
			if m.Error, _, err = msgp.ReadStringBytes(b); err != nil {
				return m, err
			}
		case 2:
		case 3:
			if err := need(5); err != nil {
				return m, err
			}
			if m.Result, _, err = toJSON(b); err != nil {
				return m, err
			}
			m.HasResult = true
		default:
			return m, fmt.Errorf("completion result kind %d", kind)
		}
	case CancelInvocation:
		if err := need(3); err != nil {
			return m, err
		}
		if m.Headers, b, err = readHeaders(b); err != nil {
			return m, err
		}
		if m.InvocationID, _, err = msgp.ReadStringBytes(b); err != nil {
			return m, err
		}
	case Ping:
	case Close:
		if sz >= 2 {
			if m.Error, b, err = readOptString(b); err != nil {
				return m, err
			}
		}
		if sz >= 3 {
			if m.AllowReconnect, _, err = msgp.ReadBoolBytes(b); err != nil {
				return m, err
			}
		}
	case Ack, Sequence:
		if err := need(2); err != nil {
			return m, err
		}
		if m.SequenceID, _, err = msgp.ReadInt64Bytes(b); err != nil {
			return m, err
		}
	default:
		return Message{Type: m.Type}, nil
	}
	return m, nil
}

func readHeaders(b []byte) (map[string]string, []byte, error) {
	n, b, err := msgp.ReadMapHeaderBytes(b)
	if err != nil || n == 0 {
		return nil, b, err
	}
	if int(n) > len(b) {
		return nil, b, msgp.ErrShortBytes
	}
	h := make(map[string]string, n)
	for range n {
		var k, v string
		if k, b, err = msgp.ReadStringBytes(b); err != nil {
			return nil, b, err
		}
		if v, b, err = msgp.ReadStringBytes(b); err != nil {
			return nil, b, err
		}
		h[k] = v
	}
	return h, b, nil
}

func readOptString(b []byte) (string, []byte, error) {
	if msgp.IsNil(b) {
		b, err := msgp.ReadNilBytes(b)
		return "", b, err
	}
	return msgp.ReadStringBytes(b)
}

// toJSON converts one MessagePack value to JSON.
func toJSON(b []byte) (json.RawMessage, []byte, error) {
	out, rest, err := msgpackToJSON(nil, b, 0)
	if err != nil {
		return nil, b, err
	}
	return json.RawMessage(out), rest, nil
}

func (msgpackProtocol) Append(dst []byte, m *Message) ([]byte, error) {
	at := len(dst)
	body, err := appendMsgPackBody(append(dst, prefixRoom[:]...), m)
	if err != nil {
		return dst, err
	}
	return frameMsgPack(body, at)
}

// prefixRoom is the room left for the length prefix before a body is written in place.
var prefixRoom [5]byte

// frameMsgPack writes the varint length of the body at b[at+5:] into the room left at b[at:]
// and moves the body down to follow it.
func frameMsgPack(b []byte, at int) ([]byte, error) {
	n := len(b) - at - len(prefixRoom)
	if n > maxRecord {
		return b[:at], fmt.Errorf("%w: record of %d bytes", ErrTooLarge, n)
	}
	var v [5]byte
	p := appendVarint(v[:0], n)
	copy(b[at:], p)
	copy(b[at+len(p):], b[at+len(prefixRoom):])
	return b[:at+len(p)+n], nil
}

func appendHeaders(b []byte, h map[string]string) []byte {
	b = msgp.AppendMapHeader(b, uint32(len(h)))
	for k, v := range h {
		b = msgp.AppendString(b, k)
		b = msgp.AppendString(b, v)
	}
	return b
}

func appendMsgPackBody(b []byte, m *Message) ([]byte, error) {
	var err error
	switch m.Type {
	case Invocation, StreamInvocation:
		n := uint32(5)
		if len(m.StreamIDs) > 0 {
			n = 6
		}
		b = msgp.AppendArrayHeader(b, n)
		b = msgp.AppendInt(b, int(m.Type))
		b = appendHeaders(b, m.Headers)
		if m.InvocationID == "" {
			b = msgp.AppendNil(b)
		} else {
			b = msgp.AppendString(b, m.InvocationID)
		}
		b = msgp.AppendString(b, m.Target)
		b = msgp.AppendArrayHeader(b, uint32(len(m.Arguments)))
		for _, a := range m.Arguments {
			if b, err = AppendJSONAsMsgPack(b, a); err != nil {
				return b, err
			}
		}
		if n == 6 {
			b = msgp.AppendArrayHeader(b, uint32(len(m.StreamIDs)))
			for _, s := range m.StreamIDs {
				b = msgp.AppendString(b, s)
			}
		}
	case StreamItem:
		b = msgp.AppendArrayHeader(b, 4)
		b = msgp.AppendInt(b, int(m.Type))
		b = appendHeaders(b, m.Headers)
		b = msgp.AppendString(b, m.InvocationID)
		if b, err = AppendJSONAsMsgPack(b, orNull(m.Item)); err != nil {
			return b, err
		}
	case Completion:
		switch {
		case m.Error != "":
			b = msgp.AppendArrayHeader(b, 5)
			b = msgp.AppendInt(b, int(m.Type))
			b = appendHeaders(b, m.Headers)
			b = msgp.AppendString(b, m.InvocationID)
			b = msgp.AppendInt(b, 1)
			b = msgp.AppendString(b, m.Error)
		case m.HasResult:
			b = msgp.AppendArrayHeader(b, 5)
			b = msgp.AppendInt(b, int(m.Type))
			b = appendHeaders(b, m.Headers)
			b = msgp.AppendString(b, m.InvocationID)
			b = msgp.AppendInt(b, 3)
			if b, err = AppendJSONAsMsgPack(b, orNull(m.Result)); err != nil {
				return b, err
			}
		default:
			b = msgp.AppendArrayHeader(b, 4)
			b = msgp.AppendInt(b, int(m.Type))
			b = appendHeaders(b, m.Headers)
			b = msgp.AppendString(b, m.InvocationID)
			b = msgp.AppendInt(b, 2)
		}
	case CancelInvocation:
		b = msgp.AppendArrayHeader(b, 3)
		b = msgp.AppendInt(b, int(m.Type))
		b = appendHeaders(b, m.Headers)
		b = msgp.AppendString(b, m.InvocationID)
	case Ping:
		b = msgp.AppendArrayHeader(b, 1)
		b = msgp.AppendInt(b, int(m.Type))
	case Close:
		b = msgp.AppendArrayHeader(b, 3)
		b = msgp.AppendInt(b, int(m.Type))
		if m.Error == "" {
			b = msgp.AppendNil(b)
		} else {
			b = msgp.AppendString(b, m.Error)
		}
		b = msgp.AppendBool(b, m.AllowReconnect)
	case Ack, Sequence:
		b = msgp.AppendArrayHeader(b, 2)
		b = msgp.AppendInt(b, int(m.Type))
		b = msgp.AppendInt64(b, m.SequenceID)
	default:
		return b, fmt.Errorf("%w: cannot encode message type %d", ErrInvalid, m.Type)
	}
	return b, nil
}
