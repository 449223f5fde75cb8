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

// presenceWork is the state of an upstream's presence goroutine (presenceLoop).
type presenceWork struct {
	wake     chan struct{}              // capacity 1: the open rooms may have changed
	refresh  chan struct{}              // capacity 1: push every followed status again
	live     chan struct{}              // capacity 1: liveIDs has news
	partners map[string]presencePartner // by rid; zero value: not a 1:1 direct room

	mu      sync.Mutex
	liveIDs []string // from PresenceFollowedEvent (emit), taken by presenceLoop
	// The last status pushed per user id, and a count of stream events per id: a
	// users.presence answer is dropped when a stream event for that user came in meanwhile
	// (it may be older). Pushes happen under mu, so they leave in the order they were decided.
	known map[string]string
	seq   map[string]uint64
}

func newPresenceWork() *presenceWork {
	return &presenceWork{wake: make(chan struct{}, 1), refresh: make(chan struct{}, 1), live: make(chan struct{}, 1),
		partners: map[string]presencePartner{}, known: map[string]string{}, seq: map[string]uint64{}}
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

// followed records user ids whose subscription became live (emit's goroutine).
func (w *presenceWork) followed(ids []string) {
	w.mu.Lock()
	w.liveIDs = append(w.liveIDs, ids...)
	w.mu.Unlock()
	poke(w.live)
}

func (w *presenceWork) takeLive() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := w.liveIDs
	w.liveIDs = nil
	return ids
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// presenceLoop follows the open direct rooms' partners until the period ends. It runs on
// u.bg (started by serve).
func (u *upstream) presenceLoop() {
	var rooms []string
	var want []presencePartner
	live := map[string]bool{} // ids whose subscription is live on the upstream
	for {
		var push, pushKnown []presencePartner
		select {
		case <-u.ctx.Done():
			return
		case <-u.pres.live:
			for _, id := range u.pres.takeLive() {
				live[id] = true
				if i := slices.IndexFunc(want, func(p presencePartner) bool { return p.id == id }); i >= 0 {
					push = append(push, want[i])
				}
			}
		case <-u.pres.refresh:
			want = u.partners(&rooms, true)
			for _, p := range want {
				if live[p.id] { // the others are pushed when they become live
					pushKnown = append(pushKnown, p)
				}
			}
		case <-u.pres.wake:
			want = u.partners(&rooms, false)
		}
		for id := range live {
			if !slices.ContainsFunc(want, func(p presencePartner) bool { return p.id == id }) {
				delete(live, id) // no longer followed: live again only after a new announcement
			}
		}
		u.pushCurrent(push)
		u.pushKnown(pushKnown)
	}
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

// partnerOf is the other person of a 1:1 direct room (zero for any other room); ok is false
// when rooms.info failed.
func (u *upstream) partnerOf(rid string) (presencePartner, bool) {
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	room, err := u.m.o.Client.RoomInfo(ctx, u.cred, rid)
	if err != nil {
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
