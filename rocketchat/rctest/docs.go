// Documents and rendering: the JSON shapes of users, rooms, subscriptions, messages and
// notifications as REST and DDP send them. Follows Rocket.Chat's packages/core-typings
// (IUser, IRoom, ISubscription, IMessage), apps/meteor/app/file-upload/server/methods/sendFileMessage.ts
// and apps/meteor/app/lib/server/functions/notifications/desktop.ts; each rule cites its file.

package rctest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Documents are built as map[string]any holding time.Time values; render turns the times
// into REST ISO-8601 strings or DDP EJSON {"$date": ms}.

func render(v any, ejson bool) any {
	switch x := v.(type) {
	case time.Time:
		if ejson {
			return map[string]any{"$date": x.UnixMilli()}
		}
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = render(e, ejson)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = render(e, ejson)
		}
		return out
	default:
		return v
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(render(body, false))
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"success":false,"error":"Internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) userRef(uid string) map[string]any {
	u := s.users[uid]
	if u == nil {
		return map[string]any{"_id": uid}
	}
	return map[string]any{"_id": u.id, "username": u.username, "name": u.name}
}

func (s *Server) msgDoc(m *message) map[string]any {
	d := map[string]any{
		"_id": m.id, "rid": m.rid, "msg": m.msg, "ts": m.ts, "_updatedAt": m.updatedAt,
		"u": s.userRef(m.uid), "mentions": []any{}, "channels": []any{}, "urls": []any{},
	}
	if m.system {
		// saveSystemMessage stores no parser output (md, mentions, channels, urls).
		delete(d, "mentions")
		delete(d, "channels")
		delete(d, "urls")
	}
	if m.msg != "" && !m.system {
		d["md"] = []any{map[string]any{"type": "PARAGRAPH", "value": []any{
			map[string]any{"type": "PLAIN_TEXT", "value": m.msg}}}}
	}
	var mentions []any
	for _, id := range m.mentions {
		if id == "all" || id == "here" {
			mentions = append(mentions, map[string]any{"_id": id, "username": id})
			continue
		}
		ref := s.userRef(id)
		ref["type"] = "user"
		mentions = append(mentions, ref)
	}
	if mentions != nil {
		d["mentions"] = mentions
	}
	if m.t != "" {
		d["t"] = m.t
	}
	if m.tmid != "" {
		d["tmid"] = m.tmid
	}
	if m.tshow {
		d["tshow"] = true
	}
	if m.system {
		d["groupable"] = false
	}
	if m.tcount > 0 || len(m.replies) > 0 {
		d["tcount"] = m.tcount
		d["tlm"] = m.tlm
		replies := make([]any, len(m.replies))
		for i, x := range m.replies {
			replies[i] = x
		}
		d["replies"] = replies
	}
	if len(m.reactions) > 0 {
		re := map[string]any{}
		for emoji, names := range m.reactions {
			us := make([]any, len(names))
			for i, x := range names {
				us[i] = x
			}
			re[emoji] = map[string]any{"usernames": us}
		}
		d["reactions"] = re
	}
	if !m.editedAt.IsZero() {
		d["editedAt"] = m.editedAt
		eb := s.userRef(m.editedBy)
		delete(eb, "name")
		d["editedBy"] = eb
	}
	if f := m.file; f != nil {
		d["file"], d["files"], d["attachments"] = fileDocs(f)
	}
	return d
}

func (s *Server) roomDoc(r *room) map[string]any {
	d := map[string]any{
		"_id": r.id, "t": r.t, "msgs": r.msgs, "usersCount": len(r.members), "ts": r.ts,
		"_updatedAt": r.updatedAt,
	}
	if r.t == "d" {
		var names, uids []any
		for _, id := range r.members {
			uids = append(uids, id)
			names = append(names, s.users[id].username)
		}
		d["usernames"], d["uids"] = names, uids
	} else {
		d["name"], d["fname"] = r.name, r.fname
		if r.owner != "" {
			ref := s.userRef(r.owner)
			delete(ref, "name")
			d["u"] = ref
		}
		d["sysMes"] = true
		d["ro"] = r.ro
		if r.isDefault {
			d["default"] = true
		}
	}
	if !r.lm.IsZero() {
		d["lm"] = r.lm
	}
	if r.lastMessage != nil {
		d["lastMessage"] = s.msgDoc(r.lastMessage)
	}
	return d
}

// subNames is the subscription's name/fname: the room's, or the other user's for DMs.
func (s *Server) subNames(sb *sub, r *room) (name, fname string) {
	if r.t != "d" {
		return r.name, r.fname
	}
	var names, fnames []string
	for _, id := range r.members {
		if u := s.users[id]; u != nil && id != sb.uid {
			names, fnames = append(names, u.username), append(fnames, u.name)
		}
	}
	if len(names) == 0 { // a DM with oneself
		u := s.users[sb.uid]
		return u.username, u.name
	}
	return strings.Join(names, ", "), strings.Join(fnames, ", ")
}

func (s *Server) subDoc(sb *sub) map[string]any {
	r := s.rooms[sb.rid]
	name, fname := s.subNames(sb, r)
	d := map[string]any{
		"_id": sb.id, "rid": sb.rid, "u": s.userRef(sb.uid), "t": r.t, "name": name, "fname": fname,
		"ts": sb.ts, "ls": sb.ls, "open": sb.open, "alert": sb.alert, "unread": sb.unread,
		"userMentions": sb.userMentions, "groupMentions": sb.groupM, "_updatedAt": sb.updatedAt,
	}
	if sb.desktopNotifications != "" {
		d["desktopNotifications"] = sb.desktopNotifications
	}
	if sb.disableNotifications {
		d["disableNotifications"] = true
	}
	if sb.muteGroupMentions {
		d["muteGroupMentions"] = true
	}
	if len(sb.roles) > 0 {
		roles := make([]any, len(sb.roles))
		for i, x := range sb.roles {
			roles[i] = x
		}
		d["roles"] = roles
	}
	return d
}

func (s *Server) userDoc(u *user) map[string]any {
	roles := make([]any, len(u.roles))
	for i, x := range u.roles {
		roles[i] = x
	}
	typ := "user"
	if hasRole(u, "bot") {
		typ = "bot"
	}
	return map[string]any{
		"_id": u.id, "username": u.username, "name": u.name, "type": typ, "active": u.active,
		"status": s.statusOfLocked(u), "statusConnection": s.statusOfLocked(u), "utcOffset": 0, "roles": roles,
		"emails":    []any{map[string]any{"address": u.email, "verified": u.emailVerified}},
		"createdAt": u.createdAt, "_updatedAt": u.updatedAt, "settings": map[string]any{"preferences": map[string]any{}},
	}
}

func (s *Server) meDoc(u *user) map[string]any {
	d := s.userDoc(u)
	d["email"] = u.email
	d["avatarUrl"] = s.baseURL() + "/avatar/" + u.username
	d["isOAuthUser"] = false
	d["requirePasswordChange"] = false
	return d
}

func (s *Server) baseURL() string {
	if s.hs != nil {
		return s.hs.URL
	}
	return "http://rctest.invalid"
}

// notificationDoc is notifyDesktopUser's payload (apps/meteor/app/lib/server/functions/notifications/desktop.ts)
// with the room type's getNotificationDetails (apps/meteor/server/lib/rooms/roomTypes/*.ts,
// UI_Use_Real_Name off): a channel or group is titled by its name with "sender: text"; a
// one-to-one DM by the sender with the bare text, and its name is the receiver's
// subscription name (the room has none).
func (s *Server) notificationDoc(r *room, m *message, from *user, receiver *sub) map[string]any {
	title, text, name := from.username, m.msg, r.name
	if r.t != "d" || len(r.members) > 2 {
		title, text = r.name, from.username+": "+m.msg
	}
	if r.t == "d" {
		name, _ = s.subNames(receiver, r)
		if len(r.members) > 2 {
			title = name
		}
	}
	payload := map[string]any{
		"_id": m.id, "rid": r.id, "sender": s.userRef(from.id), "type": r.t,
		"message": map[string]any{"msg": m.msg}, "name": name,
	}
	if m.tmid != "" {
		payload["tmid"] = m.tmid
	}
	return map[string]any{"title": title, "text": text, "payload": payload}
}

// fileDocs builds a file message's file, files and attachments as
// parseFileIntoMessageAttachments does (apps/meteor/app/file-upload/server/methods/sendFileMessage.ts):
// image/*, audio/* and video/* get image_*, audio_* or video_* fields pointing at the file
// (the simulator makes no thumbnails, so image_url is the file itself, and image_dimensions
// come from the decoded header); anything else gets format (the extension) and size.
func fileDocs(f *upload) (file map[string]any, files []any, attachments []any) {
	link := "/file-upload/" + f.id + "/" + url.PathEscape(f.name)
	format := ""
	if f.identified {
		format = f.format
	}
	fd := map[string]any{"_id": f.id, "name": f.name, "type": f.mime, "size": f.size, "format": format}
	att := map[string]any{"type": "file", "title": f.name, "title_link": link, "title_link_download": true, "fileId": f.id}
	if f.desc != "" {
		att["description"] = f.desc
	}
	switch {
	case strings.HasPrefix(f.mime, "image/"):
		att["image_url"], att["image_type"], att["image_size"] = link, f.mime, f.size
		if f.identified {
			att["image_dimensions"] = map[string]any{"width": f.width, "height": f.height}
		}
	case strings.HasPrefix(f.mime, "audio/"):
		att["audio_url"], att["audio_type"], att["audio_size"] = link, f.mime, f.size
	case strings.HasPrefix(f.mime, "video/"):
		att["video_url"], att["video_type"], att["video_size"] = link, f.mime, f.size
	default:
		att["format"] = strings.TrimPrefix(strings.ToLower(filepath.Ext(f.name)), ".")
		att["size"] = f.size
	}
	return fd, []any{fd}, []any{att}
}
