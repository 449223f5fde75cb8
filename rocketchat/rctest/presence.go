package rctest

import (
	"encoding/json"
	"slices"
	"strings"
)

// User presence (status), as Rocket.Chat 7.x–9.x compute and stream it:
//   - A user's status follows their logged-in DDP connections and their default status:
//     no connection → offline; otherwise the default status (users.setStatus) unless that
//     is online, then online (ee/packages/presence/src/processPresenceAndStatus.ts and
//     lib/processStatus.ts). REST-only logins hold no connection. Connections' own
//     away/online (UserPresence:away) are not simulated: every connection counts as online.
//   - A change is broadcast only when the computed status differs from the previous one
//     (ee/packages/presence/src/Presence.ts updateUserPresence), as code 0 offline,
//     1 online, 2 away, 3 busy (STATUS_MAP in apps/meteor/server/modules/listeners/listeners.module.ts).
//   - stream-user-presence: a connection's first subscription (any event name, '' in the
//     web client) becomes its one live subscription; its options {added, removed} list the
//     user ids to follow. Later subscriptions on the same connection only change that list
//     and are stopped at once (nosub without an error). Each change reaches the followers as
//     changed {collection stream-user-presence, fields {eventName: uid, uid,
//     args: [[username, code, statusText]]}}
//     (apps/meteor/app/notifications/server/lib/Presence.ts StreamPresence/UserPresence;
//     apps/meteor/client/lib/presence.ts subscribes that way).
//   - GET users.presence?ids=a,b answers {users, full:false} with only the listed users who
//     are NOT offline (Users.findNotOfflineByIds in apps/meteor/app/api/server/v1/users.ts):
//     a missing id means offline.
//   - POST users.setStatus {status, message?} sets the caller's default status; status must be
//     online, away, busy or offline (apps/meteor/app/api/server/v1/users.ts users.setStatus).

var statusCodes = map[string]int{"offline": 0, "online": 1, "away": 2, "busy": 3}

// statusOfLocked is u's computed status (s.mu held).
func (s *Server) statusOfLocked(u *user) string {
	if u == nil {
		return "offline"
	}
	online := false
	for c := range s.conns { // a closing connection counts until removeConn, which broadcasts
		if c.uid == u.id {
			online = true
			break
		}
	}
	if !online {
		return "offline"
	}
	if u.statusDefault != "" && u.statusDefault != "online" {
		return u.statusDefault
	}
	return "online"
}

// presenceChangeLocked runs f and broadcasts the status of the users in uids whose computed
// status changed (s.mu held).
func (s *Server) presenceChangeLocked(uids []string, f func()) {
	before := make([]string, len(uids))
	for i, id := range uids {
		before[i] = s.statusOfLocked(s.users[id])
	}
	f()
	for i, id := range uids {
		u := s.users[id]
		if u == nil || id == "" || (i > 0 && slices.Contains(uids[:i], id)) {
			continue
		}
		if now := s.statusOfLocked(u); now != before[i] {
			s.emitPresenceLocked(u, now)
		}
	}
}

type presenceFields struct {
	EventName string `json:"eventName"`
	UID       string `json:"uid"`
	Args      []any  `json:"args"`
}

// emitPresenceLocked sends u's status to every connection following u.
func (s *Server) emitPresenceLocked(u *user, status string) {
	var text any
	if u.statusText != "" {
		text = u.statusText
	}
	var raw []byte
	for c := range s.conns {
		if c.closing || c.presenceSub == "" || !c.presence[u.id] {
			continue
		}
		if raw == nil {
			b, err := json.Marshal(map[string]any{"msg": "changed", "collection": "stream-user-presence", "id": "id",
				"fields": presenceFields{EventName: u.id, UID: u.id, Args: []any{[]any{u.username, statusCodes[status], text}}}})
			if err != nil {
				s.log.Error("rctest: encode presence", "err", err)
				return
			}
			raw = b
		}
		c.sendRaw(raw)
	}
}

// subscribePresence handles a stream-user-presence subscription (s.mu held).
func (c *conn) subscribePresence(id string, params []json.RawMessage) {
	var opt struct {
		Added   []string `json:"added"`
		Removed []string `json:"removed"`
	}
	if len(params) > 1 {
		_ = json.Unmarshal(params[1], &opt) // a boolean or other options: nothing to follow
	}
	if c.presence == nil {
		c.presence = map[string]bool{}
	}
	for _, uid := range opt.Added {
		c.presence[uid] = true
	}
	for _, uid := range opt.Removed {
		delete(c.presence, uid)
	}
	if c.presenceSub != "" && c.presenceSub != id {
		c.send(map[string]any{"msg": "nosub", "id": id})
		return
	}
	c.presenceSub = id
	c.send(map[string]any{"msg": "ready", "subs": []string{id}})
}

// unsubPresence stops the connection's live presence subscription when id is it (s.mu held).
func (c *conn) unsubPresence(id string) {
	if id != "" && id == c.presenceSub {
		c.presenceSub = ""
		clear(c.presence)
	}
}

// SetStatus sets username's default status as users.setStatus does ("online", "away",
// "busy" or "offline") and broadcasts the change when the computed status differs.
func (s *Server) SetStatus(username, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	if _, ok := statusCodes[status]; !ok {
		panic("rctest: SetStatus: unknown status " + status)
	}
	s.presenceChangeLocked([]string{u.id}, func() { u.statusDefault = status })
}

// Status returns username's computed status.
func (s *Server) Status(username string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusOfLocked(s.mustUser(username))
}

func (c *call) usersPresence() reply {
	users := []any{}
	var list []*user
	ids := c.q.Get("ids")
	if ids != "" {
		for _, id := range strings.Split(ids, ",") {
			list = append(list, c.s.users[id])
		}
	} else { // no ids (and no recent from): every user not offline, full:true
		for _, u := range c.s.users {
			list = append(list, u)
		}
	}
	{
		for _, u := range list {
			if u == nil {
				continue
			}
			st := c.s.statusOfLocked(u)
			if st == "offline" {
				continue
			}
			d := map[string]any{"_id": u.id, "username": u.username, "name": u.name, "status": st, "utcOffset": 0}
			if u.statusText != "" {
				d["statusText"] = u.statusText
			}
			users = append(users, d)
		}
	}
	return ok(map[string]any{"users": users, "full": ids == ""})
}

func (c *call) usersSetStatus() reply {
	status, msg := c.str("status"), c.str("message")
	if status != "" {
		if _, ok := statusCodes[status]; !ok {
			return fail("error-invalid-status", "Valid status types include online, away, offline, and busy.", nil)
		}
	}
	u := c.u
	c.s.presenceChangeLocked([]string{u.id}, func() {
		if status != "" {
			u.statusDefault = status
		}
		if c.has("message") {
			u.statusText = msg
		}
	})
	return ok(map[string]any{})
}

// Connect logs username in on a connection of its own that the test holds (another client of
// that user, as far as presence goes: no frames reach it) and returns the call that closes it.
// The first connection makes the user online, closing the last one offline. A token removal
// does not close it (it holds no token); DropConnections and Close do.
func (s *Server) Connect(username string) (disconnect func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(username)
	c := newConn(s)
	c.connected = true
	s.presenceChangeLocked([]string{u.id}, func() {
		c.uid = u.id
		s.conns[c] = struct{}{}
	})
	if s.closed {
		c.close()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-c.done
		s.mu.Lock()
		s.removeConn(c)
		s.mu.Unlock()
	}()
	return func() {
		s.mu.Lock()
		c.close()
		s.mu.Unlock()
	}
}
