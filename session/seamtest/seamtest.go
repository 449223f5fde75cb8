// Package seamtest is the contract of the session's cluster seams (session.Leaser and
// Lease, TokenStore, Presence, Tombstones), one table run against the single-node
// implementations (session.NewLocalLeaser and friends) and the shared ones
// (session/redisstore on a real redis-server), so both keep the semantics the Manager relies
// on. Where they differ by design the Setup says so and the table checks each side's own
// rule:
//
//   - Watermark: a local lease never carries one (on one node the user's loop keeps its own
//     mark), a shared lease carries the mark of the previous owner's last renewal or release;
//   - LeaseExpires: a local lease lasts until released (the only candidate is this process,
//     alive by definition), a shared lease expires after its ttl without renewal so that
//     another node takes over.
package seamtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/session"
)

// Node is one node's view of the seams.
type Node struct {
	Leaser     session.Leaser
	Tokens     session.TokenStore
	Presence   session.Presence
	Tombstones session.Tombstones
}

// Setup is two nodes sharing the seams (for single-node implementations, two views of the
// same process state) and what differs by design.
type Setup struct {
	Nodes [2]Node
	// Watermark: a lease carries the previous owner's mark.
	Watermark bool
	// LeaseExpires: a lease not renewed within its ttl is granted to another node.
	LeaseExpires bool
}

// Run runs the contract; setup makes fresh seams for each case and registers their cleanup.
func Run(t *testing.T, setup func(t *testing.T) Setup) {
	for _, tc := range Cases() {
		t.Run(tc.Name, func(t *testing.T) { tc.Run(t, setup(t)) })
	}
}

// Case is one behaviour of the contract. An implementation that uses only in-process time
// (no network) can run each inside a testing/synctest bubble, so its TTLs pass on the fake
// clock instead of waiting.
type Case struct {
	Name string
	Run  func(t *testing.T, s Setup)
}

// Cases is the contract's table.
func Cases() []Case {
	out := make([]Case, len(cases))
	for i, c := range cases {
		out[i] = Case{Name: c.name, Run: c.run}
	}
	return out
}

var cases = []struct {
	name string
	run  func(t *testing.T, s Setup)
}{
	{"LeaseIsExclusiveAcrossNodes", leaseExclusive},
	{"LeaseTokenGrowsPerGrant", leaseFenced},
	{"StaleLeaseCannotRenewOrRelease", leaseStale},
	{"LeaseWatermark", leaseWatermark},
	{"LeaseExpiry", leaseExpiry},
	{"TokensSharedWithTTL", tokens},
	{"PresenceCountsAcrossNodes", presence},
	{"TombstonesSharedAndLifted", tombstones},
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func acquire(t *testing.T, l session.Leaser, user string, ttl time.Duration, want bool) session.Lease {
	t.Helper()
	lease, ok, err := l.Acquire(ctx(t), user, ttl)
	if err != nil {
		t.Fatalf("acquire %s: %v", user, err)
	}
	if ok != want || (ok && lease == nil) {
		t.Fatalf("acquire %s: granted=%v (lease %v), want %v", user, ok, lease, want)
	}
	return lease
}

func leaseExclusive(t *testing.T, s Setup) {
	a, b := s.Nodes[0].Leaser, s.Nodes[1].Leaser
	l := acquire(t, a, "u1", time.Minute, true)
	acquire(t, b, "u1", time.Minute, false)
	acquire(t, a, "u1", time.Minute, false) // not re-entrant either
	acquire(t, b, "u2", time.Minute, true)  // another user is independent
	if err := l.Renew(ctx(t), time.Time{}); err != nil {
		t.Fatalf("renew of the held lease: %v", err)
	}
	if err := l.Release(ctx(t), time.Time{}); err != nil {
		t.Fatal(err)
	}
	acquire(t, b, "u1", time.Minute, true)
}

func leaseFenced(t *testing.T, s Setup) {
	a, b := s.Nodes[0].Leaser, s.Nodes[1].Leaser
	var last int64
	for i, l := range []session.Leaser{a, b, a} {
		lease := acquire(t, l, "u1", time.Minute, true)
		if lease.Token() <= last {
			t.Fatalf("grant %d has token %d, not above the previous %d", i, lease.Token(), last)
		}
		last = lease.Token()
		if err := lease.Release(ctx(t), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
}

func leaseStale(t *testing.T, s Setup) {
	a, b := s.Nodes[0].Leaser, s.Nodes[1].Leaser
	old := acquire(t, a, "u1", time.Minute, true)
	if err := old.Release(ctx(t), time.Time{}); err != nil {
		t.Fatal(err)
	}
	cur := acquire(t, b, "u1", time.Minute, true)
	if err := old.Renew(ctx(t), time.Time{}); !errors.Is(err, session.ErrLeaseLost) {
		t.Fatalf("renew of a released lease = %v, want ErrLeaseLost", err)
	}
	// A stale owner's release must not free the current owner's lease.
	if err := old.Release(ctx(t), time.Time{}); err != nil {
		t.Fatal(err)
	}
	acquire(t, a, "u1", time.Minute, false)
	if err := cur.Renew(ctx(t), time.Time{}); err != nil {
		t.Fatalf("the current owner lost its lease to a stale release: %v", err)
	}
}

// leaseWatermark: a shared lease hands the releasing owner's mark (or, with a zero release,
// nothing) to the next; a local one never carries a mark.
func leaseWatermark(t *testing.T, s Setup) {
	a, b := s.Nodes[0].Leaser, s.Nodes[1].Leaser
	mark := time.UnixMilli(time.Now().Add(-time.Minute).UnixMilli()) // stores keep ms
	l := acquire(t, a, "u1", time.Minute, true)
	if !l.Watermark().IsZero() {
		t.Fatalf("first grant carries watermark %v", l.Watermark())
	}
	if err := l.Renew(ctx(t), mark.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx(t), mark); err != nil {
		t.Fatal(err)
	}
	l = acquire(t, b, "u1", time.Minute, true)
	want := mark
	if !s.Watermark {
		want = time.Time{}
	}
	if !l.Watermark().Equal(want) {
		t.Fatalf("after a release with %v the next owner sees %v, want %v", mark, l.Watermark(), want)
	}
	// Renew with a zero mark keeps what is recorded; a zero release leaves nothing owed.
	if err := l.Renew(ctx(t), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx(t), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if l = acquire(t, a, "u1", time.Minute, true); !l.Watermark().IsZero() {
		t.Fatalf("after a zero release the next owner sees %v", l.Watermark())
	}
}

// leaseExpiry: a shared lease that is not renewed is granted to another node after its ttl,
// with the mark of the dead owner's last renewal; a local lease is held until released.
func leaseExpiry(t *testing.T, s Setup) {
	a, b := s.Nodes[0].Leaser, s.Nodes[1].Leaser
	const ttl = 200 * time.Millisecond
	mark := time.UnixMilli(time.Now().Add(-time.Minute).UnixMilli())
	l := acquire(t, a, "u1", ttl, true)
	if err := l.Renew(ctx(t), mark); err != nil {
		t.Fatal(err)
	}
	if !s.LeaseExpires {
		// Still held well past the ttl.
		deadline := time.Now().Add(2 * ttl)
		for time.Now().Before(deadline) {
			acquire(t, b, "u1", ttl, false)
			wait(t, ttl/10)
		}
		if err := l.Renew(ctx(t), time.Time{}); err != nil {
			t.Fatalf("a local lease lapsed: %v", err)
		}
		return
	}
	deadline := time.Now().Add(10 * ttl)
	for {
		next, ok, err := b.Acquire(ctx(t), "u1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if s.Watermark && !next.Watermark().Equal(mark) {
				t.Fatalf("taken over with watermark %v, want the dead owner's last mark %v", next.Watermark(), mark)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a lease of ttl %v was not granted to another node within %v", ttl, 10*ttl)
		}
		wait(t, ttl/10)
	}
	if err := l.Renew(ctx(t), time.Time{}); !errors.Is(err, session.ErrLeaseLost) {
		t.Fatalf("renew by the lapsed owner = %v, want ErrLeaseLost", err)
	}
}

// wait blocks for d on a timer (a poll interval, not a synchronisation).
func wait(t *testing.T, d time.Duration) {
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}

func tokens(t *testing.T, s Setup) {
	a, b := s.Nodes[0].Tokens, s.Nodes[1].Tokens
	if _, _, ok, err := b.Get(ctx(t), "u1"); err != nil || ok {
		t.Fatalf("get of an unknown user = %v, %v", ok, err)
	}
	cred := rocketchat.Credentials{UserID: "rc1", Token: "tok-1"}
	before := time.Now()
	if err := a.Put(ctx(t), "u1", cred, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, exp, ok, err := b.Get(ctx(t), "u1")
	if err != nil || !ok || got != cred {
		t.Fatalf("get from the other node = %+v, %v, %v", got, ok, err)
	}
	if exp.Before(before.Add(time.Hour-time.Second)) || exp.After(time.Now().Add(time.Hour+time.Second)) {
		t.Fatalf("expiry %v is not an hour from the put (%v)", exp, before)
	}
	if err := b.Delete(ctx(t), "u1"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := a.Get(ctx(t), "u1"); err != nil || ok {
		t.Fatalf("get after delete = %v, %v", ok, err)
	}
	// An entry past its ttl is gone.
	const ttl = 200 * time.Millisecond
	if err := a.Put(ctx(t), "u2", cred, ttl); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * ttl)
	for {
		_, _, ok, err := b.Get(ctx(t), "u2")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token of ttl %v was still there after %v", ttl, 20*ttl)
		}
		wait(t, ttl/4)
	}
}

func presence(t *testing.T, s Setup) {
	a, b := s.Nodes[0].Presence, s.Nodes[1].Presence
	count := func(p session.Presence, want int) {
		t.Helper()
		if n, err := p.Count(ctx(t), "u1"); err != nil || n != want {
			t.Fatalf("count = %d, %v; want %d", n, err, want)
		}
	}
	count(a, 0)
	for _, p := range []session.Presence{a, a, b} {
		if err := p.Add(ctx(t), "u1"); err != nil {
			t.Fatal(err)
		}
	}
	count(a, 3)
	count(b, 3)
	if err := a.Remove(ctx(t), "u1"); err != nil {
		t.Fatal(err)
	}
	count(b, 2)
	for _, p := range []session.Presence{a, b, b} { // one Remove more than was added
		if err := p.Remove(ctx(t), "u1"); err != nil {
			t.Fatal(err)
		}
	}
	count(a, 0)
	if err := b.Add(ctx(t), "u1"); err != nil {
		t.Fatal(err)
	}
	count(a, 1) // an extra Remove did not leave a debt
	if n, err := a.Count(ctx(t), "u2"); err != nil || n != 0 {
		t.Fatalf("another user's count = %d, %v", n, err)
	}
}

func tombstones(t *testing.T, s Setup) {
	a, b := s.Nodes[0].Tombstones, s.Nodes[1].Tombstones
	if _, ok, err := b.Buried(ctx(t), "u1"); err != nil || ok {
		t.Fatalf("buried of an unknown user = %v, %v", ok, err)
	}
	at := time.UnixMilli(time.Now().Add(-time.Hour).UnixMilli())
	if err := a.Bury(ctx(t), "u1", at, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, ok, err := b.Buried(ctx(t), "u1")
	if err != nil || !ok || !got.Equal(at) {
		t.Fatalf("buried from the other node = %v, %v, %v; want %v", got, ok, err, at)
	}
	if _, ok, _ := b.Buried(ctx(t), "u2"); ok {
		t.Fatal("another user is buried too")
	}
	if err := b.Lift(ctx(t), "u1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Buried(ctx(t), "u1"); err != nil || ok {
		t.Fatalf("buried after lift = %v, %v", ok, err)
	}
	const ttl = 200 * time.Millisecond
	if err := a.Bury(ctx(t), "u3", at, ttl); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * ttl)
	for {
		_, ok, err := b.Buried(ctx(t), "u3")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a tombstone of ttl %v was still there after %v", ttl, 20*ttl)
		}
		wait(t, ttl/4)
	}
}
