package gateway_test

import (
	"time"

	"encoding/json"
	"testing"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/internal/redistest"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// TestTwoNodesOnRedis: with redis.url set the gateway wires the Redis session store and
// backplane. alice has a tab on each of two nodes: one upstream in the cluster, and a
// message reaches both tabs exactly once.
func TestTwoNodesOnRedis(t *testing.T) {
	redis := redistest.Start(t)
	const secret = "create-tokens-secret"
	rc := rctest.New(rctest.Options{CreateTokenSecret: secret})
	t.Cleanup(rc.Close)
	rc.AddUser(rctest.UserSpec{Username: rcName("alice"), Name: "Alice"})
	rc.AddUser(rctest.UserSpec{Username: rcName("bob"), Name: "Bob"})
	node := func(id string) func(*config.Config) {
		return func(c *config.Config) {
			c.Redis.URL, c.Redis.NodeID = redis.URL(), id
			c.Shutdown.Timeout = config.Duration(10 * time.Second) // at least redis.timeout + 3 s
		}
	}
	a := startGateway(t, rc, secret, node("node-a"))
	b := startGateway(t, rc, secret, node("node-b"))
	tok := token(t, "alice", nil, nil, nil)
	ca, cb := a.dial(tok), b.dial(tok)
	// Wait until the upstream is subscribed and both tabs (one via the Redis backplane)
	// receive pushes.
	a.settle("alice", ca, cb)
	inGeneral := func(r json.RawMessage) bool { return msgField(r, "rid") == "GENERAL" }
	mid := rc.PostMessage("GENERAL", rcName("bob"), "to both nodes")
	marker := rc.PostMessage("GENERAL", rcName("bob"), "marker")
	for i, c := range []conn{ca, cb} {
		if got := nextTarget(t, c, "getRoomMessageNotification", inGeneral); msgField(got, "_id") != mid {
			t.Fatalf("node %d: first push %s, want %s", i, got, mid)
		}
		if got := nextTarget(t, c, "getRoomMessageNotification", inGeneral); msgField(got, "_id") != marker {
			t.Fatalf("node %d: duplicate or missing push: %s", i, got)
		}
	}
	if n := a.upstreams("alice"); n != 1 {
		t.Fatalf("alice has %d upstreams across two nodes, want 1", n)
	}
}
