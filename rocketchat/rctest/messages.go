// Messages: chat.sendMessage, postMessage, update, delete, getMessage, syncMessages, react,
// and the message state they change. Follows Rocket.Chat's apps/meteor/app/api/server/v1/chat.ts,
// apps/meteor/app/lib/server/functions/sendMessage.ts, updateMessage.ts and deleteMessage.ts,
// apps/meteor/app/lib/server/methods/deleteMessage.ts; each rule cites its file.

package rctest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (c *call) chatSendMessage() reply {
	s := c.s
	raw, has := c.body["message"]
	if !has {
		return invalidParams("message")
	}
	var m struct {
		ID    string `json:"_id"`
		RID   string `json:"rid"`
		Msg   string `json:"msg"`
		TMID  string `json:"tmid"`
		TShow bool   `json:"tshow"`
		T     string `json:"t"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return fail("invalid-params", "must be object", nil)
	}
	if m.RID == "" {
		return fail("error-invalid-params", "The 'rid' property on the message object is missing.", nil)
	}
	if m.T != "" {
		return fail("error-invalid-message-type", "Invalid message type", nil)
	}
	if len(m.Msg) > 5000 {
		return fail("error-message-size-exceeded", "Message size exceeds the allowed limit", nil)
	}
	r := s.rooms[m.RID]
	if r == nil {
		return fail("error-invalid-room", "Invalid room", map[string]any{"method": "sendMessage"})
	}
	if !s.isMember(c.u.id, r) {
		return fail("error-not-allowed", "Not allowed", map[string]any{"method": "sendMessage"})
	}
	if m.ID != "" {
		if s.msgs[m.ID] != nil {
			// sendMessage (apps/meteor/app/lib/server/functions/sendMessage.ts) looks the _id up
			// and returns undefined without inserting; chat.sendMessage (apps/meteor/app/api/server/v1/chat.ts)
			// then hands [undefined] to normalizeMessagesForUser, whose filterStarred reads
			// message.starred and throws a TypeError. A non-Meteor error becomes
			// API.v1.failure(e.message): 400, no errorType. Whoever owns the stored message.
			return failure(duplicateSendError)
		}
	} else {
		m.ID = randomID()
	}
	if m.TMID != "" && s.msgs[m.TMID] == nil {
		return fail("error-invalid-message", "Invalid message", nil)
	}
	msg := s.insertMessageShowLocked(r, c.u, m.ID, m.Msg, m.TMID, m.TShow, nil)
	return ok(map[string]any{"message": s.msgDoc(msg)})
}

// duplicateSendError is Node's TypeError text for chat.sendMessage with an _id that exists.
const duplicateSendError = "Cannot read properties of undefined (reading 'starred')"

func (c *call) chatPostMessage() reply {
	s := c.s
	var r *room
	if id := c.str("roomId"); id != "" {
		r = s.rooms[id]
	} else if ch := c.str("channel"); ch != "" {
		switch {
		case strings.HasPrefix(ch, "#"):
			r = s.roomByName(ch[1:])
		case strings.HasPrefix(ch, "@"):
			if o := s.byName[ch[1:]]; o != nil {
				r = s.directRoomLocked(c.u, o)
			}
		default:
			r = s.roomByName(ch)
		}
	}
	if r == nil || !s.canRead(c.u.id, r) {
		return fail("invalid-channel", "", nil)
	}
	m := s.insertMessageLocked(r, c.u, randomID(), c.str("text"), "", nil)
	ch := r.name
	if r.t == "d" {
		ch = r.id
	}
	return ok(map[string]any{"ts": m.ts.UnixMilli(), "channel": ch, "message": s.msgDoc(m)})
}

func (c *call) chatUpdate() reply {
	s := c.s
	for _, k := range []string{"roomId", "msgId", "text"} {
		if !c.has(k) {
			return invalidParams(k)
		}
	}
	m := s.msgs[c.str("msgId")]
	if m == nil {
		return failure(fmt.Sprintf(`No message found with the id of "%s".`, c.str("msgId")))
	}
	if m.rid != c.str("roomId") {
		return failure("The room id provided does not match where the message is from.")
	}
	if m.uid != c.u.id && !hasRole(c.u, "admin") {
		return fail("error-action-not-allowed", "Message editing not allowed", map[string]any{"method": "updateMessage", "action": "Message_editing"})
	}
	s.editMessageLocked(m, c.u, c.str("text"))
	return ok(map[string]any{"message": s.msgDoc(m)})
}

func (c *call) chatDelete() reply {
	s := c.s
	if !c.has("roomId") {
		return invalidParams("roomId")
	}
	if !c.has("msgId") {
		return invalidParams("msgId")
	}
	m := s.msgs[c.str("msgId")]
	if m == nil {
		return failure(fmt.Sprintf(`No message found with the id of "%s".`, c.str("msgId")))
	}
	if m.rid != c.str("roomId") {
		return failure("The room id provided does not match where the message is from.")
	}
	if m.uid != c.u.id && !hasRole(c.u, "admin") {
		// deleteMessage's permission check (apps/meteor/app/lib/server/methods/deleteMessage.ts,
		// deleteMessageValidatingPermission in chat.ts) throws a Meteor.Error: 400, not 401.
		return fail("error-action-not-allowed", "Not allowed", map[string]any{"method": "deleteMessage", "action": "Delete_message"})
	}
	s.deleteMessageLocked(m, c.u)
	return ok(map[string]any{"_id": m.id, "ts": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"message": map[string]any{"_id": m.id, "rid": m.rid, "u": s.userRef(m.uid)}})
}

func (c *call) chatGetMessage() reply {
	s := c.s
	id := c.q.Get("msgId")
	if id == "" {
		return fail("error-invalid-params", "The \"msgId\" query parameter must be provided.", nil)
	}
	m := s.msgs[id]
	if m == nil || !s.canRead(c.u.id, s.rooms[m.rid]) {
		return failure("Message not found")
	}
	return ok(map[string]any{"message": s.msgDoc(m)})
}

func (c *call) chatSyncMessages() reply {
	s := c.s
	rid := c.q.Get("roomId")
	if rid == "" {
		return fail("error-roomId-param-not-provided", `The required "roomId" query param is missing.`, nil)
	}
	since, okT := parseTime(c.q.Get("lastUpdate"))
	if !okT {
		return fail("error-lastUpdate-param-invalid", `The "lastUpdate" query parameter must be a valid date.`, nil)
	}
	r := s.rooms[rid]
	if r == nil || !s.canRead(c.u.id, r) {
		return fail("error-not-allowed", "Not allowed", map[string]any{"method": "messages/get"})
	}
	updated, deleted := []any{}, []any{}
	ms := s.roomMsgs[rid]
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].updatedAt.After(since) {
			updated = append(updated, s.msgDoc(ms[i]))
		}
	}
	for _, d := range s.deletedMsgs[rid] {
		if d.at.After(since) {
			deleted = append(deleted, map[string]any{"_id": d.id, "_deletedAt": d.at})
		}
	}
	return ok(map[string]any{"result": map[string]any{"updated": updated, "deleted": deleted}})
}

// chatReact is chat.react (apps/meteor/app/api/server/v1/chat.ts) over executeSetReaction
// (apps/meteor/app/reactions/server/setReaction.ts); the body was validated (validate.go):
//   - an unknown message is Meteor.Error('error-message-not-found'), an empty emoji
//     'error-emoji-param-not-provided';
//   - the emoji, colons stripped and put back, must be a built-in short name or a custom
//     emoji, else 'error-not-allowed' "Invalid emoji provided." {method: setReaction} (checked
//     before anything else, so also for a reaction that would change nothing);
//   - asking for the state the caller's reaction already has changes nothing and succeeds;
//   - then the room must be accessible (canAccessRoomAsync: a public channel is, without
//     membership), else 'not-authorized' "Not Authorized" {method: setReaction}; a muted user
//     gets 'error-not-allowed' (not modelled: the simulator has no muting).
func (c *call) chatReact() reply {
	s := c.s
	m := s.msgs[c.str("messageId")]
	if m == nil {
		return fail("error-message-not-found", `The provided "messageId" does not match any existing message.`, nil)
	}
	emoji := c.str("emoji")
	if !c.has("emoji") {
		emoji = c.str("reaction")
	}
	if emoji == "" {
		return fail("error-emoji-param-not-provided", `The required "emoji" param is missing.`, nil)
	}
	bare := strings.ReplaceAll(emoji, ":", "")
	emoji = ":" + bare + ":"
	if !knownEmoji[emoji] && !slices.Contains(s.opts.CustomEmoji, bare) {
		return fail("error-not-allowed", "Invalid emoji provided.", map[string]any{"method": "setReaction"})
	}
	names := m.reactions[emoji]
	has := slices.Contains(names, c.u.username)
	want := c.boolParam("shouldReact", !has)
	if want == has {
		return ok(nil)
	}
	if !s.canRead(c.u.id, s.rooms[m.rid]) {
		return fail("not-authorized", "Not Authorized", map[string]any{"method": "setReaction"})
	}
	if m.reactions == nil {
		m.reactions = map[string][]string{}
	}
	if want {
		m.reactions[emoji] = append(names, c.u.username)
	} else {
		names = slices.DeleteFunc(names, func(n string) bool { return n == c.u.username })
		if len(names) == 0 {
			delete(m.reactions, emoji)
		} else {
			m.reactions[emoji] = names
		}
	}
	m.updatedAt = time.Now().UTC()
	s.emitRoomMessage(s.rooms[m.rid], m)
	return ok(nil)
}

// knownEmoji stands in for emoji.list, the built-in short names and aliases of the emoji
// package Rocket.Chat bundles (apps/meteor/app/emoji/server, emojione/joypixels). The real
// list has thousands of names; these are the common ones the gateway, the web app and the
// tests use. A name outside it is refused as Rocket.Chat refuses an unknown one; name custom
// emoji in Options.CustomEmoji.
var knownEmoji = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`+1 -1 thumbsup thumbsdown heart joy smile smiley grinning laughing
		tada eyes white_check_mark heavy_check_mark x rocket fire clap pray ok_hand wave raised_hands
		100 thinking slight_smile wink blush sob cry rage open_mouth star sparkles muscle point_up
		warning question exclamation heart_eyes sunglasses rofl upside_down`) {
		m[":"+n+":"] = true
	}
	return m
}()

var mentionRe = func(text string) []string {
	var out []string
	for _, f := range strings.Fields(text) {
		if strings.HasPrefix(f, "@") && len(f) > 1 {
			out = append(out, strings.TrimRight(f[1:], ".,:;!?"))
		}
	}
	return out
}

func (s *Server) insertMessageLocked(r *room, u *user, id, text, tmid string, file *upload) *message {
	return s.insertMessageShowLocked(r, u, id, text, tmid, false, file)
}

// insertMessageShowLocked stores a message and runs what Rocket.Chat's afterSaveMessage
// callbacks do with it: the room's counters and last message and the members' unread counts
// (notifyUsersOnMessage.ts, see notify.go), the thread's counters and participants
// (apps/meteor/app/threads/server/hooks/aftersavemessage.ts, functions.ts), and the desktop
// notifications (sendNotificationsOnMessage.ts). tshow is a thread reply also sent to the room.
func (s *Server) insertMessageShowLocked(r *room, u *user, id, text, tmid string, tshow bool, file *upload) *message {
	now := time.Now().UTC()
	m := &message{id: id, rid: r.id, msg: text, uid: u.id, tmid: tmid, tshow: tshow && tmid != "", ts: now, updatedAt: now, file: file}
	m.mentions = s.parseMentions(u, text)
	s.msgs[id] = m
	s.roomMsgs[r.id] = append(s.roomMsgs[r.id], m)
	r.msgs++
	r.updatedAt = now
	parent := s.msgs[tmid]
	if parent != nil && parent.rid != r.id {
		parent = nil
	}
	// A reply only in the thread leaves the room's activity fields alone
	// (notifyUsersOnMessage: "message sent ONLY on a thread").
	inRoom := m.tmid == "" || m.tshow
	if inRoom {
		r.lm = now
		r.lastMessage = m
	}

	s.emitRoomMessage(r, m)
	var replies []string
	if parent != nil {
		replies = s.threadReplyLocked(r, parent, m, now)
		s.emitRoomMessage(r, parent)
	}
	s.mentionNotInRoomLocked(r, m)
	roomDoc := ejsonOnce(func() map[string]any { return s.roomDoc(r) })
	for _, uid := range r.members {
		s.emitUser(uid, "rooms-changed", "updated", roomDoc)
	}
	changed := map[string]bool{}
	if inRoom {
		for uid := range s.countUnreadLocked(r, m) {
			changed[uid] = true
		}
	}
	for _, uid := range replies {
		changed[uid] = true
	}
	for _, uid := range r.members {
		if sb := s.sub(uid, r.id); sb != nil && changed[uid] {
			sb.updatedAt = now
			s.emitUser(uid, "subscriptions-changed", "updated", ejsonOnce(func() map[string]any { return s.subDoc(sb) }))
		}
	}
	// sendAllNotifications skips thread replies; the threads hook notifies their participants.
	if m.tmid == "" {
		s.notifyDesktopLocked(r, m, u, nil)
	} else if parent != nil {
		s.notifyDesktopLocked(r, m, u, replies)
	}
	return m
}

func (s *Server) editMessageLocked(m *message, by *user, text string) {
	now := time.Now().UTC()
	m.msg = text
	m.editedAt = now
	m.editedBy = by.id
	m.updatedAt = now
	r := s.rooms[m.rid]
	s.emitRoomMessage(r, m)
	if r.lastMessage == m {
		r.updatedAt = now
		roomDoc := ejsonOnce(func() map[string]any { return s.roomDoc(r) })
		for _, uid := range r.members {
			s.emitUser(uid, "rooms-changed", "updated", roomDoc)
		}
	}
}

// deleteMessageLocked follows apps/meteor/app/lib/server/functions/deleteMessage.ts (8.x):
// with Message_ShowDeletedStatus, or when the message has thread replies (tcount > 0, which
// forces both keepHistory and showDeletedStatus), the message becomes a t:"rm" placeholder
// (setAsDeletedByIdAndUser: msg "", no mentions, attachments or reactions; the thread
// counters stay) re-emitted on stream-room-messages, and no deleteMessage is sent; otherwise
// it is removed and notify-room <rid>/deleteMessage is sent. Deleting a thread reply lowers
// its parent's tcount (decreaseReplyCountById), which reaches members as a message update.
// Either way the room's message count drops, lastMessage falls back to the newest visible
// message with no type (getLastVisibleMessageSentWithNoTypeByRoomId) when it was this one,
// and notifyOnRoomChangedById sends rooms-changed to every member.
func (s *Server) deleteMessageLocked(m *message, by *user) {
	now := time.Now().UTC()
	r := s.rooms[m.rid]
	if parent := s.msgs[m.tmid]; parent != nil && parent.rid == r.id {
		parent.tcount--
		parent.updatedAt = now
		s.emitRoomMessage(r, parent)
	}
	if s.opts.ShowDeletedStatus || m.tcount > 0 {
		m.t, m.msg, m.file, m.reactions = "rm", "", nil, nil
		m.editedAt, m.updatedAt = now, now
		m.editedBy = by.id
		m.mentions = nil
		s.emitRoomMessage(r, m)
	} else {
		delete(s.msgs, m.id)
		s.roomMsgs[r.id] = slices.DeleteFunc(s.roomMsgs[r.id], func(x *message) bool { return x == m })
		s.deletedMsgs[r.id] = append(s.deletedMsgs[r.id], deletion{id: m.id, at: now})
		s.emitNotifyRoom(r, "deleteMessage", map[string]any{"_id": m.id})
	}
	r.msgs--
	if r.lastMessage == nil || r.lastMessage == m {
		r.lastMessage = s.lastVisibleLocked(r.id)
	}
	r.updatedAt = now
	roomDoc := ejsonOnce(func() map[string]any { return s.roomDoc(r) })
	for _, uid := range r.members {
		s.emitUser(uid, "rooms-changed", "updated", roomDoc)
	}
}
