package ddp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// peer is the server side of one fake DDP connection.
type peer struct {
	t    *testing.T
	conn *websocket.Conn
	ctx  context.Context
}

func (p *peer) send(s string) {
	if err := p.conn.Write(p.ctx, websocket.MessageText, []byte(s)); err != nil {
		p.t.Errorf("server write: %v", err)
	}
}

func (p *peer) recv() map[string]any {
	_, b, err := p.conn.Read(p.ctx)
	if err != nil {
		p.t.Errorf("server read: %v", err)
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Errorf("server read: bad json %q", b)
	}
	return m
}

// wait blocks until the client closes the connection.
func (p *peer) wait() {
	for {
		if _, _, err := p.conn.Read(p.ctx); err != nil {
			return
		}
	}
}

// handshake does the server side of connect with the given first frame.
func (p *peer) handshake(first string) {
	p.send(first)
	m := p.recv()
	if m["msg"] != "connect" || m["version"] != "1" {
		p.t.Errorf("first client frame = %v", m)
	}
	p.send(`{"msg":"connected","session":"S1"}`)
}

// fakeServer runs script for each WebSocket connection; the script's return closes it.
func fakeServer(t *testing.T, script func(p *peer)) string {
	t.Helper()
	done := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		c.SetReadLimit(1 << 22)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		script(&peer{t: t, conn: c, ctx: ctx})
		c.CloseNow()
	}))
	t.Cleanup(func() { close(done); hs.CloseClientConnections(); hs.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

func dial(t *testing.T, url string, opts Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitDone(t *testing.T, c *Client) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(5 * time.Second):
		t.Fatal("connection did not end")
		return nil
	}
}

func TestHandshakeBothServerIDForms(t *testing.T) {
	for _, first := range []string{`{"server_id":"0"}`, `{"msg":"server_id","server_id":"0"}`} {
		t.Run(first, func(t *testing.T) {
			release := make(chan struct{})
			url := fakeServer(t, func(p *peer) { p.handshake(first); <-release })
			c := dial(t, url, Options{})
			if c.Session() != "S1" {
				t.Errorf("session = %q", c.Session())
			}
			close(release)
			if err := waitDone(t, c); err == nil {
				t.Error("Err() nil after server close")
			}
		})
	}
}

func TestHandshakeFailed(t *testing.T) {
	url := fakeServer(t, func(p *peer) {
		p.send(`{"server_id":"0"}`)
		p.recv()
		p.send(`{"msg":"failed","version":"pre2"}`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, url, Options{})
	if err == nil || !strings.Contains(err.Error(), "pre2") {
		t.Fatalf("Dial error = %v, want failed version pre2", err)
	}
}

func TestCallResultAndUpdatedEitherOrder(t *testing.T) {
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		for i := 0; i < 4; i++ {
			m := p.recv()
			id, _ := m["id"].(string)
			params, _ := json.Marshal(m["params"])
			switch m["method"] {
			case "echo-updated-first":
				p.send(`{"msg":"updated","methods":["` + id + `"]}`)
				p.send(`{"msg":"result","id":"` + id + `","result":` + string(params) + `}`)
			case "echo-result-first":
				p.send(`{"msg":"result","id":"` + id + `","result":` + string(params) + `}`)
				p.send(`{"msg":"updated","methods":["` + id + `"]}`)
			case "fail-num":
				p.send(`{"msg":"updated","methods":["` + id + `"]}`)
				p.send(`{"msg":"result","id":"` + id + `","error":{"isClientSafe":true,"error":403,"reason":"You've been logged out by the server. Please log in again.","message":"You've been logged out by the server. Please log in again. [403]","errorType":"Meteor.Error"}}`)
			case "fail-str":
				p.send(`{"msg":"result","id":"` + id + `","error":{"error":"too-many-requests","reason":"slow down","details":{"timeToReset":53009}}}`)
			}
		}
		p.wait()
	})
	c := dial(t, url, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range []string{"echo-updated-first", "echo-result-first"} {
		res, err := c.Call(ctx, m, "a", 1)
		if err != nil || string(res) != `["a",1]` {
			t.Errorf("%s = %s, %v", m, res, err)
		}
	}
	_, err := c.Call(ctx, "fail-num")
	var me *Error
	if !errors.As(err, &me) || me.Code != "403" || !strings.HasPrefix(me.Reason, "You've been logged out") || me.ErrorType != "Meteor.Error" {
		t.Errorf("fail-num error = %#v", err)
	}
	_, err = c.Call(ctx, "fail-str")
	if !errors.As(err, &me) || me.Code != "too-many-requests" || string(me.Details) != `{"timeToReset":53009}` {
		t.Errorf("fail-str error = %#v", err)
	}
}

func TestSubscribeReadyNosubAndData(t *testing.T) {
	data := make(chan Data, 4)
	nosub := make(chan string, 1)
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		m := p.recv()
		if m["msg"] != "sub" || m["name"] != "stream-x" {
			t.Errorf("sub frame = %v", m)
		}
		okID := m["id"].(string)
		p.send(`{"msg":"ready","subs":["` + okID + `"]}`)
		m = p.recv()
		p.send(`{"msg":"nosub","id":"` + m["id"].(string) + `","error":{"isClientSafe":true,"error":"not-allowed","message":"not-allowed","errorType":"Meteor.Error"}}`)
		p.send(`{"msg":"changed","collection":"stream-x","id":"id","fields":{"eventName":"e","args":[1]}}`)
		m = p.recv()
		if m["msg"] != "unsub" || m["id"] != okID {
			t.Errorf("unsub frame = %v", m)
		}
		p.send(`{"msg":"nosub","id":"` + okID + `"}`)
		// a server-ended live subscription is reported
		m = p.recv()
		id2 := m["id"].(string)
		p.send(`{"msg":"ready","subs":["` + id2 + `"]}`)
		p.send(`{"msg":"nosub","id":"` + id2 + `","error":{"error":500}}`)
		p.wait()
	})
	c := dial(t, url, Options{
		OnData:  func(d Data) { data <- d },
		OnNosub: func(id string, err error) { nosub <- id },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := c.Subscribe(ctx, "stream-x", "e", map[string]any{"useCollection": false, "args": []any{}})
	if err != nil || id == "" {
		t.Fatalf("Subscribe = %q, %v", id, err)
	}
	_, err = c.Subscribe(ctx, "stream-x", "other")
	var me *Error
	if !errors.As(err, &me) || me.Code != "not-allowed" {
		t.Fatalf("nosub error = %v", err)
	}
	select {
	case d := <-data:
		if d.Msg != "changed" || d.Collection != "stream-x" || string(d.Fields) != `{"eventName":"e","args":[1]}` {
			t.Errorf("data = %+v", d)
		}
	case <-ctx.Done():
		t.Fatal("no data")
	}
	if err := c.Unsubscribe(ctx, id); err != nil {
		t.Fatal(err)
	}
	id2, err := c.Subscribe(ctx, "stream-y")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-nosub:
		if got != id2 {
			t.Errorf("OnNosub id = %q want %q", got, id2)
		}
	case <-ctx.Done():
		t.Fatal("OnNosub not called")
	}
}

func TestAnswersPingWithID(t *testing.T) {
	got := make(chan map[string]any, 2)
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		p.send(`{"msg":"ping","id":"abc"}`)
		got <- p.recv()
		p.send(`{"msg":"ping"}`)
		got <- p.recv()
		p.wait()
	})
	dial(t, url, Options{})
	for _, want := range []string{"abc", ""} {
		select {
		case m := <-got:
			id, _ := m["id"].(string)
			if m["msg"] != "pong" || id != want {
				t.Errorf("pong = %v, want id %q", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no pong")
		}
	}
}

func TestClientPingsAndDetectsDeadServer(t *testing.T) {
	pinged := make(chan map[string]any, 1)
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		pinged <- p.recv()           // the client's ping after silence; never answered
		_, _, _ = p.conn.Read(p.ctx) // wait until the client gives up
	})
	c := dial(t, url, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	select {
	case m := <-pinged:
		if m["msg"] != "ping" || m["id"] == nil {
			t.Errorf("client ping = %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client did not ping")
	}
	if err := waitDone(t, c); !errors.Is(err, ErrPingTimeout) {
		t.Fatalf("Err = %v, want ErrPingTimeout", err)
	}
	if _, err := c.Call(context.Background(), "x"); err == nil {
		t.Error("Call on a dead connection succeeded")
	}
}

func TestPongKeepsConnectionAlive(t *testing.T) {
	pings := make(chan struct{}, 10)
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		for {
			_, b, err := p.conn.Read(p.ctx)
			if err != nil {
				return
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			if m["msg"] == "ping" {
				p.send(`{"msg":"pong","id":"` + m["id"].(string) + `"}`)
				pings <- struct{}{}
			}
		}
	})
	c := dial(t, url, Options{PingInterval: 20 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	for i := 0; i < 3; i++ {
		select {
		case <-pings:
		case <-c.Done():
			t.Fatalf("connection ended: %v", c.Err())
		case <-time.After(5 * time.Second):
			t.Fatal("no ping")
		}
	}
	if c.Err() != nil {
		t.Fatalf("Err = %v", c.Err())
	}
}

func TestLargeFrameAcceptedOversizedRejected(t *testing.T) {
	big := `{"msg":"changed","collection":"c","id":"id","fields":{"x":"` + strings.Repeat("a", 100<<10) + `"}}`
	data := make(chan Data, 1)
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		p.send(big)
		p.send(`{"msg":"changed","collection":"c","id":"id","fields":{"x":"` + strings.Repeat("b", 300<<10) + `"}}`)
		_, _, _ = p.conn.Read(p.ctx)
	})
	c := dial(t, url, Options{ReadLimit: 200 << 10, OnData: func(d Data) { data <- d }})
	select {
	case d := <-data:
		if len(d.Fields) < 100<<10 {
			t.Errorf("fields truncated: %d", len(d.Fields))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("100 KiB frame not delivered")
	}
	if err := waitDone(t, c); err == nil {
		t.Fatal("oversized frame did not end the connection")
	}
}

func TestMalformedFrameEndsConnection(t *testing.T) {
	for _, bad := range []string{`not json`, `[1,2]`, `{"msg":"result","id":5}`, `{"msg":"result","id":"1","error":{"error":[1]}}`} {
		t.Run(bad, func(t *testing.T) {
			url := fakeServer(t, func(p *peer) {
				p.handshake(`{"server_id":"0"}`)
				p.recv() // the call
				p.send(bad)
				_, _, _ = p.conn.Read(p.ctx)
			})
			c := dial(t, url, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := c.Call(ctx, "m"); err == nil || ctx.Err() != nil {
				t.Fatalf("Call error = %v (ctx %v)", err, ctx.Err())
			}
			if err := waitDone(t, c); err == nil || !strings.Contains(err.Error(), "malformed") {
				t.Fatalf("Err = %v", err)
			}
		})
	}
}

func TestBinaryFrameEndsConnection(t *testing.T) {
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		_ = p.conn.Write(p.ctx, websocket.MessageBinary, []byte{1, 2})
		_, _, _ = p.conn.Read(p.ctx)
	})
	c := dial(t, url, Options{})
	if err := waitDone(t, c); err == nil {
		t.Fatal("binary frame accepted")
	}
}

func TestCallContextCancel(t *testing.T) {
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		p.recv()
		p.wait()
	})
	c := dial(t, url, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, "slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestCloseReleasesWaiters(t *testing.T) {
	got := make(chan struct{})
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		p.recv()
		close(got)
		_, _, _ = p.conn.Read(p.ctx)
	})
	c := dial(t, url, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), "never")
		errc <- err
	}()
	<-got
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Call not released by Close")
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("Err = %v", c.Err())
	}
}

func TestDialRefused(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, url, Options{}); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
}

func TestErrorUnmarshal(t *testing.T) {
	for in, want := range map[string]string{
		`{"error":403}`:           "403",
		`{"error":"not-allowed"}`: "not-allowed",
		`{"error":4.5e2}`:         "4.5e2",
		`{}`:                      "",
	} {
		var e Error
		if err := json.Unmarshal([]byte(in), &e); err != nil || e.Code != want {
			t.Errorf("%s → %q, %v; want %q", in, e.Code, err, want)
		}
	}
	var e Error
	if err := json.Unmarshal([]byte(`{"error":true}`), &e); err == nil {
		t.Error("boolean code accepted")
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"server_id":"0"}`))
	f.Add([]byte(`{"msg":"result","id":"1","error":{"error":403,"reason":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err == nil && fr == nil {
			t.Fatal("nil frame without error")
		}
		if err == nil && fr.Error != nil {
			_ = fr.Error.Error()
		}
	})
}

func TestProtocolErrorEndsConnection(t *testing.T) {
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		p.send(`{"msg":"unknown-kind"}`) // ignored
		p.send(`{"msg":"error","reason":"Bad request","offendingMessage":{"msg":"x"}}`)
		p.wait()
	})
	c := dial(t, url, Options{})
	if err := waitDone(t, c); err == nil || !strings.Contains(err.Error(), "Bad request") {
		t.Fatalf("Err = %v", err)
	}
}

func TestSubscribeAllSendsEverySubBeforeAnyReady(t *testing.T) {
	unsubs := make(chan []string, 1)
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		// First batch: the server reads all three subs before it answers any.
		var ids []string
		for range 3 {
			m := p.recv()
			if m["msg"] != "sub" {
				t.Errorf("frame = %v", m)
				return
			}
			ids = append(ids, m["id"].(string))
		}
		p.send(`{"msg":"ready","subs":["` + ids[2] + `","` + ids[0] + `"]}`)
		p.send(`{"msg":"ready","subs":["` + ids[1] + `"]}`)
		// Second batch: the middle sub is refused; the two live ones are ended by the client.
		ids = ids[:0]
		for range 3 {
			ids = append(ids, p.recv()["id"].(string))
		}
		p.send(`{"msg":"ready","subs":["` + ids[0] + `","` + ids[2] + `"]}`)
		p.send(`{"msg":"nosub","id":"` + ids[1] + `","error":{"error":"not-allowed","message":"not-allowed","errorType":"Meteor.Error"}}`)
		var got []string
		for range 2 {
			m := p.recv()
			if m["msg"] != "unsub" {
				t.Errorf("frame = %v, want unsub", m)
			}
			got = append(got, m["id"].(string))
		}
		if got[0] != ids[0] || got[1] != ids[2] {
			t.Errorf("unsubscribed %v, want %v and %v", got, ids[0], ids[2])
		}
		unsubs <- got
		p.wait()
	})
	c := dial(t, url, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	subs := []Sub{{Name: "a", Params: []any{"x"}}, {Name: "b"}, {Name: "c", Params: []any{"z", 1}}}
	ids, err := c.SubscribeAll(ctx, subs...)
	if err != nil || len(ids) != 3 || ids[0] == ids[1] || ids[1] == ids[2] {
		t.Fatalf("SubscribeAll = %v, %v", ids, err)
	}
	_, err = c.SubscribeAll(ctx, subs...)
	var me *Error
	if !errors.As(err, &me) || me.Code != "not-allowed" {
		t.Fatalf("SubscribeAll with a refused sub = %v", err)
	}
	select {
	case <-unsubs:
	case <-ctx.Done():
		t.Fatal("live subs of a failed SubscribeAll were not ended")
	}
}

// TestSubscribeEachKeepsTheLiveOnes: one refused sub among several leaves the others live,
// with their ids, and reports the refusal for its own place only; nothing is unsubscribed.
func TestSubscribeEachKeepsTheLiveOnes(t *testing.T) {
	after := make(chan map[string]any, 1)
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		var ids []string
		for range 3 {
			ids = append(ids, p.recv()["id"].(string))
		}
		p.send(`{"msg":"nosub","id":"` + ids[1] + `","error":{"error":"not-allowed","message":"not-allowed","errorType":"Meteor.Error"}}`)
		p.send(`{"msg":"ready","subs":["` + ids[0] + `","` + ids[2] + `"]}`)
		after <- p.recv() // the next frame: the test's "next" method, not an unsub
		p.wait()
	})
	c := dial(t, url, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ids, errs := c.SubscribeEach(ctx, Sub{Name: "a"}, Sub{Name: "b"}, Sub{Name: "c"})
	var me *Error
	if ids[0] == "" || ids[2] == "" || ids[1] != "" || errs[0] != nil || errs[2] != nil || !errors.As(errs[1], &me) || me.Code != "not-allowed" {
		t.Fatalf("SubscribeEach = %q, %v", ids, errs)
	}
	callDone := make(chan struct{})
	go func() { defer close(callDone); _, _ = c.Call(ctx, "next") }()
	defer func() { cancel(); <-callDone }()
	select {
	case m := <-after:
		if m["msg"] != "method" {
			t.Fatalf("frame after SubscribeEach = %v, want the next method (no unsub)", m)
		}
	case <-ctx.Done():
		t.Fatal("no frame after SubscribeEach")
	}
}

// decodeSlow is decodeFrame without the data fast path.
func decodeSlow(b []byte) (*frame, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, errNotObject
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// checkDecodeData: whenever the fast path takes a frame, json.Unmarshal decodes it the same.
func checkDecodeData(t *testing.T, b []byte) bool {
	t.Helper()
	fast, ok := decodeData(bytes.TrimSpace(b))
	if !ok {
		return false
	}
	slow, err := decodeSlow(b)
	if err != nil {
		t.Fatalf("%q: fast path took a frame json.Unmarshal refuses: %v", b, err)
	}
	if fast.Msg != slow.Msg || fast.Collection != slow.Collection || fast.ID != slow.ID ||
		!bytes.Equal(fast.Fields, slow.Fields) || (fast.Fields == nil) != (slow.Fields == nil) || slow.Cleared != nil {
		t.Fatalf("%q: fast %+v, json.Unmarshal %+v", b, *fast, *slow)
	}
	return true
}

func TestDecodeDataAgreesWithUnmarshal(t *testing.T) {
	taken := []string{
		`{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"__my_messages__","args":[{"_id":"m","msg":"a \"quoted\" } ] text"}]}}`,
		` {"msg" : "added" , "collection":"users", "id":"u1", "fields": {"username":"x"} , "extra":[1,{"a":"}"}],"n":-1.5e3,"t":true} `,
		`{"fields":null,"msg":"removed","collection":"c","id":"1"}`,
		`{"msg":"changed","collection":"c","id":"1","fields":{"a":[]},"msg":"added"}`,
	}
	for _, f := range taken {
		if !checkDecodeData(t, []byte(f)) {
			t.Errorf("fast path did not take %s", f)
		}
	}
	for _, f := range []string{
		`{"msg":"result","id":"1","result":{}}`,
		`{"msg":"changed","collection":"c","id":"1","cleared":["a"]}`,
		`{"msg":"chang\u0065d","collection":"c","id":"1"}`,
		`{"msg":"changed","MSG":"added","id":"1"}`,
		`{"msg":"changed","collection":"c","id":"1","fields":{"a":1}`,
		`{"msg":"changed","collection":5}`,
		`{}`,
	} {
		if checkDecodeData(t, []byte(f)) {
			t.Errorf("fast path took %s", f)
		}
	}
}

func FuzzDecodeData(f *testing.F) {
	f.Add([]byte(`{"msg":"changed","collection":"stream-notify-user","id":"id","fields":{"eventName":"u/rooms-changed","args":["updated",{"_id":"r"}]}}`))
	f.Add([]byte(`{"msg":"added","collection":"c","id":"1","fields":null,"x":[1,"]",{"y":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeData(t, b) })
}

var benchDataFrame = []byte(`{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"__my_messages__","args":[{"_id":"jC9chsFddTvsbFQG7","rid":"GENERAL","msg":"hello @bob","ts":{"$date":1720619308262},"u":{"_id":"fZ3bvXC72pobjFPLJ","username":"alice","name":"Alice"},"_updatedAt":{"$date":1720619308296},"mentions":[{"_id":"WbYJfC5kTArcECGkp","username":"bob","name":"Bob","type":"user"}],"channels":[],"urls":[],"md":[{"type":"PARAGRAPH","value":[{"type":"PLAIN_TEXT","value":"hello "},{"type":"MENTION_USER","value":{"type":"PLAIN_TEXT","value":"bob"}}]}]},{"roomParticipant":true,"roomType":"c","roomName":"general"}]}}`)

// BenchmarkDecodeFrame decodes a stream message frame; BenchmarkDecodeFrameUnmarshal is the
// same with json.Unmarshal alone (the path before decodeData).
func BenchmarkDecodeFrame(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if f, err := decodeFrame(benchDataFrame); err != nil || f.Msg != "changed" {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFrameUnmarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if f, err := decodeSlow(benchDataFrame); err != nil || f.Msg != "changed" {
			b.Fatal(err)
		}
	}
}

// TestCallerReads: with CallerReads nothing reads until the caller's Read, which then
// completes calls and delivers data on the caller's goroutine; ctx's end and Close each end it.
func TestCallerReads(t *testing.T) {
	url := fakeServer(t, func(p *peer) {
		p.handshake(`{"server_id":"0"}`)
		m := p.recv()
		p.send(`{"msg":"changed","collection":"c","id":"x","fields":{"a":1}}`)
		p.send(`{"msg":"result","id":"` + m["id"].(string) + `","result":7}`)
		p.wait()
	})
	for _, end := range []string{"ctx", "close"} {
		t.Run(end, func(t *testing.T) {
			data := make(chan Data, 1)
			c := dial(t, url, Options{CallerReads: true, OnData: func(d Data) { data <- d }})
			res := make(chan error, 1)
			go func() {
				r, err := c.Call(context.Background(), "m")
				if err == nil && string(r) != "7" {
					err = fmt.Errorf("result %s", r)
				}
				res <- err
			}()
			select {
			case err := <-res:
				t.Fatalf("call completed before Read ran: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			readDone := make(chan error, 1)
			go func() { readDone <- c.Read(ctx) }()
			select {
			case err := <-res:
				if err != nil {
					t.Fatalf("call: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("call not completed by Read")
			}
			if d := <-data; d.ID != "x" {
				t.Fatalf("data = %+v", d)
			}
			if end == "ctx" {
				cancel()
			} else {
				c.Close()
			}
			select {
			case err := <-readDone:
				if err == nil {
					t.Fatal("Read returned nil")
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("Read did not return after %s", end)
			}
			if waitDone(t, c) == nil {
				t.Fatal("connection not done")
			}
		})
	}
}

// TestClientFramesAsMaps: the client's frame structs marshal to the bytes the maps they
// replaced did, so the server sees the same frames.
func TestClientFramesAsMaps(t *testing.T) {
	params := []any{"u1/message", map[string]any{"useCollection": false, "args": []any{}}, 3, nil}
	for _, c := range []struct {
		frame any
		m     map[string]any
	}{
		{connectFrame{Msg: "connect", Support: []string{"1", "pre2", "pre1"}, Version: "1"},
			map[string]any{"msg": "connect", "version": "1", "support": []string{"1", "pre2", "pre1"}}},
		{idFrame{ID: "hb7", Msg: "ping"}, map[string]any{"msg": "ping", "id": "hb7"}},
		{idFrame{ID: "4", Msg: "unsub"}, map[string]any{"msg": "unsub", "id": "4"}},
		{pongFrame{Msg: "pong"}, map[string]any{"msg": "pong"}},
		{pongFrame{ID: "x<&>", Msg: "pong"}, map[string]any{"msg": "pong", "id": "x<&>"}},
		{methodFrame{ID: "1", Method: "login", Msg: "method", Params: params},
			map[string]any{"msg": "method", "method": "login", "params": params, "id": "1"}},
		{methodFrame{ID: "2", Method: "m", Msg: "method"}, map[string]any{"msg": "method", "method": "m", "params": []any(nil), "id": "2"}},
		{subFrame{ID: "3", Msg: "sub", Name: "stream-notify-user", Params: params},
			map[string]any{"msg": "sub", "id": "3", "name": "stream-notify-user", "params": params}},
	} {
		got, err := json.Marshal(c.frame)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(c.m)
		if string(got) != string(want) {
			t.Errorf("%T: %s, the map made %s", c.frame, got, want)
		}
	}
}
