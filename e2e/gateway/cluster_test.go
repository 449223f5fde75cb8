package gateway_test

import (
	"context"
	"testing"
	"time"

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
	rc.AddUser(rctest.UserSpec{Username: "alice", Name: "Alice"})
	rc.AddUser(rctest.UserSpec{Username: "bob", Name: "Bob"})
	node := func(id string) func(*config.Config) {
		return func(c *config.Config) { c.Redis.URL, c.Redis.NodeID = redis.URL(), id }
	}
	a := startGateway(t, rc, secret, node("node-a"))
	b := startGateway(t, rc, secret, node("node-b"))
	tok := token(t, "alice", nil, nil, nil)
	ca, cb := a.dial(tok), b.dial(tok)
	waitFor(t, "alice's upstream", 10*time.Second, func() bool { return a.upstreams("alice") == 1 })
	// A connection's backplane subscription may trail its handshake: push a probe through
	// the admin API until both tabs see one, so the test starts from a settled cluster.
	for i, c := range []conn{ca, cb} {
		synced := false
		for try := 0; try < 50 && !synced; try++ {
			if st := a.call("POST", "/api/admin/users/p-alice/push", "", map[string]any{"target": "probe", "payload": try}, nil, "X-API-Key", apiKey); st != 202 {
				t.Fatalf("probe push: %d", st)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			for {
				in, err := c.Next(ctx)
				if err != nil {
					break
				}
				if in.Target == "probe" {
					synced = true
					break
				}
			}
			cancel()
		}
		if !synced {
			t.Fatalf("node %d: the probe never arrived", i)
		}
	}
	mid := rc.PostMessage("GENERAL", "bob", "to both nodes")
	marker := rc.PostMessage("GENERAL", "bob", "marker")
	for i, c := range []conn{ca, cb} {
		if got := nextTarget(t, c, "getRoomMessageNotification", nil); msgField(got, "_id") != mid {
			t.Fatalf("node %d: first push %s, want %s", i, got, mid)
		}
		if got := nextTarget(t, c, "getRoomMessageNotification", nil); msgField(got, "_id") != marker {
			t.Fatalf("node %d: duplicate or missing push: %s", i, got)
		}
	}
	if n := a.upstreams("alice"); n != 1 {
		t.Fatalf("alice has %d upstreams across two nodes, want 1", n)
	}
}
