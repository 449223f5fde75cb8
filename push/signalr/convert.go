package signalr

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tinylib/msgp/msgp"
)

// Nesting limits. Values we encode come from the server, so the JSON→MessagePack limit only
// guards the stack; values we decode come from clients and get the ASP.NET JSON depth.
const (
	maxEncodeDepth = 1000
	maxDecodeDepth = 64
)

var (
	errDepth     = errors.New("value nested too deeply")
	errNotJSON   = errors.New("invalid JSON")
	errTrailing  = errors.New("trailing data after JSON value")
	errBadNumber = errors.New("invalid JSON number")
)

// AppendJSONAsMsgPack appends the JSON value raw as one MessagePack value in a single pass
// over raw, without building Go values: objects become maps (member order kept), arrays
// arrays, strings strings, numbers with an integral value in int64 range integers (uint64
// above it) and other numbers float64, true/false bools and null nil. Invalid JSON is an
// error wrapping ErrInvalid.
func AppendJSONAsMsgPack(b []byte, raw json.RawMessage) ([]byte, error) {
	s := jsonScanner{in: raw}
	out, err := s.value(b, 0)
	if err == nil {
		s.skipSpace()
		if s.pos != len(s.in) {
			err = errTrailing
		}
	}
	if err != nil {
		return b, fmt.Errorf("%w: json to messagepack at byte %d: %v", ErrInvalid, s.pos, err)
	}
	return out, nil
}

type jsonScanner struct {
	in  []byte
	pos int
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.in) {
		switch s.in[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonScanner) literal(word string) error {
	if len(s.in)-s.pos < len(word) || string(s.in[s.pos:s.pos+len(word)]) != word {
		return errNotJSON
	}
	s.pos += len(word)
	return nil
}

func (s *jsonScanner) value(b []byte, depth int) ([]byte, error) {
	s.skipSpace()
	if s.pos >= len(s.in) {
		return b, errNotJSON
	}
	switch c := s.in[s.pos]; c {
	case '{':
		if depth >= maxEncodeDepth {
			return b, errDepth
		}
		return s.object(b, depth)
	case '[':
		if depth >= maxEncodeDepth {
			return b, errDepth
		}
		return s.array(b, depth)
	case '"':
		return s.str(b)
	case 't':
		return msgp.AppendBool(b, true), s.literal("true")
	case 'f':
		return msgp.AppendBool(b, false), s.literal("false")
	case 'n':
		return msgp.AppendNil(b), s.literal("null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return s.number(b)
		}
		return b, errNotJSON
	}
}

// Container headers are written as one byte (fixmap/fixarray) and widened once the count
// is known, moving the already written elements.
func (s *jsonScanner) array(b []byte, depth int) ([]byte, error) {
	s.pos++ // [
	at := len(b)
	b = append(b, 0x90)
	n := 0
	s.skipSpace()
	if s.pos < len(s.in) && s.in[s.pos] == ']' {
		s.pos++
		return b, nil
	}
	for {
		var err error
		if b, err = s.value(b, depth+1); err != nil {
			return b, err
		}
		n++
		s.skipSpace()
		if s.pos >= len(s.in) {
			return b, errNotJSON
		}
		switch s.in[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return fixHeader(b, at, n, 0x90, 0xdc), nil
		default:
			return b, errNotJSON
		}
	}
}

func (s *jsonScanner) object(b []byte, depth int) ([]byte, error) {
	s.pos++ // {
	at := len(b)
	b = append(b, 0x80)
	n := 0
	s.skipSpace()
	if s.pos < len(s.in) && s.in[s.pos] == '}' {
		s.pos++
		return b, nil
	}
	for {
		s.skipSpace()
		if s.pos >= len(s.in) || s.in[s.pos] != '"' {
			return b, errNotJSON
		}
		var err error
		if b, err = s.str(b); err != nil {
			return b, err
		}
		s.skipSpace()
		if s.pos >= len(s.in) || s.in[s.pos] != ':' {
			return b, errNotJSON
		}
		s.pos++
		if b, err = s.value(b, depth+1); err != nil {
			return b, err
		}
		n++
		s.skipSpace()
		if s.pos >= len(s.in) {
			return b, errNotJSON
		}
		switch s.in[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return fixHeader(b, at, n, 0x80, 0xde), nil
		default:
			return b, errNotJSON
		}
	}
}

// fixHeader turns the one-byte container header at b[at] into the right size for n
// elements: fix (fix|n), 16-bit (code16) or 32-bit (code16+1).
func fixHeader(b []byte, at, n int, fix, code16 byte) []byte {
	switch {
	case n < 16:
		b[at] = fix | byte(n)
		return b
	case n <= math.MaxUint16:
		b = widen(b, at, 2)
		b[at] = code16
		binary.BigEndian.PutUint16(b[at+1:], uint16(n))
	default:
		b = widen(b, at, 4)
		b[at] = code16 + 1
		binary.BigEndian.PutUint32(b[at+1:], uint32(n))
	}
	return b
}

// widen makes room for extra more header bytes after b[at].
func widen(b []byte, at, extra int) []byte {
	b = append(b, make([]byte, extra)...)
	copy(b[at+1+extra:], b[at+1:len(b)-extra])
	return b
}

// str converts the JSON string at s.pos to a MessagePack str.
func (s *jsonScanner) str(b []byte) ([]byte, error) {
	s.pos++ // "
	start := s.pos
	// Fast path: no escapes, all ASCII.
	for i := start; i < len(s.in); i++ {
		c := s.in[i]
		if c == '"' {
			s.pos = i + 1
			return msgp.AppendStringFromBytes(b, s.in[start:i]), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	// Slow path: decode into b after a one-byte fixstr header, then widen it.
	at := len(b)
	b = append(b, 0xa0)
	for s.pos < len(s.in) {
		c := s.in[s.pos]
		switch {
		case c == '"':
			s.pos++
			n := len(b) - at - 1
			switch {
			case n < 32:
				b[at] = 0xa0 | byte(n)
			case n <= math.MaxUint8:
				b = widen(b, at, 1)
				b[at], b[at+1] = 0xd9, byte(n)
			case n <= math.MaxUint16:
				b = widen(b, at, 2)
				b[at] = 0xda
				binary.BigEndian.PutUint16(b[at+1:], uint16(n))
			default:
				b = widen(b, at, 4)
				b[at] = 0xdb
				binary.BigEndian.PutUint32(b[at+1:], uint32(n))
			}
			return b, nil
		case c < 0x20:
			return b, errNotJSON
		case c == '\\':
			if s.pos+1 >= len(s.in) {
				return b, errNotJSON
			}
			e := s.in[s.pos+1]
			s.pos += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return b, errNotJSON
				}
				if utf16.IsSurrogate(r) {
					r1 := r
					r = utf8.RuneError
					if s.pos+1 < len(s.in) && s.in[s.pos] == '\\' && s.in[s.pos+1] == 'u' {
						save := s.pos
						s.pos += 2
						r2, ok := s.hex4()
						if !ok {
							return b, errNotJSON
						}
						if d := utf16.DecodeRune(r1, r2); d != utf8.RuneError {
							r = d
						} else {
							s.pos = save // the second escape stands on its own
						}
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return b, errNotJSON
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.in[s.pos:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s.in[s.pos:s.pos+size]...)
			}
			s.pos += size
		}
	}
	return b, errNotJSON
}

// hex4 reads the four hex digits of a \u escape.
func (s *jsonScanner) hex4() (rune, bool) {
	if len(s.in)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.in[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.pos += 4
	return r, true
}

// number converts the JSON number at s.pos, checking the JSON grammar.
func (s *jsonScanner) number(b []byte) ([]byte, error) {
	start := s.pos
	in := s.in
	i := s.pos
	neg := false
	if in[i] == '-' {
		neg = true
		i++
	}
	digits := i
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && in[i] >= '1' && in[i] <= '9':
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	default:
		return b, errBadNumber
	}
	intEnd := i
	isFloat := false
	if i < len(in) && in[i] == '.' {
		isFloat = true
		i++
		if i >= len(in) || in[i] < '0' || in[i] > '9' {
			return b, errBadNumber
		}
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		isFloat = true
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		if i >= len(in) || in[i] < '0' || in[i] > '9' {
			return b, errBadNumber
		}
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	}
	s.pos = i
	if !isFloat && intEnd-digits <= 18 { // fits int64 without overflow checks
		var v int64
		for _, c := range in[digits:intEnd] {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		return msgp.AppendInt64(b, v), nil
	}
	text := string(in[start:i])
	if !isFloat {
		if v, err := strconv.ParseInt(text, 10, 64); err == nil {
			return msgp.AppendInt64(b, v), nil
		}
		if v, err := strconv.ParseUint(text, 10, 64); err == nil {
			return msgp.AppendUint64(b, v), nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil { // out of float64 range
		return b, errBadNumber
	}
	if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
		return msgp.AppendInt64(b, int64(f)), nil
	}
	return msgp.AppendFloat64(b, f), nil
}

// AppendMsgPackAsJSON converts the first MessagePack value of b to JSON appended to dst and
// returns the bytes after it. Maps need string or integer keys; binary becomes a base64
// string, the timestamp extension (-1) an RFC 3339 UTC string; NaN, infinities and other
// extensions are errors.
func AppendMsgPackAsJSON(dst, b []byte) (out, rest []byte, err error) {
	return msgpackToJSON(dst, b, 0)
}

func msgpackToJSON(dst, b []byte, depth int) ([]byte, []byte, error) {
	if len(b) == 0 {
		return dst, b, msgp.ErrShortBytes
	}
	var err error
	switch t := msgp.NextType(b); t {
	case msgp.NilType:
		b, err = msgp.ReadNilBytes(b)
		return append(dst, "null"...), b, err
	case msgp.BoolType:
		var v bool
		v, b, err = msgp.ReadBoolBytes(b)
		return strconv.AppendBool(dst, v), b, err
	case msgp.IntType:
		var v int64
		v, b, err = msgp.ReadInt64Bytes(b)
		return strconv.AppendInt(dst, v, 10), b, err
	case msgp.UintType:
		var v uint64
		v, b, err = msgp.ReadUint64Bytes(b)
		return strconv.AppendUint(dst, v, 10), b, err
	case msgp.Float32Type, msgp.Float64Type:
		var v float64
		bits := 64
		if t == msgp.Float32Type {
			var f float32
			f, b, err = msgp.ReadFloat32Bytes(b)
			v, bits = float64(f), 32
		} else {
			v, b, err = msgp.ReadFloat64Bytes(b)
		}
		if err != nil {
			return dst, b, err
		}
		dst, err = appendJSONFloat(dst, v, bits)
		return dst, b, err
	case msgp.StrType:
		var s []byte
		s, b, err = msgp.ReadStringZC(b)
		if err != nil {
			return dst, b, err
		}
		return appendJSONStringBytes(dst, s), b, nil
	case msgp.BinType:
		var s []byte
		s, b, err = msgp.ReadBytesZC(b)
		if err != nil {
			return dst, b, err
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, s)
		return append(dst, '"'), b, nil
	case msgp.ArrayType:
		if depth >= maxDecodeDepth {
			return dst, b, errDepth
		}
		var n uint32
		if n, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
			return dst, b, err
		}
		dst = append(dst, '[')
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, b, err = msgpackToJSON(dst, b, depth+1); err != nil {
				return dst, b, err
			}
		}
		return append(dst, ']'), b, nil
	case msgp.MapType:
		if depth >= maxDecodeDepth {
			return dst, b, errDepth
		}
		var n uint32
		if n, b, err = msgp.ReadMapHeaderBytes(b); err != nil {
			return dst, b, err
		}
		dst = append(dst, '{')
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			if len(b) == 0 {
				return dst, b, msgp.ErrShortBytes
			}
			switch msgp.NextType(b) {
			case msgp.StrType:
				var k []byte
				if k, b, err = msgp.ReadStringZC(b); err != nil {
					return dst, b, err
				}
				dst = appendJSONStringBytes(dst, k)
			case msgp.IntType, msgp.UintType:
				dst = append(dst, '"')
				if dst, b, err = msgpackToJSON(dst, b, depth+1); err != nil {
					return dst, b, err
				}
				dst = append(dst, '"')
			default:
				return dst, b, fmt.Errorf("map key of type %s", msgp.NextType(b))
			}
			dst = append(dst, ':')
			if dst, b, err = msgpackToJSON(dst, b, depth+1); err != nil {
				return dst, b, err
			}
		}
		return append(dst, '}'), b, nil
	case msgp.ExtensionType, msgp.TimeType:
		return appendExtensionJSON(dst, b)
	default:
		return dst, b, fmt.Errorf("unsupported messagepack value of type %s (0x%02x)", t, b[0])
	}
}

// appendJSONFloat writes v the way encoding/json does; NaN and infinities have no JSON form.
func appendJSONFloat(dst []byte, v float64, bits int) ([]byte, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dst, fmt.Errorf("float %v has no JSON form", v)
	}
	format := byte('f')
	if a := math.Abs(v); a != 0 && (bits == 64 && (a < 1e-6 || a >= 1e21) || bits == 32 && (float32(a) < 1e-6 || float32(a) >= 1e21)) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, v, format, -1, bits), nil
}

// appendExtensionJSON converts the timestamp extension (-1) to an RFC 3339 string in UTC with
// millisecond or finer precision, as a JavaScript Date serialises.
func appendExtensionJSON(dst, b []byte) ([]byte, []byte, error) {
	ext, rest, err := readExt(b)
	if err != nil {
		return dst, b, err
	}
	if ext.typ != -1 {
		return dst, b, fmt.Errorf("unsupported messagepack extension type %d", ext.typ)
	}
	var sec int64
	var nsec uint32
	switch d := ext.data; len(d) {
	case 4:
		sec = int64(binary.BigEndian.Uint32(d))
	case 8:
		v := binary.BigEndian.Uint64(d)
		nsec, sec = uint32(v>>34), int64(v&(1<<34-1))
	case 12:
		nsec, sec = binary.BigEndian.Uint32(d), int64(binary.BigEndian.Uint64(d[4:]))
	default:
		return dst, b, fmt.Errorf("timestamp of %d bytes", len(d))
	}
	if nsec > 999_999_999 {
		return dst, b, fmt.Errorf("timestamp with %d nanoseconds", nsec)
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return dst, b, fmt.Errorf("timestamp year %d outside 0..9999", y)
	}
	layout := "2006-01-02T15:04:05.000Z07:00"
	if nsec%1_000_000 != 0 {
		layout = "2006-01-02T15:04:05.000000000Z07:00"
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, layout)
	return append(dst, '"'), rest, nil
}

type extension struct {
	typ  int8
	data []byte
}

// readExt reads any MessagePack extension (fixext 1-16, ext 8/16/32) without copying.
func readExt(b []byte) (extension, []byte, error) {
	if len(b) < 2 {
		return extension{}, b, msgp.ErrShortBytes
	}
	var size, hdr int
	switch b[0] {
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		size, hdr = 1<<(b[0]-0xd4), 1
	case 0xc7:
		size, hdr = int(b[1]), 2
	case 0xc8:
		if len(b) < 3 {
			return extension{}, b, msgp.ErrShortBytes
		}
		size, hdr = int(binary.BigEndian.Uint16(b[1:])), 3
	case 0xc9:
		if len(b) < 5 {
			return extension{}, b, msgp.ErrShortBytes
		}
		size, hdr = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return extension{}, b, fmt.Errorf("not an extension: 0x%02x", b[0])
	}
	if len(b)-hdr-1 < size {
		return extension{}, b, msgp.ErrShortBytes
	}
	return extension{typ: int8(b[hdr]), data: b[hdr+1 : hdr+1+size]}, b[hdr+1+size:], nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string with relaxed escaping, as ASP.NET writes: only
// quote, backslash, control characters and U+2028/U+2029 are escaped; invalid UTF-8 becomes
// U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendJSONStringBytes(dst, s []byte) []byte {
	// appendJSONString only reads s during the call, so viewing the bytes as a string is safe.
	return appendJSONString(dst, unsafe.String(unsafe.SliceData(s), len(s)))
}
