package session

import (
	"encoding/json"
	"slices"
	"time"
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
// none.
func gapNotification(uid string, msg, sub json.RawMessage, from, to time.Time) (json.RawMessage, bool) {
	var m struct {
		ID   string          `json:"_id"`
		RID  string          `json:"rid"`
		Msg  string          `json:"msg"`
		T    string          `json:"t"`
		TMID string          `json:"tmid"`
		TS   json.RawMessage `json:"ts"`
		U    struct {
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
	ts := time.UnixMilli(dateMillis(m.TS))
	if ts.Before(from.Truncate(time.Millisecond)) || ts.After(to) { // Rocket.Chat keeps ms
		return nil, false
	}
	var s struct {
		T                    string `json:"t"`
		Name                 string `json:"name"`
		DesktopNotifications string `json:"desktopNotifications"`
		DisableNotifications bool   `json:"disableNotifications"`
	}
	if sub == nil || json.Unmarshal(sub, &s) != nil || s.T == "" || s.DisableNotifications {
		return nil, false
	}
	mentioned := slices.ContainsFunc(m.Mentions, func(x struct {
		ID string `json:"_id"`
	}) bool {
		return x.ID == uid || x.ID == "all" || x.ID == "here"
	})
	// desktopNotifications unset means the default preference, "all"
	// (Accounts_Default_User_Preferences_desktopNotifications); thread replies notify only
	// mentioned users here, as whether the user follows the thread is not known.
	switch pref := s.DesktopNotifications; {
	case pref == "nothing":
		return nil, false
	case m.TMID != "" && !mentioned:
		return nil, false
	case pref == "mentions" && s.T != "d" && !mentioned:
		return nil, false
	}
	title, text := m.U.Username, m.Msg
	payload := map[string]any{
		"_id": m.ID, "rid": m.RID, "type": s.T, "message": map[string]any{"msg": m.Msg},
		"sender": map[string]any{"_id": m.U.ID, "username": m.U.Username, "name": m.U.Name},
	}
	if s.T != "d" {
		title, text = s.Name, m.U.Username+": "+m.Msg
		payload["name"] = s.Name
	}
	if m.TMID != "" {
		payload["tmid"] = m.TMID
	}
	out, err := json.Marshal(map[string]any{"title": title, "text": text, "payload": payload})
	return out, err == nil
}
