package session

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// Presence of the people a user's open rooms are with.
//
// The users followed are the partners of the 1:1 direct rooms among the rooms the user's tabs
// have open (Watch, typing.go): a room's partner comes from rooms.info (a direct room's uids
// and usernames), looked up once per room and upstream period. The upstream follows them
// (rocketchat.Realtime.WatchUsers, one stream-user-presence subscription); once that is live
// (rocketchat.PresenceFollowedEvent, again after a reconnect) each partner's current status
// is read from users.presence and pushed, so no change falls between the read and the
// stream. Every followed partner's last status is pushed again (from memory: the stream keeps
// it current) when a tab reports other rooms than before (a new tab, or one that opened a
// room: it does not know what other tabs were sent). Group
// direct rooms (more than two people) and other room types have no partner.

// presencePartner is one followed user.
type presencePartner struct{ id, username string }

// presenceWork is an upstream's presence follower. It has no goroutine while there is
// nothing to do: a signal (presPoke) starts one on u.bg that works until no signal is left.
type presenceWork struct {
	work demandWorker // presWake | presRefresh | presLive; steps are upstream.presenceWork

	// The worker's alone (one goroutine at a time).
	partners map[string]presencePartner // by rid; zero value: not a 1:1 direct room
	rooms    []string                   // the open rooms want was computed for
	want     []presencePartner
	live     map[string]bool // ids whose subscription is live on the upstream

	mu      sync.Mutex
	liveIDs []string // from PresenceFollowedEvent (emit), taken by the worker
	// The last status pushed per user id, and a count of stream events per id: a
	// users.presence answer is dropped when a stream event for that user came in meanwhile
	// (it may be older). Pushes happen under mu, so they leave in the order they were decided.
	known map[string]string
	seq   map[string]uint64
}

// Signals to the presence worker.
const (
	presWake    = 1 << iota // the open rooms may have changed
	presRefresh             // push every followed status again
	presLive                // liveIDs has news
)

func newPresenceWork() *presenceWork {
	return &presenceWork{partners: map[string]presencePartner{}, live: map[string]bool{},
		known: map[string]string{}, seq: map[string]uint64{}}
}

// streamPresence pushes a status change from the stream (emit's goroutine).
func (u *upstream) streamPresence(ev rocketchat.PresenceEvent) {
	w := u.pres
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq[ev.UserID]++
	w.known[ev.UserID] = ev.Status
	u.m.push(u.ctx, u.ul, ev)
}

// followed records user ids whose subscription became live (emit's goroutine) and has the
// worker push their current status.
func (u *upstream) presFollowed(ids []string) {
	u.pres.followed(ids)
	u.presPoke(presLive)
}

func (w *presenceWork) followed(ids []string) {
	w.mu.Lock()
	w.liveIDs = append(w.liveIDs, ids...)
	w.mu.Unlock()
}

func (w *presenceWork) takeLive() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := w.liveIDs
	w.liveIDs = nil
	return ids
}

// presPoke signals the presence worker, starting its goroutine (on u.bg, which serve waits
// for) unless one runs. serve starts the worker and stops it before it waits.
func (u *upstream) presPoke(sig int) { u.pres.work.signal(sig) }

// presenceWork follows the open direct rooms' partners: one round for the signals sigs
// (the worker's step).
func (u *upstream) presenceWork(sigs int) {
	w := u.pres
	if u.ctx.Err() != nil {
		return
	}
	var push, pushKnown []presencePartner
	if sigs&(presWake|presRefresh) != 0 {
		w.want = u.partners(&w.rooms, sigs&presRefresh != 0)
	}
	if sigs&presRefresh != 0 {
		for _, p := range w.want {
			if w.live[p.id] { // the others are pushed when they become live
				pushKnown = append(pushKnown, p)
			}
		}
	}
	if sigs&presLive != 0 {
		for _, id := range w.takeLive() {
			w.live[id] = true
			if i := slices.IndexFunc(w.want, func(p presencePartner) bool { return p.id == id }); i >= 0 {
				push = append(push, w.want[i])
			}
		}
	}
	for id := range w.live {
		if !slices.ContainsFunc(w.want, func(p presencePartner) bool { return p.id == id }) {
			delete(w.live, id) // no longer followed: live again only after a new announcement
		}
	}
	u.pushCurrent(push)
	u.pushKnown(pushKnown)
}

// partners recomputes the followed partners from the open rooms when they changed (or force)
// and hands them to the upstream; rooms is the set they were last computed for.
func (u *upstream) partners(rooms *[]string, force bool) []presencePartner {
	now := u.m.watch.rooms(u.ul.id, time.Now())
	var want []presencePartner
	for _, rid := range now {
		p, ok := u.pres.partners[rid]
		if !ok {
			p, ok = u.partnerOf(rid)
			if !ok {
				continue // lookup failed: tried again on the next wake
			}
			u.pres.partners[rid] = p
		}
		if p.id != "" && !slices.Contains(want, p) {
			want = append(want, p)
		}
	}
	if force || !slices.Equal(now, *rooms) {
		ids := make([]string, len(want))
		for i, p := range want {
			ids[i] = p.id
		}
		u.rt.WatchUsers(ids)
	}
	*rooms = now
	return want
}

// partnerOf is the other person of a 1:1 direct room (zero for any other room, and for a room
// Rocket.Chat refuses to this user: a tab may report any id, and asking again will not change
// the answer); ok is false when rooms.info failed in a way worth retrying.
func (u *upstream) partnerOf(rid string) (presencePartner, bool) {
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	room, err := u.m.o.Client.RoomInfo(ctx, u.cred, rid)
	if err != nil {
		if refused(err) {
			return presencePartner{}, true
		}
		if u.ctx.Err() == nil {
			u.log.Warn("presence: room lookup failed", "rid", rid, "err", err)
		}
		return presencePartner{}, false
	}
	var d struct {
		T         string   `json:"t"`
		UIDs      []string `json:"uids"`
		Usernames []string `json:"usernames"`
	}
	if json.Unmarshal(room.Raw, &d) != nil || d.T != "d" || len(d.UIDs) != 2 || len(d.Usernames) != 2 {
		return presencePartner{}, true
	}
	var p presencePartner
	for _, id := range d.UIDs {
		if id != u.cred.UserID {
			p.id = id
		}
	}
	self := u.m.Username(u.ul.id)
	for _, name := range d.Usernames {
		if name != self {
			p.username = name
		}
	}
	if p.id == "" || p.username == "" {
		return presencePartner{}, true
	}
	return p, true
}

// pushKnown pushes the last status pushed for each of ps (their subscription is live, so it is
// still current), reading users.presence only for those never pushed.
func (u *upstream) pushKnown(ps []presencePartner) {
	w := u.pres
	var unknown []presencePartner
	w.mu.Lock()
	for _, p := range ps {
		if st, ok := w.known[p.id]; ok {
			u.m.push(u.ctx, u.ul, rocketchat.PresenceEvent{UserID: p.id, Username: p.username, Status: st})
		} else {
			unknown = append(unknown, p)
		}
	}
	w.mu.Unlock()
	u.pushCurrent(unknown)
}

// pushCurrent reads the current status of ps (users.presence) and pushes it, except for a user
// whose stream event arrived during the read.
func (u *upstream) pushCurrent(ps []presencePartner) {
	if len(ps) == 0 {
		return
	}
	w := u.pres
	ids := make([]string, len(ps))
	before := make([]uint64, len(ps))
	w.mu.Lock()
	for i, p := range ps {
		ids[i], before[i] = p.id, w.seq[p.id]
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	st, err := u.m.o.Client.UsersPresence(ctx, u.cred, ids)
	if err != nil {
		if u.ctx.Err() == nil {
			u.log.Warn("presence: users.presence failed", "err", err)
		}
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, p := range ps {
		if w.seq[p.id] != before[i] {
			continue // the stream's newer status went out already
		}
		w.known[p.id] = st[p.id]
		u.m.push(u.ctx, u.ul, rocketchat.PresenceEvent{UserID: p.id, Username: p.username, Status: st[p.id]})
	}
}

// presencePush is the getPresenceNotification push.
func presencePush(e rocketchat.PresenceEvent) (Push, bool) {
	arg, err := json.Marshal(struct {
		UserID   string `json:"userId"`
		Username string `json:"username"`
		Status   string `json:"status"`
	}{e.UserID, e.Username, e.Status})
	if err != nil {
		return Push{}, false
	}
	return Push{Target: TargetPresence, Arg: arg}, true
}
