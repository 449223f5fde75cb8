// rooms.cleanHistory and bulk deletions. Follows Rocket.Chat's apps/meteor/app/api/server/v1/rooms.ts
// and apps/meteor/app/lib/server/functions/cleanRoomHistory.ts.

package rctest

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// roomsCleanHistory is POST rooms.cleanHistory (apps/meteor/app/api/server/v1/rooms.ts, which
// calls the cleanRoomHistory method and then apps/meteor/app/lib/server/functions/
// cleanRoomHistory.ts): roomId (or roomName), latest and oldest required; inclusive default
// false; the boolean options are true only when given as true/"true"/1/"1", so through REST
// excludePinned, ignoreThreads and ignoreDiscussion default to false; users are usernames.
// It needs clean-channel-history (admin, and the room's owner). Pinned messages and
// discussions are not simulated, so excludePinned and ignoreDiscussion select nothing less.
func (c *call) roomsCleanHistory() reply {
	s := c.s
	id, name := c.str("roomId"), c.str("roomName")
	if id == "" && name == "" {
		return fail("error-roomid-param-not-provided", `The parameter "roomId" or "roomName" is required`, nil)
	}
	r := s.rooms[id]
	if id == "" {
		r = s.roomByName(name)
	}
	if r == nil || !s.canRead(c.u.id, r) {
		return fail("error-room-not-found", `The required "roomId" or "roomName" param provided does not match any channel`, nil)
	}
	latest, okL := parseTime(c.str("latest"))
	oldest, okO := parseTime(c.str("oldest"))
	if !okL {
		return invalidParams("latest")
	}
	if !okO {
		return invalidParams("oldest")
	}
	sb := s.sub(c.u.id, r.id)
	if !hasRole(c.u, "admin") && (sb == nil || !slices.Contains(sb.roles, "owner")) {
		return fail("error-not-allowed", "Not allowed", map[string]any{"method": "cleanRoomHistory"})
	}
	truthy := func(key string) bool {
		raw, ok := c.body[key]
		if !ok {
			return false
		}
		switch string(raw) {
		case "true", `"true"`, "1", `"1"`:
			return true
		}
		return false
	}
	inclusive := c.boolParam("inclusive", false)
	excludePinned, ignoreDiscussion := truthy("excludePinned"), truthy("ignoreDiscussion")
	ignoreThreads, filesOnly := truthy("ignoreThreads"), truthy("filesOnly")
	users := c.strs("users")
	limit := 0
	if raw, ok := c.body["limit"]; ok {
		_ = jsonUnmarshalInt(raw, &limit)
	}
	in := func(m *message) bool {
		if inclusive {
			if m.ts.Before(oldest) || m.ts.After(latest) {
				return false
			}
		} else if !m.ts.After(oldest) || !m.ts.Before(latest) {
			return false
		}
		if ignoreThreads && m.tmid != "" {
			return false
		}
		return len(users) == 0 || slices.Contains(users, s.users[m.uid].username)
	}
	var selected []*message
	for _, m := range s.roomMsgs[r.id] { // oldest first
		if in(m) && (!filesOnly || m.file != nil) {
			selected = append(selected, m)
			if limit > 0 && len(selected) == limit {
				break
			}
		}
	}
	if filesOnly {
		for _, m := range selected {
			m.file = nil
		}
		return ok(map[string]any{"_id": r.id, "count": len(selected)})
	}
	if len(selected) > 0 {
		s.bulkDeleteLocked(r, selected, excludePinned, ignoreDiscussion, inclusive, oldest, latest, users, limit > 0)
	}
	return ok(map[string]any{"_id": r.id, "count": len(selected)})
}

// bulkDeleteLocked removes msgs from r as cleanRoomHistory.ts does: into the trash (so
// chat.syncMessages lists them as deleted), the room's lastMessage reset, rooms-changed to
// every member (notifyOnRoomChangedById), then stream-notify-room <rid>/deleteMessageBulk with
// the criteria; ids (the selected message ids) only when a limit selected them. s.mu held.
func (s *Server) bulkDeleteLocked(r *room, msgs []*message, excludePinned, ignoreDiscussion, inclusive bool,
	oldest, latest time.Time, users []string, withIDs bool) {
	now := time.Now().UTC()
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.id)
		delete(s.msgs, m.id)
		s.deletedMsgs[r.id] = append(s.deletedMsgs[r.id], deletion{id: m.id, at: now})
	}
	s.roomMsgs[r.id] = slices.DeleteFunc(s.roomMsgs[r.id], func(m *message) bool { return slices.Contains(msgs, m) })
	r.msgs -= len(msgs)
	r.lastMessage = s.lastVisibleLocked(r.id)
	r.updatedAt = now
	roomDoc := ejsonOnce(func() map[string]any { return s.roomDoc(r) })
	for _, uid := range r.members {
		s.emitUser(uid, "rooms-changed", "updated", roomDoc)
	}
	gt, lt := "$gt", "$lt"
	if inclusive {
		gt, lt = "$gte", "$lte"
	}
	if users == nil {
		users = []string{}
	}
	payload := map[string]any{"rid": r.id, "excludePinned": excludePinned, "ignoreDiscussion": ignoreDiscussion,
		"ts": map[string]any{gt: oldest, lt: latest}, "users": users}
	if withIDs {
		payload["ids"] = ids
	}
	s.emitNotifyRoom(r, "deleteMessageBulk", payload)
}

// jsonUnmarshalInt reads a JSON number or numeric string.
func jsonUnmarshalInt(raw []byte, v *int) error {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		*v = int(f)
		return nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return err
	}
	n, err := strconv.Atoi(str)
	if err != nil {
		return err
	}
	*v = n
	return nil
}

// CleanHistory prunes rid as an admin's rooms.cleanHistory over all time would (the oldest
// limit messages when limit > 0, all otherwise), emitting what Rocket.Chat emits. It returns how many messages were removed.
func (s *Server) CleanHistory(rid string, limit int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[rid]
	if r == nil {
		panic("rctest: no room " + rid)
	}
	msgs := slices.Clone(s.roomMsgs[rid])
	if limit > 0 && len(msgs) > limit {
		msgs = msgs[:limit]
	}
	if len(msgs) > 0 {
		s.bulkDeleteLocked(r, msgs, false, false, true, time.Time{}, time.Now().UTC(), nil, limit > 0)
	}
	return len(msgs)
}
