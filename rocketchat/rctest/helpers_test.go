package rctest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 5 * time.Second

func newTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

type restResp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do calls the REST API with raw net/http; body may be nil, a string (raw JSON) or a value.
func do(t *testing.T, s *Server, method, path, uid, token string, body any) restResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if uid != "" {
		req.Header.Set("X-User-Id", uid)
		req.Header.Set("X-Auth-Token", token)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) restResp {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %q", req.Method, req.URL.Path, raw)
	}
	return restResp{status: res.StatusCode, header: res.Header, body: m, raw: string(raw)}
}

func (r restResp) want(t *testing.T, status int) restResp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	return r
}

// jsonEq compares a decoded value with literal JSON.
func jsonEq(t *testing.T, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad literal %s: %v", want, err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("got  %s\nwant %s", gb, wb)
	}
}

func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// ddpClient is a raw WebSocket DDP peer for tests.
type ddpClient struct {
	t      testing.TB
	ws     *websocket.Conn
	frames chan map[string]any
	done   chan struct{}
	cancel context.CancelFunc
}

func dialRaw(t testing.TB, s *Server) *ddpClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dctx, dcancel := context.WithTimeout(ctx, waitTimeout)
	defer dcancel()
	ws, _, err := websocket.Dial(dctx, s.WebSocketURL(), nil)
	if err != nil {
		cancel()
		t.Fatalf("dial: %v", err)
	}
	c := &ddpClient{t: t, ws: ws, frames: make(chan map[string]any, 256), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(c.done)
		defer close(c.frames)
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) != nil {
				m = map[string]any{"_raw": string(b)}
			}
			select {
			case c.frames <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		ws.CloseNow()
		<-c.done
	})
	return c
}

// dialDDP dials and completes connect; the server_id frame is checked.
func dialDDP(t testing.TB, s *Server) *ddpClient {
	t.Helper()
	c := dialRaw(t, s)
	if f := c.next(); f["server_id"] != "0" {
		t.Fatalf("first frame %v, want server_id", f)
	}
	c.send(`{"msg":"connect","version":"1","support":["1","pre2","pre1"]}`)
	f := c.next()
	if f["msg"] != "connected" || f["session"] == "" {
		t.Fatalf("connect: got %v", f)
	}
	return c
}

func (c *ddpClient) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("write %s: %v", frame, err)
	}
}

func (c *ddpClient) next() map[string]any {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("connection closed while waiting for a frame")
		}
		return f
	case <-time.After(waitTimeout):
		c.t.Fatal("timed out waiting for a frame")
	}
	return nil
}

// waitFor skips frames until pred matches.
func (c *ddpClient) waitFor(what string, pred func(map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("connection closed while waiting for %s", what)
			}
			if pred(f) {
				return f
			}
		case <-deadline:
			c.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitClosed waits until the server closes the socket, failing on unexpected frames if strict.
func (c *ddpClient) waitClosed(strict bool) {
	c.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return
			}
			if strict {
				c.t.Fatalf("frame before close: %v", f)
			}
		case <-deadline:
			c.t.Fatal("socket not closed")
		}
	}
}

// event waits for a changed frame of collection/eventName and returns its args.
func (c *ddpClient) event(collection, eventName string) []any {
	c.t.Helper()
	f := c.waitFor(collection+" "+eventName, func(f map[string]any) bool {
		return f["msg"] == "changed" && f["collection"] == collection && path(f, "fields", "eventName") == eventName
	})
	if f["id"] != "id" {
		c.t.Fatalf("stream frame id %v, want \"id\"", f["id"])
	}
	args, _ := path(f, "fields", "args").([]any)
	return args
}

func (c *ddpClient) login(token string) map[string]any {
	c.t.Helper()
	c.send(`{"msg":"method","method":"login","params":[{"resume":"` + token + `"}],"id":"login"}`)
	return c.waitFor("login result", func(f map[string]any) bool { return f["msg"] == "result" && f["id"] == "login" })
}

func (c *ddpClient) sub(id, name, event string) map[string]any {
	c.t.Helper()
	c.send(`{"msg":"sub","id":"` + id + `","name":"` + name + `","params":["` + event + `",{"useCollection":false,"args":[null]}]}`)
	return c.waitFor("sub "+id, func(f map[string]any) bool {
		if f["msg"] == "ready" {
			subs, _ := f["subs"].([]any)
			return len(subs) == 1 && subs[0] == id
		}
		return f["msg"] == "nosub" && f["id"] == id
	})
}

// quiet asserts no frame matching pred arrives before a round trip (a ping/pong) completes.
func (c *ddpClient) quiet(what string, pred func(map[string]any) bool) {
	c.t.Helper()
	c.send(`{"msg":"ping","id":"fence"}`)
	for {
		f := c.next()
		if f["msg"] == "pong" && f["id"] == "fence" {
			return
		}
		if pred(f) {
			c.t.Fatalf("unexpected %s: %v", what, f)
		}
	}
}
