package session

import (
	"encoding/json"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// Desktop notifications missed in a gap.
//
// Rocket.Chat sends <uid>/notification only to connections subscribed at that moment and has
// no way to ask for missed ones. Whatever is posted between the browser's connect (or an
// upstream drop) and the upstream's subscriptions being ready reaches the browser through the
// resync as a message, but its notification was lost: on a cold start that window is the whole
// token mint + dial + login. So the resync rebuilds the notification of each message of the
// gap that Rocket.Chat would have notified, following the default rules of
// apps/meteor/app/lib/server/lib/sendNotificationsOnMessage.ts (shouldNotifyDesktop) and its
// payload (apps/meteor/app/lib/server/functions/notifications/desktop.ts). The translator
// pushes one notification per message id, live or rebuilt.

// gapNotification returns the getNotification argument Rocket.Chat would have sent uid for
// msg, given uid's subscription to the room (nil if unknown), or false when it would have sent
// none. The rules, and the cases in notify_table_test.go that hold the simulator to the same
// answers:
//   - nobody is notified of their own, system (t set) or edited messages, nor in a muted room
//     (disableNotifications, excluded by sendMessageNotifications' query);
//   - muteGroupMentions drops @all/@here unless the user is also named (sendNotification);
//   - shouldNotifyDesktop (notifications/desktop.ts): "nothing" never; no preference means the
//     server default Accounts_Default_User_Preferences_desktopNotifications, "all", which
//     notifies every message but thread replies the user takes part in; otherwise a DM, @all,
//     @here, "all" or a mention notifies, and a thread reply only its participants.
//
// Thread participants are the parent's author and earlier repliers
// (apps/meteor/app/threads/server/hooks/aftersavemessage.ts), which a single message does not
// tell: here only the users it names count as participants, so a reply to a thread the user
// merely took part in is not rebuilt. Rooms over Notifications_Max_Room_Members (100), where
// Rocket.Chat notifies only thread participants, and the receiver's busy status are not known
// either.
func gapNotification(uid string, msg, sub json.RawMessage, from, to time.Time) (json.RawMessage, bool) {
	var m struct {
		ID    string          `json:"_id"`
		RID   string          `json:"rid"`
		Msg   string          `json:"msg"`
		T     string          `json:"t"`
		TMID  string          `json:"tmid"`
		TShow bool            `json:"tshow"`
		TS    rocketchat.Date `json:"ts"`
		U     struct {
			ID       string `json:"_id"`
			Username string `json:"username"`
			Name     string `json:"name"`
		} `json:"u"`
		Mentions []struct {
			ID string `json:"_id"`
		} `json:"mentions"`
		EditedAt json.RawMessage `json:"editedAt"`
	}
	if json.Unmarshal(msg, &m) != nil || m.ID == "" || m.U.ID == "" || m.U.ID == uid || m.T != "" || len(m.EditedAt) > 0 {
		return nil, false // own, system and edited messages notify nobody
	}
	ts := m.TS.Time
	if ts.Before(from.Truncate(time.Millisecond)) || ts.After(to) { // Rocket.Chat keeps ms
		return nil, false
	}
	var s struct {
		T                    string `json:"t"`
		Name                 string `json:"name"`
		DesktopNotifications string `json:"desktopNotifications"`
		DisableNotifications bool   `json:"disableNotifications"`
		MuteGroupMentions    bool   `json:"muteGroupMentions"`
	}
	if sub == nil || json.Unmarshal(sub, &s) != nil || s.T == "" || s.DisableNotifications {
		return nil, false
	}
	var toUser, group bool
	for _, x := range m.Mentions {
		switch x.ID {
		case uid:
			toUser = true
		case "all", "here":
			group = true
		}
	}
	isThread := m.TMID != "" && !m.TShow
	reply := isThread && toUser // a named user joins the thread's participants
	if !toUser && s.MuteGroupMentions && group {
		return nil, false
	}
	pref := s.DesktopNotifications
	switch {
	case pref == "nothing":
		return nil, false
	case pref == "" && (!isThread || reply): // the default preference, "all"
	case (s.T == "d" || group || pref == "all" || pref == "allAndReaction" || toUser) && (!isThread || reply):
	default:
		return nil, false
	}
	// notifyDesktopUser's payload with getNotificationDetails (UI_Use_Real_Name off): a DM is
	// titled by the sender and named by the receiver's subscription (the room has no name).
	title, text := m.U.Username, m.Msg
	payload := map[string]any{
		"_id": m.ID, "rid": m.RID, "type": s.T, "message": map[string]any{"msg": m.Msg}, "name": s.Name,
		"sender": map[string]any{"_id": m.U.ID, "username": m.U.Username, "name": m.U.Name},
	}
	if s.T != "d" {
		title, text = s.Name, m.U.Username+": "+m.Msg
	}
	if m.TMID != "" {
		payload["tmid"] = m.TMID
	}
	out, err := json.Marshal(map[string]any{"title": title, "text": text, "payload": payload})
	return out, err == nil
}
