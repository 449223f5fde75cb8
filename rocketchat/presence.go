package rocketchat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/ddp"
)

// User presence (status).
//
// Rocket.Chat 7.x–9.x stream a user's status two ways: stream-notify-logged "user-status"
// sends every status change in the workspace to every logged-in subscriber, and
// stream-user-presence sends only the users a connection asked for
// (apps/meteor/server/modules/listeners/listeners.module.ts "presence.status" emits both).
// The upstream uses stream-user-presence: its cost is one subscription per connection plus one
// per change of the followed list, and the traffic is only the users someone looks at, while
// user-status would send each upstream every change of every user. On stream-user-presence
// the connection's first subscription is the live one; its options {added, removed} name the
// user ids to follow, and each later subscription only edits that list and is stopped by the
// server at once with a plain nosub (apps/meteor/app/notifications/server/lib/Presence.ts;
// the web client subscribes that way in apps/meteor/client/lib/presence.ts). Events are
// changed {eventName: uid, args: [[username, code, statusText]]} with code 0 offline,
// 1 online, 2 away, 3 busy (STATUS_MAP in listeners.module.ts).
//
// The users to follow are set with WatchUsers; the subscriptions come out of the paced budget
// (follow.go) after the open rooms' typing and before deletion subscriptions.

// PresenceEvent is a followed user's new status: "online", "away", "busy" or "offline".
type PresenceEvent struct {
	UserID, Username, Status string
}

func (PresenceEvent) isEvent() {}

// PresenceFollowedEvent: the upstream now follows the status of UserIDs (their subscription is
// live on this connection; again for all of them after a reconnect). A status read from now on
// misses no change: the caller reads the current status here, not when it calls WatchUsers.
type PresenceFollowedEvent struct {
	UserIDs []string
}

func (PresenceFollowedEvent) isEvent() {}

const streamUserPresence = "stream-user-presence"

// statusNames maps Rocket.Chat's presence codes to status names; anything else is offline
// (a newer "disabled" among them).
var statusNames = []string{"offline", "online", "away", "busy"}

func decodePresence(uid string, args []json.RawMessage) (Event, error) {
	if uid == "" || len(args) == 0 {
		return nil, errors.New("rocketchat: stream-user-presence without a user")
	}
	var inner []json.RawMessage
	if err := json.Unmarshal(args[0], &inner); err != nil || len(inner) < 2 {
		return nil, fmt.Errorf("rocketchat: stream-user-presence args: %w", errors.Join(err, errors.New("want [username, status, statusText]")))
	}
	var username string
	var code int
	if err := json.Unmarshal(inner[0], &username); err != nil {
		return nil, fmt.Errorf("rocketchat: stream-user-presence username: %w", err)
	}
	if err := json.Unmarshal(inner[1], &code); err != nil {
		return nil, fmt.Errorf("rocketchat: stream-user-presence status: %w", err)
	}
	st := "offline"
	if code >= 0 && code < len(statusNames) {
		st = statusNames[code]
	}
	return PresenceEvent{UserID: uid, Username: username, Status: st}, nil
}

// WatchUsers sets the user ids whose status the upstream follows (replacing the previous
// set). It returns at once; the subscription follows within the budget, and again after a
// reconnect, each time announced by a PresenceFollowedEvent for the ids it added.
func (r *Realtime) WatchUsers(uids []string) {
	r.roomMu.Lock()
	r.watchUsers = slices.Clone(uids)
	r.roomMu.Unlock()
	r.wakeRooms()
}

func (r *Realtime) watchedUsers() []string {
	r.roomMu.Lock()
	defer r.roomMu.Unlock()
	return slices.Clone(r.watchUsers)
}

// presenceState is a connection's stream-user-presence subscription.
type presenceState struct {
	live string   // the live subscription's id, "" before the first is ready
	have []string // the user ids the server follows for this connection
}

// syncPresence makes the followed users match WatchUsers with one subscription (the first
// one, or one editing the list), as the budget allows.
func (f *follower) syncPresence(ctx context.Context, now time.Time) {
	want := f.r.watchedUsers()
	var added, removed []string
	for _, id := range want {
		if !slices.Contains(f.pres.have, id) {
			added = append(added, id)
		}
	}
	for _, id := range f.pres.have {
		if !slices.Contains(want, id) {
			removed = append(removed, id)
		}
	}
	if (len(added) == 0 && len(removed) == 0) || now.Before(f.r.subPause) || f.r.subAvailable(now) == 0 {
		return
	}
	if f.pres.live == "" && len(added) == 0 {
		return // nothing followed yet and nothing to follow
	}
	opts := map[string]any{}
	if len(added) > 0 {
		opts["added"] = added
	}
	if len(removed) > 0 {
		opts["removed"] = removed
	}
	f.r.subSent = append(f.r.subSent, now)
	sctx, cancel := context.WithTimeout(ctx, f.r.opts.DialTimeout)
	ids, errs := f.c.SubscribeEach(sctx, ddp.Sub{Name: streamUserPresence, Params: []any{"", opts}})
	cancel()
	var me *ddp.Error
	switch err := errs[0]; {
	case err == nil:
		f.pres.live = ids[0]
	case errors.As(err, &me) && me.Code == "too-many-requests":
		f.r.pauseSubs(time.Now(), me)
		return
	case errors.As(err, &me):
		f.r.log.Warn("rocketchat: cannot follow presence", "err", err)
		f.pres.have = want // not retried until WatchUsers changes
		return
	case f.pres.live != "" && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded):
		// A list edit: the server applied it and stopped the subscription (plain nosub).
	default:
		return // timed out or connection lost: retried
	}
	f.pres.have = want
	if len(added) > 0 {
		f.r.send(PresenceFollowedEvent{UserIDs: added})
	}
}

// presencePending reports whether the followed users differ from WatchUsers.
func (f *follower) presencePending() bool {
	want := f.r.watchedUsers()
	if f.pres.live == "" && len(want) == 0 {
		return false
	}
	return !sameSet(want, f.pres.have)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// UsersPresence is GET users.presence?ids=…: the status of each id. Rocket.Chat lists only
// the users who are not offline (Users.findNotOfflineByIds in
// apps/meteor/app/api/server/v1/users.ts), so an id it leaves out is "offline".
func (c *Client) UsersPresence(ctx context.Context, cred Credentials, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var resp struct {
		Users []struct {
			ID     string `json:"_id"`
			Status string `json:"status"`
		} `json:"users"`
	}
	err := c.do(ctx, request{method: http.MethodGet, endpoint: "users.presence", cred: &cred,
		query: url.Values{"ids": {strings.Join(ids, ",")}}}, &resp)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		out[id] = "offline"
	}
	for _, u := range resp.Users {
		if _, ok := out[u.ID]; ok && slices.Contains(statusNames, u.Status) {
			out[u.ID] = u.Status
		}
	}
	return out, nil
}
