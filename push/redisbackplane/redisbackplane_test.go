package redisbackplane

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rcgateway/rcgateway/internal/redistest"
	"github.com/rcgateway/rcgateway/push"
	"github.com/rcgateway/rcgateway/push/pushtest"
)

func TestMain(m *testing.M) {
	if pushtest.RunBrowsersChild() { // BenchmarkDelivery's browser process
		return
	}
	goleak.VerifyTestMain(m)
}

// node is one Backplane with the envelopes it received.
type node struct {
	b    *Backplane
	mu   sync.Mutex
	got  []push.Envelope
	wake chan struct{}
	up   chan bool
}

func newNode(t *testing.T, url string, queue int) *node {
	t.Helper()
	n := &node{wake: make(chan struct{}, 1), up: make(chan bool, 16)}
	b, err := New(Options{URL: url, QueueSize: queue, OnState: func(up bool) { n.up <- up }})
	if err != nil {
		t.Fatal(err)
	}
	n.b = b
	t.Cleanup(func() { _ = b.Close() })
	return n
}

func (n *node) start(t *testing.T) {
	t.Helper()
	if err := n.b.Start(context.Background(), n.deliver); err != nil {
		t.Fatal(err)
	}
	n.waitUp(t, true)
}

func (n *node) waitUp(t *testing.T, want bool) {
	t.Helper()
	for {
		select {
		case up := <-n.up:
			if up == want {
				return
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("backplane never reported up=%v", want)
		}
	}
}

func (n *node) deliver(e push.Envelope) {
	n.mu.Lock()
	n.got = append(n.got, e)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *node) waitCount(t *testing.T, want int) []push.Envelope {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		n.mu.Lock()
		got := append([]push.Envelope(nil), n.got...)
		n.mu.Unlock()
		if len(got) >= want {
			return got
		}
		select {
		case <-n.wake:
		case <-deadline:
			t.Fatalf("received %d envelopes, want %d", len(got), want)
		}
	}
}

func env(kind push.AddressKind, key string, i int) push.Envelope {
	return push.Envelope{To: push.Address{Kind: kind, Key: key}, Op: push.OpSend,
		JSON: []byte(fmt.Sprintf(`{"type":1,"target":"t","arguments":[%d]}`+"\x1e", i)), MsgPack: []byte{byte(i)}}
}

// subscribedPair starts two nodes on one Redis; b is subscribed to user u1.
func subscribedPair(t *testing.T) (a, b *node, user push.Address) {
	t.Helper()
	r := redistest.Start(t)
	a, b = newNode(t, r.URL(), 0), newNode(t, r.URL(), 0)
	a.start(t)
	b.start(t)
	user = push.Address{Kind: push.ToUser, Key: "u1"}
	if err := b.b.Subscribe(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	return a, b, user
}

func TestAddressedDeliveryAndOrder(t *testing.T) {
	a, b, user := subscribedPair(t)
	ctx := context.Background()
	const n = 2000
	for i := range n {
		if err := a.b.Publish(ctx, env(push.ToUser, "u1", i%256)); err != nil {
			t.Fatal(err)
		}
	}
	got := b.waitCount(t, n)
	for i, e := range got[:n] {
		if e.MsgPack[0] != byte(i%256) || e.To != user {
			t.Fatalf("envelope %d out of order or misaddressed: %+v", i, e)
		}
	}
	// Everyone: both nodes, exclusions and group ops travel intact.
	all := push.Envelope{To: push.Address{Kind: push.ToAll}, Op: push.OpClose, Exclude: []string{"c1", "c2"}, JSON: []byte("x\x1e")}
	if err := b.b.Publish(ctx, all); err != nil {
		t.Fatal(err)
	}
	ga := a.waitCount(t, 1)
	if last := ga[len(ga)-1]; !reflect.DeepEqual(last.Exclude, all.Exclude) || last.Op != push.OpClose || last.To.Kind != push.ToAll {
		t.Fatalf("node a got %+v", last)
	}
	gb := b.waitCount(t, n+1)
	if last := gb[len(gb)-1]; last.Op != push.OpClose {
		t.Fatalf("node b got %+v", last)
	}
	a.mu.Lock()
	for _, e := range a.got {
		if e.To.Kind == push.ToUser {
			t.Fatalf("node a got a user envelope it never subscribed to")
		}
	}
	a.mu.Unlock()
	// After the last unsubscribe the node no longer receives the user's envelopes.
	if err := b.b.Unsubscribe(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := a.b.Publish(ctx, push.Envelope{To: push.Address{Kind: push.ToAll}, Op: push.OpSend, JSON: []byte("fence\x1e")}); err != nil {
		t.Fatal(err)
	}
	_ = a.b.Publish(ctx, env(push.ToUser, "u1", 7))
	_ = a.b.Publish(ctx, push.Envelope{To: push.Address{Kind: push.ToAll}, Op: push.OpSend, JSON: []byte("fence2\x1e")})
	gb = b.waitCount(t, n+3)
	for _, e := range gb[n+1:] {
		if e.To.Kind == push.ToUser {
			t.Fatal("received a user envelope after unsubscribing")
		}
	}
}

// TestBacklogDrainsInOrder: a large backlog (here everything queued before the publisher
// ran, which it then sends as one pipeline) arrives whole, each channel in its order.
func TestBacklogDrainsInOrder(t *testing.T) {
	r := redistest.Start(t)
	const n = 6000
	a, b := newNode(t, r.URL(), n), newNode(t, r.URL(), 0)
	b.start(t)
	ctx := context.Background()
	users := []string{"u1", "u2", "u3"}
	for _, u := range users {
		if err := b.b.Subscribe(ctx, push.Address{Kind: push.ToUser, Key: u}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if err := a.b.Publish(ctx, env(push.ToUser, users[i%len(users)], i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	a.start(t)
	got := b.waitCount(t, n)
	next := map[string]int{}
	for k, u := range users {
		next[u] = k
	}
	for _, e := range got {
		want := fmt.Sprintf(`{"type":1,"target":"t","arguments":[%d]}`+"\x1e", next[e.To.Key])
		if string(e.JSON) != want {
			t.Fatalf("user %s: got %q, want %q", e.To.Key, e.JSON, want)
		}
		next[e.To.Key] += len(users)
	}
	if s := a.b.Stats(); s.Dropped != 0 || s.Published != n {
		t.Fatalf("stats %+v, want %d published and none dropped", s, n)
	}
}

// TestResubscribeRace: a user's last connection leaving while the next arrives takes the
// channel's count 1→0→1 from two goroutines; the node must stay subscribed whatever order
// the two run in. Each round ends with a fence: the user's envelope must come before it.
func TestResubscribeRace(t *testing.T) {
	a, b, user := subscribedPair(t)
	ctx := context.Background()
	want := 0
	for round := range 100 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; _ = b.b.Unsubscribe(ctx, user) }()
		go func() { defer wg.Done(); <-start; _ = b.b.Subscribe(ctx, user) }()
		close(start)
		wg.Wait()
		if err := a.b.Publish(ctx, env(push.ToUser, "u1", round)); err != nil {
			t.Fatal(err)
		}
		if err := a.b.Publish(ctx, push.Envelope{To: push.Address{Kind: push.ToAll}, Op: push.OpSend, JSON: []byte("fence\x1e")}); err != nil {
			t.Fatal(err)
		}
		want += 2
		got := b.waitCount(t, want)
		if e := got[want-2]; e.To != user {
			t.Fatalf("round %d: the node lost its subscription (got %+v before the fence)", round, e)
		}
	}
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	r := redistest.Start(t)
	a := newNode(t, r.URL(), 2) // not started: nothing drains the queue
	ctx := context.Background()
	for i := range 2 {
		if err := a.b.Publish(ctx, env(push.ToAll, "", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.b.Publish(ctx, env(push.ToAll, "", 3)); err != ErrQueueFull {
		t.Fatalf("third publish = %v, want ErrQueueFull", err)
	}
	if s := a.b.Stats(); s.Dropped != 1 {
		t.Fatalf("dropped = %d, want 1", s.Dropped)
	}
}

func TestRedisRestartResumesDelivery(t *testing.T) {
	r := redistest.Start(t)
	a, b := newNode(t, r.URL(), 0), newNode(t, r.URL(), 0)
	a.start(t)
	b.start(t)
	ctx := context.Background()
	_ = a.b.Publish(ctx, env(push.ToAll, "", 1))
	b.waitCount(t, 1)

	r.Stop()
	b.waitUp(t, false)
	// What is published while Redis is down is lost, and counted.
	_ = a.b.Publish(ctx, env(push.ToAll, "", 2))
	deadline := time.After(20 * time.Second)
	for a.b.Stats().Dropped == 0 {
		select {
		case <-deadline:
			t.Fatalf("a publish during the outage was not counted: %+v", a.b.Stats())
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.Start()
	b.waitUp(t, true)
	a.waitUp(t, true)
	_ = a.b.Publish(ctx, env(push.ToAll, "", 3))
	// b gets #3, and is told to close its connections with allowReconnect: once for its own
	// outage, once for what a could not publish.
	var closes int
	for want := 2; ; want++ {
		got := b.waitCount(t, want)
		closes = 0
		var three bool
		for _, e := range got[1:] {
			switch {
			case e.Op == push.OpClose && e.To.Kind == push.ToAll && bytes.Contains(e.JSON, []byte(`"allowReconnect":true`)):
				closes++
			case e.Op == push.OpSend && e.MsgPack[0] == 3:
				three = true
			case e.Op == push.OpSend:
				t.Fatalf("envelope %d arrived after the outage", e.MsgPack[0])
			}
		}
		if three && closes >= 2 {
			break
		}
	}
	if st := b.b.Stats(); st.Reconnects == 0 || st.ReconnectsSent == 0 {
		t.Fatalf("b: %+v", st)
	}
	if st := a.b.Stats(); st.ReconnectsSent == 0 {
		t.Fatalf("a: %+v", st)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range []push.Envelope{
		{To: push.Address{Kind: push.ToAll}, Op: push.OpSend, JSON: []byte("{}\x1e")},
		{To: push.Address{Kind: push.ToGroup, Key: "g"}, Op: push.OpGroupAdd, Group: "room-1"},
		{To: push.Address{Kind: push.ToConnection, Key: "c"}, Op: push.OpClose, Exclude: []string{"a", ""}, JSON: []byte("j"), MsgPack: []byte{1, 2}},
		{To: push.Address{Kind: push.ToUser, Key: "u"}, Op: push.OpSend, Key: "m1@1700000000000", JSON: []byte("j")},
		{To: push.Address{Kind: push.ToUser, Key: "u"}, Op: push.OpClose, Before: 1_700_000_000_123_456_789, JSON: []byte("c")},
	} {
		got, err := decode(encode(nil, e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip of %+v = %+v, %v", e, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {2, 1, 1}, {1, 9, 1}, {1, 1, 1, 0xff}, append(encode(nil, env(push.ToAll, "", 1)), 0)} {
		if _, err := decode(bad); err == nil {
			t.Fatalf("decode(%x) succeeded", bad)
		}
	}
}

// A node of the previous release publishes version 1 (no envelope key); this one reads it
// during a rolling upgrade. The bytes are written out from the version 1 layout.
func TestEnvelopeVersion1IsRead(t *testing.T) {
	v1 := []byte{1, byte(push.ToUser), byte(push.OpSend),
		1, 'u', // address key
		0,         // group
		1, 1, 'x', // one excluded connection id
		3, '{', '}', 0x1e, // json record
		0, // msgpack record
	}
	got, err := decode(v1)
	want := push.Envelope{To: push.Address{Kind: push.ToUser, Key: "u"}, Op: push.OpSend, Exclude: []string{"x"}, JSON: []byte("{}\x1e")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decode(v1) = %+v, %v; want %+v", got, err, want)
	}
	if enc := encode(nil, want); enc[0] != wireVersion || wireVersion != 2 {
		t.Fatalf("encode writes version %d", enc[0])
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(nil, env(push.ToUser, "u", 1)))
	f.Add(encode(nil, push.Envelope{To: push.Address{Kind: push.ToAll}, Op: push.OpClose, Exclude: []string{"x"}}))
	f.Add([]byte{1, 2, 1, 0x80})
	f.Add(encode(nil, push.Envelope{To: push.Address{Kind: push.ToUser, Key: "u"}, Op: push.OpSend, Key: "k", JSON: []byte("j")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decode(b)
		if err != nil {
			return
		}
		// Whatever decodes survives a round trip unchanged.
		back, err := decode(encode(nil, e))
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("round trip of decoded %+v = %+v, %v", e, back, err)
		}
	})
}

func TestGroupAndConnectionAddresses(t *testing.T) {
	r := redistest.Start(t)
	a, b := newNode(t, r.URL(), 0), newNode(t, r.URL(), 0)
	a.start(t)
	b.start(t)
	ctx := context.Background()
	for _, ad := range []push.Address{{Kind: push.ToGroup, Key: "room-1"}, {Kind: push.ToConnection, Key: "c9"}} {
		if err := b.b.Subscribe(ctx, ad); err != nil {
			t.Fatal(err)
		}
	}
	// Unsubscribed addresses are not received; the subscribed group and connection are,
	// in publishing order, with their ops, exclusions and group names intact.
	sent := []push.Envelope{
		{To: push.Address{Kind: push.ToGroup, Key: "room-2"}, Op: push.OpSend, JSON: []byte("no\x1e")},
		{To: push.Address{Kind: push.ToGroup, Key: "room-1"}, Op: push.OpSend, Exclude: []string{"c1"}, JSON: []byte("g\x1e"), MsgPack: []byte{1}},
		{To: push.Address{Kind: push.ToConnection, Key: "c8"}, Op: push.OpSend, JSON: []byte("no\x1e")},
		{To: push.Address{Kind: push.ToConnection, Key: "c9"}, Op: push.OpGroupAdd, Group: "room-3"},
		{To: push.Address{Kind: push.ToConnection, Key: "c9"}, Op: push.OpClose, JSON: []byte("close\x1e")},
	}
	for _, e := range sent {
		if err := a.b.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got := b.waitCount(t, 3)
	want := []push.Envelope{sent[1], sent[3], sent[4]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("node b got %+v, want %+v", got, want)
	}
	if s := b.b.Stats(); s.Received != 3 || s.DecodeErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestDeliverySubscribes: the hub's delivery of a group add subscribes to the group's
// channel, which needs rueidis's read loop to read the answer. When delivery ran on that
// read loop, the SUBSCRIBE could never be answered.
func TestDeliverySubscribes(t *testing.T) {
	r := redistest.Start(t)
	n := newNode(t, r.URL(), 0)
	group := push.Address{Kind: push.ToGroup, Key: "g1"}
	subscribed := make(chan error, 1)
	got := make(chan push.Envelope, 4)
	deliver := func(e push.Envelope) {
		if e.Op == push.OpGroupAdd {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			subscribed <- n.b.Subscribe(ctx, group)
			return
		}
		got <- e
	}
	if err := n.b.Start(context.Background(), deliver); err != nil {
		t.Fatal(err)
	}
	n.waitUp(t, true)
	ctx := context.Background()
	if err := n.b.Publish(ctx, push.Envelope{To: push.Address{Kind: push.ToAll}, Op: push.OpGroupAdd, Group: "g1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("subscribe from delivery: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("delivery never ran")
	}
	if err := n.b.Publish(ctx, env(push.ToGroup, "g1", 7)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.To != group {
			t.Fatalf("got %+v, want an envelope for %+v", e.To, group)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the group's envelope never arrived")
	}
}

// TestLateFirstSubscriptionTellsConnections: when Redis does not answer while the node starts,
// Start stops waiting and the hub takes connections before the node is subscribed; what other
// nodes publish meanwhile never reaches them, so the first subscription closes them with
// allowReconnect, as a resubscription does.
func TestLateFirstSubscriptionTellsConnections(t *testing.T) {
	r := redistest.Start(t)
	n := newNode(t, r.URL(), 0)
	proc, err := os.FindProcess(r.PID())
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := n.b.Start(context.Background(), n.deliver); err != nil { // gives up after 5 s
		t.Fatal(err)
	}
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	n.waitUp(t, true)
	got := n.waitCount(t, 1)
	if e := got[0]; e.Op != push.OpClose || e.To.Kind != push.ToAll || !bytes.Contains(e.JSON, []byte(`"allowReconnect":true`)) {
		t.Fatalf("first envelope after a late first subscription: %+v, want a reconnect to all", e)
	}
}
