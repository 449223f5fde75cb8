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
	// cur is the running period, nil between periods: signal wakes its supervisor. Flags
	// raised between periods stay in flags for runLoop and the next period's first step.
	cur atomic.Pointer[upstream]
}

func (ul *userLoop) signal(f int) {
	ul.mu.Lock()
	ul.flags |= f
	ul.mu.Unlock()
	select {
	case ul.notify <- struct{}{}:
	default:
	}
	if u := ul.cur.Load(); u != nil {
		u.sup.signal(supFlags)
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
// connection (reconnecting inside Run, on run's goroutine), the resyncs it starts, the live
// events held behind them, the delivery watermark, and the supervisor that ends the period
// (supervise). emit runs on Run's goroutine and touches only the watermark (under mu), the
// held events (their own lock) and the counters.
type upstream struct {
	m     *Manager
	ul    *userLoop
	lease Lease
	cred  rocketchat.Credentials
	log   *slog.Logger

	ctx    context.Context // ends with the period
	cancel context.CancelFunc
	bg     sync.WaitGroup // resyncs (started by emit), the supervisor's and presence worker's steps; serve waits
	held   heldEvents

	mu   sync.Mutex
	mark watermark

	connected bool // emit's; run reads it once Run has returned

	rt      *rocketchat.Realtime
	watched []string // the open rooms rt follows typing for (the supervisor's)
	pres    *presenceWork

	// The supervisor: its steps (supervise) run on u.bg only while a timer or a signal gave
	// them work, one at a time; the timers and idle state below are theirs once run started it.
	sup                           demandWorker
	tokenT, renewT, checkT, lingT *time.Timer
	idle                          bool      // no connection anywhere: the linger runs
	lingerEnd                     time.Time // when the linger armed last runs out
	// decided is 1 + the endReason the step that ended the period chose (the first wins);
	// -1 once Run returned by itself; 0 while the period runs.
	decided atomic.Int32
}

// Signals to a period's supervisor.
const (
	supFlags  = 1 << iota // ul.signal raised flags (or may have, before the period began)
	supToken              // the token expired
	supRenew              // the lease is due for renewal
	supLinger             // the linger ran out
	supCheck              // the check's interval passed
)

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
	defer u.stopTimers() // after the Wait: no step can re-arm one
	defer u.bg.Wait()
	defer u.cancel()
	defer u.pres.work.stop() // before the Wait: no goroutine starts after it
	u.pres.work.start(&u.bg, u.presenceWork, presWake)
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

// run drives one period on the caller's goroutine, which runs rt.Run itself: an idle period
// has no other goroutine. Its timers (token expiry, lease renewal, linger, check) and ul's
// signals start the supervisor's steps (supervise) on u.bg; a step that ends the period
// records why (end) and cancels u.ctx, which makes Run return. Whatever ends the period, run
// stops the supervisor before it returns; serve then waits for u.bg and stops the timers.
func (u *upstream) run(rt *rocketchat.Realtime, exp time.Time) (endReason, error) {
	m, ul := u.m, u.ul
	poke := func(sig int) func() { return func() { u.sup.signal(sig) } }
	// The check polls what no signal reports: the cluster-wide presence of a user with no
	// connection on this node, and the expiry of a hold behind a running resync. Otherwise
	// it is off, so that an idle upstream does not wake every CheckInterval (6,600 users
	// made 6,600 wake-ups a second, 17% of the gateway's CPU in W8).
	u.lingT = time.AfterFunc(time.Hour, poke(supLinger))
	u.lingT.Stop()
	u.checkT = time.AfterFunc(m.o.CheckInterval, poke(supCheck))
	u.renewT = time.AfterFunc(m.o.LeaseTTL/3, poke(supRenew))
	u.tokenT = time.AfterFunc(time.Until(exp), poke(supToken))
	ul.cur.Store(u)
	// The first step takes the flags raised before the period began.
	u.sup.start(&u.bg, u.supervise, supFlags)

	err := rt.Run(u.ctx, u.emit)
	ul.cur.Store(nil)
	byStep := !u.decided.CompareAndSwap(0, -1)
	u.cancel()
	u.sup.stop()
	u.ended()
	switch {
	case byStep:
		return endReason(u.decided.Load() - 1), nil
	case errors.Is(err, rocketchat.ErrAuthLost):
		return endAuthLost, err
	case m.ctx.Err() != nil:
		return endStop, nil
	}
	return endError, err
}

// stopTimers stops the supervisor's timers (those run created).
func (u *upstream) stopTimers() {
	for _, t := range []*time.Timer{u.tokenT, u.renewT, u.checkT, u.lingT} {
		if t != nil {
			t.Stop()
		}
	}
}

// end ends the period for reason r, unless something ended it first; it reports whether r
// is the reason.
func (u *upstream) end(r endReason) bool {
	won := u.decided.CompareAndSwap(0, int32(r)+1)
	u.cancel()
	return won
}

// supervise is one step of the period's supervisor for the signals sigs: it cycles the
// upstream when the token expires, renews the lease (ending the period when it is lost),
// ends it after the linger, on sigStop and on sigToken, and runs the check.
func (u *upstream) supervise(sigs int) {
	m, ul := u.m, u.ul
	if u.ctx.Err() != nil {
		return // ending: ul's flags stay for runLoop
	}
	if sigs&supToken != 0 {
		// The next period takes the next token; this one is logged out by the janitor
		// after its grace, once nothing can be using it.
		u.log.Debug("user token expired: cycling the upstream")
		u.end(endToken)
		return
	}
	// A linger stopped (or re-armed) just as it fired leaves a stale signal: only the
	// linger armed last counts, and only while the user is still idle. u.idle is what the
	// last step saw: a tab may have come back since, so it is looked at again first.
	if sigs&supLinger != 0 && u.idle && !time.Now().Before(u.lingerEnd) {
		if u.idleCheck(); u.idle && !time.Now().Before(u.lingerEnd) {
			u.end(endIdle)
			return
		}
	}
	if sigs&supRenew != 0 {
		u.renewT.Reset(m.o.LeaseTTL / 3)
		// Open rooms of tabs that stopped reporting expire here too: the check may be off.
		u.watched = m.syncWatch(ul.id, u.rt, u.watched)
		u.presPoke(presWake)
		if err := u.lease.Renew(m.ctx, u.watermark()); err != nil {
			if errors.Is(err, ErrLeaseLost) {
				u.end(endLeaseLost)
				return
			}
			u.log.Warn("upstream lease renew failed", "err", err)
		}
	}
	if sigs&supFlags != 0 {
		select {
		case <-ul.notify: // this signal's wake-up is for the period, not for runLoop's wait
		default:
		}
		f := ul.take()
		if f&sigStop != 0 {
			ul.signal(sigStop) // seen again by runLoop
			u.end(endStop)
			return
		}
		if f&sigToken != 0 {
			if !u.end(endToken) {
				// Run ended on its own meanwhile: the token request is runLoop's now.
				ul.signal(sigToken)
			}
			return
		}
		if f&sigWatch != 0 {
			u.presPoke(presRefresh)
		}
		u.armCheck(u.idleCheck())
	}
	if sigs&supCheck != 0 {
		local := u.idleCheck()
		u.held.expire(time.Now(), m.o.ResyncHold, u.pushHeld)
		u.watched = m.syncWatch(ul.id, u.rt, u.watched)
		u.armCheck(local)
		u.presPoke(presWake) // expiries
	}
}

// armCheck runs the check while the user has no connection here or live events are held.
func (u *upstream) armCheck(local int) {
	if local == 0 || u.held.active() {
		u.checkT.Reset(u.m.o.CheckInterval)
	} else {
		u.checkT.Stop()
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
// comes back (u.idle says whether it runs). It returns the user's connections on this node.
func (u *upstream) idleCheck() int {
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
	case nowIdle && !u.idle:
		u.lingerEnd = time.Now().Add(m.o.Linger)
		u.lingT.Reset(m.o.Linger)
	case !nowIdle && u.idle:
		u.lingT.Stop()
	}
	u.idle = nowIdle
	return local
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
