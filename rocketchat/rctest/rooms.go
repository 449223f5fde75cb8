// Rooms and subscriptions: channels/groups/im create, info, list, invite, kick, join, leave,
// history, members and messages, rooms.get, rooms.info, subscriptions.*, and the membership
// state they change. Follows Rocket.Chat's apps/meteor/app/api/server/v1/channels.ts, groups.ts,
// im.ts, rooms.ts and subscriptions.ts, apps/meteor/app/lib/server/functions/addUserToRoom.ts,
// removeUserFromRoom.ts, apps/meteor/app/lib/server/methods/addUsersToRoom.ts and
// getChannelHistory.ts; each rule cites its file.

package rctest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

func kindWord(t string) string {
	if t == "p" {
		return "group"
	}
	return "channel"
}

// findRoom resolves roomId/roomName for channels.* (t "c") or groups.* (t "p").
func (c *call) findRoom(t string) (*room, reply, bool) {
	s := c.s
	id, name := c.str("roomId"), c.str("roomName")
	if id == "" && name == "" {
		return nil, fail("error-roomid-param-not-provided", `The parameter "roomId" or "roomName" is required`, nil), false
	}
	var r *room
	if id != "" {
		r = s.rooms[id]
	} else {
		r = s.roomByName(name)
	}
	notFound := fail("error-room-not-found", fmt.Sprintf(`The required "roomId" or "roomName" param provided does not match any %s`, kindWord(t)), nil)
	if r == nil || r.t != t {
		return nil, notFound, false
	}
	if t == "p" && !s.isMember(c.u.id, r) && !hasRole(c.u, "admin") {
		return nil, notFound, false
	}
	return r, reply{}, true
}

func (c *call) roomReply(t string, r *room) reply {
	return ok(map[string]any{kindWord(t): c.s.roomDoc(r)})
}

var roomNameRe = regexp.MustCompile(`^[0-9a-zA-Z\-_.]+$`)

func (c *call) roomCreate(t string) reply {
	s := c.s
	if !c.can("create-" + t) {
		return c.s.forbidden()
	}
	if t == "p" && c.str("name") == "" {
		// groups.create has no body schema; the action checks name itself
		// (apps/meteor/app/api/server/v1/groups.ts: API.v1.failure('Body param "name" is required')).
		return failure(`Body param "name" is required`)
	}
	if !c.has("name") {
		return invalidParams("name")
	}
	name := c.str("name")
	if !roomNameRe.MatchString(name) {
		return fail("error-invalid-room-name", name+" is not a valid room name", map[string]any{"channel_name": name})
	}
	if s.roomByName(name) != nil {
		return fail("error-duplicate-channel-name", "A channel with name '"+name+"' exists", map[string]any{"channel_name": name})
	}
	var members []*user
	if !c.boolParam("excludeSelf", false) {
		members = append(members, c.u)
	}
	for _, n := range c.strs("members") {
		if u := s.byName[n]; u != nil {
			members = append(members, u)
		}
	}
	r := s.createRoomLocked(t, name, c.u, members)
	r.ro = c.boolParam("readOnly", false)
	return c.roomReply(t, r)
}

func (c *call) roomInfoKind(t string) reply {
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	return c.roomReply(t, r)
}

func (c *call) targetUsers() []*user {
	s := c.s
	var out []*user
	add := func(u *user) {
		if u != nil && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if id := c.str("userId"); id != "" {
		add(s.users[id])
	}
	for _, id := range c.strs("userIds") {
		add(s.users[id])
	}
	if n := c.str("username"); n != "" {
		add(s.byName[n])
	}
	for _, n := range c.strs("usernames") {
		add(s.byName[n])
	}
	return out
}

func (c *call) roomInvite(t string) reply {
	s := c.s
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	if !c.isRoomOwner(r) {
		// addUsersToRoomMethod (apps/meteor/app/lib/server/methods/addUsersToRoom.ts) lets a
		// member with add-user-to-joined-room in, or anyone with add-user-to-any-c-room /
		// add-user-to-any-p-room; by default (apps/meteor/app/authorization/server/constant/permissions.ts)
		// the first is admin, owner and moderator, the others admin only. Anyone else, plain
		// members included, gets Meteor.Error('error-not-allowed', 'Not allowed', {method: 'addUsersToRoom'}).
		return fail("error-not-allowed", "Not allowed", map[string]any{"method": "addUsersToRoom"})
	}
	users := c.targetUsers()
	if len(users) == 0 {
		if !c.has("userId") && !c.has("userIds") && !c.has("username") && !c.has("usernames") {
			return fail("error-user-param-not-provided", `The required "userId" or "username" param was not provided`, nil)
		}
		return fail("error-invalid-user", "Invalid user", nil)
	}
	for _, u := range users {
		s.addToRoomLocked(r, u, c.u)
	}
	return c.roomReply(t, r)
}

func (c *call) isRoomOwner(r *room) bool {
	if hasRole(c.u, "admin") {
		return true
	}
	sb := c.s.sub(c.u.id, r.id)
	return sb != nil && (slices.Contains(sb.roles, "owner") || slices.Contains(sb.roles, "moderator"))
}

func (c *call) roomKick(t string) reply {
	s := c.s
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	users := c.targetUsers()
	if len(users) == 0 {
		return fail("error-invalid-user", "Invalid user", nil)
	}
	if !c.isRoomOwner(r) {
		return fail("error-not-allowed", "Not allowed", map[string]any{"method": "removeUserFromRoom"})
	}
	u := users[0]
	if !s.isMember(u.id, r) {
		return fail("error-user-not-in-room", "User is not in this room", map[string]any{"method": "removeUserFromRoom"})
	}
	s.removeFromRoomLocked(r, u, c.u)
	return c.roomReply(t, r)
}

func (c *call) roomLeave(t string) reply {
	s := c.s
	if !c.has("roomId") && !c.has("roomName") {
		return fail("error-roomid-param-not-provided", `The parameter "roomId" or "roomName" is required`, nil)
	}
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	if !s.isMember(c.u.id, r) {
		return fail("error-user-not-in-room", "You are not in this room", map[string]any{"method": "leaveRoom"})
	}
	s.removeFromRoomLocked(r, c.u, nil)
	return c.roomReply(t, r)
}

func (c *call) channelsJoin() reply {
	s := c.s
	r, rep, ok := c.findRoom("c")
	if !ok {
		return rep
	}
	s.addToRoomLocked(r, c.u, nil)
	return c.roomReply("c", r)
}

// history is getChannelHistory (apps/meteor/app/lib/server/methods/getChannelHistory.ts):
// messages of types in Hide_System_Messages are left out, and so are thread-only replies
// unless showThreads.
func (c *call) history(r *room, showThreads bool) reply {
	s := c.s
	latest := time.Now().UTC().Add(time.Millisecond)
	if t, ok := parseTime(c.q.Get("latest")); ok {
		latest = t
	}
	oldest, hasOldest := parseTime(c.q.Get("oldest"))
	inclusive := c.q.Get("inclusive") == "true"
	offset, count := c.paging()
	var sel []*message
	ms := s.roomMsgs[r.id]
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.ts.After(latest) || (!inclusive && m.ts.Equal(latest)) {
			continue
		}
		if hasOldest && (m.ts.Before(oldest) || (!inclusive && m.ts.Equal(oldest))) {
			continue
		}
		if s.hiddenType(m.t) || (!showThreads && m.tmid != "" && !m.tshow) {
			continue
		}
		sel = append(sel, m)
	}
	body := map[string]any{"messages": docs(page(sel, offset, count), s.msgDoc)}
	if c.q.Get("unreads") == "true" {
		body["unreadNotLoaded"] = 0
		if sb := s.sub(c.u.id, r.id); sb != nil {
			for i := len(ms) - 1; i >= 0; i-- {
				if ms[i].ts.After(sb.ls) && ms[i].uid != c.u.id {
					body["firstUnread"] = s.msgDoc(ms[i])
				}
			}
		}
	}
	return ok(body)
}

func (c *call) roomHistory(t string) reply {
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	if !c.s.canRead(c.u.id, r) {
		// channels.ts / groups.ts answer API.v1.forbidden() when canAccessRoom fails.
		return c.s.apiForbidden()
	}
	// channels.history passes showThreadMessages === 'true' (apps/meteor/app/api/server/v1/channels.ts);
	// groups.history passes showThreadMessages !== 'false' (groups.ts).
	show := c.q.Get("showThreadMessages") == "true"
	if t == "p" {
		show = c.q.Get("showThreadMessages") != "false"
	}
	return c.history(r, show)
}

func (c *call) roomList(t string) reply {
	if t == "c" && !c.can("view-c-room") {
		return c.s.forbidden()
	}
	return c.listRooms(kindWord(t)+"s", t, t != "c")
}

// listRooms answers a room listing under key: the rooms of kind t (only the caller's when
// joined is set), sorted by name, or by id for direct messages, which have no name; paged.
func (c *call) listRooms(key, t string, joined bool) reply {
	s := c.s
	var rooms []*room
	for _, r := range s.rooms {
		if r.t == t && (!joined || s.isMember(c.u.id, r)) {
			rooms = append(rooms, r)
		}
	}
	if t == "d" {
		sort.Slice(rooms, func(i, j int) bool { return rooms[i].id < rooms[j].id })
	} else {
		sort.Slice(rooms, func(i, j int) bool { return rooms[i].name < rooms[j].name })
	}
	offset, count := c.paging()
	p := page(rooms, offset, count)
	return ok(map[string]any{key: docs(p, s.roomDoc), "count": len(p), "offset": offset, "total": len(rooms)})
}

func (c *call) imCreate() reply {
	s := c.s
	var names []string
	if n := c.str("username"); n != "" {
		names = []string{n}
	} else if ns := c.str("usernames"); ns != "" {
		for _, n := range strings.Split(ns, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return fail("error-room-param-not-provided", `Body param "roomId" or "username" is required`, nil)
	}
	users := []*user{}
	if !c.boolParam("excludeSelf", false) {
		users = append(users, c.u)
	}
	for _, n := range names {
		other := s.byName[n]
		if other == nil {
			return fail("error-invalid-user", "Invalid user", map[string]any{"method": "createDirectMessage"})
		}
		users = append(users, other)
	}
	if len(users) < 2 && !slices.Contains(users, c.u) {
		users = append(users, c.u)
	}
	r := s.directGroupLocked(users)
	d := s.roomDoc(r)
	d["rid"] = r.id
	return ok(map[string]any{"room": d})
}

func (c *call) imHistory() reply {
	s := c.s
	rid := c.str("roomId")
	if rid == "" {
		return fail("error-room-param-not-provided", `Query param "roomId" or "username" is required`, nil)
	}
	r := s.rooms[rid]
	if r == nil || r.t != "d" || !s.isMember(c.u.id, r) {
		return fail("error-room-not-found", `The required "roomId" or "username" param provided does not match any direct message`, nil)
	}
	// im.history passes showThreadMessages === 'true' (apps/meteor/app/api/server/v1/im.ts).
	return c.history(r, c.q.Get("showThreadMessages") == "true")
}

func (c *call) imList() reply { return c.listRooms("ims", "d", true) }

func (c *call) roomsGet() reply {
	s := c.s
	// rooms.get has no query schema (apps/meteor/app/api/server/v1/rooms.ts; develop's typed
	// route declares none either); an updatedSince Date.parse refuses is
	// 'error-updatedSince-param-invalid'.
	since, hasSince := parseTime(c.q.Get("updatedSince"))
	if v := c.q.Get("updatedSince"); v != "" && !hasSince {
		return fail("error-updatedSince-param-invalid", `The "updatedSince" query parameter must be a valid date.`, nil)
	}
	update := []any{}
	for _, sb := range s.subs {
		if sb.uid != c.u.id {
			continue
		}
		r := s.rooms[sb.rid]
		if hasSince && !r.updatedAt.After(since) {
			continue
		}
		update = append(update, s.roomDoc(r))
	}
	return ok(map[string]any{"update": update, "remove": []any{}})
}

func (c *call) roomsInfo() reply {
	s := c.s
	rid := c.str("roomId")
	var r *room
	if rid != "" {
		r = s.rooms[rid]
	} else if n := c.str("roomName"); n != "" {
		r = s.roomByName(n)
	} else {
		return fail("error-roomid-param-not-provided", `The parameter "roomId" or "roomName" is required`, nil)
	}
	if r == nil {
		// findRoomByIdOrName (apps/meteor/app/api/server/v1/rooms.ts, same in develop) throws
		// before any access check when no room has that id or name. rooms.info has no query
		// schema in either form of the file.
		return fail("error-room-not-found", `The required "roomId" or "roomName" param provided does not match any channel`, nil)
	}
	if !s.canRead(c.u.id, r) {
		// API.v1.failure('not-allowed', 'Not Allowed') (apps/meteor/app/api/server/v1/rooms.ts):
		// the second argument lands in errorType.
		return reply{http.StatusBadRequest, map[string]any{"success": false, "error": "not-allowed", "errorType": "Not Allowed"}}
	}
	return ok(map[string]any{"room": s.roomDoc(r)})
}

func (c *call) subscriptionsGet() reply {
	s := c.s
	since, hasSince := parseTime(c.q.Get("updatedSince"))
	update := []any{}
	for _, sb := range s.subs {
		if sb.uid != c.u.id || (hasSince && !sb.updatedAt.After(since)) {
			continue
		}
		update = append(update, s.subDoc(sb))
	}
	remove := []any{}
	if hasSince {
		for _, d := range s.removedSubs[c.u.id] {
			if d.at.After(since) {
				remove = append(remove, map[string]any{"_id": d.id, "_deletedAt": d.at})
			}
		}
	}
	return ok(map[string]any{"update": update, "remove": remove})
}

func (c *call) subscriptionsRead() reply {
	s := c.s
	rid := c.str("rid")
	if rid == "" {
		rid = c.str("roomId")
	}
	if rid == "" {
		return invalidParams("rid")
	}
	sb := s.sub(c.u.id, rid)
	if sb == nil {
		return fail("error-invalid-subscription", "Invalid subscription", map[string]any{"method": "readMessages"})
	}
	s.markReadLocked(sb)
	return ok(nil)
}

func (c *call) subscriptionsGetOne() reply {
	rid := c.q.Get("roomId")
	if rid == "" {
		return fail("error-invalid-params", `The "roomId" param is required`, nil)
	}
	if sb := c.s.sub(c.u.id, rid); sb != nil {
		return ok(map[string]any{"subscription": c.s.subDoc(sb)})
	}
	return ok(map[string]any{"subscription": nil})
}

// roomOf resolves a room for *.members / *.messages of kind t ("d" uses roomId only).
func (c *call) roomOf(t string) (*room, reply, bool) {
	if t != "d" {
		return c.findRoom(t)
	}
	r := c.s.rooms[c.str("roomId")]
	if r == nil || r.t != "d" || !c.s.isMember(c.u.id, r) {
		return nil, fail("error-room-not-found", `The required "roomId" or "username" param provided does not match any direct message`, nil), false
	}
	return r, reply{}, true
}

func (c *call) roomMembers(t string) reply {
	s := c.s
	r, rep, okR := c.roomOf(t)
	if !okR {
		return rep
	}
	if !s.canRead(c.u.id, r) {
		// channels.members / groups.members / im.members: API.v1.forbidden().
		return s.apiForbidden()
	}
	var members []*user
	for _, id := range r.members {
		if u := s.users[id]; u != nil {
			members = append(members, u)
		}
	}
	offset, count := c.paging()
	p := page(members, offset, count)
	return ok(map[string]any{"members": docs(p, func(u *user) map[string]any {
		return map[string]any{"_id": u.id, "username": u.username, "name": u.name, "status": "offline"}
	}), "count": len(p), "offset": offset, "total": len(members)})
}

func (c *call) roomMessages(t string) reply {
	s := c.s
	r, rep, okR := c.roomOf(t)
	if !okR {
		return rep
	}
	if !s.canRead(c.u.id, r) {
		// channels.messages / groups.messages / im.messages: API.v1.forbidden().
		return s.apiForbidden()
	}
	ms := s.roomMsgs[r.id]
	sorted := make([]*message, 0, len(ms))
	for i := len(ms) - 1; i >= 0; i-- {
		sorted = append(sorted, ms[i])
	}
	offset, count := c.paging()
	p := page(sorted, offset, count)
	return ok(map[string]any{"messages": docs(p, s.msgDoc), "count": len(p), "offset": offset, "total": len(sorted)})
}

func (c *call) channelsListJoined() reply { return c.listRooms("channels", "c", true) }

func (s *Server) createRoomLocked(t, name string, owner *user, members []*user) *room {
	now := time.Now().UTC()
	r := &room{id: randomID(), t: t, name: name, fname: name, owner: owner.id, ts: now, updatedAt: now}
	s.rooms[r.id] = r
	for _, m := range members {
		if !s.isMember(m.id, r) {
			s.joinLocked(r, m, now)
		}
	}
	if sb := s.sub(owner.id, r.id); sb != nil {
		sb.roles = []string{"owner"}
	}
	return r
}

func (s *Server) directRoomLocked(a, b *user) *room { return s.directGroupLocked([]*user{a, b}) }

// directGroupLocked finds or creates the DM of these users (two or more: a group DM); its id
// is the sorted user ids concatenated.
func (s *Server) directGroupLocked(users []*user) *room {
	var ids []string
	for _, u := range users {
		if !slices.Contains(ids, u.id) {
			ids = append(ids, u.id)
		}
	}
	slices.Sort(ids)
	rid := strings.Join(ids, "")
	if r := s.rooms[rid]; r != nil {
		return r
	}
	now := time.Now().UTC()
	r := &room{id: rid, t: "d", ts: now, updatedAt: now}
	s.rooms[rid] = r
	for _, u := range users {
		if !s.isMember(u.id, r) {
			s.joinLocked(r, u, now)
		}
	}
	return r
}

// joinLocked subscribes u to r and emits subscriptions-changed inserted then rooms-changed
// inserted to u, and rooms-changed updated to the other members.
func (s *Server) joinLocked(r *room, u *user, now time.Time) {
	sb := &sub{id: randomID(), rid: r.id, uid: u.id, ts: now, ls: now, updatedAt: now, open: true}
	s.subs[u.id+"|"+r.id] = sb
	r.members = append(r.members, u.id)
	r.updatedAt = now
	roomDoc := ejsonOnce(func() map[string]any { return s.roomDoc(r) })
	s.emitUser(u.id, "subscriptions-changed", "inserted", ejsonOnce(func() map[string]any { return s.subDoc(sb) }))
	s.emitUser(u.id, "rooms-changed", "inserted", roomDoc)
	for _, m := range r.members {
		if m != u.id {
			s.emitUser(m, "rooms-changed", "updated", roomDoc)
		}
	}
}

// leaveLocked removes u from r: subscriptions-changed removed, and that user's
// stream-room-messages subscriptions for r stop silently.
func (s *Server) leaveLocked(r *room, u *user) {
	sb := s.sub(u.id, r.id)
	if sb == nil {
		return
	}
	now := time.Now().UTC()
	delete(s.subs, u.id+"|"+r.id)
	r.members = slices.DeleteFunc(r.members, func(id string) bool { return id == u.id })
	r.updatedAt = now
	s.removedSubs[u.id] = append(s.removedSubs[u.id], deletion{id: sb.id, at: now})
	s.emitUser(u.id, "subscriptions-changed", "removed", ejsonOnce(func() map[string]any {
		return map[string]any{"_id": sb.id, "u": map[string]any{"_id": u.id, "username": u.username}, "rid": r.id, "t": r.t}
	}))
	for c := range s.conns {
		if c.uid != u.id {
			continue
		}
		for id, ss := range c.subs {
			if ss.name == "stream-room-messages" && ss.event == r.id {
				s.removeSub(c, id)
			} else if ss.name == "stream-notify-room" && strings.HasPrefix(ss.event, r.id+"/") && r.t != "c" {
				s.removeSub(c, id)
			}
		}
	}
	roomDoc := ejsonOnce(func() map[string]any { return s.roomDoc(r) })
	for _, m := range r.members {
		s.emitUser(m, "rooms-changed", "updated", roomDoc)
	}
}

// addToRoomLocked is addUserToRoom (apps/meteor/app/lib/server/functions/addUserToRoom.ts)
// for a channel or group: the subscription, then the system message "au" (added by inviter)
// or, without an inviter, "uj". Direct messages get no system message.
func (s *Server) addToRoomLocked(r *room, u, inviter *user) {
	if s.isMember(u.id, r) {
		return
	}
	s.joinLocked(r, u, time.Now().UTC())
	switch {
	case r.t == "d":
	case inviter != nil:
		s.systemMessageLocked(r, "au", u, inviter)
	default:
		s.systemMessageLocked(r, "uj", u, nil)
	}
}

// removeFromRoomLocked is removeUserFromRoom (apps/meteor/app/lib/server/functions/removeUserFromRoom.ts):
// the system message "ru" (removed by) or "ul" (left) is saved while u is still a member, so
// u receives it too, then the subscription goes.
func (s *Server) removeFromRoomLocked(r *room, u, by *user) {
	if !s.isMember(u.id, r) {
		return
	}
	if r.t != "d" {
		if by != nil {
			s.systemMessageLocked(r, "ru", u, by)
		} else {
			s.systemMessageLocked(r, "ul", u, nil)
		}
	}
	s.leaveLocked(r, u)
}

func (s *Server) markReadLocked(sb *sub) {
	now := time.Now().UTC()
	sb.unread, sb.userMentions, sb.groupM = 0, 0, 0
	sb.alert = false
	sb.ls = now
	sb.updatedAt = now
	s.emitUser(sb.uid, "subscriptions-changed", "updated", ejsonOnce(func() map[string]any { return s.subDoc(sb) }))
}
