// Ephemeral messages on stream-notify-user <uid>/message. Follows Rocket.Chat's
// apps/meteor/server/modules/listeners/listeners.module.ts and
// apps/meteor/app/lib/server/startup/mentionUserNotInChannel.ts.

package rctest

import (
	"strconv"
	"strings"
	"time"
)

// emitEphemeralLocked sends an ephemeral message to one user, as the 'notify.ephemeralMessage'
// listener does (apps/meteor/server/modules/listeners/listeners.module.ts): on
// stream-notify-user <uid>/message, the broadcast's fields with groupable:false first, then
// _id String(Date.now()), rid and ts. It is never stored. s.mu held.
func (s *Server) emitEphemeralLocked(uid, rid string, fields map[string]any) {
	now := time.Now().UTC()
	doc := map[string]any{"groupable": false}
	for k, v := range fields {
		doc[k] = v
	}
	doc["_id"] = strconv.FormatInt(now.UnixMilli(), 10)
	doc["rid"] = rid
	doc["ts"] = now
	s.emitUser(uid, "message", "", func() any { return render(doc, true) })
}

// mentionNotInRoomLocked follows the 'mention-user-not-in-channel' afterSaveMessage callback
// (apps/meteor/app/lib/server/startup/mentionUserNotInChannel.ts): a new message in a room
// other than a DM that mentions users who are not members tells its sender so, with an
// ephemeral private message. The callback's action buttons (add them, let them know), which
// depend on the sender's permissions, are left out. s.mu held.
func (s *Server) mentionNotInRoomLocked(r *room, m *message) {
	if r.t == "d" {
		return
	}
	var missing []any
	var names []string
	for _, id := range m.mentions {
		if id == "all" || id == "here" || s.isMember(id, r) {
			continue
		}
		ref := s.userRef(id)
		ref["type"] = "user"
		missing = append(missing, ref)
		names = append(names, "*"+s.users[id].username+"*")
	}
	if len(missing) == 0 {
		return
	}
	fields := map[string]any{
		"msg": "", "mentions": missing, "private": true,
		"blocks": []any{map[string]any{"appId": "mention-core", "type": "section", "text": map[string]any{
			"type": "mrkdwn", "text": "You mentioned " + strings.Join(names, ", ") + ", but they're not in this room."}}},
	}
	if m.tmid != "" {
		fields["tmid"] = m.tmid
	}
	s.emitEphemeralLocked(m.uid, r.id, fields)
}
