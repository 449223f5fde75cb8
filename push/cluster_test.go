package push

import (
	"context"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/push/pushtest"
)

// bus is a Backplane shared by several hubs in one process, standing in for Redis and as
// unkind as it: an Envelope reaches the nodes subscribed to its address (every node for
// ToAll) when it is published (a later subscription does not see it), and each node's hub
// gets it later, on that node's own delivery goroutine, in the order the node received it;
// Publish never waits for delivery, and a node whose queue is full drops the Envelope and
// counts it (the tests fail on any drop).
type bus struct {
	mu    sync.Mutex
	nodes []*busNode
}

type busNode struct {
	b       *bus
	in      chan Envelope
	stop    chan struct{}
	wg      sync.WaitGroup
	started bool
	subs    map[Address]int
	dropped atomic.Uint64
}

func (b *bus) node(t *testing.T) *busNode {
	n := &busNode{b: b, subs: map[Address]int{}, in: make(chan Envelope, 4096), stop: make(chan struct{})}
	b.mu.Lock()
	b.nodes = append(b.nodes, n)
	b.mu.Unlock()
	t.Cleanup(func() {
		_ = n.Close() // after the hub's Close, registered later
		if d := n.dropped.Load(); d > 0 {
			t.Errorf("the bus dropped %d envelopes", d)
		}
	})
	return n
}

// Start runs the node's delivery goroutine; Close stops it and waits.
func (n *busNode) Start(_ context.Context, deliver func(Envelope)) error {
	n.b.mu.Lock()
	n.started = true
	n.b.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case <-n.stop:
				return
			case e := <-n.in:
				deliver(e)
			}
		}
	}()
	return nil
}

func (n *busNode) Publish(_ context.Context, e Envelope) error {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	for _, x := range n.b.nodes {
		if x.started && (e.To.Kind == ToAll || x.subs[e.To] > 0) {
			select {
			case x.in <- e:
			default:
				x.dropped.Add(1)
			}
		}
	}
	return nil
}

func (n *busNode) Subscribe(_ context.Context, a Address) error {
	n.b.mu.Lock()
	n.subs[a]++
	n.b.mu.Unlock()
	return nil
}

func (n *busNode) Unsubscribe(_ context.Context, a Address) error {
	n.b.mu.Lock()
	if n.subs[a]--; n.subs[a] <= 0 {
		delete(n.subs, a)
	}
	n.b.mu.Unlock()
	return nil
}

func (n *busNode) subscribed(a Address) bool {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	return n.subs[a] > 0
}

func (n *busNode) Close() error {
	n.b.mu.Lock()
	was := n.started
	n.started = false
	n.b.mu.Unlock()
	if was {
		close(n.stop)
		n.wg.Wait()
	}
	return nil
}

// cluster is two hubs on one bus.
type cluster struct {
	hubs  [2]*Hub
	nodes [2]*busNode
	urls  [2]string
}

func newCluster(t *testing.T, mod func(node int, o *Options)) *cluster {
	t.Helper()
	b := &bus{}
	cl := &cluster{}
	for i := range cl.hubs {
		cl.nodes[i] = b.node(t)
		o := Options{Authenticate: testAuth, Backplane: cl.nodes[i]}
		if mod != nil {
			mod(i, &o)
		}
		h, err := NewHub(o)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		cl.hubs[i], cl.urls[i] = h, srv.URL+"/signalr"
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.Close(ctx); err != nil {
				t.Error(err)
			}
			srv.Close()
		})
	}
	return cl
}

func (cl *cluster) dial(t *testing.T, node int, user string) *pushtest.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pushtest.Dial(ctx, cl.urls[node], "tok-"+user, 100)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestClusterRoutesThroughTheBackplane(t *testing.T) {
	cl := newCluster(t, nil)
	ctx := context.Background()
	a0, a1, b1 := cl.dial(t, 0, "alice"), cl.dial(t, 1, "alice"), cl.dial(t, 1, "bob")
	if !cl.nodes[0].subscribed(Address{ToUser, "alice"}) || cl.nodes[0].subscribed(Address{ToUser, "bob"}) ||
		!cl.nodes[1].subscribed(Address{ToConnection, b1.ConnectionID}) {
		t.Fatal("subscriptions do not follow the local connections")
	}
	// A send on node 0 reaches the user's connections on both nodes, in order.
	for i := range 100 {
		if err := cl.hubs[0].SendToUser(ctx, "alice", "m", seqArg(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*pushtest.Client{a0, a1} {
		for i := range 100 {
			if got := argSeq(t, recv(t, c).Arguments[0]); got != i {
				t.Fatalf("push %d arrived as %d", i, got)
			}
		}
	}
	// Connection and group addresses cross nodes too.
	if err := cl.hubs[0].SendToConnection(ctx, b1.ConnectionID, "m", seqArg(1)); err != nil {
		t.Fatal(err)
	}
	if argSeq(t, recv(t, b1).Arguments[0]) != 1 {
		t.Fatal("connection send")
	}
	if err := cl.hubs[0].AddToGroup(ctx, b1.ConnectionID, "room"); err != nil {
		t.Fatal(err)
	}
	// The add reaches node 1 later, on its delivery goroutine.
	waitFor(t, func() bool { return cl.nodes[1].subscribed(Address{ToGroup, "room"}) })
	for _, step := range []func() error{
		func() error { return cl.hubs[0].SendToGroup(ctx, "room", "g", seqArg(2)) },
		func() error { return cl.hubs[0].RemoveFromGroup(ctx, b1.ConnectionID, "room") },
		func() error { return cl.hubs[0].SendToGroup(ctx, "room", "g", seqArg(3)) },
		func() error { return cl.hubs[0].SendToAll(ctx, "all", seqArg(4)) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if inv := recv(t, b1); inv.Target != "g" || argSeq(t, inv.Arguments[0]) != 2 {
		t.Fatalf("group send = %+v", inv)
	}
	if inv := recv(t, b1); inv.Target != "all" || argSeq(t, inv.Arguments[0]) != 4 {
		t.Fatalf("after leaving the group got %+v, want the send to all", inv)
	}
	waitFor(t, func() bool { return !cl.nodes[1].subscribed(Address{ToGroup, "room"}) })
	// A kick on node 1 closes the user's connections on node 0 as well.
	if err := cl.hubs[1].Kick(ctx, "alice", "Account disabled.", false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*pushtest.Client{a0, a1} {
		if m := waitDone(t, c); m == nil || m.Error != "Account disabled." || m.AllowReconnect {
			t.Fatalf("kick close = %+v", m)
		}
	}
	waitFor(t, func() bool { return !cl.nodes[0].subscribed(Address{ToUser, "alice"}) && cl.hubs[0].Stats().Users == 0 })
}

func TestSingleLoginAcrossNodes(t *testing.T) {
	var mu sync.Mutex
	offline := map[int]int{}
	cl := newCluster(t, func(i int, o *Options) {
		o.SingleLogin = true
		o.OnUserOffline = func(string) { mu.Lock(); offline[i]++; mu.Unlock() }
	})
	old := cl.dial(t, 0, "alice")
	newer := cl.dial(t, 1, "alice")
	if m := waitDone(t, old); m == nil || m.AllowReconnect || m.Error == "" {
		t.Fatalf("the older connection on the other node closed with %+v, want a final Close with a reason", m)
	}
	// The newest stays and still receives.
	if err := cl.hubs[0].SendToUser(context.Background(), "alice", "m", seqArg(9)); err != nil {
		t.Fatal(err)
	}
	if argSeq(t, recv(t, newer).Arguments[0]) != 9 {
		t.Fatal("the newest connection lost its pushes")
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return offline[0] == 1 && offline[1] == 0 })
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		<-tick.C
	}
}

// TestSingleLoginNewestWinsWhenClosesCross: two connections of a user log in at once, so
// each one's single-login Close reaches the other's node after it registered. The newest
// must survive whichever order the Closes are applied in.
func TestSingleLoginNewestWinsWhenClosesCross(t *testing.T) {
	e := newEnv(t, nil)
	older, newer := e.dial("alice", 10), e.dial("alice", 10)
	if !newerConnection(newer.ConnectionID, older.ConnectionID) || newerConnection(older.ConnectionID, newer.ConnectionID) {
		t.Fatal("connection ids do not order by creation")
	}
	js, mp := closeRecords("Logged in elsewhere.", false)
	ctx := context.Background()
	// The older connection's Close (excluding itself) arrives late: it must not close the newer.
	for _, ex := range []string{older.ConnectionID, newer.ConnectionID} {
		if err := e.h.publish(ctx, Envelope{To: Address{ToUser, "alice"}, Op: OpClose, Exclude: []string{ex}, JSON: js, MsgPack: mp}); err != nil {
			t.Fatal(err)
		}
	}
	if m := waitDone(t, older); m == nil || m.Error != "Logged in elsewhere." || m.AllowReconnect {
		t.Fatalf("older closed with %+v", m)
	}
	if err := e.h.SendToUser(ctx, "alice", "m", seqArg(3)); err != nil {
		t.Fatal(err)
	}
	if argSeq(t, recv(t, newer).Arguments[0]) != 3 {
		t.Fatal("the newer connection was closed")
	}
}

// TestPresenceHooksAlternate: connections of one user open and close concurrently; the
// hooks must never overlap for that user, must alternate, and must end offline.
func TestPresenceHooksAlternate(t *testing.T) {
	var mu sync.Mutex
	var events []bool
	var inHook atomic.Int32
	var overlap atomic.Bool
	hook := func(online bool) func(string) {
		return func(string) {
			if inHook.Add(1) > 1 {
				overlap.Store(true)
			}
			runtime.Gosched() // widen the window for a racing connection
			mu.Lock()
			events = append(events, online)
			mu.Unlock()
			inHook.Add(-1)
		}
	}
	e := newEnv(t, func(o *Options) { o.OnUserOnline, o.OnUserOffline = hook(true), hook(false) })
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := pushtest.Dial(ctx, e.url, "tok-alice", 1)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	waitFor(t, func() bool { return e.h.Stats().Connections == 0 })
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0 && !events[len(events)-1] && inHook.Load() == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if overlap.Load() {
		t.Fatal("hooks for one user overlapped")
	}
	for i, on := range events {
		if on != (i%2 == 0) {
			t.Fatalf("hook %d is online=%v: calls do not alternate (%v)", i, on, events)
		}
	}
}
