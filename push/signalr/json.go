package signalr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

type jsonProtocol struct{}

func (jsonProtocol) Name() string { return "json" }
func (jsonProtocol) Binary() bool { return false }

// splitJSON returns the first record of buf without its separator.
func splitJSON(buf []byte, maxSize int) (rec []byte, n int, err error) {
	i := bytes.IndexByte(buf, RecordSeparator)
	if i < 0 {
		if maxSize > 0 && len(buf) > maxSize {
			return nil, 0, ErrTooLarge
		}
		return nil, 0, nil
	}
	if maxSize > 0 && i > maxSize {
		return nil, 0, ErrTooLarge
	}
	return buf[:i], i + 1, nil
}

type jsonMessage struct {
	Type           *int              `json:"type"`
	InvocationID   *string           `json:"invocationId"`
	Target         *string           `json:"target"`
	Arguments      []json.RawMessage `json:"arguments"`
	StreamIDs      []string          `json:"streamIds"`
	Headers        map[string]string `json:"headers"`
	Result         json.RawMessage   `json:"result"`
	Error          *string           `json:"error"`
	Item           json.RawMessage   `json:"item"`
	AllowReconnect bool              `json:"allowReconnect"`
	SequenceID     *int64            `json:"sequenceId"`
}

func (jsonProtocol) Parse(buf []byte, maxSize int) (Message, int, error) {
	rec, n, err := splitJSON(buf, maxSize)
	if n == 0 || err != nil {
		return Message{}, 0, err
	}
	var w jsonMessage
	if err := json.Unmarshal(rec, &w); err != nil {
		// A message of an unknown type is ignored whatever its other fields hold.
		var t struct {
			Type *int `json:"type"`
		}
		if json.Unmarshal(rec, &t) == nil && t.Type != nil && (*t.Type < int(Invocation) || *t.Type > int(Sequence)) {
			return Message{Type: MessageType(*t.Type)}, n, nil
		}
		return Message{}, n, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if w.Type == nil {
		return Message{}, n, fmt.Errorf("%w: missing type", ErrInvalid)
	}
	m := Message{Type: MessageType(*w.Type), Headers: w.Headers, StreamIDs: w.StreamIDs, AllowReconnect: w.AllowReconnect}
	if w.InvocationID != nil {
		m.InvocationID = *w.InvocationID
	}
	if w.Error != nil {
		m.Error = *w.Error
	}
	switch m.Type {
	case Invocation, StreamInvocation:
		if w.Target == nil || *w.Target == "" || w.Arguments == nil {
			return Message{}, n, fmt.Errorf("%w: invocation needs target and arguments", ErrInvalid)
		}
		m.Target, m.Arguments = *w.Target, w.Arguments
		if m.Type == StreamInvocation && m.InvocationID == "" {
			return Message{}, n, fmt.Errorf("%w: stream invocation needs invocationId", ErrInvalid)
		}
	case StreamItem:
		if m.InvocationID == "" || w.Item == nil {
			return Message{}, n, fmt.Errorf("%w: stream item needs invocationId and item", ErrInvalid)
		}
		m.Item = w.Item
	case Completion:
		if m.InvocationID == "" {
			return Message{}, n, fmt.Errorf("%w: completion needs invocationId", ErrInvalid)
		}
		if w.Result != nil {
			if w.Error != nil {
				return Message{}, n, fmt.Errorf("%w: completion with both result and error", ErrInvalid)
			}
			m.Result, m.HasResult = w.Result, true
		}
	case CancelInvocation:
		if m.InvocationID == "" {
			return Message{}, n, fmt.Errorf("%w: cancel needs invocationId", ErrInvalid)
		}
	case Ack, Sequence:
		if w.SequenceID == nil {
			return Message{}, n, fmt.Errorf("%w: missing sequenceId", ErrInvalid)
		}
		m.SequenceID = *w.SequenceID
	case Ping, Close:
	default:
		return Message{Type: m.Type}, n, nil
	}
	return m, n, nil
}

func (jsonProtocol) Append(dst []byte, m *Message) ([]byte, error) {
	dst = append(dst, `{"type":`...)
	dst = strconv.AppendInt(dst, int64(m.Type), 10)
	if m.InvocationID != "" {
		dst = append(dst, `,"invocationId":`...)
		dst = appendJSONString(dst, m.InvocationID)
	}
	if len(m.Headers) > 0 && m.Type != Ping {
		h, err := json.Marshal(m.Headers)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `,"headers":`...)
		dst = append(dst, h...)
	}
	switch m.Type {
	case Invocation, StreamInvocation:
		dst = append(dst, `,"target":`...)
		dst = appendJSONString(dst, m.Target)
		dst = append(dst, `,"arguments":[`...)
		for i, a := range m.Arguments {
			if i > 0 {
				dst = append(dst, ',')
			}
			if !json.Valid(a) {
				return dst, fmt.Errorf("%w: argument %d is not JSON", ErrInvalid, i)
			}
			dst = append(dst, a...)
		}
		dst = append(dst, ']')
		if len(m.StreamIDs) > 0 {
			s, _ := json.Marshal(m.StreamIDs)
			dst = append(dst, `,"streamIds":`...)
			dst = append(dst, s...)
		}
	case StreamItem:
		dst = append(dst, `,"item":`...)
		dst = append(dst, orNull(m.Item)...)
	case Completion:
		if m.Error != "" {
			dst = append(dst, `,"error":`...)
			dst = appendJSONString(dst, m.Error)
		} else if m.HasResult {
			dst = append(dst, `,"result":`...)
			dst = append(dst, orNull(m.Result)...)
		}
	case Close:
		if m.Error != "" {
			dst = append(dst, `,"error":`...)
			dst = appendJSONString(dst, m.Error)
		}
		if m.AllowReconnect {
			dst = append(dst, `,"allowReconnect":true`...)
		}
	case Ack, Sequence:
		dst = append(dst, `,"sequenceId":`...)
		dst = strconv.AppendInt(dst, m.SequenceID, 10)
	}
	return append(dst, '}', RecordSeparator), nil
}

func orNull(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return json.RawMessage("null")
	}
	return v
}
