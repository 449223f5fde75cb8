// Package jsonscan checks JSON (Valid, by encoding/json's rules) and reads JSON that is known
// to be valid (a DDP frame is validated whole when it is read) without decoding it: where a value ends, and strings in the plain case only
// (printable ASCII without escape sequences, which json.Unmarshal would decode byte for byte).
// Callers fall back to encoding/json for anything else. It is shared by rocketchat/ddp (the
// frame's top level) and rocketchat (an event's fields).
package jsonscan

import "bytes"

// PlainBytes is plainString without the copy: s lies in b.
func PlainBytes(b []byte, i int) (s []byte, j int, ok bool) {
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

// PlainString reads the string at b[i] when it is printable ASCII without escape sequences
// (json.Unmarshal would decode it byte for byte); j is the index after its closing quote.
func PlainString(b []byte, i int) (s string, j int, ok bool) {
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

func SkipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipValue returns the index after the JSON value starting at b[i] (valid JSON); -1 if
// there is none.
func SkipValue(b []byte, i int) int {
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
