package rocketchat

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/ddp"
)

// Following room deletions within Rocket.Chat's DDP rate limit.
//
// Rocket.Chat sends a message deletion only on stream-notify-room <rid>/deleteMessage, one
// subscription per room, and limits stream subscriptions to 40 per 40 s per connection and
// publication name and 80 per user (apps/meteor/app/lib/server/startup/rateLimiter.ts,
// apps/meteor/server/settings/rate.ts); over the limit it answers nosub too-many-requests.
// A user in hundreds of rooms cannot subscribe them all at login. So:
//
//   - Subscriptions are paced: at most RoomSubBudget per RoomSubWindow over all of this
//     user's connections (a sliding window, so no fixed window of the server sees more),
//     rooms with recent activity first. A too-many-requests answer puts the room back and
//     pauses for the timeToReset the server gives.
//   - Every deletion also sends rooms-changed to every member (deleteMessage.ts calls
//     notifyOnRoomChangedById; before 7.x the rooms watcher did the same), which the upstream
//     always follows. A rooms-changed for a room not yet followed marks it and moves it to the
//     front of the queue; when its subscription is ready, chat.syncMessages since the
//     connection started fetches the deletions it did not see live. A mark that arrives
//     shortly after the subscription became ready may stand for a deletion the server
//     emitted before the subscription was live: the room is fetched once more when that
//     grace ends (once, however many marks: a busy room sends one rooms-changed per message).
//
// Deletions before this connection are the session's resync's job.

// Defaults for the pacing of room subscriptions.
const (
	defaultRoomSubBudget = 30 // of Rocket.Chat's 40 per connection and 80 per user
	defaultRoomSubWindow = 40 * time.Second
	// followGrace: a rooms-changed this soon after a room's subscription became ready may
	// stand for a deletion the subscription missed.
	followGrace = 5 * time.Second
	// catchupSlack widens the catch-up for clock skew between the gateway and Rocket.Chat.
	catchupSlack = 10 * time.Second
	// maxDeletedSeen bounds the live deletions remembered per connection, so that a
	// catch-up does not report them again.
	maxDeletedSeen = 4096
)

type roomOpKind int

const (
	opJoin  roomOpKind = iota // subscriptions-changed inserted
	opLeave                   // subscriptions-changed removed
	opTouch                   // rooms-changed: the room changed
	opFetch                   // deleteMessageBulk without ids: fetch the room's deletions
)

type roomOp struct {
	rid  string
	kind roomOpKind
}

type followed struct {
	ids   []string  // DDP subscription ids (deleteMessage, deleteMessageBulk)
	at    time.Time // when they became ready
	grace bool      // a fetch at the end of the grace is queued
}

// graceFetch is a catch-up due at the end of a room's grace.
type graceFetch struct {
	rid string
	at  time.Time
}

// roomEvents are the stream-notify-room events followed per room.
var roomEvents = []string{"deleteMessage", "deleteMessageBulk"}

// follower follows the deletions of a user's rooms on one DDP connection. It is used by the
// connection's room worker only (one goroutine at a time); the touch marks it reads are
// shared with onData under Realtime.roomMu.
type follower struct {
	r        *Realtime
	c        *ddp.Client
	since    time.Time // deletions from here on that were not seen live are fetched
	queue    []string  // rooms to follow, next first
	followed map[string]followed
	typing   map[string]string // watched rooms' user-activity subscription ids ("" refused)
	pres     presenceState     // stream-user-presence (presence.go)
	catchup  []string          // rooms whose deletions are still to be fetched (retried on failure)
	grace    []graceFetch
	// After a failed fetch the next waits until retryAt; fails counts the failures in a row.
	retryAt time.Time
	fails   int
}

func (r *Realtime) newFollower(c *ddp.Client, since time.Time) *follower {
	return &follower{r: r, c: c, since: since, followed: map[string]followed{}, typing: map[string]string{}}
}

// add queues rooms not followed or queued yet, at the back (or the front).
func (f *follower) add(front bool, rids ...string) {
	var add []string
	for _, rid := range rids {
		if _, ok := f.followed[rid]; ok || slices.Contains(f.queue, rid) || slices.Contains(add, rid) {
			continue
		}
		add = append(add, rid)
	}
	if front {
		f.queue = append(add, f.queue...)
	} else {
		f.queue = append(f.queue, add...)
	}
}

// apply handles one room op.
func (f *follower) apply(ctx context.Context, op roomOp) {
	switch op.kind {
	case opJoin:
		f.add(true, op.rid)
	case opLeave:
		f.queue = slices.DeleteFunc(f.queue, func(x string) bool { return x == op.rid })
		f.catchup = slices.DeleteFunc(f.catchup, func(x string) bool { return x == op.rid })
		f.grace = slices.DeleteFunc(f.grace, func(g graceFetch) bool { return g.rid == op.rid })
		f.r.roomMu.Lock()
		delete(f.r.settled, op.rid)
		f.r.roomMu.Unlock()
		if fl, ok := f.followed[op.rid]; ok {
			delete(f.followed, op.rid)
			for _, id := range fl.ids {
				_ = f.c.Unsubscribe(ctx, id)
			}
		}
	case opFetch:
		if !slices.Contains(f.catchup, op.rid) {
			f.catchup = append(f.catchup, op.rid)
		}
	case opTouch:
		if fl, ok := f.followed[op.rid]; ok {
			if !fl.grace && time.Since(fl.at) < followGrace {
				fl.grace = true
				f.followed[op.rid] = fl
				f.grace = append(f.grace, graceFetch{rid: op.rid, at: fl.at.Add(followGrace)})
			}
			// From here on a touch of this room changes nothing: touch stops queueing them.
			f.r.roomMu.Lock()
			f.r.settled[op.rid] = struct{}{}
			f.r.roomMu.Unlock()
			return
		}
		if i := slices.Index(f.queue, op.rid); i > 0 {
			f.queue = slices.Delete(f.queue, i, i+1)
			f.queue = append([]string{op.rid}, f.queue...)
		}
	}
}

// next is when step has work to do; zero when it has none.
func (f *follower) next(now time.Time) time.Time {
	var at time.Time
	if len(f.catchup) > 0 {
		at = now
		if f.retryAt.After(now) {
			at = f.retryAt
		}
	}
	need := 0 // room subscriptions the next send needs
	switch {
	case f.typingPending() || f.presencePending():
		need = 1
	case len(f.queue) > 0:
		need = len(roomEvents) // a room's are sent together
	}
	if need > 0 {
		if t := f.r.subFree(now, need); at.IsZero() || t.Before(at) {
			at = t
		}
	}
	for _, g := range f.grace {
		if at.IsZero() || g.at.Before(at) {
			at = g.at
		}
	}
	return at
}

// step subscribes the next rooms the budget allows and fetches pending catch-ups. The
// worker has synced the open rooms' typing and presence just before (they go before
// background deletions).
func (f *follower) step(ctx context.Context) {
	now := time.Now()
	f.grace = slices.DeleteFunc(f.grace, func(g graceFetch) bool {
		if g.at.After(now) {
			return false
		}
		if !slices.Contains(f.catchup, g.rid) {
			f.catchup = append(f.catchup, g.rid)
		}
		return true
	})
	per := len(roomEvents)
	if n := f.r.subAvailable(now) / per; n > 0 && len(f.queue) > 0 && !now.Before(f.r.subPause) {
		n = min(n, len(f.queue))
		todo := slices.Clone(f.queue[:n])
		f.queue = f.queue[n:]
		subs := make([]ddp.Sub, 0, len(todo)*per)
		for _, rid := range todo {
			for _, ev := range roomEvents {
				subs = append(subs, ddp.Sub{Name: streamNotifyRoom, Params: []any{rid + "/" + ev, streamOpts()}})
				f.r.subSent = append(f.r.subSent, now)
			}
		}
		sctx, cancel := context.WithTimeout(ctx, f.r.opts.DialTimeout)
		ids, errs := f.c.SubscribeEach(sctx, subs...)
		cancel()
		ready := time.Now()
		var retry []string
		var retryErr error
		for i, rid := range todo {
			rids, rerrs := ids[i*per:(i+1)*per], errs[i*per:(i+1)*per]
			var err error
			for _, e := range rerrs {
				if e != nil {
					err = e
					break
				}
			}
			if err == nil {
				f.followed[rid] = followed{ids: slices.Clone(rids), at: ready}
				if f.r.touchedSince(rid, f.since) && !slices.Contains(f.catchup, rid) {
					f.catchup = append(f.catchup, rid)
				}
				continue
			}
			for _, id := range rids { // all of a room's events or none
				if id != "" {
					_ = f.c.Unsubscribe(ctx, id)
				}
			}
			var me *ddp.Error
			switch {
			case errors.As(err, &me) && me.Code == "too-many-requests":
				retry, retryErr = append(retry, rid), err
				f.r.pauseSubs(ready, me)
			case ctx.Err() == nil && !errors.As(err, &me):
				retry, retryErr = append(retry, rid), err // timeout or connection trouble
			default:
				f.r.log.Warn("rocketchat: cannot follow room deletions", "rid", rid, "err", err)
			}
		}
		if len(retry) > 0 {
			f.r.log.Warn("rocketchat: room subscriptions refused, retrying", "rooms", len(retry), "err", retryErr)
			f.queue = append(retry, f.queue...)
		}
	}
	f.fetchCatchups(ctx)
}

// fetchCatchups fetches the deletions of the rooms marked for it since the connection began;
// a room whose fetch fails stays marked.
func (f *follower) fetchCatchups(ctx context.Context) {
	if len(f.catchup) == 0 || f.r.opts.Client == nil {
		f.catchup = nil
		return
	}
	if time.Now().Before(f.retryAt) {
		return
	}
	cred := Credentials{UserID: f.r.opts.UserID, Token: f.r.opts.Token}
	var failed []string
	for _, rid := range f.catchup {
		rctx, cancel := context.WithTimeout(ctx, f.r.opts.DialTimeout)
		_, deleted, err := f.r.opts.Client.SyncMessages(rctx, cred, rid, f.since.Add(-catchupSlack))
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				f.r.log.Warn("rocketchat: fetching a room's deletions failed", "rid", rid, "err", err)
				failed = append(failed, rid)
			}
			continue
		}
		for _, d := range deleted {
			var m struct {
				ID string `json:"_id"`
			}
			if json.Unmarshal(d, &m) != nil || m.ID == "" {
				continue
			}
			f.r.roomMu.Lock()
			_, seen := f.r.deleted[m.ID]
			f.r.roomMu.Unlock()
			if !seen {
				f.r.send(MessageDeletedEvent{RoomID: rid, MessageID: m.ID})
			}
		}
	}
	f.catchup = failed
	if len(failed) == 0 {
		f.fails, f.retryAt = 0, time.Time{}
		return
	}
	f.fails++
	f.retryAt = time.Now().Add(min(time.Second<<min(f.fails-1, 5), 30*time.Second))
}

// timeToReset reads details.timeToReset (ms) of a too-many-requests error; a second if absent.
func timeToReset(e *ddp.Error) time.Duration {
	var d struct {
		TimeToReset float64 `json:"timeToReset"`
	}
	if json.Unmarshal(e.Details, &d) != nil || d.TimeToReset <= 0 {
		return time.Second
	}
	return time.Duration(d.TimeToReset * float64(time.Millisecond))
}

// pauseSubs stops room subscriptions for the timeToReset of a too-many-requests answer
// received at from (never shortening a longer pause). Used by the room worker only.
func (r *Realtime) pauseSubs(from time.Time, e *ddp.Error) {
	if until := from.Add(timeToReset(e)); until.After(r.subPause) {
		r.subPause = until
	}
}

// subAvailable is how many room subscriptions the budget allows now; it forgets sends older
// than the window. Used by the room worker only.
func (r *Realtime) subAvailable(now time.Time) int {
	cut := 0
	for cut < len(r.subSent) && now.Sub(r.subSent[cut]) >= r.opts.RoomSubWindow {
		cut++
	}
	r.subSent = r.subSent[cut:]
	return max(r.opts.RoomSubBudget-len(r.subSent), 0)
}

// subFree is when the budget next allows need room subscriptions at once (a room's events
// go together: waiting for one free slot when a room needs two would wake for nothing).
func (r *Realtime) subFree(now time.Time, need int) time.Time {
	need = min(need, r.opts.RoomSubBudget)
	t := now
	if r.subAvailable(now) < need {
		// The oldest sends must leave the window until need are free.
		drop := len(r.subSent) - (r.opts.RoomSubBudget - need)
		t = r.subSent[drop-1].Add(r.opts.RoomSubWindow)
	}
	if r.subPause.After(t) {
		t = r.subPause
	}
	return t
}

// onBulkDeleted handles a deleteMessageBulk (onData): the ids it names are reported at once;
// criteria without ids make the room's deletions be fetched (chat.syncMessages lists the
// pruned messages as deleted).
func (r *Realtime) onBulkDeleted(b bulkDeleted) {
	if len(b.IDs) > 0 {
		for _, id := range b.IDs {
			r.send(MessageDeletedEvent{RoomID: b.RoomID, MessageID: id})
		}
		return
	}
	r.queueRoomOp(roomOp{rid: b.RoomID, kind: opFetch})
}

// queueRoomOp hands op to the connection's room worker.
func (r *Realtime) queueRoomOp(op roomOp) {
	r.roomMu.Lock()
	r.roomOps = append(r.roomOps, op)
	r.roomMu.Unlock()
	r.wakeRooms()
}

// wakeRooms has the live connection's room worker apply room ops and Watch changes; one
// already running or starting covers this wake-up. Between connections there is nothing to
// wake: the next connection's worker starts with the current ops and Watch sets.
func (r *Realtime) wakeRooms() {
	if w := r.rooms.Load(); w != nil {
		w.kick()
	}
}

// roomWorker runs one connection's follower without a goroutine of its own while the
// follower has nothing to do: a wake-up (wakeRooms) or the follower's next due time (a
// timer) starts a goroutine that applies the queued room ops, syncs the Watch sets, takes
// one step if one is due, arms the timer for the next and ends. At most one such goroutine
// runs at a time, so the follower is still used by one goroutine at a time. connection
// starts the worker once the connection is set up and stops it (waiting for its goroutine)
// before it returns.
type roomWorker struct {
	r      *Realtime
	ctx    context.Context // ends when the connection does
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	fl      *follower   // nil until start
	running bool        // a goroutine works; it looks at again before it ends
	again   bool        // kicked while running
	stopped bool        // no goroutine starts any more
	timer   *time.Timer // the next due step; nil until first armed
}

func (r *Realtime) newRoomWorker(ctx context.Context) *roomWorker {
	w := &roomWorker{r: r}
	w.ctx, w.cancel = context.WithCancel(ctx)
	return w
}

// start hands the set-up connection's follower to the worker, makes it the one wakeRooms
// reaches and runs a first round (queued ops, Watch sets, the first room subscriptions).
func (w *roomWorker) start(fl *follower) {
	w.mu.Lock()
	w.fl = fl
	w.mu.Unlock()
	w.r.rooms.Store(w)
	w.kick()
}

// kick starts a round, or has the running one go again.
func (w *roomWorker) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.fl == nil {
		return
	}
	if w.running {
		w.again = true
		return
	}
	w.running = true
	w.wg.Add(1)
	go w.work()
}

// work is a worker's goroutine: rounds until no kick came during the last one.
func (w *roomWorker) work() {
	defer w.wg.Done()
	fl, ctx := w.fl, w.ctx // fl is set before the first kick and never changes
	for {
		w.r.roomMu.Lock()
		ops := w.r.roomOps
		w.r.roomOps = nil
		w.r.roomMu.Unlock()
		for _, op := range ops {
			fl.apply(ctx, op)
		}
		now := time.Now()
		fl.syncTyping(ctx, now) // a changed Watch set applies at once
		fl.syncPresence(ctx, now)
		// One step per round, as the timer allows: what is still due after it runs in the
		// next round, through the timer.
		at := fl.next(time.Now())
		if !at.IsZero() && !at.After(time.Now()) {
			fl.step(ctx)
			at = fl.next(time.Now())
		}
		w.mu.Lock()
		if w.again && !w.stopped {
			w.again = false
			w.mu.Unlock()
			continue
		}
		w.running = false
		switch {
		case at.IsZero() || w.stopped:
			if w.timer != nil {
				w.timer.Stop()
			}
		default:
			if w.timer == nil {
				w.timer = time.AfterFunc(time.Until(at), w.kick)
			} else {
				w.timer.Reset(time.Until(at))
			}
		}
		w.mu.Unlock()
		return
	}
}

// stop ends the worker: no round starts any more, the one running is cancelled and waited
// for.
func (w *roomWorker) stop() {
	w.r.rooms.CompareAndSwap(w, nil)
	w.mu.Lock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
}

// touch records that rid changed (onData, for rooms-changed). A room the follower has
// settled (followed, its grace fetch queued or its grace over) needs no op: a busy room sends
// one rooms-changed per message, and waking the room worker for each would cost every
// member's upstream a wake-up per message.
func (r *Realtime) touch(rid string) {
	r.roomMu.Lock()
	r.touched[rid] = time.Now()
	if _, ok := r.settled[rid]; ok {
		r.roomMu.Unlock()
		return
	}
	r.roomOps = append(r.roomOps, roomOp{rid: rid, kind: opTouch})
	r.roomMu.Unlock()
	r.wakeRooms()
}

// touchedSince reports whether a rooms-changed for rid arrived at or after t.
func (r *Realtime) touchedSince(rid string, t time.Time) bool {
	r.roomMu.Lock()
	defer r.roomMu.Unlock()
	at, ok := r.touched[rid]
	return ok && !at.Before(t)
}
