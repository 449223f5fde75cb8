package session

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// Typing indicators: which rooms a user's tabs have open, and the user's own typing.
//
// A tab reports the rooms it shows (Watch, refreshed while they stay open); the union over
// the user's tabs is what the upstream follows typing for (rocketchat.Realtime.Watch), so
// only the rooms someone looks at cost DDP subscriptions. A tab that stops refreshing drops
// out after WatchTTL. The user's own typing goes out on the upstream (Typing).
//
// Cluster: a call landing on a node that does not run the user's upstream is forwarded to the
// node that does (Options.Relay, relay.go); Typing answers ErrNoUpstream only when no node
// runs it (docs/realtime.md, "Typing in a cluster").

// WatchTTL is how long a tab's open rooms count without a refresh.
const WatchTTL = 60 * time.Second

// ErrNoUpstream: the user's upstream does not run on this node (or is reconnecting).
var ErrNoUpstream = errors.New("session: no upstream for this user on this node")

// maxWatchedRooms bounds the rooms one tab may report (a tab shows one room, a split view a few).
const maxWatchedRooms = 8

// maxWatchTabs bounds the tabs one user may have reporting rooms. Tab ids are the browser's,
// so without it a client inventing a new id per call could make the followed rooms (DDP
// subscriptions, rooms.info lookups) and this book grow without limit; a new tab beyond it
// replaces the one refreshed least recently.
const maxWatchTabs = 32

type tabRooms struct {
	rooms   []string
	expires time.Time
}

// watchBook is every user's tabs' open rooms on this node.
type watchBook struct {
	mu   sync.Mutex
	tabs map[string]map[string]tabRooms // user → tab → rooms
}

// set records a tab's rooms (none: forget the tab); changed reports whether the tab showed
// other rooms before (a new tab included), not just a refresh.
func (b *watchBook) set(userID, tab string, rooms []string, now time.Time) (changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tabs == nil {
		b.tabs = map[string]map[string]tabRooms{}
	}
	t := b.tabs[userID]
	old, had := t[tab]
	changed = !had || !slices.Equal(old.rooms, rooms)
	if len(rooms) == 0 {
		delete(t, tab)
		if len(t) == 0 {
			delete(b.tabs, userID)
		}
		return changed
	}
	if t == nil {
		t = map[string]tabRooms{}
		b.tabs[userID] = t
	}
	if !had && len(t) >= maxWatchTabs {
		stalest := ""
		for id, tr := range t {
			if stalest == "" || tr.expires.Before(t[stalest].expires) {
				stalest = id
			}
		}
		delete(t, stalest)
	}
	t[tab] = tabRooms{rooms: slices.Clone(rooms), expires: now.Add(WatchTTL)}
	return changed
}

// rooms is the sorted union of the user's live tabs' rooms; expired tabs are forgotten.
func (b *watchBook) rooms(userID string, now time.Time) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for tab, tr := range b.tabs[userID] {
		if !now.Before(tr.expires) {
			delete(b.tabs[userID], tab)
			continue
		}
		for _, rid := range tr.rooms {
			if !slices.Contains(out, rid) {
				out = append(out, rid)
			}
		}
	}
	if len(b.tabs[userID]) == 0 {
		delete(b.tabs, userID)
	}
	slices.Sort(out)
	return out
}

// Watch records the rooms one tab of the user has open (an empty list: none; the tab id is
// the browser's, opaque). Call it again within WatchTTL while they stay open. When the user's
// upstream runs on another node, that node is told too.
func (m *Manager) Watch(ctx context.Context, userID, tab string, rooms []string) error {
	if len(rooms) > maxWatchedRooms {
		rooms = rooms[:maxWatchedRooms]
	}
	m.watchHere(userID, tab, rooms)
	if m.o.Relay != nil && m.realtime(userID) == nil {
		// Best effort: the tab refreshes its rooms every 25 s, and a node that becomes the
		// owner later learns them then (or from this node's book, if it is this one).
		if err := m.forward(ctx, userID, relayMsg{Op: "watch", Tab: tab, Rooms: rooms}); err != nil && !errors.Is(err, ErrNoOwner) {
			m.log.Debug("session: open rooms not forwarded", "user", userID, "err", err)
		}
	}
	return nil
}

// watchHere records a tab's rooms on this node and applies them to the upstream running here.
func (m *Manager) watchHere(userID, tab string, rooms []string) {
	now := time.Now()
	changed := m.watch.set(userID, tab, rooms, now)
	if rt := m.realtime(userID); rt != nil {
		rt.Watch(m.watch.rooms(userID, now))
	}
	m.mu.Lock()
	ul := m.loops[userID]
	m.mu.Unlock()
	if ul != nil && changed {
		// The direct rooms' partners (presence.go): a tab that shows other rooms than before
		// gets their current status, even when another tab already follows them.
		ul.signal(sigWatch)
	}
}

// Typing reports the user's own typing in rid (typing: started; false: stopped) to
// Rocket.Chat on the user's upstream, here or, forwarded without waiting, on the node that
// runs it. ErrNoUpstream when none does, or it is reconnecting here.
func (m *Manager) Typing(ctx context.Context, userID, rid string, typing bool) error {
	if m.o.Relay != nil && m.realtime(userID) == nil {
		err := m.forward(ctx, userID, relayMsg{Op: "typing", RID: rid, Typing: typing})
		if errors.Is(err, ErrNoOwner) {
			return ErrNoUpstream
		}
		return err
	}
	return m.typingHere(ctx, userID, rid, typing)
}

// typingHere sends the user's typing on the upstream running on this node.
func (m *Manager) typingHere(ctx context.Context, userID, rid string, typing bool) error {
	rt := m.realtime(userID)
	if rt == nil {
		return ErrNoUpstream
	}
	err := rt.NotifyTyping(ctx, rid, m.Username(userID), typing)
	if errors.Is(err, rocketchat.ErrNotConnected) {
		return ErrNoUpstream
	}
	return err
}

// realtime is the user's running upstream on this node, nil when none runs.
func (m *Manager) realtime(userID string) *rocketchat.Realtime {
	m.mu.Lock()
	ul := m.loops[userID]
	m.mu.Unlock()
	if ul == nil {
		return nil
	}
	return ul.rt.Load()
}

// syncWatch hands rt the user's open rooms when they changed since last (expiries included);
// it returns what it applied.
func (m *Manager) syncWatch(userID string, rt *rocketchat.Realtime, last []string) []string {
	now := m.watch.rooms(userID, time.Now())
	if !slices.Equal(now, last) {
		rt.Watch(now)
	}
	return now
}

// typingPush is the getTypingNotification push for another user's typing; ok is false for
// the user's own (which Rocket.Chat sends to the user's other clients).
func (t *translator) typingPush(e rocketchat.UserActivityEvent) (Push, bool) {
	if e.Username == t.self {
		return Push{}, false
	}
	arg, err := json.Marshal(struct {
		RID      string `json:"rid"`
		Username string `json:"username"`
		Typing   bool   `json:"typing"`
	}{e.RoomID, e.Username, e.Typing})
	if err != nil {
		return Push{}, false
	}
	return Push{Target: TargetTyping, Arg: arg}, true
}
