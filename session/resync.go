package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// resync fetches what changed since from and pushes it: subscription changes (a removed
// subscription comes back as {_id, _deletedAt} only, and is pushed with the rid the session
// knows for it), and the messages of every room of the user changed since then (new, edited,
// reacted to, deleted). Every room is asked: an edit or a reaction to a message other than
// the last does not change the room's _updatedAt, so rooms.get?updatedSince cannot say which
// rooms to ask. Messages already pushed are recognised by the translator and not pushed twice.
//
// Messages posted from gap on that Rocket.Chat would have sent a desktop notification for get
// it rebuilt (notify.go): <uid>/notification has no resync of its own.
//
// It reports how many pushes it made and the first failure: a resync with a failure did not
// cover the whole gap and must be run again with the same progress, which skips what already
// succeeded (a user in 300 rooms is not asked for 300 rooms again because one failed).
func (m *Manager) resync(ctx context.Context, ul *userLoop, cred rocketchat.Credentials, from, gap time.Time, pr *resyncProgress) (pushed int, err error) {
	m.resyncs.Add(1)
	log := m.log.With("user", ul.id)
	fail := func(e error) {
		if err == nil {
			err = e
		}
	}
	send := func(p Push) {
		m.send(ctx, ul.id, p)
		pushed++
		if pushed%resyncBurst == 0 {
			// A long gap resyncs hundreds of pushes at once; each tab's send queue holds 128
			// and closes a tab that falls behind. Leave the writers a moment between bursts.
			t := time.NewTimer(resyncPause)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	if pr.subOf == nil {
		pr.subOf, pr.synced = map[string]json.RawMessage{}, map[string]bool{}
	}
	var subs, removedSubs []json.RawMessage
	if !pr.subsDone {
		var serr error
		subs, removedSubs, serr = m.o.Client.SubscriptionsGet(ctx, cred, from)
		if serr != nil {
			fail(fmt.Errorf("session: resync: %w", serr))
		} else {
			pr.subsDone, pr.until = true, time.Now()
		}
	}
	for _, s := range subs {
		ul.book.note(s)
		var sub struct {
			RID string `json:"rid"`
		}
		if json.Unmarshal(s, &sub) == nil && sub.RID != "" {
			pr.subOf[sub.RID] = s
		}
		send(subscriptionPush("updated", s))
	}
	until := pr.until
	if until.IsZero() {
		until = time.Now()
	}
	for _, s := range removedSubs {
		var sub struct {
			ID string `json:"_id"`
		}
		_ = json.Unmarshal(s, &sub)
		rid := ul.book.remove(sub.ID, "")
		if rid == "" {
			log.Debug("resync: removed subscription of an unknown room", "subscription", sub.ID)
		}
		send(subscriptionPush("removed", withRoom(s, rid)))
	}
	// Every room the user has: the connection's listing (subscriptions.get, made after its
	// streams were subscribed, so a room joined in the gap is there) filled the book before
	// this resync began. rooms.get?updatedSince could only add rooms the user is no longer
	// in, whose messages Rocket.Chat refuses to the user anyway.
	rids := ul.book.rooms()
	subOf := pr.subOf
	for _, rid := range rids {
		if pr.synced[rid] {
			continue
		}
		updated, deleted, merr := m.o.Client.SyncMessages(ctx, cred, rid, from)
		if merr != nil {
			if refused(merr) {
				// The user cannot read this room (left it, it is gone): nothing of it is
				// owed, and asking again would hold the watermark back for good.
				log.Debug("resync: room refused; skipped", "rid", rid, "err", merr)
				pr.synced[rid] = true
				continue
			}
			fail(fmt.Errorf("session: resync room %s: %w", rid, merr))
			continue
		}
		pr.synced[rid] = true
		// syncMessages lists newest first; push oldest first.
		for i := len(updated) - 1; i >= 0; i-- {
			if p, ok := ul.tr.rawMessage(updated[i]); ok {
				send(p)
			}
			if n, ok := gapNotification(cred.UserID, updated[i], subOf[rid], gap, until); ok {
				if p, ok := ul.tr.notification(n); ok {
					send(p)
				}
			}
		}
		for _, d := range deleted {
			var msg struct {
				ID string `json:"_id"`
			}
			if json.Unmarshal(d, &msg) == nil && msg.ID != "" && ul.tr.firstTime(deletedKey(msg.ID)) {
				send(deletedPush(rid, msg.ID))
			}
		}
	}
	log.Debug("resync done", "since", from, "rooms", len(rids), "subscriptions", len(subs), "pushed", pushed, "err", err)
	return pushed, err
}

// resyncProgress is what one gap's resync has already done, kept across its retries.
type resyncProgress struct {
	subsDone bool
	until    time.Time // when subscriptions.get answered
	subOf    map[string]json.RawMessage
	synced   map[string]bool // rooms whose messages are fetched and pushed
}

// refused reports a Rocket.Chat answer that asking again will not change: the room is not
// the user's to read (403, 400 not allowed, or gone). A 401 (token), 429 and 5xx are retried.
func refused(err error) bool {
	if errors.Is(err, rocketchat.ErrForbidden) || errors.Is(err, rocketchat.ErrNotFound) {
		return true
	}
	var ae *rocketchat.APIError
	return errors.As(err, &ae) && ae.Status == 400 // invalid room, error-not-allowed
}

// resyncBurst pushes go out back to back, then the resync pauses for resyncPause.
const (
	resyncBurst = 64
	resyncPause = 10 * time.Millisecond
)

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

// active reports whether a hold is on that has not expired.
func (h *heldEvents) active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running > 0 && !h.released
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
