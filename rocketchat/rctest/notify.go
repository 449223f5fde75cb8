// Unread counts, thread bookkeeping, desktop notifications and system messages. Follows
// Rocket.Chat's apps/meteor/app/lib/server/lib/notifyUsersOnMessage.ts, sendNotificationsOnMessage.ts,
// apps/meteor/app/threads/server/functions.ts and apps/meteor/server/services/messages/service.ts;
// each rule cites its file.

package rctest

import (
	"slices"
	"time"
)

// What a new message does to the members' subscriptions (unread counts, alert, open), to a
// thread's parent and participants, and which desktop notifications it sends. Each rule names
// the Rocket.Chat file it follows; s.mu is held throughout.

// Unread_Count / Unread_Count_DM values (apps/meteor/server/settings/general.ts).
const (
	UnreadAll              = "all_messages"
	UnreadUserMentions     = "user_mentions_only"
	UnreadGroupMentions    = "group_mentions_only"
	UnreadUserGroupMention = "user_and_group_mentions_only"
)

// NotificationPrefs are a subscription's notification preferences, as rooms.saveNotification
// stores them (apps/meteor/app/push-notifications/server/methods/saveNotificationSettings.ts).
type NotificationPrefs struct {
	// DesktopNotifications is "all", "mentions", "nothing" or "" (the user's default, which is
	// Accounts_Default_User_Preferences_desktopNotifications).
	DesktopNotifications string
	// DisableNotifications mutes the room: no notification of any kind.
	DisableNotifications bool
	// MuteGroupMentions ignores @all and @here unless the user is also named.
	MuteGroupMentions bool
}

// SetNotificationPrefs stores username's notification preferences for rid and emits
// subscriptions-changed updated, as saveNotificationSettings does. It panics if username has
// no subscription to rid.
func (s *Server) SetNotificationPrefs(username, rid string, p NotificationPrefs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.sub(s.mustUser(username).id, rid)
	if sb == nil {
		panic("rctest: SetNotificationPrefs: " + username + " is not in " + rid)
	}
	sb.desktopNotifications, sb.disableNotifications, sb.muteGroupMentions = p.DesktopNotifications, p.DisableNotifications, p.MuteGroupMentions
	sb.updatedAt = time.Now().UTC()
	s.emitUser(sb.uid, "subscriptions-changed", "updated", ejsonOnce(func() map[string]any { return s.subDoc(sb) }))
}

// parseMentions is the mention parser's result (apps/meteor/server/services/messages/hooks/BeforeSaveMentions.ts):
// existing users named with @name, and "all" / "here" for @all / @here.
func (s *Server) parseMentions(_ *user, text string) []string {
	var out []string
	for _, name := range mentionRe(text) {
		id := ""
		switch {
		case name == "all" || name == "here":
			id = name
		case s.byName[name] != nil:
			id = s.byName[name].id
		}
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// mentionsOf splits a message's mentions as getMentions does
// (apps/meteor/app/lib/server/lib/notifyUsersOnMessage.ts): @all, @here, and the users named,
// without the sender.
func mentionsOf(m *message) (toAll, toHere bool, ids []string) {
	for _, id := range m.mentions {
		switch id {
		case "all":
			toAll = true
		case "here":
			toHere = true
		default:
			if id != m.uid {
				ids = append(ids, id)
			}
		}
	}
	return toAll, toHere, ids
}

// countUnreadLocked follows updateUsersSubscriptions (notifyUsersOnMessage.ts) for a message
// shown in the room (not a thread-only reply, which never counts): the users named get
// userMentions+1 and, unless the setting leaves user mentions out, unread+1; otherwise @all
// or @here gives every other member groupMentions+1 and, unless the setting leaves group
// mentions out, unread+1 (user mentions take priority: with both, only the named users count);
// with "all_messages" and no group mention, everyone else also gets unread+1. Direct messages
// always count mentions. Every member but the sender gets alert and open. It returns the
// members whose subscription changed.
func (s *Server) countUnreadLocked(r *room, m *message) map[string]bool {
	setting := s.opts.UnreadCount
	if r.t == "d" {
		setting = s.opts.UnreadCountDM
	}
	toAll, toHere, ids := mentionsOf(m)
	inc := func(b bool) int {
		if b || r.t == "d" {
			return 1
		}
		return 0
	}
	changed := map[string]bool{}
	switch {
	case len(ids) > 0: // incUserMentions
		n := inc(setting == UnreadAll || setting == UnreadUserMentions || setting == UnreadUserGroupMention)
		for _, uid := range ids {
			if sb := s.sub(uid, r.id); sb != nil {
				sb.userMentions++
				sb.unread += n
			}
		}
	case toAll || toHere: // incGroupMentions
		n := inc(setting == UnreadAll || setting == UnreadGroupMentions || setting == UnreadUserGroupMention)
		for _, uid := range r.members {
			if uid != m.uid {
				sb := s.sub(uid, r.id)
				sb.groupM++
				sb.unread += n
			}
		}
	}
	if !toAll && !toHere && setting == UnreadAll {
		for _, uid := range r.members {
			if uid != m.uid && !slices.Contains(ids, uid) {
				s.sub(uid, r.id).unread++
			}
		}
	}
	for _, uid := range r.members {
		if uid != m.uid {
			sb := s.sub(uid, r.id)
			sb.alert, sb.open = true, true
			changed[uid] = true
		}
	}
	return changed
}

// threadReplyLocked follows processThreads (apps/meteor/app/threads/server/hooks/aftersavemessage.ts)
// and reply (apps/meteor/app/threads/server/functions.ts) for reply m to parent: the users to
// notify are the thread's participants (on the first reply, the parent's author, and every
// member of a DM) plus the users named, less the sender; they get alert and open
// (updateThreadUsersSubscriptions; unread is not touched). The parent gains tcount+1, tlm and
// the new participants in replies. It returns the users to notify.
func (s *Server) threadReplyLocked(r *room, parent, m *message, now time.Time) []string {
	_, _, ids := mentionsOf(m)
	var followers []string
	add := func(list *[]string, uids ...string) {
		for _, uid := range uids {
			if !slices.Contains(*list, uid) {
				*list = append(*list, uid)
			}
		}
	}
	if parent.tcount == 0 {
		add(&followers, parent.uid)
		if r.t == "d" {
			add(&followers, r.members...)
		}
	} else {
		add(&followers, parent.replies...)
	}
	add(&followers, ids...)
	followers = slices.DeleteFunc(followers, func(uid string) bool { return uid == m.uid })
	for _, uid := range followers {
		if sb := s.sub(uid, r.id); sb != nil {
			sb.alert, sb.open = true, true
		}
	}
	if sb := s.sub(m.uid, r.id); sb != nil {
		sb.open = true
	}
	newReplies := slices.Clone(followers)
	add(&newReplies, ids...)
	if len(parent.replies) == 0 {
		add(&newReplies, parent.uid)
	}
	add(&newReplies, m.uid)
	add(&parent.replies, newReplies...)
	parent.tcount++
	parent.tlm = now
	parent.updatedAt = now
	return followers
}

// notifyDesktopLocked sends <uid>/notification to the members Rocket.Chat would notify of m
// (sendMessageNotifications in apps/meteor/app/lib/server/lib/sendNotificationsOnMessage.ts,
// shouldNotifyDesktop in apps/meteor/app/lib/server/functions/notifications/desktop.ts).
// usersInThread is set for a thread reply (its participants).
//
// The subscription query leaves out muted rooms (disableNotifications) and, with the
// default mobile and e-mail preferences, nobody else: its $or admits every subscription
// without a preference of its own whenever the server default for desktop is "all". A
// receiver whose connection is offline gets nothing; here only connected users listen anyway.
// "busy" status and userHighlights are not simulated. In rooms with more members than
// Notifications_Max_Room_Members (100) only thread participants are notified.
func (s *Server) notifyDesktopLocked(r *room, m *message, from *user, usersInThread []string) {
	toAll, toHere, ids := mentionsOf(m)
	isThread := m.tmid != "" && !m.tshow
	disableAll := len(r.members) > s.opts.MaxRoomMembersForNotification
	for _, uid := range r.members {
		sb := s.sub(uid, r.id)
		if uid == from.id || sb == nil || sb.disableNotifications {
			continue
		}
		reply := slices.Contains(usersInThread, uid)
		if disableAll && !reply {
			continue // the query keeps only thread users (and user-origin "all" prefs, not simulated)
		}
		toUser := slices.Contains(ids, uid) || reply
		if !toUser && sb.muteGroupMentions && (toAll || toHere) {
			continue
		}
		if !s.shouldNotifyDesktop(sb.desktopNotifications, r.t, toAll || toHere, toUser, isThread, reply, disableAll) {
			continue
		}
		s.emitUser(uid, "notification", "", ejsonOnce(func() map[string]any { return s.notificationDoc(r, m, from, sb) }))
	}
}

// shouldNotifyDesktop is desktop.ts's rule for an online, not busy receiver. toUser is
// "mentionIds includes the user", which for a thread reply includes its participants.
func (s *Server) shouldNotifyDesktop(pref, roomType string, group, toUser, isThread, reply, disableAll bool) bool {
	if disableAll && pref == "" && !toUser && !reply {
		return false
	}
	if pref == "nothing" {
		return false
	}
	if pref == "" {
		switch s.opts.DesktopNotifications {
		case "all":
			if !isThread || reply {
				return true
			}
		case "nothing":
			return false
		}
	}
	return (roomType == "d" || (!disableAll && group) || pref == "all" || pref == "allAndReaction" || toUser) &&
		(!isThread || reply)
}

// systemMessageLocked saves a system message of type t (uj, ul, au, ru, …) as
// Message.saveSystemMessage does (apps/meteor/server/services/messages/service.ts,
// Messages.createWithTypeRoomIdMessageUserAndUnread): msg is subject's username, u is by (the
// inviter or remover) or subject, groupable false; the room's msgs count grows and members get
// the message on stream-room-messages and rooms-changed. It runs no afterSaveMessage
// callback: no unread, alert, notification, and the room's lastMessage and lm stay as they
// were.
func (s *Server) systemMessageLocked(r *room, t string, subject, by *user) *message {
	now := time.Now().UTC()
	owner := subject
	if by != nil {
		owner = by
	}
	m := &message{id: randomID(), rid: r.id, t: t, msg: subject.username, uid: owner.id, ts: now, updatedAt: now, system: true}
	s.msgs[m.id] = m
	s.roomMsgs[r.id] = append(s.roomMsgs[r.id], m)
	r.msgs++
	r.updatedAt = now
	s.emitRoomMessage(r, m)
	roomDoc := ejsonOnce(func() map[string]any { return s.roomDoc(r) })
	for _, uid := range r.members {
		s.emitUser(uid, "rooms-changed", "updated", roomDoc)
	}
	return m
}

// hiddenType reports whether history leaves out messages of type t (Hide_System_Messages,
// apps/meteor/app/lib/server/lib/getHiddenSystemMessages.ts; "mute_unmute" stands for
// user-muted and user-unmuted).
func (s *Server) hiddenType(t string) bool {
	if t == "" {
		return false
	}
	for _, h := range s.opts.HideSystemMessages {
		if h == t || (h == "mute_unmute" && (t == "user-muted" || t == "user-unmuted")) {
			return true
		}
	}
	return false
}

// lastVisibleLocked is Messages.getLastVisibleMessageSentWithNoTypeByRoomId: the newest
// message with no type that is not a thread-only reply.
func (s *Server) lastVisibleLocked(rid string) *message {
	ms := s.roomMsgs[rid]
	for i := len(ms) - 1; i >= 0; i-- {
		if m := ms[i]; m.t == "" && (m.tmid == "" || m.tshow) {
			return m
		}
	}
	return nil
}
