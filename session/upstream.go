package session

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// Signals to a user's loop.
const (
	sigWake  = 1 << iota // presence changed
	sigToken             // the token was dropped: reconnect with a new one
	sigStop              // the user is gone: stop for good
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

	// lastAlive is when the previous upstream of this user (on this node) was last known
	// to be receiving; the next connection resyncs from there. Zero: never connected, and
	// the first connection resyncs from started, so that nothing posted while it was being
	// set up (login, subscriptions) is lost.
	lastAlive time.Time
	started   time.Time
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

func (m *Manager) presence(userID string, add bool) {
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	var err error
	if add {
		err = m.o.Presence.Add(ctx, userID)
	} else {
		err = m.o.Presence.Remove(ctx, userID)
	}
	if err != nil {
		m.log.Warn("presence update failed", "user", userID, "add", add, "err", err)
	}
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
	ul := &userLoop{id: userID, tr: newTranslator(), notify: make(chan struct{}, 1), started: time.Now()}
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
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if rerr := lease.Release(rctx); rerr != nil {
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
		if !m.wait(ul, backoff(failures)) {
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

func backoff(failures int) time.Duration {
	d := 500 * time.Millisecond << min(failures, 6)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
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

// serve runs one upstream connection with lease until a reason to end it.
func (m *Manager) serve(ul *userLoop, lease Lease, log interface {
	Warn(string, ...any)
	Debug(string, ...any)
}) (endReason, error) {
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

	ctx, cancel := context.WithCancel(m.ctx)
	var bg sync.WaitGroup // resyncs started by this connection
	defer bg.Wait()
	defer cancel()

	since := ul.lastAlive
	switch {
	case since.IsZero() && m.o.Clustered && lease.Token() > 1:
		// Taken over from another node: it may have missed events before it died.
		since = ul.started.Add(-2 * m.o.LeaseTTL)
	case since.IsZero():
		since = ul.started
	}
	var connected, everConnected bool
	// While a resync runs, live events wait behind it, so that what was missed reaches the
	// browser before what came after (the translator drops what the resync already pushed).
	var held heldEvents
	pushHeld := func(ev rocketchat.Event) {
		if ctx.Err() == nil { // ending: nobody to push to
			m.push(ctx, ul, ev)
		}
	}
	emit := func(ev rocketchat.Event) {
		if se, ok := ev.(rocketchat.StateEvent); ok {
			switch se.State {
			case rocketchat.StateConnected:
				m.connected.Add(1)
				connected, everConnected = true, true
				if se.Gap {
					m.reconnects.Add(1)
				}
				if !since.IsZero() {
					from, gap := since.Add(-m.o.ResyncSlack), since
					held.begin()
					bg.Add(1)
					go func() {
						defer bg.Done()
						m.resync(ctx, ul, cred, from, gap)
						held.end(pushHeld)
					}()
				}
			case rocketchat.StateDisconnected:
				if connected {
					m.connected.Add(-1)
					connected = false
				}
				since = time.Now()
			}
			return
		}
		switch e := ev.(type) {
		case rocketchat.ForcedLogoutEvent:
			m.dropToken(ctx, ul.id, false)
			return
		case rocketchat.SubscriptionListEvent:
			for _, raw := range e.Subscriptions {
				ul.book.note(raw)
			}
			return
		case rocketchat.SubscriptionEvent:
			if e.Action == "removed" {
				var s struct {
					ID string `json:"_id"`
				}
				_ = json.Unmarshal(e.Raw, &s)
				ul.book.remove(s.ID, e.RoomID)
			} else {
				ul.book.note(e.Raw)
			}
		}
		if !held.hold(ev) {
			m.push(ctx, ul, ev)
		}
	}
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, emit) }()
	// alive records, once Run has returned, up to when this connection received events; a
	// connection that never came up leaves the next one's resync point where it was.
	alive := func() {
		if everConnected {
			ul.lastAlive = time.Now()
		}
	}
	finish := func(r endReason, err error) (endReason, error) {
		cancel()
		<-done
		alive()
		if connected {
			m.connected.Add(-1)
			connected = false
		}
		return r, err
	}

	tokenTimer := time.NewTimer(time.Until(exp))
	defer tokenTimer.Stop()
	renew := time.NewTicker(m.o.LeaseTTL / 3)
	defer renew.Stop()
	check := time.NewTicker(m.o.CheckInterval)
	defer check.Stop()
	var idleSince time.Time
	for {
		select {
		case err := <-done:
			alive()
			if connected {
				m.connected.Add(-1)
				connected = false
			}
			if errors.Is(err, rocketchat.ErrAuthLost) {
				return endAuthLost, err
			}
			if m.ctx.Err() != nil {
				return endStop, nil
			}
			return endError, err
		case <-tokenTimer.C:
			log.Debug("user token expired: cycling the upstream")
			r, err := finish(endToken, nil)
			m.dropToken(m.ctx, ul.id, true)
			return r, err
		case <-renew.C:
			if err := lease.Renew(m.ctx); err != nil {
				if errors.Is(err, ErrLeaseLost) {
					return finish(endLeaseLost, nil)
				}
				log.Warn("upstream lease renew failed", "err", err)
			}
		case <-ul.notify:
			f := ul.take()
			if f&sigStop != 0 {
				ul.signal(sigStop) // seen again by runLoop
				return finish(endStop, nil)
			}
			if f&sigToken != 0 {
				return finish(endToken, nil)
			}
			idleSince = m.idleCheck(ul, idleSince)
		case <-check.C:
			idleSince = m.idleCheck(ul, idleSince)
			held.expire(time.Now(), m.o.ResyncHold, pushHeld)
		}
		if !idleSince.IsZero() && time.Since(idleSince) >= m.o.Linger {
			return finish(endIdle, nil)
		}
	}
}

// idleCheck returns when the user became idle (no connections anywhere), or zero while
// the user has connections.
func (m *Manager) idleCheck(ul *userLoop, idleSince time.Time) time.Time {
	m.mu.Lock()
	local := m.local[ul.id]
	m.mu.Unlock()
	if local > 0 {
		return time.Time{}
	}
	ctx, cancel := context.WithTimeout(m.ctx, 2*time.Second)
	defer cancel()
	n, err := m.o.Presence.Count(ctx, ul.id)
	if err != nil || n > 0 {
		return time.Time{} // unknown: keep the upstream
	}
	if idleSince.IsZero() {
		// Linger is measured from here; wake up when it ends.
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			t := time.NewTimer(m.o.Linger)
			defer t.Stop()
			select {
			case <-t.C:
				ul.signal(sigWake)
			case <-m.ctx.Done():
			}
		}()
		return time.Now()
	}
	return idleSince
}

func (m *Manager) push(ctx context.Context, ul *userLoop, ev rocketchat.Event) {
	p, ok := ul.tr.translate(ev)
	if !ok {
		return
	}
	m.send(ctx, ul.id, p)
}

func (m *Manager) send(ctx context.Context, userID string, p Push) {
	if err := m.o.Pusher.SendToUser(ctx, userID, p.Target, p.Arg); err != nil {
		m.pushErrors.Add(1)
		m.log.Warn("push failed", "user", userID, "target", p.Target, "err", err)
		return
	}
	m.pushes.Add(1)
}

// resync fetches what changed since from and pushes it: subscription changes (a removed
// subscription comes back as {_id, _deletedAt} only, and is pushed with the rid the session
// knows for it), and the messages of every room of the user changed since then (new, edited,
// reacted to, deleted). Every room is asked, not only those rooms.get reports: an edit or a
// reaction to a message other than the last does not change the room's _updatedAt. Messages
// already pushed are recognised by the translator and not pushed twice.
//
// Messages posted from gap on that Rocket.Chat would have sent a desktop notification for get
// it rebuilt (notify.go): <uid>/notification has no resync of its own.
func (m *Manager) resync(ctx context.Context, ul *userLoop, cred rocketchat.Credentials, from, gap time.Time) {
	m.resyncs.Add(1)
	log := m.log.With("user", ul.id)
	subs, removedSubs, err := m.o.Client.SubscriptionsGet(ctx, cred, from)
	if err != nil {
		log.Warn("resync: subscriptions.get failed", "err", err)
	}
	subOf := map[string]json.RawMessage{}
	for _, s := range subs {
		ul.book.note(s)
		var sub struct {
			RID string `json:"rid"`
		}
		if json.Unmarshal(s, &sub) == nil && sub.RID != "" {
			subOf[sub.RID] = s
		}
		m.send(ctx, ul.id, subscriptionPush("updated", s))
	}
	until := time.Now()
	for _, s := range removedSubs {
		var sub struct {
			ID string `json:"_id"`
		}
		_ = json.Unmarshal(s, &sub)
		rid := ul.book.remove(sub.ID, "")
		if rid == "" {
			log.Debug("resync: removed subscription of an unknown room", "subscription", sub.ID)
		}
		m.send(ctx, ul.id, subscriptionPush("removed", withRoom(s, rid)))
	}
	rids := ul.book.rooms()
	rooms, _, err := m.o.Client.RoomsGet(ctx, cred, from)
	if err != nil {
		log.Warn("resync: rooms.get failed", "err", err)
	}
	for _, raw := range rooms {
		var room struct {
			ID string `json:"_id"`
		}
		if json.Unmarshal(raw, &room) == nil && room.ID != "" && !slices.Contains(rids, room.ID) {
			rids = append(rids, room.ID)
		}
	}
	for _, rid := range rids {
		updated, deleted, err := m.o.Client.SyncMessages(ctx, cred, rid, from)
		if err != nil {
			log.Warn("resync: chat.syncMessages failed", "rid", rid, "err", err)
			continue
		}
		// syncMessages lists newest first; push oldest first.
		for i := len(updated) - 1; i >= 0; i-- {
			if p, ok := ul.tr.rawMessage(updated[i]); ok {
				m.send(ctx, ul.id, p)
			}
			if n, ok := gapNotification(cred.UserID, updated[i], subOf[rid], gap, until); ok {
				if p, ok := ul.tr.notification(n); ok {
					m.send(ctx, ul.id, p)
				}
			}
		}
		for _, d := range deleted {
			var msg struct {
				ID string `json:"_id"`
			}
			if json.Unmarshal(d, &msg) == nil && msg.ID != "" && ul.tr.firstTime("deleted:"+msg.ID) {
				m.send(ctx, ul.id, deletedPush(rid, msg.ID))
			}
		}
	}
	log.Debug("resync done", "since", from, "rooms", len(rids), "subscriptions", len(subs))
}

// maxHeldEvents bounds the live events kept back during a resync; beyond it they go out at
// once, possibly ahead of older ones, rather than be dropped.
const maxHeldEvents = 10_000

// heldEvents keeps live events back while resyncs run, and releases them in order when the
// last one ends, or when the hold has lasted too long (slow REST must not stall live pushes).
type heldEvents struct {
	mu       sync.Mutex
	running  int
	since    time.Time // when the current hold began
	released bool      // the hold expired: events pass until the resyncs end
	events   []rocketchat.Event
}

func (h *heldEvents) begin() {
	h.mu.Lock()
	if h.running++; h.running == 1 {
		h.since, h.released = time.Now(), false
	}
	h.mu.Unlock()
}

// hold keeps ev if a resync runs and there is room; false means push it now.
func (h *heldEvents) hold(ev rocketchat.Event) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running == 0 || h.released || len(h.events) >= maxHeldEvents {
		return false
	}
	h.events = append(h.events, ev)
	return true
}

// end marks one resync done; after the last, push gets every held event, oldest first.
func (h *heldEvents) end(push func(rocketchat.Event)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running--; h.running > 0 {
		return
	}
	h.flush(push)
}

// expire releases the held events once the hold has lasted limit.
func (h *heldEvents) expire(now time.Time, limit time.Duration, push func(rocketchat.Event)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running > 0 && !h.released && now.Sub(h.since) >= limit {
		h.released = true
		h.flush(push)
	}
}

// flush pushes the held events under the lock, so that an event arriving meanwhile cannot
// overtake them.
func (h *heldEvents) flush(push func(rocketchat.Event)) {
	for _, ev := range h.events {
		push(ev)
	}
	h.events = nil
}
