package rctest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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

// FuzzREST sends arbitrary bodies to every REST route as the admin and as a plain user, and
// checks that the simulator answers with one JSON object and a Rocket.Chat status code.
func FuzzREST(f *testing.F) {
	for _, seed := range []struct{ method, endpoint, body string }{
		{"POST", "chat.sendMessage", `{"message":{"rid":"GENERAL","msg":"x","_id":"a"}}`},
		{"POST", "chat.update", `{"roomId":"GENERAL","msgId":"m","text":"y"}`},
		{"POST", "users.create", `{"email":"a@b","name":"n","password":"p","username":"u"}`},
		{"POST", "users.update", `{"userId":"x","data":{"active":false}}`},
		{"POST", "channels.create", `{"name":"c","members":["fuzz"]}`},
		{"POST", "groups.invite", `{"roomName":"g","usernames":["fuzz"]}`},
		{"POST", "im.create", `{"usernames":"fuzz,admin"}`},
		{"POST", "login", `{"user":"fuzz","password":{"hashed":"00"}}`},
		{"POST", "subscriptions.read", `{"rid":"GENERAL"}`},
		{"POST", "chat.react", `{"messageId":"m","emoji":"x","shouldReact":false}`},
		{"GET", "channels.history", ``},
		{"POST", "rooms.mediaConfirm", `{"fileName":1}`},
		{"POST", "users.createToken", `[1,2]`},
	} {
		f.Add(seed.method, seed.endpoint, seed.body, "roomId=GENERAL&count=2", true)
	}
	f.Fuzz(func(t *testing.T, method, endpoint, body, query string, admin bool) {
		s := newServer(Options{RateLimit: true, TwoFactor: true, CreateTokenSecret: "s"})
		s.mu.Lock()
		u := s.addUserLocked(UserSpec{Username: "fuzz", Password: "pw"})
		u.tokens = append(u.tokens, &loginToken{token: "fuzz-token", when: time.Now()})
		s.mu.Unlock()
		uid, tok := u.id, "fuzz-token"
		if admin {
			uid, tok = s.LoginToken("admin")
		}
		s.PostMessage("GENERAL", "fuzz", "m")
		target := "/api/v1/" + url.PathEscape(endpoint) + "?" + url.PathEscape(query)
		req, err := http.NewRequest(method, "http://rctest.invalid"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-User-Id", uid)
		req.Header.Set("X-Auth-Token", tok)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %q", method, target, rec.Body.String())
		}
		switch rec.Code {
		case 200, 400, 401, 403, 404, 429:
		default:
			t.Fatalf("%s %s: status %d: %s", method, target, rec.Code, rec.Body.String())
		}
	})
}
