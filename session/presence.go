package session

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// Presence of the people a user's open rooms are with.
//
// The users followed are the partners of the 1:1 direct rooms among the rooms the user's tabs
// have open (Watch, typing.go): a room's partner comes from rooms.info (a direct room's uids
// and usernames), looked up once per room and upstream period. The upstream follows them
// (rocketchat.Realtime.WatchUsers, one stream-user-presence subscription), and each partner
// newly followed gets its current status pushed once from users.presence. Every partner's is
// pushed again when a tab reports other rooms than before (a new tab, or one that opened a
// room: it does not know the statuses other tabs were sent) and after the upstream
// reconnects (changes during the gap were not seen). Group
// direct rooms (more than two people) and other room types have no partner.

// presencePartner is one followed user.
type presencePartner struct{ id, username string }

// presenceWork is the state of an upstream's presence goroutine (presenceLoop).
type presenceWork struct {
	wake     chan struct{}              // capacity 1: the open rooms may have changed
	refresh  chan struct{}              // capacity 1: push every followed status again
	partners map[string]presencePartner // by rid; zero value: not a 1:1 direct room
}

func newPresenceWork() presenceWork {
	return presenceWork{wake: make(chan struct{}, 1), refresh: make(chan struct{}, 1), partners: map[string]presencePartner{}}
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
	var followed []presencePartner
	for {
		refresh := false
		select {
		case <-u.ctx.Done():
			return
		case <-u.pres.wake:
		case <-u.pres.refresh:
			refresh = true
		}
		now := u.m.watch.rooms(u.ul.id, time.Now())
		if slices.Equal(now, rooms) && !refresh {
			continue
		}
		rooms = now
		var want []presencePartner
		for _, rid := range rooms {
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
		ids := make([]string, len(want))
		for i, p := range want {
			ids[i] = p.id
		}
		u.rt.WatchUsers(ids)
		var fresh []presencePartner
		for _, p := range want {
			if refresh || !slices.Contains(followed, p) {
				fresh = append(fresh, p)
			}
		}
		followed = want
		u.pushCurrent(fresh)
	}
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

// pushCurrent pushes the current status of ps (users.presence).
func (u *upstream) pushCurrent(ps []presencePartner) {
	if len(ps) == 0 {
		return
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.id
	}
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	st, err := u.m.o.Client.UsersPresence(ctx, u.cred, ids)
	if err != nil {
		if u.ctx.Err() == nil {
			u.log.Warn("presence: users.presence failed", "err", err)
		}
		return
	}
	for _, p := range ps {
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
