package rocketchat

import (
	"bytes"
	"encoding/json"
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
	i := skipWS(raw, 1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) {
		key, j, ok := plainBytes(raw, i)
		if !ok {
			return false
		}
		i = skipWS(raw, j)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = skipWS(raw, i+1)
		j = skipValue(raw, i)
		if j < 0 {
			return false
		}
		if !fn(key, raw[i:j]) {
			return false
		}
		i = skipWS(raw, j)
		if i < len(raw) && raw[i] == ',' {
			i = skipWS(raw, i+1)
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
	i := skipWS(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return dst, true
	}
	for i < len(raw) {
		j := skipValue(raw, i)
		if j < 0 {
			return dst, false
		}
		dst = append(dst, raw[i:j])
		i = skipWS(raw, j)
		if i < len(raw) && raw[i] == ',' {
			i = skipWS(raw, i+1)
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
	s, j, ok := plainString(val, 0)
	return s, ok && j == len(val)
}

// plainBytes is plainString without the copy: s lies in b.
func plainBytes(b []byte, i int) (s []byte, j int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j = i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// plainString reads the string at b[i] when it is printable ASCII without escape sequences
// (json.Unmarshal would decode it byte for byte); j is the index after its closing quote.
func plainString(b []byte, i int) (s string, j int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j = i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index after the JSON value starting at b[i] (valid JSON); -1 if
// there is none.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			i = stringEnd(b, i)
			if depth == 0 {
				if i >= len(b) {
					return -1
				}
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return -1 // the end of the enclosing value: an empty value is not JSON
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ':':
			if depth == 0 {
				return -1
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return -1
			}
		default:
			if depth == 0 {
				// a literal or number: runs to the next delimiter
				j := i
				for j < len(b) && !isDelim(b[j]) {
					j++
				}
				return j
			}
		}
	}
	return -1
}

// stringEnd returns the index of the closing quote of the string opening at b[i], len(b) if
// there is none.
func stringEnd(b []byte, i int) int {
	for i++; ; {
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			return len(b)
		}
		i += k
		n := 0 // backslashes before the quote: an odd number escapes it
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return i
		}
		i++
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
