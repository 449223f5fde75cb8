package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Pusher that keeps every push and kick.
type recorder struct {
	mu     sync.Mutex
	pushes []recorded
	kicks  []recorded
	notify chan struct{}
}

type recorded struct {
	user, target string
	key          string // SendToUserOnce's key
	arg          json.RawMessage
	reconnect    bool
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) SendToUser(_ context.Context, userID, target string, arg any) error {
	raw, ok := arg.(json.RawMessage)
	if !ok {
		return fmt.Errorf("recorder: arg is %T, want json.RawMessage", arg)
	}
	r.mu.Lock()
	r.pushes = append(r.pushes, recorded{user: userID, target: target, arg: append(json.RawMessage(nil), raw...)})
	r.mu.Unlock()
	r.poke()
	return nil
}

// SendToUserOnce records the push with its key, and never holds one back: a test of the
// session sees every push it makes, repeats included.
func (r *recorder) SendToUserOnce(ctx context.Context, userID, key, target string, arg any) error {
	if key == "" {
		return errors.New("recorder: SendToUserOnce without a key")
	}
	if err := r.SendToUser(ctx, userID, target, arg); err != nil {
		return err
	}
	r.mu.Lock()
	r.pushes[len(r.pushes)-1].key = key
	r.mu.Unlock()
	return nil
}

func (r *recorder) Kick(_ context.Context, userID, _ string, allowReconnect bool) error {
	r.mu.Lock()
	r.kicks = append(r.kicks, recorded{user: userID, reconnect: allowReconnect})
	r.mu.Unlock()
	r.poke()
	return nil
}

func (r *recorder) poke() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// messagePushes counts getRoomMessageNotification pushes per message id.
func (r *recorder) messagePushes() map[string]int { return r.pushesByID(TargetMessage) }

// deletedPushes counts getRoomMessageDeletedNotification pushes per message id.
func (r *recorder) deletedPushes() map[string]int { return r.pushesByID(TargetMessageDeleted) }

// pushesByID counts the pushes of target per the _id of their argument.
func (r *recorder) pushesByID(target string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[string]int{}
	for _, p := range r.pushes {
		if p.target != target {
			continue
		}
		var m struct {
			ID string `json:"_id"`
		}
		_ = json.Unmarshal(p.arg, &m)
		n[m.ID]++
	}
	return n
}

func (r *recorder) count(target string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.pushes {
		if p.target == target {
			n++
		}
	}
	return n
}

// waitFor waits until cond holds, re-checking on every push and on a short tick.
func waitFor(t *testing.T, r *recorder, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-r.notify:
		case <-tick.C:
		}
	}
}

type fixture struct {
	s   *rctest.Server
	c   *rocketchat.Client
	m   *Manager
	rec *recorder
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	return newFixtureSim(t, rctest.Options{}, mod)
}

// newFixtureSim is newFixture with simulator options (CreateTokenSecret is set).
func newFixtureSim(t *testing.T, so rctest.Options, mod func(*Options)) *fixture {
	t.Helper()
	so.CreateTokenSecret = "s3cret"
	s := rctest.New(so)
	t.Cleanup(s.Close)
	c, err := rocketchat.NewClient(rocketchat.ClientOptions{BaseURL: s.URL(), RetryWaitMin: time.Millisecond, RetryWaitMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	user, pass := s.AdminCredentials()
	agent, err := rocketchat.NewAgent(rocketchat.AgentOptions{Client: c, Username: user, Password: pass, CreateTokenSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	o := Options{
		Client: c, Agent: agent, Pusher: rec, RealtimeURL: s.WebSocketURL(),
		Linger: 100 * time.Millisecond, CheckInterval: 20 * time.Millisecond, LeaseTTL: 300 * time.Millisecond,
		Realtime: rocketchat.RealtimeOptions{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond},
	}
	if mod != nil {
		mod(&o)
	}
	m, err := NewManager(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		_ = agent.Close(ctx)
	})
	return &fixture{s: s, c: c, m: m, rec: rec}
}

func (f *fixture) online(t *testing.T, u User, conns int) string {
	t.Helper()
	f.m.Remember(u)
	for range conns {
		f.m.UserOnline(u.ID)
	}
	waitFor(t, f.rec, "the upstream to log in", func() bool {
		uid := f.s.UserID(f.m.Username(u.ID))
		return uid != "" && f.s.DDPConnections(uid) == 1 && f.m.Stats().UpstreamsConnected == 1
	})
	return f.s.UserID(f.m.Username(u.ID))
}

func TestCredentialsMintOncePerUserAndProvision(t *testing.T) {
	f := newFixture(t, nil)
	u := User{ID: "p-42", Username: "erin", Name: "Erin"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	creds := make([]rocketchat.Credentials, 20)
	errs := make([]error, 20)
	for i := range creds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			creds[i], errs[i] = f.m.Credentials(ctx, u)
		}()
	}
	wg.Wait()
	for i := range creds {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if creds[i] != creds[0] {
			t.Fatalf("caller %d got other credentials", i)
		}
	}
	if got := f.m.Stats().TokenMints; got != 1 {
		t.Fatalf("mints = %d, want 1", got)
	}
	if f.s.UserID("u-p-42") == "" || creds[0].UserID != f.s.UserID("u-p-42") {
		t.Fatalf("erin was not provisioned as the token's user")
	}
	me, err := f.c.Me(ctx, creds[0])
	if err != nil || me.Username != "u-p-42" {
		t.Fatalf("the minted token does not work: %v %+v", err, me)
	}
	// Invalidate forces a new mint.
	f.m.Invalidate(u.ID)
	if _, err := f.m.Credentials(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := f.m.Stats().TokenMints; got != 2 {
		t.Fatalf("mints after invalidate = %d, want 2", got)
	}
}

func TestUpstreamPushesEachMessageOnceAndStopsAfterLinger(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Name: "Alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Name: "Bob", Password: "pw-bob-1"})
	rid := f.s.DirectRoom("u-alice", "bob")
	alice := User{ID: "alice", Username: "alice"}
	uid := f.online(t, alice, 2)
	if f.m.Stats().Upstreams != 1 {
		t.Fatalf("upstreams = %d, want one for two connections", f.m.Stats().Upstreams)
	}

	mid := f.s.PostMessage(rid, "bob", "hello alice")
	waitFor(t, f.rec, "the message and its subscription change", func() bool {
		return f.rec.messagePushes()[mid] >= 1 && f.rec.count(TargetSubscriptionChanged) >= 1
	})
	// Both streams carried it; give a later duplicate the chance to show by waiting for an
	// event posted after it.
	mid2 := f.s.PostMessage(rid, "bob", "second")
	waitFor(t, f.rec, "the second message", func() bool { return f.rec.messagePushes()[mid2] >= 1 })
	if n := f.rec.messagePushes(); n[mid] != 1 || n[mid2] != 1 {
		t.Fatalf("message pushes = %v, want exactly one each", n)
	}
	f.rec.mu.Lock()
	for _, p := range f.rec.pushes {
		if p.user != alice.ID {
			t.Errorf("push for %q, want only alice's product id", p.user)
		}
		if json.Valid(p.arg) && string(p.arg) != "" && containsDate(p.arg) {
			t.Errorf("push still has an EJSON date: %s", p.arg)
		}
	}
	f.rec.mu.Unlock()

	f.m.UserOffline(alice.ID)
	if f.s.DDPConnections(uid) != 1 {
		t.Fatal("upstream closed while a connection remains")
	}
	f.m.UserOffline(alice.ID)
	waitFor(t, f.rec, "the upstream to stop after linger", func() bool {
		return f.s.DDPConnections(uid) == 0 && f.m.Stats().Upstreams == 0
	})
}

func containsDate(raw []byte) bool {
	return len(raw) > 0 && string(rewriteDates(raw)) != string(raw)
}

func TestNoUpstreamWithoutConnections(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-carol", Password: "pw-carol-1"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.m.Credentials(ctx, User{ID: "carol", Username: "carol"}); err != nil {
		t.Fatal(err)
	}
	if n := f.s.DDPConnections(f.s.UserID("u-carol")); n != 0 || f.m.Stats().Upstreams != 0 {
		t.Fatalf("REST use opened an upstream: %d connections", n)
	}
}

// outage brings alice's upstream up, then takes Rocket.Chat's WebSocket away (every dial
// fails) and, once the manager has seen the upstream go, has bob post n messages to their
// direct room: they can reach alice only through the resync after end() ends the outage.
func (f *fixture) outage(t *testing.T, n int) (rid string, ids []string, end func()) {
	t.Helper()
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	rid = f.s.DirectRoom("u-alice", "bob")
	f.online(t, User{ID: "alice", Username: "alice"}, 1)
	// The first connection's resync is over: a retry of it cannot deliver what the outage
	// brings, which must come through the resync after end() alone.
	waitFor(t, f.rec, "the first resync", func() bool { st := f.m.Stats(); return st.ResyncsDone >= 1 })
	f.s.FailNext("websocket", 503, 1<<30)
	f.s.DropConnections()
	waitFor(t, f.rec, "the upstream to go", func() bool { return f.m.Stats().UpstreamsConnected == 0 })
	for i := range n {
		ids = append(ids, f.s.PostMessage(rid, "bob", fmt.Sprintf("during outage %d", i)))
	}
	return rid, ids, func() { f.s.FailNext("websocket", 503, 0) }
}

func TestResyncAfterUpstreamLossLosesNothing(t *testing.T) {
	f := newFixture(t, nil)
	rid, ids, end := f.outage(t, 5)
	end()
	waitFor(t, f.rec, "every message posted during the outage", func() bool {
		n := f.rec.messagePushes()
		for _, id := range ids {
			if n[id] == 0 {
				return false
			}
		}
		return true
	})
	after := f.s.PostMessage(rid, "bob", "after")
	waitFor(t, f.rec, "a live message after the resync", func() bool { return f.rec.messagePushes()[after] == 1 })
	n := f.rec.messagePushes()
	for _, id := range ids {
		if n[id] != 1 {
			t.Errorf("message %s pushed %d times, want 1", id, n[id])
		}
	}
	st := f.m.Stats()
	if st.Resyncs == 0 || st.Reconnects == 0 {
		t.Fatalf("stats %+v: want a reconnect and a resync", st)
	}
}

// TestLiveEventsWaitForTheResync: a message that arrives live while the resync after a
// reconnect is still fetching reaches the browser after the messages the resync finds.
func TestLiveEventsWaitForTheResync(t *testing.T) {
	f := newFixture(t, nil)
	rid, ids, end := f.outage(t, 3)
	// Slow REST (and DDP method answers): the resync takes a while; streams are not delayed.
	f.s.SetLatency(150 * time.Millisecond)
	end()
	waitFor(t, f.rec, "the reconnect", func() bool {
		st := f.m.Stats()
		return st.Reconnects > 0 && st.UpstreamsConnected == 1
	})
	ids = append(ids, f.s.PostMessage(rid, "bob", "live, during the resync"))
	f.s.SetLatency(0)
	waitFor(t, f.rec, "every message", func() bool { return len(f.rec.messagePushes()) == len(ids) })
	f.rec.mu.Lock()
	var order []string
	for _, p := range f.rec.pushes {
		var m struct {
			ID string `json:"_id"`
		}
		if p.target == TargetMessage && json.Unmarshal(p.arg, &m) == nil {
			order = append(order, m.ID)
		}
	}
	f.rec.mu.Unlock()
	if !slices.Equal(order, ids) {
		t.Fatalf("pushed %v, want %v (oldest first, the live one last)", order, ids)
	}
}

// TestSlowResyncReleasesLiveEvents: live events wait behind a resync only for ResyncHold; a
// resync stuck on slow REST must not hold them back for its whole length.
func TestSlowResyncReleasesLiveEvents(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.ResyncHold = 50 * time.Millisecond })
	rid, ids, end := f.outage(t, 2)
	f.s.SetLatency(1500 * time.Millisecond) // every REST call of the resync takes this long (three or more: seconds)
	end()
	waitFor(t, f.rec, "the reconnect", func() bool {
		st := f.m.Stats()
		return st.Reconnects > 0 && st.UpstreamsConnected == 1
	})
	live := f.s.PostMessage(rid, "bob", "live, during a slow resync")
	waitFor(t, f.rec, "the live message", func() bool { return f.rec.messagePushes()[live] == 1 })
	n := f.rec.messagePushes()
	for _, id := range ids {
		if n[id] != 0 {
			t.Fatalf("message %s from the outage pushed before the live one: live events waited for the whole slow resync", id)
		}
	}
	f.s.SetLatency(0)
	waitFor(t, f.rec, "the messages of the outage", func() bool {
		n := f.rec.messagePushes()
		return n[ids[0]] == 1 && n[ids[1]] == 1
	})
}

func TestTokenExpiryCyclesTheUpstream(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.TokenTTL = 400 * time.Millisecond })
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	rid := f.s.DirectRoom("u-alice", "bob")
	uid := f.online(t, User{ID: "alice", Username: "alice"}, 1)
	waitFor(t, f.rec, "a second token and upstream", func() bool {
		return f.m.Stats().TokenMints >= 2 && f.s.DDPConnections(uid) == 1 && f.m.Stats().UpstreamsConnected == 1
	})
	mid := f.s.PostMessage(rid, "bob", "after the cycle")
	waitFor(t, f.rec, "a message on the new upstream", func() bool { return f.rec.messagePushes()[mid] == 1 })
	// Dropped tokens are logged out: Rocket.Chat does not pile them up.
	waitFor(t, f.rec, "old tokens to be logged out", func() bool { return f.s.TokenCount("u-alice") <= 2 })
}

func TestRevokedTokensAreReminted(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	rid := f.s.DirectRoom("u-alice", "bob")
	uid := f.online(t, User{ID: "alice", Username: "alice"}, 1)
	f.s.RevokeTokens("u-alice")
	waitFor(t, f.rec, "a new token and upstream", func() bool {
		return f.m.Stats().AuthLosses >= 1 && f.m.Stats().TokenMints >= 2 && f.s.DDPConnections(uid) == 1 && f.m.Stats().UpstreamsConnected == 1
	})
	mid := f.s.PostMessage(rid, "bob", "after revocation")
	waitFor(t, f.rec, "a message after re-mint", func() bool { return f.rec.messagePushes()[mid] == 1 })
}

func TestDeletedRocketChatUserIsClosedForGood(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	uid := f.online(t, User{ID: "alice", Username: "alice"}, 1)
	user, pass := f.s.AdminCredentials()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := f.c.Login(ctx, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.DeleteUser(ctx, res.Credentials, uid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f.rec, "a final kick", func() bool {
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		return len(f.rec.kicks) == 1 && !f.rec.kicks[0].reconnect && f.rec.kicks[0].user == "alice"
	})
	_ = f.c.Logout(ctx, res.Credentials)
}

func TestUpsertAndDelete(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, created, err := f.m.Upsert(ctx, User{ID: "p-7", Username: "frank", Name: "Frank", Email: "frank@example.com"}, "")
	if err != nil || !created || id != f.s.UserID("u-p-7") {
		t.Fatalf("upsert new = %q %v %v", id, created, err)
	}
	id2, created, err := f.m.Upsert(ctx, User{ID: "p-7", Username: "frank", Name: "Frank B."}, "")
	if err != nil || created || id2 != id {
		t.Fatalf("upsert existing = %q %v %v", id2, created, err)
	}
	if err := f.m.Delete(ctx, "p-7"); err != nil {
		t.Fatal(err)
	}
	if f.s.UserID("u-p-7") != "" {
		t.Fatal("frank still exists in Rocket.Chat")
	}
	if err := f.m.Delete(ctx, "p-unknown"); err == nil {
		t.Fatal("deleting an unknown user succeeded")
	}
}

// hungPresence is a Presence store that hangs like a Redis that stopped answering: every call
// waits for its context.
type hungPresence struct{ calls chan struct{} }

func (h hungPresence) wait(ctx context.Context) error {
	select {
	case h.calls <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}
func (h hungPresence) Add(ctx context.Context, _ string) error    { return h.wait(ctx) }
func (h hungPresence) Remove(ctx context.Context, _ string) error { return h.wait(ctx) }
func (h hungPresence) Count(ctx context.Context, _ string) (int, error) {
	return 0, h.wait(ctx)
}

// TestHungPresenceDoesNotBlockTheHub: the hub calls UserOnline/UserOffline on its handshake
// and heartbeat paths; with the presence store hung they must still return at once (a tab
// opened during a Redis hang took 13 s to connect).
func TestHungPresenceDoesNotBlockTheHub(t *testing.T) {
	hp := hungPresence{calls: make(chan struct{}, 1)}
	f := newFixture(t, func(o *Options) { o.Presence = hp })
	returned := make(chan struct{})
	go func() {
		f.m.UserOnline("alice")
		f.m.UserOffline("alice")
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(time.Second):
		t.Fatal("UserOnline/UserOffline waited for the hung presence store")
	}
	select {
	case <-hp.calls: // the write still happens, off the hub's path
	case <-time.After(10 * time.Second):
		t.Fatal("the presence change was never written")
	}
}

// TestTokenRotationLogsOutOnlyWhatNobodyUses: with a short token TTL, REST calls and the
// upstream keep rotating tokens. A token must never be logged out while a caller can still be
// using it (the upstream's expiry used to log out the newest token, minted meanwhile for a
// REST call), and every replaced token must be logged out in the end (one leaked per cycle).
func TestTokenRotationLogsOutOnlyWhatNobodyUses(t *testing.T) {
	const ttl, grace = 150 * time.Millisecond, 150 * time.Millisecond
	f := newFixture(t, func(o *Options) { o.TokenTTL, o.TokenGrace = ttl, grace })
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	alice := User{ID: "alice", Username: "alice"}
	f.online(t, alice, 1)
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	calls, maxTokens := 0, 0
	for time.Now().Before(deadline) {
		cred, err := f.m.Credentials(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.c.Me(ctx, cred); err != nil {
			t.Fatalf("a REST call with the token just handed out failed: %v", err)
		}
		calls++
		maxTokens = max(maxTokens, f.s.TokenCount("u-alice"))
		<-tick.C
	}
	// At most the tokens of (TTL + grace) / TTL cycles, plus the upstream's and one being
	// minted, are alive at once.
	if limit := int((ttl+grace)/ttl) + 3; maxTokens > limit {
		t.Fatalf("%d login tokens alive at once after %d calls, want at most %d: replaced tokens leak", maxTokens, calls, limit)
	}
}

type failingPusher struct{ recorder }

func (*failingPusher) SendToUser(context.Context, string, string, any) error {
	return errors.New("publish queue full")
}

func (*failingPusher) SendToUserOnce(context.Context, string, string, string, any) error {
	return errors.New("publish queue full")
}

// TestPushFailuresLogAtMostOncePerSecond: when every push fails (an overloaded backplane
// drops them), the manager does not write a log line for each.
func TestPushFailuresLogAtMostOncePerSecond(t *testing.T) {
	var buf bytes.Buffer
	c, err := rocketchat.NewClient(rocketchat.ClientOptions{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Options{Client: c, Strategy: StrategyDefaultPassword, DefaultPassword: "x", Pusher: &failingPusher{}, Logger: slog.New(slog.NewTextHandler(&buf, nil)), RealtimeURL: "ws://127.0.0.1:1/websocket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	for range 1000 {
		m.send(context.Background(), "u1", Push{Target: TargetMessage, Arg: json.RawMessage(`{}`)})
	}
	if n := strings.Count(buf.String(), "push failed"); n != 1 {
		t.Fatalf("%d log lines for 1000 failed pushes within a second, want 1", n)
	}
	if got := m.pushErrors.Load(); got != 1000 {
		t.Fatalf("pushErrors = %d, want 1000", got)
	}
}

// countingTombs counts the tombstone reads, each a Redis round trip in a cluster.
type countingTombs struct {
	Tombstones
	reads atomic.Int64
}

func (c *countingTombs) Buried(ctx context.Context, userID string) (time.Time, bool, error) {
	c.reads.Add(1)
	return c.Tombstones.Buried(ctx, userID)
}

// TestOneTombstoneReadPerRequest: a request admits its user (Admit) and then asks for the
// user's cached token (Credentials); the tombstone is read once, not once per step.
func TestOneTombstoneReadPerRequest(t *testing.T) {
	tombs := &countingTombs{Tombstones: NewMemoryTombstones()}
	f := newFixture(t, func(o *Options) { o.Tombstones = tombs })
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	alice := User{ID: "alice", Username: "alice", IssuedAt: time.Now()}
	ctx := context.Background()
	if _, err := f.m.Credentials(ctx, alice); err != nil { // mints: checked there
		t.Fatal(err)
	}
	before := tombs.reads.Load()
	if err := f.m.Admit(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Credentials(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if n := tombs.reads.Load() - before; n != 1 {
		t.Fatalf("%d tombstone reads for one request with a cached token, want 1", n)
	}
	// A deleted user's token is gone, and minting again checks the tombstone.
	if err := f.m.Delete(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Credentials(ctx, alice); !errors.Is(err, ErrRevoked) {
		t.Fatalf("credentials after delete: %v, want ErrRevoked", err)
	}
}

// TestResyncSkipsRoomsItCannotRead: a room whose chat.syncMessages Rocket.Chat refuses (403:
// the user left it, it is gone) has nothing to deliver; the resync completes instead of
// retrying forever and holding the watermark back.
func TestResyncSkipsRoomsItCannotRead(t *testing.T) {
	f := newFixture(t, nil)
	_, _, end := f.outage(t, 1)
	done := f.m.Stats().ResyncsDone
	f.s.FailNext("chat.syncMessages", 403, 1<<30)
	end()
	waitFor(t, f.rec, "the resync after the outage to complete", func() bool { return f.m.Stats().ResyncsDone > done })
}

// TestRepeatedPushesCarryTheLiveKeys: a node that takes a user over resyncs from the previous
// owner's watermark and repeats what that owner pushed after it; the hub holds a repeat back
// only if it carries the key the live push had. The repeats here come from Rocket.Chat's
// REST answers (dates as ISO strings), the live pushes from its DDP streams (EJSON dates).
func TestRepeatedPushesCarryTheLiveKeys(t *testing.T) {
	f := newFixture(t, nil)
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.s.AddUser(rctest.UserSpec{Username: "bob", Password: "pw-bob-1"})
	rid := f.s.DirectRoom("u-alice", "bob")
	alice := User{ID: "alice", Username: "alice"}
	f.online(t, alice, 1)
	waitFor(t, f.rec, "the first resync", func() bool { return f.m.Stats().ResyncsDone >= 1 })
	from := time.Now().Add(-time.Second)

	kept := f.s.PostMessage(rid, "bob", "kept")
	f.s.EditMessage(kept, "kept, edited")
	gone := f.s.PostMessage(rid, "bob", "gone")
	f.s.DeleteMessage(gone)
	last := f.s.PostMessage(rid, "bob", "last")
	waitFor(t, f.rec, "the live pushes", func() bool {
		return f.rec.messagePushes()[last] == 1 && f.rec.deletedPushes()[gone] == 1
	})

	// Another node's manager takes alice over: its translator has seen nothing.
	rec2 := newRecorder()
	m2, err := NewManager(Options{Client: f.c, Agent: f.m.o.Agent, Pusher: rec2, RealtimeURL: f.s.WebSocketURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer func() { _ = m2.Shutdown(ctx) }()
	cred, err := f.m.Credentials(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	ul := &userLoop{id: alice.ID, tr: newTranslator(m2.Username(alice.ID)), notify: make(chan struct{}, 1)}
	if _, err := m2.resync(ctx, ul, cred, from, from, &resyncProgress{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range rec2.pushes {
		seen[p.target] = true
		if p.target == TargetSubscriptionChanged {
			// A subscription's state: the newest wins, a repeat is harmless, and two states
			// may share an _updatedAt, so it carries no key that could drop one.
			if p.key != "" {
				t.Errorf("subscription push keyed %q", p.key)
			}
			continue
		}
		if p.key == "" {
			t.Errorf("resync %s push without a key: %s", p.target, p.arg)
			continue
		}
		// The live push of the same version arrives, if it has not yet, under the same key.
		waitFor(t, f.rec, "a live "+p.target+" push keyed "+p.key, func() bool {
			f.rec.mu.Lock()
			defer f.rec.mu.Unlock()
			for _, l := range f.rec.pushes {
				if l.key == p.key && l.target == p.target {
					return true
				}
			}
			return false
		})
	}
	for _, target := range []string{TargetMessage, TargetMessageDeleted, TargetSubscriptionChanged, TargetNotification} {
		if !seen[target] {
			t.Errorf("the resync repeated no %s push; got %d pushes", target, len(rec2.pushes))
		}
	}
}
