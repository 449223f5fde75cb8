// Package backplanetest is the contract every push.Backplane keeps, as one table of
// behaviours run with real hubs (push.Hub behind httptest servers) and real SignalR clients
// (pushtest): sends to a user, a group, a connection and everyone; order per address;
// Exclude; group membership changed from any node; close (kick). Each implementation runs
// the same table (push.MemoryBackplane with one hub here, push/redisbackplane with two hubs
// on a real redis-server), as litestream runs one suite per replica backend.
package backplanetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/push"
	"github.com/rcgateway/rcgateway/push/pushtest"
)

// NewBackplanes returns n Backplanes that share one medium (one Redis, one bus): what one
// publishes reaches the others' subscribed addresses. It registers their cleanup on t; the
// hubs are closed before it runs.
type NewBackplanes func(t *testing.T, n int) []push.Backplane

// Run runs the contract with nodes hubs (1 for a single-node backplane), each on its own
// Backplane from newBackplanes. With one node every "other node" below is that node.
func Run(t *testing.T, nodes int, newBackplanes NewBackplanes) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newCluster(t, nodes, newBackplanes))
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, c *Cluster)
}{
	{"SendToUserReachesEveryNode", sendToUser},
	{"SendToUserOnceAcrossNodes", sendToUserOnce},
	{"OrderPerAddressPerPublisher", orderPerAddress},
	{"SendToConnection", sendToConnection},
	{"SendToAll", sendToAll},
	{"Exclude", exclude},
	{"GroupAddRemoveFromAnyNode", groupAddRemove},
	{"CloseKicksOnEveryNode", closeKicks},
	{"LossNoticeSparesNewerConnections", lossNotice},
}

// Cluster is nodes hubs, each on its own Backplane and HTTP server.
type Cluster struct {
	Hubs []*push.Hub
	BPs  []push.Backplane
	urls []string
}

// auth takes "tok-<user>" as user <user>, never expiring.
func auth(r *http.Request) (string, time.Time, error) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		tok = r.URL.Query().Get("access_token")
	}
	user, ok := strings.CutPrefix(tok, "tok-")
	if !ok || user == "" {
		return "", time.Time{}, errors.New("backplanetest: bad token")
	}
	return user, time.Time{}, nil
}

func newCluster(t *testing.T, nodes int, newBackplanes NewBackplanes) *Cluster {
	t.Helper()
	bps := newBackplanes(t, nodes)
	if len(bps) != nodes {
		t.Fatalf("newBackplanes returned %d backplanes, want %d", len(bps), nodes)
	}
	c := &Cluster{BPs: bps}
	for _, bp := range bps {
		h, err := push.NewHub(push.Options{Authenticate: auth, Backplane: bp, SendQueueSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		c.Hubs, c.urls = append(c.Hubs, h), append(c.urls, srv.URL+"/signalr")
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.Close(ctx); err != nil {
				t.Error(err)
			}
			srv.Close()
		})
	}
	return c
}

// node maps a logical node to a hub: with one hub every node is that hub.
func (c *Cluster) node(i int) int { return i % len(c.Hubs) }

// Dial connects user to node i's hub.
func (c *Cluster) Dial(t *testing.T, i int, user string) *pushtest.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := pushtest.Dial(ctx, c.urls[c.node(i)], "tok-"+user, 4096)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func seq(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"seq":%d}`, i)) }

// next is cl's next invocation as target and seq, within 10 s.
func next(t *testing.T, cl *pushtest.Client) (string, int) {
	t.Helper()
	select {
	case inv, ok := <-cl.Invocations:
		if !ok {
			t.Fatalf("connection %s ended (close: %+v)", cl.ConnectionID, cl.Closed())
		}
		var v struct{ Seq int }
		if len(inv.Arguments) != 1 || json.Unmarshal(inv.Arguments[0], &v) != nil {
			t.Fatalf("invocation %+v: want one {seq} argument", inv)
		}
		return inv.Target, v.Seq
	case <-time.After(10 * time.Second):
		t.Fatalf("connection %s: no invocation within 10 s", cl.ConnectionID)
	}
	return "", 0
}

// expect checks cl's next invocation.
func expect(t *testing.T, cl *pushtest.Client, target string, n int) {
	t.Helper()
	if gt, gn := next(t, cl); gt != target || gn != n {
		t.Fatalf("connection %s got %s(%d), want %s(%d)", cl.ConnectionID, gt, gn, target, n)
	}
}

// fence proves that nothing published on node from before it reached cl unseen: a send to
// cl's own connection address published on the same node after what cl must not get. Both
// implementations deliver what one publisher sends in order across addresses (one
// synchronous call; one Redis publisher connection, one subscriber connection, one
// deliverer), and the hub's "remove from group, then send to the group" relies on it.
func (c *Cluster) fence(t *testing.T, node int, cl *pushtest.Client, n int) {
	t.Helper()
	if err := c.Hubs[c.node(node)].SendToConnection(context.Background(), cl.ConnectionID, "fence", seq(n)); err != nil {
		t.Fatal(err)
	}
	expect(t, cl, "fence", n)
}

func sendToUser(t *testing.T, c *Cluster) {
	ctx := context.Background()
	a0, a1, b1 := c.Dial(t, 0, "alice"), c.Dial(t, 1, "alice"), c.Dial(t, 1, "bob")
	for from := range 2 {
		for i := range 50 {
			if err := c.Hubs[c.node(from)].SendToUser(ctx, "alice", "m", seq(from*100+i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, cl := range []*pushtest.Client{a0, a1} {
			for i := range 50 {
				expect(t, cl, "m", from*100+i)
			}
		}
	}
	c.fence(t, 0, b1, 1) // bob got none of alice's
	c.fence(t, 1, b1, 2)
}

// sendToUserOnce: a keyed record sent again, from the same node or another (a node taking
// over a user's work repeats what the previous one sent), reaches each connection once;
// a connection opened after the first send gets the repeat, which is new to it.
func sendToUserOnce(t *testing.T, c *Cluster) {
	ctx := context.Background()
	a0, a1 := c.Dial(t, 0, "alice"), c.Dial(t, 1, "alice")
	for i := range 20 {
		if err := c.Hubs[c.node(0)].SendToUserOnce(ctx, "alice", fmt.Sprint("k", i), "m", seq(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, cl := range []*pushtest.Client{a0, a1} {
		for i := range 20 {
			expect(t, cl, "m", i)
		}
	}
	late := c.Dial(t, 1, "alice")
	// The other node repeats the last ten and adds one.
	for i := 10; i <= 20; i++ {
		if err := c.Hubs[c.node(1)].SendToUserOnce(ctx, "alice", fmt.Sprint("k", i), "m", seq(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, cl := range []*pushtest.Client{a0, a1} {
		expect(t, cl, "m", 20)
	}
	for i := 10; i <= 20; i++ {
		expect(t, late, "m", i)
	}
	// The first node repeats the first; an unkeyed send is never held back.
	if err := c.Hubs[c.node(0)].SendToUserOnce(ctx, "alice", "k0", "m", seq(0)); err != nil {
		t.Fatal(err)
	}
	if err := c.Hubs[c.node(0)].SendToUser(ctx, "alice", "m", seq(5)); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*pushtest.Client{a0, a1} {
		expect(t, cl, "m", 5)
	}
	expect(t, late, "m", 0)
	expect(t, late, "m", 5)
}

func orderPerAddress(t *testing.T, c *Cluster) {
	ctx := context.Background()
	const publishers, each = 4, 200
	a0, a1 := c.Dial(t, 0, "alice"), c.Dial(t, 1, "alice")
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for g := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := c.Hubs[c.node(g)].SendToUser(ctx, "alice", "m", seq(g*each+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, cl := range []*pushtest.Client{a0, a1} {
		last := make([]int, publishers)
		for g := range last {
			last[g] = -1
		}
		for range publishers * each {
			_, n := next(t, cl)
			g, i := n/each, n%each
			if i != last[g]+1 {
				t.Fatalf("connection %s: publisher %d's send %d arrived after %d", cl.ConnectionID, g, i, last[g])
			}
			last[g] = i
		}
	}
}

func sendToConnection(t *testing.T, c *Cluster) {
	ctx := context.Background()
	a0, a1 := c.Dial(t, 0, "alice"), c.Dial(t, 1, "alice")
	for from := range 2 {
		if err := c.Hubs[c.node(from)].SendToConnection(ctx, a1.ConnectionID, "m", seq(from)); err != nil {
			t.Fatal(err)
		}
		expect(t, a1, "m", from)
	}
	c.fence(t, 0, a0, 10) // the other connection of the same user got neither
	c.fence(t, 1, a0, 11)
}

func sendToAll(t *testing.T, c *Cluster) {
	ctx := context.Background()
	all := []*pushtest.Client{c.Dial(t, 0, "alice"), c.Dial(t, 1, "bob"), c.Dial(t, 1, "carol")}
	for from := range 2 {
		if err := c.Hubs[c.node(from)].SendToAll(ctx, "all", seq(from)); err != nil {
			t.Fatal(err)
		}
		for _, cl := range all {
			expect(t, cl, "all", from)
		}
	}
}

// exclude publishes the Envelopes the hub builds for single login, straight on a node's
// Backplane: every addressed connection but the excluded ones gets it, on every node.
func exclude(t *testing.T, c *Cluster) {
	ctx := context.Background()
	a0, a1, a2 := c.Dial(t, 0, "alice"), c.Dial(t, 1, "alice"), c.Dial(t, 1, "alice")
	rec := func(n int) []byte {
		return fmt.Appendf(nil, `{"type":1,"target":"x","arguments":[{"seq":%d}]}`+"\x1e", n)
	}
	for from := range 2 {
		e := push.Envelope{To: push.Address{Kind: push.ToUser, Key: "alice"}, Op: push.OpSend,
			Exclude: []string{a1.ConnectionID, a0.ConnectionID}, JSON: rec(from)}
		if err := c.BPs[c.node(from)].Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		expect(t, a2, "x", from)
	}
	c.fence(t, 0, a0, 20)
	c.fence(t, 1, a1, 21)
}

func groupAddRemove(t *testing.T, c *Cluster) {
	ctx := context.Background()
	h0, h1 := c.Hubs[c.node(0)], c.Hubs[c.node(1)]
	m0, m1 := c.Dial(t, 0, "alice"), c.Dial(t, 1, "bob")
	// Each member joins from the other node.
	if err := h1.AddToGroup(ctx, m0.ConnectionID, "room"); err != nil {
		t.Fatal(err)
	}
	if err := h0.AddToGroup(ctx, m1.ConnectionID, "room"); err != nil {
		t.Fatal(err)
	}
	// The adds are delivered (on the member's node) before a later fence on the same
	// connection: after the fences, both are members.
	c.fence(t, 1, m0, 1)
	c.fence(t, 0, m1, 2)
	for from := range 2 {
		if err := c.Hubs[c.node(from)].SendToGroup(ctx, "room", "g", seq(from)); err != nil {
			t.Fatal(err)
		}
		expect(t, m0, "g", from)
		expect(t, m1, "g", from)
	}
	// bob leaves, removed from the node he is not on; alice stays.
	if err := h0.RemoveFromGroup(ctx, m1.ConnectionID, "room"); err != nil {
		t.Fatal(err)
	}
	c.fence(t, 0, m1, 3)
	for from := range 2 {
		if err := c.Hubs[c.node(from)].SendToGroup(ctx, "room", "g", seq(10+from)); err != nil {
			t.Fatal(err)
		}
		expect(t, m0, "g", 10+from)
		c.fence(t, from, m1, 20+from) // bob got no group send after leaving
	}
	// A removal from the member's own node works too.
	if err := h0.RemoveFromGroup(ctx, m0.ConnectionID, "room"); err != nil {
		t.Fatal(err)
	}
	c.fence(t, 0, m0, 4)
	if err := h1.SendToGroup(ctx, "room", "g", seq(30)); err != nil {
		t.Fatal(err)
	}
	c.fence(t, 1, m0, 5)
	c.fence(t, 1, m1, 6)
}

func closeKicks(t *testing.T, c *Cluster) {
	ctx := context.Background()
	a0, a1, b0 := c.Dial(t, 0, "alice"), c.Dial(t, 1, "alice"), c.Dial(t, 0, "bob")
	if err := c.Hubs[c.node(1)].Kick(ctx, "alice", "Account disabled.", false); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*pushtest.Client{a0, a1} {
		select {
		case <-cl.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("connection %s was not closed", cl.ConnectionID)
		}
		if m := cl.Closed(); m == nil || m.Error != "Account disabled." || m.AllowReconnect {
			t.Fatalf("connection %s closed with %+v, want the kick's reason without reconnect", cl.ConnectionID, m)
		}
	}
	// Other users stay, and the kicked user may come back.
	c.fence(t, 1, b0, 1)
	back := c.Dial(t, 1, "alice")
	if err := c.Hubs[c.node(0)].SendToUser(ctx, "alice", "m", seq(2)); err != nil {
		t.Fatal(err)
	}
	expect(t, back, "m", 2)
}

// lossNotice: a loss notice (push.LossNotice) closes, on every node, the connections of its
// address that were open when the loss happened, with allowReconnect, and leaves alone those
// opened after it, which missed nothing.
func lossNotice(t *testing.T, c *Cluster) {
	ctx := context.Background()
	old0, old1 := c.Dial(t, 0, "alice"), c.Dial(t, 1, "alice")
	lostAt := time.Now()
	// A connection's creation time is taken at negotiate: wait out the clock's resolution.
	for !time.Now().After(lostAt) {
		<-time.After(time.Millisecond)
	}
	fresh := c.Dial(t, 1, "alice")
	if err := c.BPs[c.node(0)].Publish(ctx, push.LossNotice(push.Address{Kind: push.ToUser, Key: "alice"}, lostAt, 0)); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*pushtest.Client{old0, old1} {
		select {
		case <-cl.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("connection %s open at the loss was not closed", cl.ConnectionID)
		}
		if m := cl.Closed(); m == nil || !m.AllowReconnect || m.Error != push.ReasonBackplaneGap {
			t.Fatalf("connection %s closed with %+v, want the backplane gap with reconnect", cl.ConnectionID, m)
		}
	}
	if err := c.Hubs[c.node(0)].SendToUser(ctx, "alice", "m", seq(1)); err != nil {
		t.Fatal(err)
	}
	expect(t, fresh, "m", 1)
}
