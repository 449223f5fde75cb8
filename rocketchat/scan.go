package rocketchat

import (
	"bytes"
	"encoding/json"

	"github.com/rcgateway/rcgateway/rocketchat/internal/jsonscan"
)

// The readers in this file take the few top-level members the gateway needs out of JSON
// that is known to be valid (a DDP frame is validated whole when it is read), in one scan
// and without copying, where json.Unmarshal would validate, decode and copy again. They
// handle only the plain case: keys and wanted string values of printable ASCII without
// escape sequences, and no key that matches a wanted one only case-insensitively
// (json.Unmarshal accepts those, with its own precedence). Anything else makes them report
// !ok, and the caller decodes with encoding/json as before: the result is the same either
// way (FuzzDecodeEventFast compares the two).

// members calls fn with each member of the JSON object raw (valid JSON); key is the key
// without its quotes, val the value's bytes. It reports false, stopping, when raw is not an
// object, when a key is not plain, or when fn returns false.
func members(raw []byte, fn func(key, val []byte) bool) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' {
		return false
	}
	i := jsonscan.SkipWS(raw, 1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) {
		key, j, ok := jsonscan.PlainBytes(raw, i)
		if !ok {
			return false
		}
		i = jsonscan.SkipWS(raw, j)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = jsonscan.SkipWS(raw, i+1)
		j = jsonscan.SkipValue(raw, i)
		if j < 0 {
			return false
		}
		if !fn(key, raw[i:j]) {
			return false
		}
		i = jsonscan.SkipWS(raw, j)
		if i < len(raw) && raw[i] == ',' {
			i = jsonscan.SkipWS(raw, i+1)
			continue
		}
		return i < len(raw) && raw[i] == '}'
	}
	return false
}

// elements appends each element of the JSON array raw (valid JSON) to dst; ok is false when
// raw is not an array.
func elements(dst []json.RawMessage, raw []byte) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' {
		return dst, false
	}
	i := jsonscan.SkipWS(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return dst, true
	}
	for i < len(raw) {
		j := jsonscan.SkipValue(raw, i)
		if j < 0 {
			return dst, false
		}
		dst = append(dst, raw[i:j])
		i = jsonscan.SkipWS(raw, j)
		if i < len(raw) && raw[i] == ',' {
			i = jsonscan.SkipWS(raw, i+1)
			continue
		}
		return dst, i < len(raw) && raw[i] == ']'
	}
	return dst, false
}

// other reports whether key (plain, so ASCII) is none of wanted, not even
// case-insensitively: a member the reader may skip. A key that matches a wanted one only in
// another case is not other.
func other(key []byte, wanted ...string) bool {
	for _, w := range wanted {
		if len(key) == len(w) && asciiEqualFold(key, w) {
			return false
		}
	}
	return true
}

func asciiEqualFold(a []byte, b string) bool {
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// stringValue reads val as a plain string (see the file's comment).
func stringValue(val []byte) (string, bool) {
	s, j, ok := jsonscan.PlainString(val, 0)
	return s, ok && j == len(val)
}
