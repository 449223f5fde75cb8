package rocketchat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/ddp"
)

// Typing indicators.
//
// Rocket.Chat announces typing only on stream-notify-room <rid>/user-activity, one
// subscription per room, with args [username, activities] where activities holds
// "user-typing" while the user types and is empty when they stop
// (apps/meteor/server/modules/notifications/notifications.module.ts streamRoom.allowWrite;
// the older <rid>/typing twin was removed in 6.0, RocketChat/Rocket.Chat#28234). Following
// it for every room would spend the DDP subscription budget (follow.go) on rooms nobody
// looks at, so the upstream follows it only for the rooms Watch names (the rooms a tab of
// the user has open). Those subscriptions come out of the same paced budget as the
// deletion subscriptions and go first; a room no longer watched is unsubscribed (an unsub
// is not rate limited).

// ErrNotConnected is returned by calls that need the upstream's live connection while it is
// (re)connecting.
var ErrNotConnected = errors.New("rocketchat: realtime: not connected")

// UserActivityEvent is stream-notify-room <rid>/user-activity: Username is typing (Typing)
// or stopped. Rocket.Chat does not send a connection its own writes, but the user's other
// clients' typing does arrive: the caller filters its own username.
type UserActivityEvent struct {
	RoomID, Username string
	Typing           bool
}

func (UserActivityEvent) isEvent() {}

const typingEvent = "user-activity"

// ValidID reports whether id can be a Rocket.Chat id (a room's, a message's, a user's) in a
// path or an event name: 1 to 64 characters, none of them a separator (/?#&%) or white space.
// Rocket.Chat's own ids are 17 (Random.id) or, for direct rooms, two of them.
func ValidID(id string) bool {
	return id != "" && len(id) <= 64 && !strings.ContainsAny(id, "/?#&% \t\r\n")
}

// Watch sets the rooms whose typing the upstream follows (replacing the previous set); ids
// that cannot be room ids are left out, since they would become event names. It returns at
// once; the subscriptions follow within the budget, and again after a reconnect.
func (r *Realtime) Watch(rids []string) {
	keep := make([]string, 0, len(rids))
	for _, rid := range rids {
		if ValidID(rid) {
			keep = append(keep, rid)
		}
	}
	r.roomMu.Lock()
	r.watch = keep
	r.roomMu.Unlock()
	r.wakeRooms()
}

// watched returns the current Watch set.
func (r *Realtime) watched() []string {
	r.roomMu.Lock()
	defer r.roomMu.Unlock()
	return slices.Clone(r.watch)
}

// NotifyTyping reports the user's own typing in rid to Rocket.Chat as its web client does:
// the DDP method stream-notify-room with [<rid>/user-activity, username, ["user-typing"] or
// [], {}]. username must be the user's own (Rocket.Chat ignores the write otherwise, without
// an error). ErrNotConnected while the upstream is down.
func (r *Realtime) NotifyTyping(ctx context.Context, rid, username string, typing bool) error {
	if !ValidID(rid) {
		return fmt.Errorf("rocketchat: stream-notify-room user-activity: invalid room id %q", rid)
	}
	r.curMu.Lock()
	c := r.cur
	r.curMu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	activities := []string{}
	if typing {
		activities = append(activities, "user-typing")
	}
	if _, err := c.Call(ctx, streamNotifyRoom, rid+"/"+typingEvent, username, activities, map[string]any{}); err != nil {
		return fmt.Errorf("rocketchat: stream-notify-room user-activity: %w", err)
	}
	return nil
}

// syncTyping makes the connection's typing subscriptions match the Watch set: it
// unsubscribes rooms no longer watched and subscribes watched rooms as far as the budget
// allows (before any deletion subscription).
func (f *follower) syncTyping(ctx context.Context, now time.Time) {
	want := f.r.watched()
	for rid, id := range f.typing {
		if !slices.Contains(want, rid) {
			delete(f.typing, rid)
			_ = f.c.Unsubscribe(ctx, id)
		}
	}
	var todo []string
	for _, rid := range want {
		if _, ok := f.typing[rid]; !ok && !slices.Contains(todo, rid) {
			todo = append(todo, rid)
		}
	}
	if len(todo) == 0 || now.Before(f.r.subPause) {
		return
	}
	todo = todo[:min(len(todo), f.r.subAvailable(now))]
	if len(todo) == 0 {
		return
	}
	subs := make([]ddp.Sub, len(todo))
	for i, rid := range todo {
		subs[i] = ddp.Sub{Name: streamNotifyRoom, Params: []any{rid + "/" + typingEvent, streamOpts()}}
		f.r.subSent = append(f.r.subSent, now)
	}
	sctx, cancel := context.WithTimeout(ctx, f.r.opts.DialTimeout)
	ids, errs := f.c.SubscribeEach(sctx, subs...)
	cancel()
	for i, rid := range todo {
		if errs[i] == nil {
			f.typing[rid] = ids[i]
			continue
		}
		var me *ddp.Error
		switch {
		case errors.As(errs[i], &me) && me.Code == "too-many-requests":
			f.r.pauseSubs(time.Now(), me)
		case errors.As(errs[i], &me):
			// Not allowed (left the room, or never in it): do not retry until Watch changes.
			f.r.log.Warn("rocketchat: cannot follow typing", "rid", rid, "err", errs[i])
			f.typing[rid] = ""
		}
	}
}

// typingPending reports whether watched rooms wait for a typing subscription.
func (f *follower) typingPending() bool {
	for _, rid := range f.r.watched() {
		if _, ok := f.typing[rid]; !ok {
			return true
		}
	}
	return false
}
