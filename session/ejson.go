package session

import (
	"bytes"
	"strconv"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

var dateKey = []byte(`"$date"`)

// rewriteDates returns raw with every EJSON date object ({"$date": <ms>}) replaced by its
// ISO-8601 string as rocketchat.FormatDate writes it, so pushed objects look like REST
// objects. Input without "$date" is returned as is; malformed input is copied unchanged from
// the point it stops parsing.
func rewriteDates(raw []byte) []byte {
	first := bytes.Index(raw, dateKey)
	if first < 0 {
		return raw
	}
	out := make([]byte, 0, len(raw))
	inString := false
	last := 0 // raw[last:i] is not yet copied
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{':
			if end, ms, ok := parseDateObject(raw, i); ok {
				out = append(out, raw[last:i]...)
				out = append(out, '"')
				out = rocketchat.AppendDate(out, time.UnixMilli(ms))
				out = append(out, '"')
				i = end - 1
				last = end
			}
		}
	}
	return append(out, raw[last:]...)
}

// parseDateObject reads {"$date": <integer>} starting at raw[i] == '{'. end is the index
// after the closing brace.
func parseDateObject(raw []byte, i int) (end int, ms int64, ok bool) {
	j := skipSpace(raw, i+1)
	if !bytes.HasPrefix(raw[j:], dateKey) {
		return 0, 0, false
	}
	j = skipSpace(raw, j+len(dateKey))
	if j >= len(raw) || raw[j] != ':' {
		return 0, 0, false
	}
	j = skipSpace(raw, j+1)
	k := j
	if k < len(raw) && raw[k] == '-' {
		k++
	}
	for k < len(raw) && raw[k] >= '0' && raw[k] <= '9' {
		k++
	}
	n, err := strconv.ParseInt(string(raw[j:k]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	k = skipSpace(raw, k)
	if k >= len(raw) || raw[k] != '}' {
		return 0, 0, false
	}
	return k + 1, n, true
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}
