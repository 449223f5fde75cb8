package ddp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rcgateway/rcgateway/rocketchat/internal/jsonscan"
)

// frame is one decoded DDP message. Only the fields a client reads are kept; payloads stay raw.
type frame struct {
	Msg      string          `json:"msg"`
	ID       string          `json:"id"`
	ServerID *string         `json:"server_id"`
	Session  string          `json:"session"`
	Version  string          `json:"version"`
	Result   json.RawMessage `json:"result"`
	Error    *Error          `json:"error"`
	Methods  []string        `json:"methods"`
	Subs     []string        `json:"subs"`
	Reason   string          `json:"reason"`

	Collection string          `json:"collection"`
	Fields     json.RawMessage `json:"fields"`
	Cleared    []string        `json:"cleared"`
}

var errNotObject = errors.New("frame is not a JSON object")

// decodeFrame parses one text frame. Anything that is not a JSON object with well-typed known
// fields is an error; unknown keys are ignored.
func decodeFrame(b []byte) (*frame, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, errNotObject
	}
	if f, ok := decodeData(b); ok {
		return f, nil
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// decodeData is decodeFrame for the frames a busy upstream is made of: an added, changed or
// removed message whose keys and msg, collection and id values are plain strings (no escape
// sequences) and which has no cleared list. It checks the frame is valid JSON, then reads its
// top level in one scan and leaves fields in place (b is the frame's own buffer), where
// json.Unmarshal would validate, decode and copy fields. ok is false for anything else, which
// decodeFrame then decodes as before: the result is the same either way (FuzzDecodeData).
func decodeData(b []byte) (f *frame, ok bool) {
	if !jsonscan.Valid(b) {
		return nil, false
	}
	f = &frame{}
	i := jsonscan.SkipWS(b, 1)
	if i < len(b) && b[i] == '}' {
		return nil, false
	}
	for i < len(b) {
		key, j, ok := jsonscan.PlainString(b, i)
		if !ok {
			return nil, false
		}
		i = jsonscan.SkipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = jsonscan.SkipWS(b, i+1)
		switch key {
		case "msg", "collection", "id":
			v, j, ok := jsonscan.PlainString(b, i)
			if !ok {
				return nil, false
			}
			switch key {
			case "msg":
				f.Msg = v
			case "collection":
				f.Collection = v
			default:
				f.ID = v
			}
			i = j
		case "fields":
			j := jsonscan.SkipValue(b, i)
			if j < 0 {
				return nil, false
			}
			f.Fields = json.RawMessage(b[i:j]) // null too, as json.Unmarshal keeps it
			i = j
		default:
			for _, k := range frameKeys {
				if strings.EqualFold(key, k) {
					// A key of another kind of frame, one this path does not read, or a known
					// key in other case (json.Unmarshal matches keys case-insensitively).
					return nil, false
				}
			}
			if i = jsonscan.SkipValue(b, i); i < 0 {
				return nil, false
			}
		}
		i = jsonscan.SkipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = jsonscan.SkipWS(b, i+1)
			continue
		}
		break
	}
	switch f.Msg {
	case "added", "changed", "removed":
		return f, true
	}
	return nil, false
}

// frameKeys are frame's JSON keys.
var frameKeys = []string{"msg", "id", "server_id", "session", "version", "result", "error", "methods", "subs", "reason", "collection", "fields", "cleared"}

// Error is a Meteor error object as sent in result.error and nosub.error. Code is the "error"
// field: a number ("403") or a string code ("not-allowed", "totp-required") — key on Code,
// never on Message.
type Error struct {
	Code      string          // "error", numbers rendered in decimal
	Reason    string          // "reason", may be empty
	Message   string          // "message", e.g. "<reason> [<code>]"
	ErrorType string          // "errorType", usually "Meteor.Error"
	Details   json.RawMessage // "details", may be nil
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("ddp: error %s: %s", e.Code, e.Reason)
	}
	return "ddp: error " + e.Code
}

// UnmarshalJSON accepts the error code as a number or a string.
func (e *Error) UnmarshalJSON(b []byte) error {
	var w struct {
		Error     json.RawMessage `json:"error"`
		Reason    string          `json:"reason"`
		Message   string          `json:"message"`
		ErrorType string          `json:"errorType"`
		Details   json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Error{Reason: w.Reason, Message: w.Message, ErrorType: w.ErrorType, Details: w.Details}
	code := bytes.TrimSpace(w.Error)
	switch {
	case len(code) == 0 || string(code) == "null":
	case code[0] == '"':
		if err := json.Unmarshal(code, &e.Code); err != nil {
			return err
		}
	default:
		var n json.Number
		if err := json.Unmarshal(code, &n); err != nil {
			return fmt.Errorf("error code is neither number nor string")
		}
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			e.Code = strconv.FormatInt(i, 10)
		} else {
			e.Code = n.String()
		}
	}
	return nil
}
