package session

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// Signals to a user's loop.
const (
	sigWake  = 1 << iota // presence changed
	sigToken             // the token was dropped: reconnect with a new one
	sigStop              // the user is gone: stop for good
	sigWatch             // a tab's open rooms changed (presence.go)
)

// userLoop supervises one user's upstream on this node: it holds the lease, runs the
// realtime connection, cycles it when the token expires and stops it after linger.
type userLoop struct {
	id     string
	tr     *translator
	book   roomBook // the user's subscriptions, kept across connections
	mu     sync.Mutex
	flags  int
	notify chan struct{}

	// lastAlive is the watermark the previous upstream period of this user on this node left
	// (see watermark): the next one resyncs from there. Zero: no period yet, and the first
	// resyncs from started (or the lease's mark), so that nothing posted while it was being
	// set up (login, subscriptions) is lost.
	lastAlive time.Time
	started   time.Time

	rt atomic.Pointer[rocketchat.Realtime] // the running upstream, nil between periods (typing.go)
}

func (ul *userLoop) signal(f int) {
	ul.mu.Lock()
	ul.flags |= f
	ul.mu.Unlock()
	select {
	case ul.notify <- struct{}{}:
	default:
	}
}

func (ul *userLoop) take() int {
	ul.mu.Lock()
	defer ul.mu.Unlock()
	f := ul.flags
	ul.flags = 0
	return f
}

// UserOnline tells the manager that one more browser connection of userID is open on this
// node (the hub's presence hook). It returns at once; the upstream starts in the background.
func (m *Manager) UserOnline(userID string) {
	m.presence(userID, true)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.local[userID]++
	m.ensureLoop(userID)
}

// UserOffline tells the manager that one browser connection of userID closed on this node.
func (m *Manager) UserOffline(userID string) {
	m.presence(userID, false)
	m.mu.Lock()
	if m.local[userID] <= 1 {
		delete(m.local, userID)
	} else {
		m.local[userID]--
	}
	ul := m.loops[userID]
	m.mu.Unlock()
	if ul != nil {
		ul.signal(sigWake)
	}
}

// presence records one connection more or less of userID for the cluster-wide count. It
// never blocks: the hub calls it on its heartbeat and handshake paths, and a slow or hung
// Redis must stall neither. Changes are netted per user and written by presenceWriter.
func (m *Manager) presence(userID string, add bool) {
	d := -1
	if add {
		d = 1
	}
	m.presMu.Lock()
	if m.presPending[userID] += d; m.presPending[userID] == 0 {
		delete(m.presPending, userID)
	}
	m.presMu.Unlock()
	select {
	case m.presWake <- struct{}{}:
	default:
	}
}

// presenceWriter applies the netted presence changes to the Presence store, one user at a
// time, until the manager shuts down. Started by NewManager, ended by Shutdown.
func (m *Manager) presenceWriter() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.presWake:
		}
		m.presMu.Lock()
		batch := m.presPending
		m.presPending = map[string]int{}
		m.presMu.Unlock()
		for userID, d := range batch {
			for ; d != 0 && m.ctx.Err() == nil; d -= sign(d) {
				ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
				var err error
				if d > 0 {
					err = m.o.Presence.Add(ctx, userID)
				} else {
					err = m.o.Presence.Remove(ctx, userID)
				}
				cancel()
				if err != nil {
					m.log.Warn("presence update failed", "user", userID, "add", d > 0, "err", err)
				}
			}
		}
	}
}

func sign(d int) int {
	if d < 0 {
		return -1
	}
	return 1
}

// ensureLoop starts the user's loop if none runs. m.mu is held.
func (m *Manager) ensureLoop(userID string) {
	if m.closed {
		return
	}
	if ul := m.loops[userID]; ul != nil {
		ul.signal(sigWake)
		return
	}
	ul := &userLoop{id: userID, tr: newTranslator(m.Username(userID)), notify: make(chan struct{}, 1), started: time.Now()}
	m.loops[userID] = ul
	m.wg.Add(1)
	go m.runLoop(ul)
}

// exitLoop removes ul if nothing keeps it: no local connections and (unless it is the
// owner with remote connections, which the caller decided) nothing else. It reports
// whether the loop may end.
func (m *Manager) exitLoop(ul *userLoop, force bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !force && m.local[ul.id] > 0 && !m.closed {
		return false
	}
	if m.loops[ul.id] == ul {
		delete(m.loops, ul.id)
	}
	return true
}

type endReason int

const (
	endIdle endReason = iota
	endStop
	endToken
	endAuthLost
	endLeaseLost
	endError
)

// runLoop is the user's upstream on this node: it takes the lease and runs upstream periods
// (serve) until the user is gone, revoked or the manager shuts down. Started by ensureLoop
// (m.wg counts it), ended by exitLoop's decision, sigStop or Shutdown's cancel of m.ctx;
// Shutdown waits for it.
func (m *Manager) runLoop(ul *userLoop) {
	defer m.wg.Done()
	log := m.log.With("user", ul.id)
	failures := 0
	for {
		if m.ctx.Err() != nil || ul.take()&sigStop != 0 {
			m.exitLoop(ul, true)
			return
		}
		lease, ok, err := m.o.Leaser.Acquire(m.ctx, ul.id, m.o.LeaseTTL)
		if err != nil {
			log.Warn("upstream lease acquire failed", "err", err)
		}
		if !ok {
			// Another node owns the upstream: wait, and take over if it dies.
			if m.exitLoop(ul, false) {
				return
			}
			if !m.wait(ul, m.o.LeaseTTL/3) {
				m.exitLoop(ul, true)
				return
			}
			continue
		}
		reason, err := m.serve(ul, lease, log)
		// Releasing is a courtesy (the lease expires by itself): while shutting down it gets
		// a second at most, so a hung Redis cannot stretch the shutdown.
		budget := 5 * time.Second
		if m.ctx.Err() != nil {
			budget = time.Second
		}
		rctx, cancel := context.WithTimeout(context.Background(), budget)
		if rerr := lease.Release(rctx, m.releaseMark(ul, lease, reason)); rerr != nil {
			log.Warn("upstream lease release failed", "err", rerr)
		}
		cancel()
		switch reason {
		case endIdle, endStop:
			if m.exitLoop(ul, reason == endStop) {
				log.Debug("upstream stopped", "reason", reason)
				return
			}
			failures = 0
			continue
		case endToken, endLeaseLost:
			failures = 0
			continue
		case endAuthLost:
			m.authLosses.Add(1)
			m.dropToken(m.ctx, ul.id, false)
			if m.userGone(ul.id) {
				log.Info("rocket.chat user removed: closing the user's connections")
				kctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
				_ = m.o.Pusher.Kick(kctx, ul.id, "Your chat account was removed.", false)
				cancel()
				m.exitLoop(ul, true)
				return
			}
		}
		if err != nil {
			log.Warn("upstream failed", "reason", reason, "err", err)
		}
		failures++
		if !m.wait(ul, m.backoff(failures)) {
			m.exitLoop(ul, true)
			return
		}
	}
}

// wait blocks for d or until a signal arrives; false when the manager is shutting down.
func (m *Manager) wait(ul *userLoop, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-m.ctx.Done():
		return false
	case <-t.C:
	case <-ul.notify:
	}
	return true
}

// backoff is the jittered wait before the next attempt, capped by the Realtime's BackoffMax
// (rocketchat.reconnect_max; 5 s if unset), so a user is back within seconds of Rocket.Chat
// answering again.
func (m *Manager) backoff(failures int) time.Duration {
	ceil := m.o.Realtime.BackoffMax
	if ceil <= 0 {
		ceil = 5 * time.Second
	}
	d := min(500*time.Millisecond<<min(failures, 6), ceil)
	return d/2 + rand.N(d/2+1)
}

// releaseMark is the watermark a period leaves with its lease: nothing when the user went
// idle (no one to deliver to), else where delivery got to (this node's last period, else the
// mark it inherited, else when the loop began).
func (m *Manager) releaseMark(ul *userLoop, lease Lease, reason endReason) time.Time {
	switch {
	case reason == endIdle:
		return time.Time{}
	case !ul.lastAlive.IsZero():
		return ul.lastAlive
	case !lease.Watermark().IsZero():
		return lease.Watermark()
	}
	return ul.started
}

// userGone reports whether the user's Rocket.Chat account no longer exists, is inactive or
// is one the gateway must not use.
func (m *Manager) userGone(userID string) bool {
	if m.o.Agent == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
	defer cancel()
	ru, found, err := m.account(ctx, userID)
	if errors.Is(err, ErrAccountProtected) || err == nil && !found {
		return true
	}
	return err == nil && !ru.Active
}

// upstream is one period of a user's upstream on this node, under one lease: the realtime
// connection (reconnecting inside Run), the resyncs it starts, the live events held behind
// them, and the delivery watermark. run owns it; emit runs on the Realtime's goroutine and
// touches only the watermark (under mu), the held events (their own lock) and the counters.
type upstream struct {
	m     *Manager
	ul    *userLoop
	lease Lease
	cred  rocketchat.Credentials
	log   *slog.Logger

	ctx    context.Context // ends with the period
	cancel context.CancelFunc
	bg     sync.WaitGroup // resyncs (started by emit, waited for by serve)
	held   heldEvents

	mu   sync.Mutex
	mark watermark

	connected bool // emit's; run reads it once Run has returned

	rt      *rocketchat.Realtime
	watched []string // the open rooms rt follows typing for (run's)
	pres    *presenceWork
}

// watermark says from where a resync must start so that nothing is lost, and moves only when
// delivery is certain: when a connection that was up ends (to its last received frame, not to
// when the loss was noticed), and when a resync succeeds. Failed reconnect attempts and
// failed resyncs leave it where it is. Several resyncs may run at once (a connection ends
// and the next one begins while the first resync is still fetching): each gap is owed until
// its own resync succeeds, whatever the others do.
type watermark struct {
	gap     time.Time   // start of the current gap: the next connect resyncs from here
	pending []time.Time // the gaps whose resyncs have not succeeded yet, one per resync
	up      bool        // a connection is up: everything until now is delivered or resyncing
}

// unsynced is the start of the oldest gap whose resync has not succeeded (zero: none).
func (w *watermark) unsynced() time.Time {
	var oldest time.Time
	for _, g := range w.pending {
		if oldest.IsZero() || g.Before(oldest) {
			oldest = g
		}
	}
	return oldest
}

// connected: a connection is up; its resync owes the current gap, which it returns.
func (w *watermark) connected() time.Time {
	w.pending = append(w.pending, w.gap)
	w.up = true
	return w.gap
}

// disconnected: the connection that was up ended after its last frame at last. The next gap
// starts there, or at the oldest gap still owed.
func (w *watermark) disconnected(last time.Time) {
	w.up, w.gap = false, last
	if u := w.unsynced(); !u.IsZero() && u.Before(last) {
		w.gap = u
	}
}

// synced: the resync of gap succeeded.
func (w *watermark) synced(gap time.Time) {
	if i := slices.IndexFunc(w.pending, gap.Equal); i >= 0 {
		w.pending = slices.Delete(w.pending, i, i+1)
	}
}

// from is where a next owner (or the next connection) must start: the oldest gap not yet
// covered.
func (w *watermark) from(now time.Time) time.Time {
	switch u := w.unsynced(); {
	case !u.IsZero():
		return u
	case w.up:
		return now
	}
	return w.gap
}

// serve runs one upstream period with lease until a reason to end it.
func (m *Manager) serve(ul *userLoop, lease Lease, log *slog.Logger) (endReason, error) {
	cred, exp, err := m.credentials(m.ctx, m.identity(ul.id))
	if err != nil {
		if m.ctx.Err() != nil {
			return endStop, nil
		}
		if errors.Is(err, ErrRevoked) || errors.Is(err, ErrAccountProtected) || errors.Is(err, ErrAccountDeactivated) {
			// No token will come: close the user's connections for good.
			kctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
			_ = m.o.Pusher.Kick(kctx, ul.id, "Your chat account is not available.", false)
			cancel()
			return endStop, err
		}
		return endError, err
	}
	ro := m.o.Realtime
	ro.URL, ro.UserID, ro.Token = m.o.RealtimeURL, cred.UserID, cred.Token
	ro.Client = m.o.Client
	if ro.Logger == nil {
		ro.Logger = m.log
	}
	rt, err := rocketchat.NewRealtime(ro)
	if err != nil {
		return endError, err
	}
	watched := m.syncWatch(ul.id, rt, nil)
	ul.rt.Store(rt)
	defer ul.rt.CompareAndSwap(rt, nil)
	u := &upstream{m: m, ul: ul, lease: lease, cred: cred, log: log, rt: rt, watched: watched, pres: newPresenceWork()}
	u.ctx, u.cancel = context.WithCancel(m.ctx)
	defer u.bg.Wait()
	defer u.cancel()
	u.presPoke(presWake)
	u.mark.gap = u.startFrom()
	if m.o.Clustered {
		// Leave the starting point with the lease at once: if this node dies before its
		// first renewal, the next owner still starts there.
		if err := lease.Renew(m.ctx, u.mark.gap); err != nil && !errors.Is(err, ErrLeaseLost) {
			log.Warn("upstream lease renew failed", "err", err)
		}
	}
	return u.run(rt, exp)
}

// startFrom is where this period's first resync starts: where this node's previous upstream
// of the user left off, or where the previous owner's lease says, whichever is older; a user
// with neither starts when its loop did (nothing posted during login is lost).
func (u *upstream) startFrom() time.Time {
	from := u.ul.lastAlive
	if w := u.lease.Watermark(); !w.IsZero() && (from.IsZero() || w.Before(from)) {
		from = w
	}
	if from.IsZero() {
		from = u.ul.started
	}
	return from
}

// run drives one period: it starts rt.Run in a goroutine of its own and, whatever ends the
// period, cancels u.ctx and waits for that goroutine before returning (finish). The resync
// goroutines emit starts are waited for by serve.
func (u *upstream) run(rt *rocketchat.Realtime, exp time.Time) (endReason, error) {
	m, ul := u.m, u.ul
	done := make(chan error, 1)
	go func() { done <- rt.Run(u.ctx, u.emit) }()
	finish := func(r endReason, err error) (endReason, error) {
		u.cancel()
		<-done
		u.ended()
		return r, err
	}

	tokenTimer := time.NewTimer(time.Until(exp))
	defer tokenTimer.Stop()
	renew := time.NewTicker(m.o.LeaseTTL / 3)
	defer renew.Stop()
	// The check polls what no signal reports: the cluster-wide presence of a user with no
	// connection on this node, and the expiry of a hold behind a running resync. Otherwise
	// it is off, so that an idle upstream does not wake every CheckInterval (6,600 users
	// made 6,600 wake-ups a second, 17% of the gateway's CPU in W8).
	check := time.NewTimer(m.o.CheckInterval)
	defer check.Stop()
	armCheck := func(local int) {
		if local == 0 || u.held.active() {
			check.Reset(m.o.CheckInterval)
		} else {
			check.Stop()
		}
	}
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	idle := false // no connection anywhere: linger runs
	defer linger.Stop()
	for {
		select {
		case err := <-done:
			u.ended()
			if errors.Is(err, rocketchat.ErrAuthLost) {
				return endAuthLost, err
			}
			if m.ctx.Err() != nil {
				return endStop, nil
			}
			return endError, err
		case <-tokenTimer.C:
			// The next period takes the next token; this one is logged out by the janitor
			// after its grace, once nothing can be using it.
			u.log.Debug("user token expired: cycling the upstream")
			return finish(endToken, nil)
		case <-renew.C:
			// Open rooms of tabs that stopped reporting expire here too: the check may be off.
			u.watched = m.syncWatch(ul.id, u.rt, u.watched)
			u.presPoke(presWake)
			if err := u.lease.Renew(m.ctx, u.watermark()); err != nil {
				if errors.Is(err, ErrLeaseLost) {
					return finish(endLeaseLost, nil)
				}
				u.log.Warn("upstream lease renew failed", "err", err)
			}
		case <-linger.C:
			return finish(endIdle, nil)
		case <-ul.notify:
			f := ul.take()
			if f&sigStop != 0 {
				ul.signal(sigStop) // seen again by runLoop
				return finish(endStop, nil)
			}
			if f&sigToken != 0 {
				return finish(endToken, nil)
			}
			if f&sigWatch != 0 {
				u.presPoke(presRefresh)
			}
			var local int
			idle, local = u.idleCheck(linger, idle)
			armCheck(local)
		case <-check.C:
			var local int
			idle, local = u.idleCheck(linger, idle)
			u.held.expire(time.Now(), m.o.ResyncHold, u.pushHeld)
			u.watched = m.syncWatch(ul.id, u.rt, u.watched)
			armCheck(local)
			u.presPoke(presWake) // expiries
		}
	}
}

// ended runs once Run has returned: the next period of this user on this node starts where
// this one's delivery got to.
func (u *upstream) ended() {
	if u.connected {
		u.m.connected.Add(-1)
		u.connected = false
	}
	u.ul.lastAlive = u.watermark()
}

// watermark is where a next owner must start.
func (u *upstream) watermark() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.mark.from(time.Now())
}

// idleCheck starts the linger when the user has no connection anywhere and stops it when one
// comes back. It reports whether the linger runs, and the user's connections on this node.
func (u *upstream) idleCheck(linger *time.Timer, idle bool) (bool, int) {
	m := u.m
	m.mu.Lock()
	local := m.local[u.ul.id]
	m.mu.Unlock()
	nowIdle := false
	if local == 0 {
		ctx, cancel := context.WithTimeout(m.ctx, 2*time.Second)
		n, err := m.o.Presence.Count(ctx, u.ul.id)
		cancel()
		nowIdle = err == nil && n == 0 // unknown: keep the upstream
	}
	switch {
	case nowIdle && !idle:
		linger.Reset(m.o.Linger)
	case !nowIdle && idle:
		linger.Stop()
	}
	return nowIdle, local
}

func (u *upstream) pushHeld(ev rocketchat.Event) {
	if u.ctx.Err() == nil { // ending: nobody to push to
		u.m.push(u.ctx, u.ul, ev)
	}
}

// emit receives the Realtime's events (on its goroutine, never concurrently).
func (u *upstream) emit(ev rocketchat.Event) {
	m, ul := u.m, u.ul
	if se, ok := ev.(rocketchat.StateEvent); ok {
		switch se.State {
		case rocketchat.StateConnected:
			m.connected.Add(1)
			u.connected = true
			if se.Gap {
				m.reconnects.Add(1)
			}
			u.mu.Lock()
			gap := u.mark.connected()
			u.mu.Unlock()
			u.held.begin()
			u.ul.signal(sigWake) // the run loop arms its check for the hold's expiry
			u.bg.Add(1)
			go func() {
				defer u.bg.Done()
				u.resyncUntilDone(gap)
				u.held.end(u.pushHeld)
			}()
		case rocketchat.StateDisconnected:
			if !u.connected {
				return // a failed attempt: the gap still starts where it did
			}
			m.connected.Add(-1)
			u.connected = false
			last := se.LastFrame
			if last.IsZero() {
				last = time.Now()
			}
			u.mu.Lock()
			u.mark.disconnected(last)
			u.mu.Unlock()
			if se.Err != nil && u.ctx.Err() == nil {
				u.log.Warn("upstream lost; a resync will cover the gap", "gap_since", last, "err", se.Err)
			}
		}
		return
	}
	switch e := ev.(type) {
	case rocketchat.UserActivityEvent:
		m.push(u.ctx, ul, ev) // transient: never held back for a resync
		return
	case rocketchat.PresenceEvent:
		u.streamPresence(e) // transient too (presence.go)
		return
	case rocketchat.PresenceFollowedEvent:
		u.presFollowed(e.UserIDs) // presence.go reads their current status
		return
	case rocketchat.ForcedLogoutEvent:
		m.dropToken(u.ctx, ul.id, false)
		return
	case rocketchat.SubscriptionListEvent:
		for _, raw := range e.Subscriptions {
			ul.book.note(raw)
		}
		return
	case rocketchat.SubscriptionEvent:
		// The decoder read _id and rid: no second parse per event (one per member per
		// message in a busy room).
		if e.Action == "removed" {
			ul.book.remove(e.ID, e.RoomID)
		} else {
			ul.book.add(e.ID, e.RoomID)
		}
	}
	if !u.held.hold(ev) {
		m.push(u.ctx, ul, ev)
	}
}

// resyncUntilDone resyncs the gap that began at gap, retrying with backoff until it succeeds
// or the period ends; on success the gap no longer holds the watermark back.
func (u *upstream) resyncUntilDone(gap time.Time) {
	m := u.m
	started := time.Now()
	var pr resyncProgress
	for attempt := 0; ; attempt++ {
		n, err := m.resync(u.ctx, u.ul, u.cred, gap.Add(-m.o.ResyncSlack), gap, &pr)
		if err == nil {
			m.resyncsDone.Add(1)
			u.mu.Lock()
			u.mark.synced(gap)
			u.mu.Unlock()
			if gapLen := started.Sub(gap); gapLen > 2*m.o.ResyncSlack || attempt > 0 {
				u.log.Warn("upstream gap resynced", "gap", gapLen.Round(time.Millisecond), "pushed", n, "attempts", attempt+1)
			}
			return
		}
		if u.ctx.Err() != nil {
			return
		}
		d := m.backoff(attempt + 1)
		u.log.Warn("resync failed; retrying", "err", err, "in", d, "gap_since", gap)
		t := time.NewTimer(d)
		select {
		case <-u.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (m *Manager) push(ctx context.Context, ul *userLoop, ev rocketchat.Event) {
	p, ok := ul.tr.translate(ev)
	if !ok {
		return
	}
	m.send(ctx, ul.id, p)
}

func (m *Manager) send(ctx context.Context, userID string, p Push) {
	var err error
	if p.Key != "" {
		err = m.o.Pusher.SendToUserOnce(ctx, userID, p.Key, p.Target, p.Arg)
	} else {
		err = m.o.Pusher.SendToUser(ctx, userID, p.Target, p.Arg)
	}
	if err != nil {
		m.pushErrors.Add(1)
		// One line a second at most: when the backplane is overloaded every push fails, and
		// a line for each spends the core the pushes need (W6 at a saturated core).
		now := time.Now().UnixNano()
		if last := m.pushFailLogged.Load(); now-last >= int64(time.Second) && m.pushFailLogged.CompareAndSwap(last, now) {
			m.log.Warn("push failed", "user", userID, "target", p.Target, "err", err, "not_logged_since", m.pushFailQuiet.Swap(0))
		} else {
			m.pushFailQuiet.Add(1)
		}
		return
	}
	m.pushes.Add(1)
}
