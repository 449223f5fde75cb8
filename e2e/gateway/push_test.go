package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/push/pushtest"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// inv is one invocation a browser connection received.
type inv struct {
	Target string
	Arg    json.RawMessage
}

// conn is a hub connection (push/pushtest underneath).
type conn interface {
	Next(ctx context.Context) (inv, error)
	Close()
}

// nextTarget reads invocations until one for target whose argument satisfies match.
func nextTarget(t *testing.T, c conn, target string, match func(json.RawMessage) bool) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		in, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", target, err)
		}
		if in.Target == target && (match == nil || match(in.Arg)) {
			return in.Arg
		}
	}
}

func msgField(raw json.RawMessage, k string) string {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	s, _ := m[k].(string)
	return s
}

func withID(id string) func(json.RawMessage) bool {
	return func(r json.RawMessage) bool { return msgField(r, "_id") == id }
}

func (e *env) upstreams(user string) int { return e.rc.DDPConnections(e.rc.UserID(rcName(user))) }

// settle waits until user's upstream is connected and subscribed: the DDP connection count
// rises before login and subscriptions finish, so probe messages (from carol, in a room
// only the user and carol share) are posted until one is pushed to every connection.
func (e *env) settle(user string, conns ...conn) {
	e.t.Helper()
	waitFor(e.t, user+"'s upstream", 10*time.Second, func() bool { return e.upstreams(user) == 1 })
	if e.rc.UserID(rcName("carol")) == "" {
		e.rc.AddUser(rctest.UserSpec{Username: rcName("carol"), Name: "Carol", NoDefaultChannels: true})
	}
	rid := e.rc.DirectRoom(rcName(user), rcName("carol"))
	for i, c := range conns {
		ok := false
		for try := 0; try < 50 && !ok; try++ {
			id := e.rc.PostMessage(rid, rcName("carol"), fmt.Sprintf("probe %d", try))
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			for !ok {
				in, err := c.Next(ctx)
				if err != nil {
					break
				}
				ok = in.Target == "getRoomMessageNotification" && msgField(in.Arg, "_id") == id
			}
			cancel()
		}
		if !ok {
			e.t.Fatalf("connection %d of %s: no probe pushed", i+1, user)
		}
	}
}

func (e *env) metric(name string) float64 {
	resp, err := http.Get(e.base + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	return 0
}

// TestMessagePushedOnceToEachConnection: two connections of alice; a message posted in
// rctest in GENERAL arrives exactly once on each, as the Rocket.Chat message JSON. "Exactly
// once" is checked by posting a marker afterwards: the next message seen must be the marker.
func TestMessagePushedOnceToEachConnection(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	tok := token(t, "alice", nil, nil, nil)
	c1, c2 := e.dial(tok), e.dial(tok)
	e.settle("alice", c1, c2)
	mid := e.rc.PostMessage("GENERAL", rcName("bob"), "hello alice")
	marker := e.rc.PostMessage("GENERAL", rcName("bob"), "marker")
	inGeneral := func(r json.RawMessage) bool { return msgField(r, "rid") == "GENERAL" }
	for i, c := range []conn{c1, c2} {
		got := nextTarget(t, c, "getRoomMessageNotification", inGeneral)
		if msgField(got, "_id") != mid || msgField(got, "msg") != "hello alice" || msgField(got, "rid") != "GENERAL" {
			t.Fatalf("connection %d: first push %s, want message %s", i+1, got, mid)
		}
		if ts := msgField(got, "ts"); !strings.HasSuffix(ts, "Z") {
			t.Errorf("connection %d: ts %q is not an ISO date", i+1, ts)
		}
		next := nextTarget(t, c, "getRoomMessageNotification", inGeneral)
		if msgField(next, "_id") != marker {
			t.Fatalf("connection %d: after the message came %s, want the marker (a duplicate?)", i+1, next)
		}
	}
	if n := e.upstreams("alice"); n != 1 {
		t.Fatalf("alice has %d upstreams for two tabs, want 1", n)
	}
	if n := e.upstreams("bob"); n != 0 {
		t.Fatalf("bob (no connections) has %d upstreams", n)
	}
	for name, want := range map[string]float64{"rcgw_hub_connections": 2, "rcgw_hub_users": 1, "rcgw_online_users": 1} {
		if got := e.metric(name); got != want {
			t.Errorf("metric %s = %v, want %v", name, got, want)
		}
	}
	if e.metric("rcgw_hub_pushes_total") < 2 || e.metric("rcgw_session_pushes_total") < 2 {
		t.Errorf("push counters not moving")
	}
}

// TestSubscriptionChangePushed: adding alice to a room → getRoomSubscriptionChangedNotification.
func TestSubscriptionChangePushed(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	c := e.dial(token(t, "alice", nil, nil, nil))
	e.settle("alice", c)
	rid := e.rc.AddRoom(rctest.RoomSpec{Type: "p", Name: "plans", Owner: rcName("bob"), Members: []string{rcName("alice")}})
	got := nextTarget(t, c, "getRoomSubscriptionChangedNotification", func(r json.RawMessage) bool {
		var v struct {
			Method string
			Msg    struct{ Rid string }
		}
		_ = json.Unmarshal(r, &v)
		return v.Msg.Rid == rid
	})
	var v struct {
		Method string         `json:"method"`
		Msg    map[string]any `json:"msg"`
	}
	if err := json.Unmarshal(got, &v); err != nil || (v.Method != "inserted" && v.Method != "updated") || v.Msg["name"] != "plans" {
		t.Fatalf("subscription push: %s", got)
	}
}

// TestUpstreamLifecycle: no connection → no upstream; last connection closed → upstream
// stops after linger; a REST send by alice reaches bob's connection.
func TestUpstreamLifecycle(t *testing.T) {
	e := start(t, func(c *config.Config) { c.UserTokens.Linger = config.Duration(200 * time.Millisecond) }, rctest.Options{})
	alice, bob := token(t, "alice", nil, nil, nil), token(t, "bob", nil, nil, nil)
	if st := e.call("GET", "/api/im/rooms", alice, nil, nil); st != 200 {
		t.Fatalf("rooms: %d", st)
	}
	if n := e.upstreams("alice"); n != 0 {
		t.Fatalf("alice has %d upstreams without connections", n)
	}
	cb := e.dial(bob)
	e.settle("bob", cb)
	var sent struct{ Message map[string]any }
	if st := e.call("POST", "/api/im/rooms/GENERAL/messages", alice, map[string]string{"text": "via REST"}, &sent); st != 201 {
		t.Fatalf("send: %d", st)
	}
	got := nextTarget(t, cb, "getRoomMessageNotification", withID(sent.Message["_id"].(string)))
	if msgField(got, "msg") != "via REST" {
		t.Fatalf("bob got %s", got)
	}
	cb.Close()
	waitFor(t, "bob's upstream to stop after linger", 10*time.Second, func() bool { return e.upstreams("bob") == 0 })
}

// TestTokenExpiryCyclesUpstream: with a short token TTL the upstream is closed when the
// token expires and reopened with a fresh one; pushes keep arriving.
func TestTokenExpiryCyclesUpstream(t *testing.T) {
	e := start(t, func(c *config.Config) { c.UserTokens.TTL = config.Duration(time.Second) }, rctest.Options{})
	c := e.dial(token(t, "alice", nil, nil, nil))
	e.settle("alice", c)
	first := e.metric("rcgw_token_mints_total")
	waitFor(t, "a second token mint", 15*time.Second, func() bool { return e.metric("rcgw_token_mints_total") > first })
	waitFor(t, "the upstream back", 10*time.Second, func() bool { return e.upstreams("alice") == 1 })
	mid := e.rc.PostMessage("GENERAL", rcName("bob"), "after the new token")
	nextTarget(t, c, "getRoomMessageNotification", withID(mid))
}

// TestReconnectLosesNothing: rctest drops every connection; messages posted while the
// upstream is down are pushed after the resync, each exactly once.
func TestReconnectLosesNothing(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	c := e.dial(token(t, "alice", nil, nil, nil))
	e.settle("alice", c)
	e.rc.DropConnections()
	want := map[string]bool{}
	var order []string
	for i := range 5 {
		id := e.rc.PostMessage("GENERAL", rcName("bob"), fmt.Sprintf("during outage %d", i))
		want[id] = true
		order = append(order, id)
	}
	seen := map[string]int{}
	var arrived []string
	for len(seen) < len(want) {
		got := nextTarget(t, c, "getRoomMessageNotification", func(r json.RawMessage) bool { return msgField(r, "rid") == "GENERAL" })
		id := msgField(got, "_id")
		seen[id]++
		arrived = append(arrived, id)
		if !want[id] {
			t.Fatalf("unexpected message %s", got)
		}
	}
	marker := e.rc.PostMessage("GENERAL", rcName("bob"), "marker")
	if got := nextTarget(t, c, "getRoomMessageNotification", func(r json.RawMessage) bool { return msgField(r, "rid") == "GENERAL" }); msgField(got, "_id") != marker {
		t.Fatalf("after the outage messages came %s, want the marker (a duplicate?)", got)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("message %s pushed %d times", id, n)
		}
	}
	// The resync pushes what was missed oldest first, as it was posted.
	if fmt.Sprint(arrived) != fmt.Sprint(order) {
		t.Errorf("messages from the outage arrived in order %v, posted in order %v", arrived, order)
	}
	if e.metric("rcgw_upstream_reconnects_total") < 1 {
		t.Error("no reconnect counted")
	}
}

// dial opens a SignalR connection (push/pushtest, JSON protocol, WebSockets) to the
// gateway's hub with a product JWT; it is closed when the test ends.
func (e *env) dial(tok string) conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pushtest.Dial(ctx, e.base+"/signalr", tok, 256)
	if err != nil {
		e.t.Fatalf("dial hub: %v", err)
	}
	pc := &pushConn{c: c}
	e.t.Cleanup(pc.Close)
	return pc
}

type pushConn struct {
	c    *pushtest.Client
	once sync.Once
}

func (p *pushConn) Next(ctx context.Context) (inv, error) {
	select {
	case in, ok := <-p.c.Invocations:
		if !ok {
			return inv{}, fmt.Errorf("connection closed (%+v)", p.c.Closed())
		}
		var arg json.RawMessage
		if len(in.Arguments) > 0 {
			arg = in.Arguments[0]
		}
		return inv{Target: in.Target, Arg: arg}, nil
	case <-ctx.Done():
		return inv{}, ctx.Err()
	}
}

func (p *pushConn) Close() { p.once.Do(func() { _ = p.c.Close() }) }

// TestAdminPushKickDelete: a product backend pushes a custom target, kicks, and deletes a
// user (whose connections get Close{allowReconnect:false}).
func TestAdminPushKickDelete(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	var up map[string]any
	if st := e.call("PUT", "/api/admin/users/p-alice", "", map[string]string{"username": "alice", "name": "Alice"}, &up, "X-API-Key", apiKey); st != 200 || up["created"] != false {
		t.Fatalf("upsert existing: %d %v", st, up)
	}
	tok := token(t, "alice", nil, nil, nil)
	c := e.dial(tok).(*pushConn)
	if st := e.call("POST", "/api/admin/users/p-alice/push", "", map[string]any{"target": "orderShipped", "payload": map[string]int{"order": 7}}, nil, "X-API-Key", apiKey); st != 202 {
		t.Fatalf("push: %d", st)
	}
	if got := nextTarget(t, c, "orderShipped", nil); string(got) != `{"order":7}` {
		t.Fatalf("custom push: %s", got)
	}
	if st := e.call("POST", "/api/admin/users/p-alice/kick", "", map[string]any{"reason": "maintenance", "allowReconnect": true}, nil, "X-API-Key", apiKey); st != 204 {
		t.Fatalf("kick: %d", st)
	}
	closed := waitClosed(t, c)
	if !closed.AllowReconnect {
		t.Fatalf("kick with allowReconnect: %+v", closed)
	}
	c2 := e.dial(tok).(*pushConn)
	if st := e.call("DELETE", "/api/admin/users/p-alice", "", nil, nil, "X-API-Key", apiKey); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if closed := waitClosed(t, c2); closed.AllowReconnect {
		t.Fatalf("delete: Close %+v, want allowReconnect false", closed)
	}
}

// TestShutdownTellsBrowsersToReconnect: on shutdown every connection gets
// Close{allowReconnect:true} and the upstream is stopped.
func TestShutdownTellsBrowsersToReconnect(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	c := e.dial(token(t, "alice", nil, nil, nil)).(*pushConn)
	e.settle("alice", c)
	e.stop()
	if closed := waitClosed(t, c); !closed.AllowReconnect {
		t.Fatalf("shutdown Close: %+v, want allowReconnect true", closed)
	}
	waitFor(t, "upstream stopped", 5*time.Second, func() bool { return e.upstreams("alice") == 0 })
}

// waitClosed drains the connection until it ends and returns the server's Close.
func waitClosed(t *testing.T, c *pushConn) pushtest.CloseMessage {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-c.c.Invocations:
			if ok {
				continue
			}
			cm := c.c.Closed()
			if cm == nil {
				t.Fatal("connection ended without a Close message")
			}
			return *cm
		case <-timeout:
			t.Fatal("connection not closed within 10s")
		}
	}
}

// TestDeletionAndNotificationPushed: a deleted message → getRoomMessageDeletedNotification
// {rid, _id}; a direct message → getNotification for the recipient.
func TestDeletionAndNotificationPushed(t *testing.T) {
	e := start(t, nil, rctest.Options{})
	c := e.dial(token(t, "alice", nil, nil, nil))
	e.settle("alice", c)
	mid := e.rc.PostMessage("GENERAL", rcName("bob"), "soon gone")
	nextTarget(t, c, "getRoomMessageNotification", withID(mid))
	e.rc.DeleteMessage(mid)
	got := nextTarget(t, c, "getRoomMessageDeletedNotification", nil)
	if msgField(got, "_id") != mid || msgField(got, "rid") != "GENERAL" {
		t.Fatalf("deleted push: %s", got)
	}
	dm := e.rc.DirectRoom(rcName("alice"), rcName("bob"))
	dmid := e.rc.PostMessage(dm, rcName("bob"), "psst")
	n := nextTarget(t, c, "getNotification", func(r json.RawMessage) bool { return strings.Contains(string(r), dm) })
	var v struct {
		Title   string `json:"title"`
		Text    string `json:"text"`
		Payload struct {
			ID  string `json:"_id"`
			RID string `json:"rid"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(n, &v); err != nil || v.Payload.RID != dm || (v.Payload.ID != "" && v.Payload.ID != dmid) {
		t.Fatalf("notification push: %s", n)
	}
}

// TestSelfSignedRocketChat: with rocketchat.tls_verify off, the upstream WebSocket accepts
// Rocket.Chat's self-signed certificate as the REST calls do (it used to verify it anyway,
// so every upstream failed while logins succeeded).
func TestSelfSignedRocketChat(t *testing.T) {
	rc := rctest.New(rctest.Options{CreateTokenSecret: "create-tokens-secret"})
	t.Cleanup(rc.Close)
	rc.AddUser(rctest.UserSpec{Username: rcName("alice"), Name: "Alice"})
	rc.AddUser(rctest.UserSpec{Username: rcName("bob"), Name: "Bob"})
	tlsRC := httptest.NewTLSServer(rc.Handler())
	t.Cleanup(tlsRC.Close)
	e := startGateway(t, rc, "create-tokens-secret", func(c *config.Config) {
		c.RocketChat.URL, c.RocketChat.TLSVerify = tlsRC.URL, false
	})
	c := e.dial(token(t, "alice", nil, nil, nil))
	e.settle("alice", c)
	mid := e.rc.PostMessage("GENERAL", rcName("bob"), "over TLS")
	nextTarget(t, c, "getRoomMessageNotification", withID(mid))
}
