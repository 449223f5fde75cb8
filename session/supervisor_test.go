package session

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// ownGoroutines lists the stacks of the goroutines running code of this module's session and
// rocketchat packages (the simulator and the tests themselves excluded). A goroutine counts
// by its frames, not by the "created by" line: one another package started is not ours.
func ownGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		ours, test := false, false
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by ") || strings.HasPrefix(line, "goroutine ") {
				continue
			}
			switch {
			case strings.HasPrefix(line, "github.com/rcgateway/rcgateway/session.Test"):
				test = true
			case strings.HasPrefix(line, "github.com/rcgateway/rcgateway/session."),
				strings.HasPrefix(line, "github.com/rcgateway/rcgateway/rocketchat."),
				strings.HasPrefix(line, "github.com/rcgateway/rcgateway/rocketchat/ddp."):
				ours = true
			}
		}
		if ours && !test {
			out = append(out, g)
		}
	}
	return out
}

// funcName is the name a stack shows for fn, taken from fn itself so that a rename cannot
// make a stack search find nothing and a test pass without looking.
func funcName(fn any) string {
	n := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	return n[strings.LastIndex(n, "/")+1:]
}

// TestIdleUserHasOneGoroutine: an idle user with a local connection and a connected upstream
// costs exactly one goroutine in session and rocketchat: its loop, which runs the upstream's
// Realtime (the DDP reader) itself (W1: each goroutine is ~8 KiB of stack per user). Nothing
// sits parked supervising the period: its timers and signals start a goroutine only while
// there is work. The manager's own goroutines (janitor, presence writer) are not per user.
func TestIdleUserHasOneGoroutine(t *testing.T) {
	const users = 4
	// A lease renewal every 10 s: the test looks between renewals.
	f := newFixture(t, func(o *Options) { o.LeaseTTL = 30 * time.Second })
	for i := range users {
		f.s.AddUser(rctest.UserSpec{Username: fmt.Sprintf("u-idle%d", i), Password: fmt.Sprintf("pw-idle-%d", i)})
		u := User{ID: fmt.Sprintf("idle%d", i)}
		f.m.Remember(u)
		f.m.UserOnline(u.ID)
	}
	waitFor(t, f.rec, "the upstreams to connect and resync", func() bool {
		st := f.m.Stats()
		return st.UpstreamsConnected == users && st.ResyncsDone >= users
	})
	run, loop := funcName((*rocketchat.Realtime).Run), funcName((*Manager).runLoop)
	manager := []string{funcName((*Manager).janitor), funcName((*Manager).presenceWriter)}
	var last []string
	defer func() {
		if t.Failed() {
			t.Logf("%d goroutines in session and rocketchat; want the manager's %d and, per user, one in both %s and %s:\n\n%s",
				len(last), len(manager), loop, run, strings.Join(last, "\n\n"))
		}
	}()
	waitFor(t, f.rec, "one goroutine per idle user", func() bool {
		last = ownGoroutines()
		perUser := 0
		for _, g := range last {
			switch {
			case strings.Contains(g, run) && strings.Contains(g, loop):
				perUser++
			case !slices.ContainsFunc(manager, func(fn string) bool { return strings.Contains(g, fn) }):
				return false // a supervisor parked, a separate reader, or work still going on
			}
		}
		return perUser == users && len(last) == users+len(manager)
	})
	// Still served: a local connection going keeps the upstream (another one is there);
	// the last one going ends it after the linger, with no goroutine to supervise it.
	f.m.UserOnline("idle0")
	f.m.UserOffline("idle0")
	f.m.UserOffline("idle0")
	waitFor(t, f.rec, "the idle user's upstream to stop after linger", func() bool {
		return f.m.Stats().Upstreams == users-1 && f.s.DDPConnections(f.s.UserID("u-idle0")) == 0
	})
}

// TestStopSignalEndsTheUpstream: sigStop (revoke's) ends the running period and the loop for
// good, even though the user still has a connection here.
func TestStopSignalEndsTheUpstream(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.LeaseTTL = 30 * time.Second })
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	uid := f.online(t, User{ID: "alice", Username: "alice"}, 1)
	f.m.mu.Lock()
	ul := f.m.loops["alice"]
	f.m.mu.Unlock()
	ul.signal(sigStop)
	waitFor(t, f.rec, "the upstream to stop", func() bool {
		return f.s.DDPConnections(uid) == 0 && f.m.Stats().Upstreams == 0
	})
	if st := f.m.Stats(); st.OnlineUsers != 1 || st.AuthLosses != 0 {
		t.Fatalf("stats %+v: want the stop with the connection still here and no auth loss", st)
	}
}

// losingLeaser hands out local leases whose next renewal fails with ErrLeaseLost once lose
// is set (another node took the user over).
type losingLeaser struct {
	Leaser
	lose     atomic.Bool
	acquires atomic.Int32
}

func (l *losingLeaser) Acquire(ctx context.Context, userID string, ttl time.Duration) (Lease, bool, error) {
	le, ok, err := l.Leaser.Acquire(ctx, userID, ttl)
	if ok {
		l.acquires.Add(1)
		le = losingLease{Lease: le, l: l}
	}
	return le, ok, err
}

type losingLease struct {
	Lease
	l *losingLeaser
}

func (le losingLease) Renew(ctx context.Context, mark time.Time) error {
	if le.l.lose.CompareAndSwap(true, false) {
		return fmt.Errorf("losing leaser: %w", ErrLeaseLost)
	}
	return le.Lease.Renew(ctx, mark)
}

// TestLostLeaseEndsThePeriod: a renewal that finds the lease lost ends the period (the lease
// renews every LeaseTTL/3); the loop, whose user is still connected here, acquires it again
// and runs a new period.
func TestLostLeaseEndsThePeriod(t *testing.T) {
	ll := &losingLeaser{Leaser: NewLocalLeaser()}
	f := newFixture(t, func(o *Options) { o.Leaser = ll })
	f.s.AddUser(rctest.UserSpec{Username: "u-alice", Password: "pw-alice-1"})
	f.online(t, User{ID: "alice", Username: "alice"}, 1)
	if n := ll.acquires.Load(); n != 1 {
		t.Fatalf("%d lease acquisitions before the loss, want 1", n)
	}
	ll.lose.Store(true)
	waitFor(t, f.rec, "a new period under a new lease", func() bool {
		return !ll.lose.Load() && ll.acquires.Load() == 2 && f.m.Stats().UpstreamsConnected == 1
	})
}
