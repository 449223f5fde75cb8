// Package cluster_test runs three real gateway nodes on one Redis (a real redis-server) and
// one rctest: one upstream per user cluster-wide, exactly-once delivery to connections on
// several nodes, takeover when the owner stops, Redis restarts, and cross-node single login
// and admin pushes.
package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/internal/gatewaytest"
	"github.com/rcgateway/rcgateway/internal/redistest"
	"github.com/rcgateway/rcgateway/push"
	"github.com/rcgateway/rcgateway/push/pushtest"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
	"github.com/rcgateway/rcgateway/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	secret = "cluster-secret-cluster-secret-0123456"
	apiKey = "cluster-backend-key-0123456789"
)

type cluster struct {
	t     *testing.T
	rc    *rctest.Server
	redis *redistest.Server
	nodes []*gatewaytest.Node
}

func startCluster(t *testing.T, n int, singleLogin bool) *cluster {
	t.Helper()
	r := redistest.Start(t)
	rc := rctest.New(rctest.Options{CreateTokenSecret: "create-secret"})
	t.Cleanup(rc.Close)
	rc.AddUser(rctest.UserSpec{Username: rcName("alice"), Name: "Alice"})
	rc.AddUser(rctest.UserSpec{Username: rcName("bob"), Name: "Bob"})
	c := &cluster{t: t, rc: rc, redis: r}
	for i := range n {
		c.nodes = append(c.nodes, c.startNode(i, singleLogin))
	}
	return c
}

func (c *cluster) startNode(i int, singleLogin bool) *gatewaytest.Node {
	c.t.Helper()
	cfg := gatewaytest.Config(c.rc, "create-secret")
	cfg.Auth.JWT.HS256Secret = secret
	cfg.Auth.APIKeys = []config.Secret{apiKey}
	cfg.Hub.SingleLogin = singleLogin
	cfg.Redis.URL = c.redis.URL()
	cfg.Shutdown.Timeout = config.Duration(10 * time.Second) // at least redis.timeout + 3 s
	cfg.Redis.NodeID = "node-" + string(rune('a'+i))
	return gatewaytest.Start(c.t, cfg, "node", i)
}

func token(t *testing.T, user string) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "p-" + user, "preferred_username": user,
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rcName is the Rocket.Chat username the gateway derives for the product user "p-"+user.
func rcName(user string) string {
	return session.RocketChatUsername(session.DefaultUsernamePrefix, "p-"+user)
}

func dial(t *testing.T, n *gatewaytest.Node, user string) *pushtest.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pushtest.Dial(ctx, n.Base+"/signalr", token(t, user), 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

// collector gathers one connection's message pushes by id.
type collector struct {
	mu     sync.Mutex
	byID   map[string]int
	custom []json.RawMessage
	done   chan struct{}
}

func collect(c *pushtest.Client) *collector {
	col := &collector{byID: map[string]int{}, done: make(chan struct{})}
	go func() {
		defer close(col.done)
		for inv := range c.Invocations {
			col.mu.Lock()
			switch inv.Target {
			case "getRoomMessageNotification":
				var m struct {
					ID string `json:"_id"`
				}
				_ = json.Unmarshal(inv.Arguments[0], &m)
				col.byID[m.ID]++
			case "custom":
				col.custom = append(col.custom, inv.Arguments[0])
			}
			col.mu.Unlock()
		}
	}()
	return col
}

func (col *collector) count(id string) int {
	col.mu.Lock()
	defer col.mu.Unlock()
	return col.byID[id]
}

func TestOneUpstreamPerUserAndExactlyOnceAcrossNodes(t *testing.T) {
	c := startCluster(t, 3, false)
	rid := c.rc.DirectRoom(rcName("alice"), rcName("bob"))
	a1, a2 := collect(dial(t, c.nodes[0], "alice")), collect(dial(t, c.nodes[1], "alice"))
	uid := c.rc.UserID(rcName("alice"))
	waitFor(t, "alice's upstream", 20*time.Second, func() bool { return c.rc.DDPConnections(uid) == 1 })

	first := c.rc.PostMessage(rid, rcName("bob"), "hello from bob")
	second := c.rc.PostMessage(rid, rcName("bob"), "and again")
	for _, col := range []*collector{a1, a2} {
		waitFor(t, "both messages on both connections", 15*time.Second, func() bool { return col.count(first) > 0 && col.count(second) > 0 })
	}
	// One more round trip, so that late duplicates would have arrived.
	third := c.rc.PostMessage(rid, rcName("bob"), "third")
	for _, col := range []*collector{a1, a2} {
		waitFor(t, "the third message", 15*time.Second, func() bool { return col.count(third) > 0 })
		for _, id := range []string{first, second, third} {
			if n := col.count(id); n != 1 {
				t.Fatalf("message %s delivered %d times to one connection", id, n)
			}
		}
	}
	if n := c.rc.DDPConnections(uid); n != 1 {
		t.Fatalf("rctest sees %d upstream connections for alice, want 1", n)
	}

	// An admin push on node 3 reaches both connections.
	body, _ := json.Marshal(map[string]any{"target": "custom", "payload": map[string]int{"x": 1}})
	req, _ := http.NewRequest(http.MethodPost, c.nodes[2].Base+"/api/admin/users/p-alice/push", bytes.NewReader(body))
	req.Header.Set("X-API-Key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("admin push: %d", resp.StatusCode)
	}
	for _, col := range []*collector{a1, a2} {
		waitFor(t, "the admin push", 10*time.Second, func() bool {
			col.mu.Lock()
			defer col.mu.Unlock()
			return len(col.custom) == 1 && string(col.custom[0]) == `{"x":1}`
		})
	}
}

func TestOwnerStopsAnotherNodeTakesOverWithoutLoss(t *testing.T) {
	c := startCluster(t, 2, false)
	rid := c.rc.DirectRoom(rcName("alice"), rcName("bob"))
	uid := c.rc.UserID(rcName("alice"))
	// Node 0 becomes the owner: alice's first connection is there.
	_ = dial(t, c.nodes[0], "alice")
	waitFor(t, "the upstream on node 0", 20*time.Second, func() bool { return c.rc.DDPConnections(uid) == 1 })
	survivor := collect(dial(t, c.nodes[1], "alice"))
	// Delivered by node 0 well before it stops: the takeover's resync must not repeat them.
	var before []string
	for _, text := range []string{"before 1", "before 2"} {
		before = append(before, c.rc.PostMessage(rid, rcName("bob"), text))
	}
	for _, id := range before {
		waitFor(t, "messages before the takeover", 15*time.Second, func() bool { return survivor.count(id) > 0 })
	}
	// Past the resync slack (5 s): the new owner starts where node 0's delivery got to, not
	// from when its own loop began.
	<-time.After(6 * time.Second)

	c.nodes[0].Stop()
	var ids []string
	for _, text := range []string{"during takeover 1", "during takeover 2", "during takeover 3"} {
		ids = append(ids, c.rc.PostMessage(rid, rcName("bob"), text))
	}
	for _, id := range ids {
		waitFor(t, "messages posted during the takeover", 30*time.Second, func() bool { return survivor.count(id) > 0 })
	}
	after := c.rc.PostMessage(rid, rcName("bob"), "after takeover")
	waitFor(t, "a live message after the takeover", 15*time.Second, func() bool { return survivor.count(after) > 0 })
	for _, id := range append(append(before, ids...), after) {
		if n := survivor.count(id); n != 1 {
			t.Fatalf("message %s delivered %d times", id, n)
		}
	}
	if n := c.rc.DDPConnections(uid); n != 1 {
		t.Fatalf("%d upstreams after the takeover, want 1", n)
	}
}

func TestRedisRestartDeliveryResumes(t *testing.T) {
	c := startCluster(t, 2, false)
	rid := c.rc.DirectRoom(rcName("alice"), rcName("bob"))
	uid := c.rc.UserID(rcName("alice"))
	first := dial(t, c.nodes[1], "alice")
	waitFor(t, "alice's upstream", 20*time.Second, func() bool { return c.rc.DDPConnections(uid) == 1 })
	c.redis.Stop()
	// Readiness reports the dead backplane.
	waitFor(t, "readyz 503 backplane_down", 20*time.Second, func() bool {
		resp, err := http.Get(c.nodes[1].Base + "/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 503 && strings.Contains(string(b), "backplane_down")
	})
	c.rc.PostMessage(rid, rcName("bob"), "while redis is down")
	c.redis.Start()
	// The push made during the outage cannot be carried: the tab is told so, with a Close
	// that allows a reconnect (after which a client refetches), instead of losing it silently.
	select {
	case <-first.Done():
	case <-time.After(45 * time.Second):
		t.Fatal("the tab was never told that pushes were lost")
	}
	if cm := first.Closed(); cm == nil || !cm.AllowReconnect || cm.Error != push.ReasonBackplaneGap {
		t.Fatalf("close after the outage: %+v", cm)
	}
	// Delivery resumes for the reconnected tab: keep posting until one arrives.
	col := collect(dial(t, c.nodes[1], "alice"))
	var got string
	waitFor(t, "delivery after the Redis restart", 45*time.Second, func() bool {
		id := c.rc.PostMessage(rid, rcName("bob"), "after restart")
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
			if col.count(id) > 0 {
				got = id
				return true
			}
		}
		return false
	})
	if got == "" {
		t.Fatal("no delivery")
	}
	// What could not be carried is counted, not silent: as dropped envelopes when the push
	// was published into the outage, or as loss notices when Redis was back before the
	// publisher tried and the push went to a node whose subscriber was still down (which
	// order happens is a race between the publisher and the restart).
	waitFor(t, "dropped envelopes or loss notices in /metrics", 10*time.Second, func() bool {
		for _, n := range c.nodes {
			resp, err := http.Get(n.Base + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(b), "\n") {
				counted := strings.Contains(line, "backplane_dropped") || strings.Contains(line, "backplane_loss_reconnects")
				if counted && !strings.HasPrefix(line, "#") && !strings.HasSuffix(line, " 0") {
					return true
				}
			}
		}
		return false
	})
}

func TestSingleLoginAcrossNodes(t *testing.T) {
	c := startCluster(t, 2, true)
	older := dial(t, c.nodes[0], "alice")
	_ = dial(t, c.nodes[1], "alice")
	deadline := time.After(15 * time.Second)
	for {
		select {
		case _, ok := <-older.Invocations:
			if ok {
				continue
			}
			<-older.Done()
			if cl := older.Closed(); cl == nil || cl.AllowReconnect {
				t.Fatalf("older connection closed with %+v, want a final Close", cl)
			}
			return
		case <-deadline:
			t.Fatal("the older connection on the other node stayed open")
		}
	}
}

// TestDeleteOnAnotherNodeRevokesEverywhere: a user connected to node 0 is deleted through
// node 1, which never saw it: the account goes, node 0's connection gets
// Close{allowReconnect:false}, and the same JWT is refused on node 0 (the tombstone is in
// Redis) without provisioning the account again.
func TestDeleteOnAnotherNodeRevokesEverywhere(t *testing.T) {
	c := startCluster(t, 2, false)
	conn := dial(t, c.nodes[0], "alice")
	uid := c.rc.UserID(rcName("alice"))
	waitFor(t, "alice's upstream", 20*time.Second, func() bool { return c.rc.DDPConnections(uid) == 1 })
	req, _ := http.NewRequest(http.MethodDelete, c.nodes[1].Base+"/api/admin/users/p-alice", nil)
	req.Header.Set("X-API-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete on node 1: %d", resp.StatusCode)
	}
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-conn.Invocations:
		case <-timeout:
			t.Fatal("node 0 kept the deleted user's connection open")
		}
	}
	if cm := conn.Closed(); cm == nil || cm.AllowReconnect {
		t.Fatalf("node 0's Close: %+v, want allowReconnect false", cm)
	}
	req, _ = http.NewRequest(http.MethodGet, c.nodes[0].Base+"/api/im/me", nil)
	req.Header.Set("Authorization", "Bearer "+token(t, "alice"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the deleted user's JWT on node 0: %d, want 401", resp.StatusCode)
	}
	if c.rc.UserID(rcName("alice")) != "" {
		t.Fatal("the deleted account exists again")
	}
}
