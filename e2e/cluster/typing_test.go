package cluster_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
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
