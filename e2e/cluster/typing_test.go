package cluster_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/push/pushtest"
)

// call sends a JSON request as user to a node's facade and returns the status.
func call(t *testing.T, base, method, path, user string, body any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token(t, user))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTypingThroughAnotherNode: alice's and bob's upstreams run on node 0 (their tabs are
// there), while their REST calls land on node 1, as a load balancer may send them. Alice's open
// room reaches her upstream's owner (it follows the room's user-activity), and bob's typing
// sent to node 1 goes out on his upstream on node 0 and reaches alice's tab.
func TestTypingThroughAnotherNode(t *testing.T) {
	c := startCluster(t, 2, false)
	rid := c.rc.DirectRoom(rcName("alice"), rcName("bob"))
	alice := dial(t, c.nodes[0], "alice")
	_ = dial(t, c.nodes[0], "bob")
	aid, bid := c.rc.UserID(rcName("alice")), c.rc.UserID(rcName("bob"))
	waitFor(t, "both upstreams on node 0", 20*time.Second, func() bool {
		return c.rc.DDPConnections(aid) == 1 && c.rc.DDPConnections(bid) == 1
	})

	if st := call(t, c.nodes[1].Base, http.MethodPut, "/api/im/open-rooms", "alice", map[string]any{"tab": "t1", "rooms": []string{rid}}); st != http.StatusNoContent {
		t.Fatalf("open-rooms on node 1: %d", st)
	}
	waitFor(t, "alice's upstream to follow the room's typing", 10*time.Second, func() bool {
		return c.rc.StreamSubscribers(aid, "stream-notify-room", rid+"/user-activity") > 0
	})
	if st := call(t, c.nodes[1].Base, http.MethodPost, "/api/im/rooms/"+rid+"/typing", "bob", map[string]any{"typing": true}); st != http.StatusNoContent {
		t.Fatalf("typing on node 1: %d", st)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case inv, ok := <-alice.Invocations:
			if !ok {
				t.Fatal("alice's connection ended")
			}
			if inv.Target != "getTypingNotification" {
				continue
			}
			var v struct {
				RID, Username string
				Typing        bool
			}
			_ = json.Unmarshal(inv.Arguments[0], &v)
			if v.RID == rid && v.Username == rcName("bob") && v.Typing {
				return
			}
		case <-deadline:
			t.Fatal("bob's typing sent through node 1 never reached alice")
		}
	}
}

// TestTypingWithoutAnUpstreamAnywhere: a user with no tab open anywhere has no upstream; the
// typing call says so instead of claiming success.
func TestTypingWithoutAnUpstreamAnywhere(t *testing.T) {
	c := startCluster(t, 2, false)
	rid := c.rc.DirectRoom(rcName("alice"), rcName("bob"))
	if st := call(t, c.nodes[1].Base, http.MethodPost, "/api/im/rooms/"+rid+"/typing", "bob", map[string]any{"typing": true}); st != http.StatusConflict {
		t.Fatalf("typing with no upstream: %d, want 409", st)
	}
}

// TestTypingThroughAnotherNodeAfterRedisRestart: the relay's subscription dies with Redis and
// comes back by itself. The outage closes the tabs; the tabs here behave like clients: they
// reconnect, re-send their open rooms, and retry typing (and reconnect again should a loss
// notice close them: since notices spare connections opened after the loss, the first
// reconnect holds), until bob's typing sent to node 1 reaches alice's tab on node 0.
func TestTypingThroughAnotherNodeAfterRedisRestart(t *testing.T) {
	c := startCluster(t, 2, false)
	rid := c.rc.DirectRoom(rcName("alice"), rcName("bob"))
	aid, bid := c.rc.UserID(rcName("alice")), c.rc.UserID(rcName("bob"))
	a0, b0 := dial(t, c.nodes[0], "alice"), dial(t, c.nodes[0], "bob")
	waitFor(t, "both upstreams on node 0", 20*time.Second, func() bool {
		return c.rc.DDPConnections(aid) == 1 && c.rc.DDPConnections(bid) == 1
	})
	c.redis.Stop()
	c.redis.Start()
	for _, tab := range []interface{ Done() <-chan struct{} }{a0, b0} {
		select {
		case <-tab.Done():
		case <-time.After(45 * time.Second):
			t.Fatal("a tab was not told about the backplane outage")
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for attempt := 1; time.Now().Before(deadline); attempt++ {
		alice, bob := dial(t, c.nodes[0], "alice"), dial(t, c.nodes[0], "bob")
		if typingReaches(t, c, rid, aid, alice, bob, time.Now().Add(15*time.Second)) {
			t.Logf("typing through node 1 after the Redis restart: attempt %d", attempt)
			return
		}
	}
	t.Fatal("bob's typing sent through node 1 never reached alice after the Redis restart")
}

// typingReaches plays one round as clients would, until by: alice re-sends her open room to
// node 1 until her upstream follows it, bob sends typing to node 1 until it is accepted, and
// alice's tab gets it. false when a tab was closed or by passed.
func typingReaches(t *testing.T, c *cluster, rid, aid string, alice, bob *pushtest.Client, by time.Time) bool {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	alive := func() bool {
		select {
		case <-alice.Done():
			return false
		case <-bob.Done():
			return false
		default:
			return true
		}
	}
	for c.rc.StreamSubscribers(aid, "stream-notify-room", rid+"/user-activity") == 0 {
		if !alive() || time.Now().After(by) {
			return false
		}
		if st := call(t, c.nodes[1].Base, http.MethodPut, "/api/im/open-rooms", "alice", map[string]any{"tab": "t1", "rooms": []string{rid}}); st != http.StatusNoContent {
			t.Fatalf("open-rooms on node 1: %d", st)
		}
		<-tick.C
	}
	for {
		st := call(t, c.nodes[1].Base, http.MethodPost, "/api/im/rooms/"+rid+"/typing", "bob", map[string]any{"typing": true})
		if st == http.StatusNoContent {
			break
		}
		if st != http.StatusConflict {
			t.Fatalf("typing on node 1: %d", st)
		}
		if !alive() || time.Now().After(by) {
			return false
		}
		<-tick.C
	}
	for {
		select {
		case inv, ok := <-alice.Invocations:
			if !ok {
				return false
			}
			if inv.Target == "getTypingNotification" && bytes.Contains(inv.Arguments[0], []byte(`"typing":true`)) {
				return true
			}
		case <-time.After(time.Until(by)):
			return false
		}
	}
}
