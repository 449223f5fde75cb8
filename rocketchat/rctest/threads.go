package rctest

// chatGetThreadMessages is chat.getThreadMessages (apps/meteor/app/api/server/v1/chat.ts):
// the thread's first message must exist ("error-invalid-message" / "Invalid Message"), the
// caller must be able to access its room (canAccessRoomAsync; "error-not-allowed" / "Not
// Allowed"), then every message with that tmid, oldest first (sort {ts: 1}), paged by
// getPaginationItems, answered as {messages, count, offset, total}. The thread's first
// message itself is not in the list (the query is {tmid}). Threads_enabled is on by default.
func (c *call) chatGetThreadMessages() reply {
	s := c.s
	tmid := c.q.Get("tmid")
	if tmid == "" {
		// isChatGetThreadMessagesProps (packages/rest-typings/src/v1/chat.ts) requires tmid.
		return invalidParams("tmid")
	}
	parent := s.msgs[tmid]
	if parent == nil || parent.rid == "" {
		return fail("error-invalid-message", "Invalid Message", nil)
	}
	if !s.canRead(c.u.id, s.rooms[parent.rid]) {
		return fail("error-not-allowed", "Not Allowed", nil)
	}
	var sel []*message
	for _, m := range s.roomMsgs[parent.rid] { // stored oldest first
		if m.tmid == tmid {
			sel = append(sel, m)
		}
	}
	offset, count := c.paging()
	p := page(sel, offset, count)
	return ok(map[string]any{"messages": docs(p, s.msgDoc), "count": len(p), "offset": offset, "total": len(sel)})
}
