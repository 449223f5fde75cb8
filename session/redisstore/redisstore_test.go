package redisstore

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rcgateway/rcgateway/internal/redistest"
	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newStore(t *testing.T, url, node string, alive time.Duration) *Store {
	t.Helper()
	s, err := New(Options{URL: url, NodeID: node, AliveTTL: alive})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestLeaseIsExclusiveAndFenced(t *testing.T) {
	r := redistest.Start(t)
	a, b := newStore(t, r.URL(), "a", 0), newStore(t, r.URL(), "b", 0)
	ctx := context.Background()
	la, ok, err := a.Acquire(ctx, "u1", 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("a acquire: %v %v", ok, err)
	}
	if _, ok, err := b.Acquire(ctx, "u1", time.Second); err != nil || ok {
		t.Fatalf("b acquired a held lease: %v %v", ok, err)
	}
	if _, ok, _ := b.Acquire(ctx, "u2", time.Second); !ok {
		t.Fatal("another user's lease was refused")
	}
	if err := la.Renew(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// Let a's lease expire (a "died"): b takes over with a larger fencing token, and a's
	// renew now fails.
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond) // Redis expires the key; poll it
	defer tick.Stop()
	var lb session.Lease
	for lb == nil {
		if time.Now().After(deadline) {
			t.Fatal("b never took over the expired lease")
		}
		l, ok, err := b.Acquire(ctx, "u1", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			lb = l
			break
		}
		<-tick.C
	}
	if lb.Token() <= la.Token() {
		t.Fatalf("fencing token did not grow: %d then %d", la.Token(), lb.Token())
	}
	if err := la.Renew(ctx, time.Time{}); !errors.Is(err, session.ErrLeaseLost) {
		t.Fatalf("stale renew = %v, want ErrLeaseLost", err)
	}
	if err := la.Release(ctx, time.Time{}); err != nil { // releasing a lost lease leaves the new owner alone
		t.Fatal(err)
	}
	if _, ok, _ := a.Acquire(ctx, "u1", time.Second); ok {
		t.Fatal("a stale release freed b's lease")
	}
	if err := lb.Release(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Acquire(ctx, "u1", time.Second); !ok {
		t.Fatal("lease not free after release")
	}
}

func TestTokensAreSharedWithTTL(t *testing.T) {
	r := redistest.Start(t)
	a, b := newStore(t, r.URL(), "a", 0), newStore(t, r.URL(), "b", 0)
	ctx := context.Background()
	cred := rocketchat.Credentials{UserID: "rc1", Token: "tok"}
	if err := a.Put(ctx, "p1", cred, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, exp, ok, err := b.Get(ctx, "p1")
	if err != nil || !ok || got != cred || time.Until(exp) < 59*time.Minute {
		t.Fatalf("get = %+v %v %v %v", got, exp, ok, err)
	}
	if err := b.Delete(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := a.Get(ctx, "p1"); ok || err != nil {
		t.Fatalf("deleted token still there: %v %v", ok, err)
	}
}

func TestPresenceCountsLiveNodesOnly(t *testing.T) {
	r := redistest.Start(t)
	a := newStore(t, r.URL(), "a", 0)
	b, err := New(Options{URL: r.URL(), NodeID: "b", AliveTTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []*Store{a, a, b} {
		if err := s.Add(ctx, "u"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := a.Count(ctx, "u"); n != 3 || err != nil {
		t.Fatalf("count = %d %v, want 3", n, err)
	}
	if err := a.Remove(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Count(ctx, "u"); n != 2 {
		t.Fatalf("count after remove = %d, want 2", n)
	}
	// Node b dies without removing its connection: its count vanishes with its heartbeat.
	_ = b.Close()
	if n, _ := a.Count(ctx, "u"); n != 1 {
		t.Fatalf("count after b died = %d, want 1", n)
	}
	if err := a.Remove(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.Count(ctx, "u"); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
}

// TestRestartUnderSameNodeIDDropsOldPresence: a node that crashed and restarts under the same
// fixed node id must not keep the dead process's connection counts alive with its own
// heartbeat (those users' upstreams would never linger out).
func TestRestartUnderSameNodeIDDropsOldPresence(t *testing.T) {
	r := redistest.Start(t)
	ctx := context.Background()
	old, err := New(Options{URL: r.URL(), NodeID: "a", AliveTTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Add(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	// A crash: the heartbeat stops, nothing is cleaned up.
	old.cancel()
	old.wg.Wait()
	defer old.client.Close()
	restarted := newStore(t, r.URL(), "a", 300*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond) // Redis expires the dead process's key
	defer tick.Stop()
	for {
		n, err := restarted.Count(ctx, "u")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the crashed process's count survives its restart: %d", n)
		}
		<-tick.C
	}
}

// TestAcquireGivenUpIsNotGranted: when Redis hangs, the caller gives up on its lease request;
// Redis must not grant it when it wakes, or the user has an owner with no upstream.
func TestAcquireGivenUpIsNotGranted(t *testing.T) {
	r := redistest.Start(t)
	a, b := newStore(t, r.URL(), "a", 0), newStore(t, r.URL(), "b", 0)
	ctx := context.Background()
	// Warm a's connection (and load the script) so the paused call is the acquire itself.
	if _, ok, err := a.Acquire(ctx, "warm", time.Second); err != nil || !ok {
		t.Fatalf("warm-up acquire: %v %v", ok, err)
	}
	// Redis hangs (the process is stopped, as a stalled host would be) past a's deadline.
	proc, err := os.FindProcess(r.PID())
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, ok, err := a.Acquire(actx, "u", 10*time.Second)
	cancel()
	<-time.After(100 * time.Millisecond) // the hang lasts a little longer than a waited
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err == nil || ok {
		t.Fatalf("acquire during the hang: %v %v, want an error", ok, err)
	}
	// Once Redis runs again, b must get the lease: a's late request was refused.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, ok, err := b.Acquire(ctx, "u", time.Second)
		if ok {
			break
		}
		if err == nil {
			t.Fatal("the lease given up on was granted when Redis woke")
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never reached Redis again: %v", err)
		}
		<-tick.C
	}
}

// TestFenceKeyExpires: the per-user fencing counter does not stay in Redis forever.
func TestFenceKeyExpires(t *testing.T) {
	r := redistest.Start(t)
	s, err := New(Options{URL: r.URL(), NodeID: "a", FenceTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if _, ok, err := s.Acquire(ctx, "u", time.Second); err != nil || !ok {
		t.Fatal(ok, err)
	}
	pttl, err := s.client.Do(ctx, s.client.B().Pttl().Key(s.key("fence", "u")).Build()).AsInt64()
	if err != nil || pttl <= 0 || pttl > time.Hour.Milliseconds() {
		t.Fatalf("fence key PTTL = %d %v, want (0, 1h]", pttl, err)
	}
}

func TestTombstonesAreSharedAndExpire(t *testing.T) {
	r := redistest.Start(t)
	a, b := newStore(t, r.URL(), "a", 0), newStore(t, r.URL(), "b", 0)
	ctx := context.Background()
	at := time.UnixMilli(time.Now().UnixMilli())
	if err := a.Bury(ctx, "李雷", at, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := b.Buried(ctx, "李雷"); err != nil || !ok || !got.Equal(at) {
		t.Fatalf("buried on the other node = %v %v %v, want %v", got, ok, err, at)
	}
	if err := b.Lift(ctx, "李雷"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Buried(ctx, "李雷"); ok || err != nil {
		t.Fatalf("lifted tombstone still there: %v %v", ok, err)
	}
	if err := a.Bury(ctx, "王芳", at, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		_, ok, err := b.Buried(ctx, "王芳")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tombstone outlived its TTL")
		}
		<-tick.C
	}
}

// TestWatermarkTravelsWithTheLease: the owner's delivery watermark reaches the next owner,
// whether the first one released the lease or died (its last renewal counts), and a clean
// release with nothing owed leaves none.
func TestWatermarkTravelsWithTheLease(t *testing.T) {
	r := redistest.Start(t)
	a, b := newStore(t, r.URL(), "a", 0), newStore(t, r.URL(), "b", 0)
	ctx := context.Background()
	la, ok, err := a.Acquire(ctx, "u", 200*time.Millisecond)
	if err != nil || !ok || !la.Watermark().IsZero() {
		t.Fatalf("first acquire: %v %v, mark %v", ok, err, la.Watermark())
	}
	mark := time.UnixMilli(time.Now().Add(-time.Minute).UnixMilli())
	if err := la.Renew(ctx, mark); err != nil {
		t.Fatal(err)
	}
	// a dies: its lease expires; b takes over with a's mark.
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lb session.Lease
	for lb == nil {
		if l, ok, err := b.Acquire(ctx, "u", time.Second); err != nil {
			t.Fatal(err)
		} else if ok {
			lb = l
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never took over")
		}
		<-tick.C
	}
	if !lb.Watermark().Equal(mark) {
		t.Fatalf("b's mark = %v, want a's %v", lb.Watermark(), mark)
	}
	// A stale owner's renew leaves the mark alone.
	if err := la.Renew(ctx, time.Now()); !errors.Is(err, session.ErrLeaseLost) {
		t.Fatalf("stale renew = %v", err)
	}
	later := mark.Add(30 * time.Second)
	if err := lb.Release(ctx, later); err != nil {
		t.Fatal(err)
	}
	lc, ok, err := a.Acquire(ctx, "u", time.Second)
	if err != nil || !ok || !lc.Watermark().Equal(later) {
		t.Fatalf("after release: %v %v, mark %v want %v", ok, err, lc.Watermark(), later)
	}
	if err := lc.Release(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	ld, ok, err := b.Acquire(ctx, "u", time.Second)
	if err != nil || !ok || !ld.Watermark().IsZero() {
		t.Fatalf("after an idle release: %v %v, mark %v want none", ok, err, ld.Watermark())
	}
}

// TestRelayReachesTheLeaseHolder: a message forwarded from any process reaches the one that
// holds the user's lease, unchanged, whatever the user id holds; with no lease, or a holder
// that no longer listens, Forward says there is no owner.
func TestRelayReachesTheLeaseHolder(t *testing.T) {
	r := redistest.Start(t)
	a, b := newStore(t, r.URL(), "a", 0), newStore(t, r.URL(), "b:with:colons", 0)
	ctx := context.Background()
	user := "用户:1\n/x"
	if err := a.Forward(ctx, user, []byte("m0")); !errors.Is(err, session.ErrNoOwner) {
		t.Fatalf("forward without a lease: %v, want ErrNoOwner", err)
	}
	if _, ok, err := b.Acquire(ctx, user, time.Minute); err != nil || !ok {
		t.Fatalf("b acquire: %v %v", ok, err)
	}
	type got struct {
		user, msg string
	}
	msgs := make(chan got, 8)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- b.Serve(sctx, func(u string, m []byte) { msgs <- got{u, string(m)} })
	}()
	// The subscription is live once a forward finds a listener.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := a.Forward(ctx, user, []byte("m1"))
		if err == nil {
			break
		}
		if !errors.Is(err, session.ErrNoOwner) || time.Now().After(deadline) {
			t.Fatalf("forward to a listening owner: %v", err)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case err := <-served:
			t.Fatalf("serve ended: %v", err)
		}
	}
	if err := b.Forward(ctx, user, []byte("m2")); err != nil { // to itself
		t.Fatal(err)
	}
	for _, want := range []string{"m1", "m2"} {
		select {
		case g := <-msgs:
			if g.user != user || g.msg != want {
				t.Fatalf("got %q for %q, want %q for %q", g.msg, g.user, want, user)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s not delivered", want)
		}
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve after its context ended: %v", err)
	}
	// The unsubscription is asynchronous: the holder stops counting as a listener shortly.
	deadline = time.Now().Add(5 * time.Second)
	for {
		err := a.Forward(ctx, user, []byte("m3"))
		if errors.Is(err, session.ErrNoOwner) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("forward to an owner that stopped listening: %v, want ErrNoOwner", err)
		}
		<-time.After(10 * time.Millisecond)
	}
}
