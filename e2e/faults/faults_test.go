// Package faults_test runs a real gateway against rctest through a TCP fault proxy
// (internal/faultproxy) and counts, per scenario, what a browser tab received: sent,
// delivered, lost, duplicated. Each scenario is one of the outages the gateway promises to
// survive without losing or repeating a message (docs/reliability.md).
package faults_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/internal/faultproxy"
	"github.com/rcgateway/rcgateway/internal/gatewaytest"
	"github.com/rcgateway/rcgateway/internal/redistest"
	"github.com/rcgateway/rcgateway/push"
	"github.com/rcgateway/rcgateway/push/pushtest"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
	"github.com/rcgateway/rcgateway/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "faults-hs256-secret-0123456789abcdef-0123"

// rig is one gateway whose every connection to Rocket.Chat (REST and DDP) crosses the proxy.
type rig struct {
	t     *testing.T
	rc    *rctest.Server
	proxy *faultproxy.Proxy
	node  *gatewaytest.Node
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigWith(t, nil)
}

// newRigWith is newRig with a change to the gateway's configuration.
func newRigWith(t *testing.T, mod func(*config.Config)) *rig {
	t.Helper()
	rc := rctest.New(rctest.Options{CreateTokenSecret: "create-secret"})
	t.Cleanup(rc.Close)
	rc.AddUser(rctest.UserSpec{Username: rcName("alice"), Name: "Alice"})
	rc.AddUser(rctest.UserSpec{Username: "bob", Name: "Bob"})
	u, err := url.Parse(rc.URL())
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	cfg := gatewaytest.Config(rc, "create-secret")
	cfg.RocketChat.URL = "http://" + p.Addr()
	cfg.Auth.JWT.HS256Secret = config.Secret(secret)
	// Default ping and reconnect settings: what is measured is what users get.
	if mod != nil {
		mod(&cfg)
	}
	return &rig{t: t, rc: rc, proxy: p, node: gatewaytest.Start(t, cfg)}
}

// rcName is the Rocket.Chat account the gateway derives for product user "p-<user>".
func rcName(user string) string {
	return session.RocketChatUsername(session.DefaultUsernamePrefix, "p-"+user)
}

func (r *rig) token(user string) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "p-" + user, "preferred_username": user,
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// tab is one browser connection counting the messages it receives by id.
type tab struct {
	c    *pushtest.Client
	mu   sync.Mutex
	byID map[string]int
	wake chan struct{}
}

func (r *rig) open(user string) *tab {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pushtest.Dial(ctx, r.node.Base+"/signalr", r.token(user), 100_000)
	if err != nil {
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	r.t.Cleanup(func() { _ = c.Close(); <-done })
	tb := &tab{c: c, byID: map[string]int{}, wake: make(chan struct{}, 1)}
	go func() {
		defer close(done)
		for inv := range c.Invocations {
			if inv.Target != "getRoomMessageNotification" {
				continue
			}
			var m struct {
				ID string `json:"_id"`
			}
			if json.Unmarshal(inv.Arguments[0], &m) != nil {
				continue
			}
			tb.mu.Lock()
			tb.byID[m.ID]++
			tb.mu.Unlock()
			select {
			case tb.wake <- struct{}{}:
			default:
			}
		}
	}()
	return tb
}

// counts compares what tb received of sent: lost (never), duplicated (more than once).
func (tb *tab) counts(sent []string) (lost, dup int) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, id := range sent {
		switch n := tb.byID[id]; {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	return lost, dup
}

// settle waits until a message posted now reaches tb: the upstream is live.
func (r *rig) settle(tb *tab, rid string) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		id := r.rc.PostMessage(rid, "bob", "ping")
		if r.waitAll(tb, []string{id}, time.Second) {
			return
		}
	}
	r.t.Fatal("the tab never received a message")
}

// waitAll waits until tb received every id, at most d.
func (r *rig) waitAll(tb *tab, ids []string, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if lost, _ := tb.counts(ids); lost == 0 {
			return true
		}
		select {
		case <-tb.wake:
		case <-t.C:
			return false
		}
	}
}

// postDuring posts one message every gap from bob into rid while f runs.
func (r *rig) postDuring(rid string, gap time.Duration, f func()) []string {
	var ids []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(gap)
		defer tick.Stop()
		for {
			ids = append(ids, r.rc.PostMessage(rid, "bob", "during the fault"))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	return ids
}

// report fails the test unless every message sent arrived exactly once within d.
func (r *rig) report(name string, tb *tab, sent []string, d time.Duration) {
	r.t.Helper()
	r.waitAll(tb, sent, d)
	// Late duplicates come with the resync: give it a moment past the last delivery.
	settle := r.rc.PostMessage(r.rc.DirectRoom(rcName("alice"), "bob"), "bob", "after")
	r.waitAll(tb, []string{settle}, 10*time.Second)
	lost, dup := tb.counts(sent)
	r.t.Logf("%s: sent %d, delivered %d, lost %d, duplicated %d", name, len(sent), len(sent)-lost, lost, dup)
	if lost != 0 || dup != 0 {
		r.t.Fatalf("%s: %d of %d lost, %d duplicated (tab closed by the server: %+v)", name, lost, len(sent), dup, tb.c.Closed())
	}
}

// wait blocks for d: the length of an outage, not a synchronisation.
func wait(d time.Duration) { <-time.After(d) }

// scenario runs one fault against a fresh rig: alice's tab is live, bob posts every 100 ms while
// fault runs, and every message must then reach the tab exactly once.
func scenario(t *testing.T, name string, fault func(r *rig)) {
	r := newRig(t)
	tb := r.open("alice")
	rid := r.rc.DirectRoom(rcName("alice"), "bob")
	r.settle(tb, rid)
	sent := r.postDuring(rid, 100*time.Millisecond, func() { fault(r) })
	r.report(name, tb, sent, 60*time.Second)
}

// TestSilentPartition: the network to Rocket.Chat goes silent (no FIN, no RST) for longer than
// the ping timeout. The gateway must notice within ping_interval + ping_timeout and, once
// Rocket.Chat answers again, deliver everything posted in the meantime exactly once.
func TestSilentPartition(t *testing.T) {
	scenario(t, "silent partition 15 s", func(r *rig) {
		r.proxy.Set(faultproxy.Stall)
		wait(15 * time.Second)
		r.proxy.Set(faultproxy.Pass)
	})
}

// TestRocketChatUnreachable: every connection to Rocket.Chat is cut and refused for a while,
// so reconnect attempts fail several times. What was posted before the last failed attempt
// must not be skipped by the resync.
func TestRocketChatUnreachable(t *testing.T) {
	scenario(t, "Rocket.Chat unreachable 12 s", func(r *rig) {
		r.proxy.Set(faultproxy.Cut)
		wait(12 * time.Second)
		r.proxy.Set(faultproxy.Pass)
	})
}

// TestFailedResyncIsRetried: after an upstream drop, the resync's REST calls fail for a while
// (Rocket.Chat answers 500 beyond the client's own retries). The resync must be tried again
// until it succeeds, not given up with the gap lost.
func TestFailedResyncIsRetried(t *testing.T) {
	scenario(t, "failed resync retried", func(r *rig) {
		r.proxy.Set(faultproxy.Cut)
		wait(3 * time.Second)
		// The resync's message fetches fail for a while once the upstream is back (more
		// times than the client's own retries: the resync itself fails, repeatedly).
		r.rc.FailNext("chat.syncMessages", 500, 20)
		r.proxy.Set(faultproxy.Pass)
		wait(3 * time.Second)
	})
}

// history is what a client refetches after a reconnect: the room's messages through the
// facade, with the user's product JWT.
func (r *rig) history(user, rid string) map[string]bool {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.node.Base+"/api/im/rooms/"+rid+"/messages?count=100", nil)
	req.Header.Set("Authorization", "Bearer "+r.token(user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Messages []struct {
			ID string `json:"_id"`
		} `json:"messages"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		r.t.Fatalf("history: %d", resp.StatusCode)
	}
	ids := map[string]bool{}
	for _, m := range out.Messages {
		ids[m.ID] = true
	}
	return ids
}

// TestRedisHang: the Redis backplane hangs (connections stay open, nothing answers) for longer
// than redis.timeout while bob posts. Pub/sub cannot replay, so the promise is: a push either
// arrives, or the tab is told to reconnect (Close with allowReconnect) and the client's refetch
// finds it. Counted: nothing lost between pushes and the refetch, nothing pushed twice.
func TestRedisHang(t *testing.T) {
	rs := redistest.Start(t)
	rp, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rp.Close() })
	r := newRigWith(t, func(c *config.Config) {
		c.Redis.URL = "redis://" + rp.Addr()
		c.Redis.NodeID = "faults"
		c.Shutdown.Timeout = config.Duration(10 * time.Second) // at least redis.timeout + 3 s
	})
	tb := r.open("alice")
	rid := r.rc.DirectRoom(rcName("alice"), "bob")
	r.settle(tb, rid)
	sent := r.postDuring(rid, 100*time.Millisecond, func() {
		rp.Set(faultproxy.Stall)
		wait(8 * time.Second)
		rp.Set(faultproxy.Pass)
	})
	// The tab is told it may have missed pushes...
	select {
	case <-tb.c.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the tab was never told that pushes were lost")
	}
	// Usually with the backplane's loss notice; when Redis lets out what it held in one burst,
	// the tab may first be closed as a slow consumer. Both tell the client to reconnect and
	// refetch, which is what counts.
	cm := tb.c.Closed()
	if cm == nil || !cm.AllowReconnect {
		t.Fatalf("close after the hang: %+v", cm)
	}
	if cm.Error != push.ReasonBackplaneGap {
		t.Logf("closed with %q", cm.Error)
	}
	// ...and the refetch a reconnecting client makes recovers every message.
	got := r.history("alice", rid)
	lost, dup := 0, 0
	tb.mu.Lock()
	for _, id := range sent {
		if tb.byID[id] == 0 && !got[id] {
			lost++
		}
		if tb.byID[id] > 1 {
			dup += tb.byID[id] - 1
		}
	}
	tb.mu.Unlock()
	t.Logf("Redis hang 8 s: sent %d, pushed %d, recovered by the refetch %d, lost %d, duplicated %d",
		len(sent), len(sent)-tb.missing(sent), tb.missing(sent), lost, dup)
	if lost != 0 || dup != 0 {
		t.Fatalf("%d of %d lost, %d duplicated", lost, len(sent), dup)
	}
}

// missing counts the ids tb never received.
func (tb *tab) missing(ids []string) int {
	lost, _ := tb.counts(ids)
	return lost
}

// TestShutdownWithinBudgetWhileRedisHangs: SIGTERM while Redis hangs must still end within
// shutdown.timeout (it took 19–20 s against 15 s): every Redis wait on the way out is bounded,
// by the shutdown's own deadline or by redis.timeout (config check requires shutdown.timeout
// to leave room for it).
func TestShutdownWithinBudgetWhileRedisHangs(t *testing.T) {
	rs := redistest.Start(t)
	rp, err := faultproxy.New(rs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rp.Close() })
	const budget = 4 * time.Second
	r := newRigWith(t, func(c *config.Config) {
		c.Redis.URL = "redis://" + rp.Addr()
		c.Redis.Timeout = config.Duration(time.Second)
		c.Shutdown.Timeout = config.Duration(budget)
	})
	tb := r.open("alice")
	rid := r.rc.DirectRoom(rcName("alice"), "bob")
	r.settle(tb, rid)
	rp.Set(faultproxy.Stall)
	start := time.Now()
	r.node.Stop()
	if took := time.Since(start); took > budget+time.Second {
		t.Fatalf("shutdown with Redis hung took %s, budget %s", took.Round(time.Millisecond), budget)
	}
}
