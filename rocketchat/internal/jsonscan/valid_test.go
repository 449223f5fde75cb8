package jsonscan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// validCases are checked against encoding/json.Valid, the rule Valid must follow.
var validCases = []string{
	``, ` `, `{}`, `[]`, ` {} `, "\t[\r\n]\n", `{`, `}`, `[`, `]`, `{]`, `[}`, `[[]]`, `[[]`, `[]]`,
	`{"a":1}`, `{"a":1,}`, `{"a" : 1 , "b" : [ ] }`, `{"a"}`, `{"a":}`, `{:1}`, `{1:1}`, `{'a':1}`,
	`[1,2]`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1 "b":2}`, `{"a":1}{}`, `{} {}`, `1 2`,
	`"x"`, `"`, `"\"`, `"\\"`, `"\/\b\f\n\r\t\""`, `"\u00e9"`, `"\u00G9"`, `"\u00e"`, `"\x"`, `"\'"`,
	"\"a\tb\"", "\"a\x01\"", "\"\x7f\"", "\"\xff\xfe\"", "\"é\"", `"\ud800"`,
	`0`, `-0`, `01`, `-01`, `1.`, `.1`, `1.5`, `-`, `+1`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `1.5e3`,
	`0.0e00`, `00`, `1x`, `-a`, `2.`,
	`true`, `false`, `null`, `tru`, `nul`, `True`, `truex`, `[true,false,null]`, `nulll`,
	`{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"r","args":[{"_id":"m","msg":"hi","ts":{"$date":1}}]}}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range validCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.60q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range validCases {
		if len(c) < 4096 {
			f.Add([]byte(c))
		}
	}
	// The DDP frames the ddp package's fuzzers start from (Go's corpus file format: a
	// header line, then []byte("...") with a Go-quoted string).
	seeds, err := filepath.Glob("../../ddp/testdata/fuzz/*/*")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no ddp fuzz corpus (%v)", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		_, body, _ := strings.Cut(string(b), "\n")
		body = strings.TrimSpace(body)
		q, okPrefix := strings.CutPrefix(body, "[]byte(")
		q, okSuffix := strings.CutSuffix(q, ")")
		if !okPrefix || !okSuffix {
			f.Fatalf("%s: not a []byte corpus entry", s)
		}
		frame, err := strconv.Unquote(q)
		if err != nil {
			f.Fatalf("%s: %v", s, err)
		}
		f.Add([]byte(frame))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

// BenchmarkValid: a stream-room-messages frame of a typical size, against json.Valid.
func BenchmarkValid(b *testing.B) {
	frame := []byte(`{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"__my_messages__","args":[{"_id":"Xk3b2DZtG6JrFoFLm","rid":"GENERAL","msg":"Hello, this is a message of an ordinary length with a mention of @bob and a link https://example.com/a?b=c","ts":{"$date":1701341234567},"u":{"_id":"uid-alice","username":"alice","name":"Alice Example"},"_updatedAt":{"$date":1701341234567},"urls":[],"mentions":[{"_id":"uid-bob","username":"bob","name":"Bob","type":"user"}],"channels":[],"md":[{"type":"PARAGRAPH","value":[{"type":"PLAIN_TEXT","value":"Hello, this is a message"}]}]},{"roomParticipant":true,"roomType":"c","roomName":"general"}]}}`)
	b.Run("jsonscan", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		for b.Loop() {
			if !Valid(frame) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		for b.Loop() {
			if !json.Valid(frame) {
				b.Fatal("invalid")
			}
		}
	})
}
