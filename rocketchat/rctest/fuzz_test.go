package rctest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"
)

// FuzzDDPFrame feeds newline-separated client frames to one simulated DDP connection (no
// socket) on a fresh world, and checks that nothing panics and every answer is one JSON object.
func FuzzDDPFrame(f *testing.F) {
	connect := `{"msg":"connect","version":"1","support":["1","pre2","pre1"]}`
	login := `{"msg":"method","method":"login","params":[{"resume":"fuzz-token"}],"id":"1"}`
	for _, seed := range []string{
		connect,
		connect + "\n" + login,
		connect + "\n" + login + "\n" + `{"msg":"sub","id":"s","name":"stream-notify-user","params":["UID/subscriptions-changed",{"useCollection":false,"args":[null]}]}`,
		connect + "\n" + login + "\n" + `{"msg":"sub","id":"s","name":"stream-room-messages","params":["GENERAL",true]}` + "\n" + `{"msg":"unsub","id":"s"}`,
		connect + "\n" + login + "\n" + `{"msg":"method","method":"stream-notify-room","params":["GENERAL/user-activity","fuzz",["user-typing"],{}],"id":"2"}`,
		connect + "\n" + login + "\n" + `{"msg":"method","method":"logout","params":[],"id":"3"}`,
		connect + "\n" + `{"msg":"method","method":"login","params":[{"user":{"username":"fuzz"},"password":{"digest":"x","algorithm":"sha-256"}}],"id":"1"}`,
		`{"msg":"ping","id":"x"}`,
		`{"msg":"connect","version":"pre2","support":["pre2"]}`,
		`{"msg":null}`, `[]`, `{}`, `"x"`, `{"msg":"sub","id":{},"name":1}`, "\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newServer(Options{})
		s.mu.Lock()
		u := s.addUserLocked(UserSpec{Username: "fuzz", Password: "pw"})
		u.tokens = append(u.tokens, &loginToken{token: "fuzz-token", when: time.Now()})
		c := newConn(s)
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		ctx := context.Background()
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			line = bytes.ReplaceAll(line, []byte("UID"), []byte(u.id))
			c.handle(ctx, line)
			if len(c.out) == 0 && !c.closing {
				// Every client frame but pong, and a method before its answer, gets a reply.
				var m map[string]any
				if json.Unmarshal(line, &m) != nil || (m["msg"] != "pong" && m["msg"] != "connect") {
					t.Fatalf("no answer to %q", line)
				}
			}
			for drained := false; !drained; {
				select {
				case out := <-c.out:
					var m map[string]any
					if err := json.Unmarshal(out, &m); err != nil {
						t.Fatalf("answer is not a JSON object: %q", out)
					}
				default:
					drained = true
				}
			}
			if c.closing {
				return
			}
		}
	})
}
