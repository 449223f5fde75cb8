package session

import (
	"encoding/json"
	"slices"
	"sync"
)

// roomBook is what a user's session knows of the user's subscriptions: which subscription _id
// belongs to which room. It outlives upstream connections, because a removal that happened in
// a gap comes back from subscriptions.get?updatedSince as {_id, _deletedAt} only (the trash
// projection of getSubscriptions, apps/meteor/server/publications/subscription/index.ts), and
// its room is known only from what was seen before. Its rooms are also the rooms a resync
// checks for changed messages.
type roomBook struct {
	mu    sync.Mutex
	bySub map[string]string // subscription _id -> rid
}

// note records a subscription object.
func (b *roomBook) note(raw json.RawMessage) {
	var s struct {
		ID  string `json:"_id"`
		RID string `json:"rid"`
	}
	if json.Unmarshal(raw, &s) == nil {
		b.add(s.ID, s.RID)
	}
}

// add records that subscription subID is of room rid (both known).
func (b *roomBook) add(subID, rid string) {
	if subID == "" || rid == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bySub == nil {
		b.bySub = map[string]string{}
	}
	b.bySub[subID] = rid
}

// remove forgets a subscription (by _id, or by rid when the _id is unknown) and returns its
// room, "" if it was not known.
func (b *roomBook) remove(subID, rid string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.bySub[subID]; ok {
		delete(b.bySub, subID)
		return r
	}
	if rid != "" {
		for id, r := range b.bySub {
			if r == rid {
				delete(b.bySub, id)
			}
		}
	}
	return rid
}

// rooms lists the rooms of the known subscriptions, sorted.
func (b *roomBook) rooms() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.bySub))
	for _, rid := range b.bySub {
		out = append(out, rid)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// withRoom returns the removed-subscription object raw ({_id, _deletedAt}) with "rid" added.
func withRoom(raw json.RawMessage, rid string) json.RawMessage {
	var m map[string]json.RawMessage
	if rid == "" || json.Unmarshal(raw, &m) != nil {
		return raw
	}
	if _, ok := m["rid"]; ok {
		return raw
	}
	m["rid"], _ = json.Marshal(rid)
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}
