// DDP (the Realtime API at /websocket): connect, ping, login/resume, method calls and the
// stream-* publications. Follows Rocket.Chat's packages/ddp-server (Meteor's livedata_server.js),
// apps/meteor/server/modules/streamer/streamer.module.ts and
// apps/meteor/app/lib/server/lib/notifyListener.ts; each rule cites its file.

package rctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// conn is one DDP connection. Its fields below mu-comment are guarded by Server.mu; frames go
// out through a bounded queue drained by the connection's writer goroutine, so emitting under
// Server.mu never blocks on a socket.
type conn struct {
	s       *Server
	out     chan []byte
	done    chan struct{} // closed by close()
	seen    chan struct{} // a frame arrived (heartbeat reset), capacity 1
	session string

	// guarded by Server.mu
	connected bool
	version   string
	uid       string
	token     string
	subs      map[string]*streamSub // by DDP sub id
	closing   bool
	// stream-user-presence (presence.go): the live subscription's id and the followed users.
	presenceSub string
	presence    map[string]bool
}

type streamSub struct {
	id, name, event string
}

const outQueue = 1024

func newConn(s *Server) *conn {
	return &conn{s: s, out: make(chan []byte, outQueue), done: make(chan struct{}),
		seen: make(chan struct{}, 1), session: randomID(), subs: map[string]*streamSub{}}
}

// close asks the connection to end (Server.mu held or not; idempotent).
func (c *conn) close() {
	if !c.closing {
		c.closing = true
		close(c.done)
	}
}

// send queues a frame (Server.mu held). A full queue means a stuck client: close it.
func (c *conn) send(frame any) {
	if c.closing {
		return
	}
	b, err := json.Marshal(frame)
	if err != nil {
		c.s.log.Error("rctest: encode frame", "err", err)
		return
	}
	c.sendRaw(b)
}

func (c *conn) sendRaw(b []byte) {
	if c.closing {
		return
	}
	select {
	case c.out <- b:
	default:
		c.s.log.Warn("rctest: ddp client too slow, closing", "session", c.session)
		c.close()
	}
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	if f := s.fails["websocket"]; f != nil && f.times > 0 {
		if f.times--; f.times == 0 {
			delete(s.fails, "websocket")
		}
		s.mu.Unlock()
		http.Error(w, http.StatusText(f.status), f.status)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("rctest: websocket accept", "err", err)
		return
	}
	ws.SetReadLimit(1 << 20)
	c := newConn(s)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.CloseNow()
		return
	}
	s.conns[c] = struct{}{}
	c.send(map[string]any{"server_id": "0"})
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(ctx, ws)
	}()
	s.log.Debug("rctest: ddp connection opened", "session", c.session)
	c.readLoop(ctx, ws)
	cancel()
	<-writerDone
	ws.CloseNow()
	s.log.Debug("rctest: ddp connection closed", "session", c.session)

	s.mu.Lock()
	s.removeConn(c)
	c.close()
	s.mu.Unlock()
}

func (c *conn) readLoop(ctx context.Context, ws *websocket.Conn) {
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			c.s.mu.Lock()
			c.close()
			c.s.mu.Unlock()
			return
		}
		select {
		case c.seen <- struct{}{}:
		default:
		}
		if typ != websocket.MessageText {
			c.s.mu.Lock()
			c.close()
			c.s.mu.Unlock()
			_ = ws.Close(websocket.StatusUnsupportedData, "UNSUPPORTED_DATA")
			return
		}
		c.handle(ctx, data)
	}
}

// writeLoop writes queued frames, runs the server heartbeat and performs the close.
func (c *conn) writeLoop(ctx context.Context, ws *websocket.Conn) {
	c.s.mu.Lock()
	interval, timeout := c.s.opts.PingInterval, c.s.opts.PingTimeout
	c.s.mu.Unlock()
	idle := time.NewTimer(interval)
	defer idle.Stop()
	pinged := false
	heartbeat := true
	for {
		select {
		case b := <-c.out:
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				c.s.mu.Lock()
				c.close()
				c.s.mu.Unlock()
				return
			}
		case <-c.seen:
			pinged = false
			c.s.mu.Lock()
			heartbeat = c.version != "pre1"
			c.s.mu.Unlock()
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(interval)
		case <-idle.C:
			if !heartbeat {
				idle.Reset(interval)
				continue
			}
			if pinged {
				// Meteor closes a silent session with a normal close and no DDP frame.
				_ = ws.Close(websocket.StatusNormalClosure, "")
				return
			}
			pinged = true
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Write(wctx, websocket.MessageText, []byte(`{"msg":"ping"}`))
			cancel()
			if err != nil {
				return
			}
			idle.Reset(timeout)
		case <-c.done:
			// Flush what is queued (e.g. "failed" before the close), then close.
			for {
				select {
				case b := <-c.out:
					wctx, cancel := context.WithTimeout(ctx, time.Second)
					err := ws.Write(wctx, websocket.MessageText, b)
					cancel()
					if err != nil {
						return
					}
					continue
				default:
				}
				break
			}
			_ = ws.Close(websocket.StatusNormalClosure, "")
			return
		case <-ctx.Done():
			return
		}
	}
}

// ddpError is a Meteor.Error as EJSON, keys in Meteor's order.
type ddpError struct {
	IsClientSafe bool   `json:"isClientSafe"`
	Error        any    `json:"error"`
	Reason       string `json:"reason,omitempty"`
	Message      string `json:"message"`
	ErrorType    string `json:"errorType"`
	Details      any    `json:"details,omitempty"`
}

func meteorError(code any, reason string) *ddpError {
	msg := fmt.Sprintf("[%v]", code)
	if reason != "" {
		msg = reason + " " + msg
	}
	return &ddpError{IsClientSafe: true, Error: code, Reason: reason, Message: msg, ErrorType: "Meteor.Error"}
}

// notAllowed is Rocket.Chat's MeteorError('not-allowed') as the streamer sends it.
func notAllowed() *ddpError {
	return &ddpError{IsClientSafe: true, Error: "not-allowed", Message: "not-allowed", ErrorType: "Meteor.Error"}
}

type inFrame struct {
	Msg     *string           `json:"msg"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Name    string            `json:"name"`
	Params  []json.RawMessage `json:"params"`
	Version json.RawMessage   `json:"version"`
	Support json.RawMessage   `json:"support"`
}

type errorFrame struct {
	Msg              string          `json:"msg"`
	Reason           string          `json:"reason"`
	OffendingMessage json.RawMessage `json:"offendingMessage,omitempty"`
}

var supportedVersions = []string{"1", "pre2", "pre1"}

// handle processes one inbound text frame.
func (c *conn) handle(ctx context.Context, data []byte) {
	s := c.s
	if !json.Valid(data) {
		s.mu.Lock()
		c.send(map[string]any{"msg": "error", "reason": "Parse error"})
		s.mu.Unlock()
		return
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		s.mu.Lock()
		c.send(errorFrame{Msg: "error", Reason: "Bad request"})
		s.mu.Unlock()
		return
	}
	var f inFrame
	if json.Unmarshal(data, &f) != nil {
		s.mu.Lock()
		c.send(errorFrame{Msg: "error", Reason: "Bad request", OffendingMessage: json.RawMessage(bytes.TrimSpace(data))})
		s.mu.Unlock()
		return
	}
	offending := json.RawMessage(bytes.TrimSpace(data))
	if f.Msg == nil {
		s.mu.Lock()
		c.send(errorFrame{Msg: "error", Reason: "Bad request", OffendingMessage: offending})
		s.mu.Unlock()
		return
	}
	msg := *f.Msg
	s.mu.Lock()
	connected := c.connected
	s.mu.Unlock()
	if !connected && msg != "connect" {
		s.mu.Lock()
		c.send(errorFrame{Msg: "error", Reason: "Must connect first", OffendingMessage: offending})
		s.mu.Unlock()
		return
	}
	switch msg {
	case "connect":
		c.handleConnect(f, offending)
	case "ping":
		s.mu.Lock()
		var id string
		if json.Unmarshal(f.ID, &id) == nil && id != "" {
			c.send(map[string]any{"msg": "pong", "id": id})
		} else {
			c.send(map[string]any{"msg": "pong"})
		}
		s.mu.Unlock()
	case "pong":
	case "method":
		c.handleMethod(ctx, f, offending)
	case "sub":
		c.handleSub(f, offending)
	case "unsub":
		var id string
		if json.Unmarshal(f.ID, &id) != nil {
			s.mu.Lock()
			c.send(errorFrame{Msg: "error", Reason: "Bad request", OffendingMessage: offending})
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		s.removeSub(c, id)
		c.unsubPresence(id)
		c.send(map[string]any{"msg": "nosub", "id": id})
		s.mu.Unlock()
	default:
		s.mu.Lock()
		c.send(errorFrame{Msg: "error", Reason: "Bad request", OffendingMessage: offending})
		s.mu.Unlock()
	}
}

func (c *conn) handleConnect(f inFrame, offending json.RawMessage) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.connected {
		c.send(errorFrame{Msg: "error", Reason: "Already connected", OffendingMessage: offending})
		return
	}
	var version string
	var support []string
	if json.Unmarshal(f.Version, &version) != nil || json.Unmarshal(f.Support, &support) != nil ||
		!slices.Contains(support, version) {
		c.send(map[string]any{"msg": "failed", "version": supportedVersions[0]})
		c.close()
		return
	}
	best := ""
	for _, v := range supportedVersions {
		if slices.Contains(support, v) {
			best = v
			break
		}
	}
	if best == "" {
		best = supportedVersions[0]
	}
	if best != version {
		c.send(map[string]any{"msg": "failed", "version": best})
		c.close()
		return
	}
	c.connected = true
	c.version = version
	c.send(map[string]any{"msg": "connected", "session": c.session})
}

func (c *conn) handleMethod(ctx context.Context, f inFrame, offending json.RawMessage) {
	s := c.s
	var id string
	if json.Unmarshal(f.ID, &id) != nil || id == "" || f.Method == "" {
		s.mu.Lock()
		c.send(errorFrame{Msg: "error", Reason: "Malformed method invocation", OffendingMessage: offending})
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	lat := s.latency
	s.mu.Unlock()
	if lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.done:
			t.Stop()
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var result any
	var derr *ddpError
	switch f.Method {
	case "login":
		result, derr = c.methodLogin(f.Params)
	case "logout":
		c.methodLogout()
	case "stream-notify-room":
		derr = c.methodNotifyRoom(f.Params)
	default:
		derr = meteorError(404, fmt.Sprintf("Method '%s' not found", f.Method))
	}
	res := map[string]any{"msg": "result", "id": id}
	if derr != nil {
		res["error"] = derr
	} else if result != nil {
		res["result"] = result
	}
	upd := map[string]any{"msg": "updated", "methods": []string{id}}
	if s.opts.ResultBeforeUpdated {
		c.send(res)
		c.send(upd)
	} else {
		c.send(upd)
		c.send(res)
	}
}

func (c *conn) methodLogin(params []json.RawMessage) (any, *ddpError) {
	s := c.s
	var p struct {
		Resume *string `json:"resume"`
		User   *struct {
			Username string `json:"username"`
			Email    string `json:"email"`
		} `json:"user"`
		Password *struct {
			Digest    string `json:"digest"`
			Algorithm string `json:"algorithm"`
		} `json:"password"`
	}
	if len(params) != 1 || json.Unmarshal(params[0], &p) != nil {
		return nil, meteorError(400, "Unrecognized options for login request")
	}
	var u *user
	var tok *loginToken
	typ := "resume"
	switch {
	case p.Resume != nil:
		u, tok = s.findToken("", *p.Resume)
		if u == nil {
			return nil, meteorError(403, "You've been logged out by the server. Please log in again.")
		}
		if s.tokenExpired(tok) {
			return nil, meteorError(403, "Your session has expired. Please log in again.")
		}
	case p.User != nil && p.Password != nil:
		typ = "password"
		if p.User.Username != "" {
			u = s.byName[p.User.Username]
		} else {
			for _, x := range s.users {
				if strings.EqualFold(x.email, p.User.Email) {
					u = x
				}
			}
		}
		if u == nil {
			return nil, meteorError(403, "User not found")
		}
		if u.password == "" || !strings.EqualFold(p.Password.Digest, sha256Hex(u.password)) {
			return nil, meteorError(403, "Incorrect password")
		}
		if s.opts.TwoFactor && u.emailVerified {
			e := meteorError("totp-required", "TOTP Required")
			e.Details = s.emailTOTPDetails()
			return nil, e
		}
		tok = s.addTokenLocked(u, false, "")
	default:
		return nil, meteorError(400, "Unrecognized options for login request")
	}
	if !u.active {
		return nil, meteorError("error-user-is-not-activated", "User is not activated")
	}
	c.setUser(u, tok.token)
	var expires any = map[string]any{"$date": nil} // a PAT has no "when": an invalid date
	if !tok.pat {
		expires = map[string]any{"$date": tok.when.Add(s.opts.TokenExpiry).UnixMilli()}
	}
	fields := render(s.userDoc(u), true).(map[string]any)
	delete(fields, "_id")
	delete(fields, "status")
	c.send(map[string]any{"msg": "added", "collection": "users", "id": u.id, "fields": fields})
	return map[string]any{"id": u.id, "token": tok.token, "tokenExpires": expires, "type": typ}, nil
}

func (s *Server) emailTOTPDetails() map[string]any {
	return map[string]any{"method": "email", "codeGenerated": true, "codeCount": 1,
		"codeExpires":      time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"),
		"availableMethods": []string{"email"}}
}

// setUser changes the connection's user and re-runs its subscriptions, as Meteor does.
func (c *conn) setUser(u *user, token string) {
	uids := []string{c.uid}
	if u != nil {
		uids = append(uids, u.id)
	}
	c.s.presenceChangeLocked(uids, func() {
		c.uid, c.token = "", ""
		if u != nil {
			c.uid, c.token = u.id, token
		}
	})
	for id, ss := range c.subs {
		if !c.s.streamAllowed(c.uid, ss.name, ss.event) {
			c.s.removeSub(c, id)
			c.send(map[string]any{"msg": "nosub", "id": id, "error": notAllowed()})
		}
	}
}

func (c *conn) methodLogout() {
	s := c.s
	uid, token := c.uid, c.token
	c.setUser(nil, "")
	if u := s.users[uid]; u != nil && token != "" {
		s.removeTokenLocked(u, token)
	}
}

// methodNotifyRoom is the stream-notify-room method: a client reports its own activity in a
// room. Rules (6.x through the current code, which agree for user-activity):
//   - allowWrite accepts only <rid>/user-activity, and only when the username argument is
//     the caller's own (canType; with UI_Use_Real_Name it would be the name, off by default)
//     (apps/meteor/server/modules/notifications/notifications.module.ts). canType does not
//     look at the room.
//   - A refused write is silent: the method returns nothing and emits nothing
//     (initMethod in apps/meteor/server/modules/streamer/streamer.module.ts).
//   - The event goes to every subscriber of that event name except the caller's own
//     connection (retransmitToSelf is false: sendToManySubscriptions skips the origin).
//   - The deprecated <rid>/typing twin was dropped in 6.0 (RocketChat/Rocket.Chat#28234),
//     before every version this simulator models, so none is emitted.
func (c *conn) methodNotifyRoom(params []json.RawMessage) *ddpError {
	s := c.s
	var event string
	if len(params) < 1 || json.Unmarshal(params[0], &event) != nil {
		return meteorError(400, "Match failed")
	}
	_, ev, _ := strings.Cut(event, "/")
	var username string
	u := s.users[c.uid]
	if c.uid == "" || u == nil || ev != "user-activity" || len(params) < 2 ||
		json.Unmarshal(params[1], &username) != nil || username != u.username {
		return nil
	}
	args := make([]any, 0, len(params)-1)
	for _, p := range params[1:] {
		args = append(args, p)
	}
	origin := c
	s.emitStream("stream-notify-room", event, args, func(c *conn) bool { return c != origin }, nil)
	return nil
}

// handleSub answers a stream subscription with ready, or nosub when not allowed.
func (c *conn) handleSub(f inFrame, offending json.RawMessage) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var id string
	if json.Unmarshal(f.ID, &id) != nil || id == "" || f.Name == "" {
		c.send(errorFrame{Msg: "error", Reason: "Malformed subscription", OffendingMessage: offending})
		return
	}
	if !knownStream(f.Name) {
		c.send(map[string]any{"msg": "nosub", "id": id,
			"error": meteorError(404, fmt.Sprintf("Subscription '%s' not found", f.Name))})
		return
	}
	// Meteor checks the rate limit after finding the publication and before running it.
	if derr := s.allowSub(c, f.Name); derr != nil {
		c.send(map[string]any{"msg": "nosub", "id": id, "error": derr})
		return
	}
	if f.Name == "stream-user-presence" {
		// StreamPresence overrides the streamer's publish: no event name check (presence.go).
		c.subscribePresence(id, f.Params)
		return
	}
	var event string
	if len(f.Params) < 1 || json.Unmarshal(f.Params[0], &event) != nil {
		c.send(map[string]any{"msg": "nosub", "id": id, "error": meteorError(400, "Match failed")})
		return
	}
	if event == "" {
		c.send(map[string]any{"msg": "nosub", "id": id, "error": &ddpError{IsClientSafe: true,
			Error: "invalid-event-name", Message: "invalid-event-name", ErrorType: "Meteor.Error"}})
		return
	}
	useCollection := false
	if len(f.Params) > 1 {
		var opt struct {
			UseCollection bool  `json:"useCollection"`
			Args          []any `json:"args"`
		}
		var b bool
		switch {
		case json.Unmarshal(f.Params[1], &b) == nil:
			useCollection = b
		case json.Unmarshal(f.Params[1], &opt) == nil:
			useCollection = opt.UseCollection
		default:
			c.send(map[string]any{"msg": "nosub", "id": id, "error": meteorError(400, "Match failed")})
			return
		}
	}
	if !s.streamAllowed(c.uid, f.Name, event) {
		c.send(map[string]any{"msg": "nosub", "id": id, "error": notAllowed()})
		return
	}
	s.addSub(c, &streamSub{id: id, name: f.Name, event: event})
	if useCollection {
		c.send(map[string]any{"msg": "added", "collection": f.Name, "id": "id",
			"fields": map[string]any{"eventName": event}})
	}
	c.send(map[string]any{"msg": "ready", "subs": []string{id}})
}

func knownStream(name string) bool {
	switch name {
	case "stream-notify-user", "stream-room-messages", "stream-notify-room", "stream-notify-logged",
		"stream-notify-all", "stream-user-presence", "stream-notify-room-users":
		return true
	}
	return false
}

// streamAllowed is the streamer's read rule (s.mu held).
func (s *Server) streamAllowed(uid, name, event string) bool {
	switch name {
	case "stream-notify-user":
		owner, _, _ := strings.Cut(event, "/")
		return uid != "" && owner == uid
	case "stream-room-messages":
		if event == "__my_messages__" {
			return uid != ""
		}
		return s.canRead(uid, s.rooms[event])
	case "stream-notify-room":
		rid, _, _ := strings.Cut(event, "/")
		return s.canRead(uid, s.rooms[rid])
	case "stream-notify-logged", "stream-user-presence":
		return uid != ""
	case "stream-notify-all":
		return true
	}
	return false
}

// ---- subscription index and emitting (s.mu held) ----

func streamKey(name, event string) string { return name + "\x00" + event }

func (s *Server) addSub(c *conn, ss *streamSub) {
	if old := c.subs[ss.id]; old != nil {
		s.removeSub(c, ss.id)
	}
	c.subs[ss.id] = ss
	k := streamKey(ss.name, ss.event)
	m := s.streams[k]
	if m == nil {
		m = map[*streamSub]*conn{}
		s.streams[k] = m
	}
	m[ss] = c
}

func (s *Server) removeSub(c *conn, id string) {
	ss := c.subs[id]
	if ss == nil {
		return
	}
	delete(c.subs, id)
	k := streamKey(ss.name, ss.event)
	if m := s.streams[k]; m != nil {
		delete(m, ss)
		if len(m) == 0 {
			delete(s.streams, k)
		}
	}
}

func (s *Server) removeConn(c *conn) {
	for id := range c.subs {
		s.removeSub(c, id)
	}
	c.unsubPresence(c.presenceSub)
	s.presenceChangeLocked([]string{c.uid}, func() { delete(s.conns, c) })
}

type changedFrame struct {
	Msg        string        `json:"msg"`
	Collection string        `json:"collection"`
	ID         string        `json:"id"`
	Fields     changedFields `json:"fields"`
}

type changedFields struct {
	EventName string `json:"eventName"`
	Args      []any  `json:"args"`
}

// emitStream sends one changed frame per subscription to name/event whose connection passes
// allow. tailor, if set, builds per-connection args; otherwise args are encoded once.
func (s *Server) emitStream(name, event string, args []any, allow func(*conn) bool, tailor func(*conn) []any) {
	subs := s.streams[streamKey(name, event)]
	if len(subs) == 0 {
		return
	}
	var shared []byte
	for _, c := range subs {
		if c.closing || (allow != nil && !allow(c)) {
			continue
		}
		if tailor != nil {
			c.send(changedFrame{Msg: "changed", Collection: name, ID: "id",
				Fields: changedFields{EventName: event, Args: tailor(c)}})
			continue
		}
		if shared == nil {
			b, err := json.Marshal(changedFrame{Msg: "changed", Collection: name, ID: "id",
				Fields: changedFields{EventName: event, Args: args}})
			if err != nil {
				s.log.Error("rctest: encode stream event", "err", err)
				return
			}
			shared = b
		}
		c.sendRaw(shared)
	}
}

// ejsonOnce memoizes the EJSON rendering of a document built by f.
func ejsonOnce(f func() map[string]any) func() any {
	var v any
	return func() any {
		if v == nil {
			v = render(f(), true)
		}
		return v
	}
}

func (s *Server) hasSubscribers(name, event string) bool {
	return len(s.streams[streamKey(name, event)]) > 0
}

// emitUser sends <uid>/<event> on stream-notify-user; action "" means args are [doc]. doc is
// only built when someone listens.
func (s *Server) emitUser(uid, event, action string, doc func() any) {
	ev := uid + "/" + event
	if !s.hasSubscribers("stream-notify-user", ev) {
		return
	}
	args := []any{doc()}
	if action != "" {
		args = []any{action, args[0]}
	}
	s.emitStream("stream-notify-user", ev, args, func(c *conn) bool { return c.uid == uid }, nil)
}

// emitRoomMessage sends m on stream-room-messages <rid> and __my_messages__. Messages of a
// type in Hide_System_Messages are not broadcast (getMessageToBroadcast in
// apps/meteor/app/lib/server/lib/notifyListener.ts).
func (s *Server) emitRoomMessage(r *room, m *message) {
	if s.hiddenType(m.t) {
		return
	}
	hasRoom := s.hasSubscribers("stream-room-messages", r.id)
	hasMy := s.hasSubscribers("stream-room-messages", "__my_messages__")
	if !hasRoom && !hasMy {
		return
	}
	doc := render(s.msgDoc(m), true)
	canRead := func(c *conn) bool { return s.canRead(c.uid, r) }
	s.emitStream("stream-room-messages", r.id, []any{doc}, canRead, nil)
	if !hasMy {
		return
	}
	s.emitStream("stream-room-messages", "__my_messages__", nil, canRead, func(c *conn) []any {
		info := map[string]any{"roomParticipant": s.isMember(c.uid, r), "roomType": r.t}
		if r.t != "d" {
			info["roomName"] = r.name // DM rooms have no name, so the key is absent
		}
		return []any{doc, info}
	})
}

func (s *Server) emitNotifyRoom(r *room, event string, arg any) {
	args := []any{render(arg, true)}
	s.emitStream("stream-notify-room", r.id+"/"+event, args, func(c *conn) bool { return s.canRead(c.uid, r) }, nil)
}
