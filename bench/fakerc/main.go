// Command fakerc is the benchmark's upstream: a lean Rocket.Chat stand-in that speaks just
// what the gateway needs (the REST calls of the admin agent and the session manager, and the
// DDP realtime API) and emits timed, sequenced messages on stream-room-messages
// "__my_messages__" at a given total rate. Any user exists; user <name>'s token is
// "tok-<name>" and id "uid-<name>"; each user has a direct-message room "r-<name>" (listed by
// subscriptions.get, so the gateway follows it and resyncs it as it does a real room). With
// -room <rid>, every user is also a member of the channel <rid>. Like Rocket.Chat, it keeps
// what it emitted (the last two minutes) whether or not the user was connected, and serves
// it through rooms.get and chat.syncMessages, so a gateway that lost its upstream can catch up.
//
// Control: GET /start?rate=<events/s>&dur=<duration>&users=<n> (events go round-robin to the
// first n subscribed users' direct rooms; with &room=1 every event is a message in the -room
// channel, sent to each of its members as Rocket.Chat does), GET /stats, GET /drop-all
// (closes every DDP connection).
// It is not a simulator: rocketchat/rctest is. It is built for speed and predictability.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3100", "listen address")
	loginDelay := flag.Duration("login-delay", 0, "extra time a DDP resume login takes")
	room := flag.String("room", "", "id of a channel every user is a member of (the big room)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *loginDelay, *room, log); err != nil {
		log.Error("fakerc", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, loginDelay time.Duration, room string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s := newServer(loginDelay, room, log)
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("fakerc listening", "addr", ln.Addr().String())
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	s.stopGen()
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s.dropAll()
	return srv.Shutdown(sctx)
}

type server struct {
	loginDelay time.Duration
	room       string // the channel every user is a member of; "" for none
	started    time.Time
	log        *slog.Logger

	mu      sync.Mutex
	conns   map[*conn]struct{}
	subs    map[string]*conn  // user → connection subscribed to __my_messages__
	rooms   map[string]*rhist // rid → what was emitted in the room
	members int               // members the current room run sends to
	genMu   sync.Mutex
	gen     context.CancelFunc
	genWG   sync.WaitGroup

	emitted, sent, dropped atomic.Uint64 // generated; written to a connection; failed to write
	// Frames and bytes written for the room's messages (stream-room-messages and
	// rooms-changed, to every member): what Rocket.Chat sends per message of a big room.
	roomFrames, roomBytes atomic.Uint64
}

type conn struct {
	ws    *websocket.Conn
	user  string
	subID string
	// roomsChanged: the connection follows <uid>/rooms-changed (Rocket.Chat sends a room's
	// changes only to connections with that subscription).
	roomsChanged atomic.Bool
	wmu          sync.Mutex
}

// rhist is one room's emitted messages, guarded by server.mu.
type rhist struct {
	seq  uint64    // the room's sequence of emitted messages
	hist []stored  // oldest first, the last historyKeep
	last time.Time // when the room was last updated
}

type stored struct {
	at   time.Time
	rest []byte // the message as REST returns it
}

const historyKeep = 2 * time.Minute

func newServer(loginDelay time.Duration, room string, log *slog.Logger) *server {
	return &server{loginDelay: loginDelay, room: room, started: time.Now(), log: log,
		conns: map[*conn]struct{}{}, subs: map[string]*conn{}, rooms: map[string]*rhist{}}
}

// roomsOf lists the rooms of user name: its direct room, and the channel if there is one.
func (s *server) roomsOf(name string) []string {
	if s.room == "" {
		return []string{"r-" + name}
	}
	return []string{"r-" + name, s.room}
}

// subscription is user name's subscription to rid, as subscriptions.get lists it (dates ISO).
// It never changes: its _updatedAt is when fakerc started.
func (s *server) subscription(name, rid string) map[string]any {
	t, fname := "d", "peer"
	if rid == s.room {
		t, fname = "c", rid
	}
	at := s.started.UTC().Format(isoMillis)
	return map[string]any{"_id": "s-" + name + "-" + rid, "rid": rid, "t": t, "name": fname, "fname": fname,
		"u": map[string]any{"_id": "uid-" + name, "username": name}, "open": true, "alert": false, "unread": 0,
		"userMentions": 0, "groupMentions": 0, "ts": at, "ls": at, "_updatedAt": at}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	js := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/api/info", func(w http.ResponseWriter, r *http.Request) {
		js(w, map[string]any{"version": "8.0.1", "success": true})
	})
	mux.HandleFunc("/api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			User     string `json:"user"`
			Username string `json:"username"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		u := b.User + b.Username
		js(w, map[string]any{"status": "success", "data": map[string]any{"userId": "uid-" + u, "authToken": "tok-" + u,
			"me": map[string]any{"_id": "uid-" + u, "username": u, "active": true, "roles": []string{"admin"}}}})
	})
	mux.HandleFunc("/api/v1/logout", func(w http.ResponseWriter, r *http.Request) {
		js(w, map[string]any{"status": "success", "data": map[string]any{"message": "You've been logged out!"}})
	})
	mux.HandleFunc("/api/v1/users.createToken", func(w http.ResponseWriter, r *http.Request) {
		// 8.x body: {userId, secret}; ids here are "uid-<username>".
		var b struct {
			UserID string `json:"userId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		name := strings.TrimPrefix(b.UserID, "uid-")
		js(w, map[string]any{"success": true, "data": map[string]any{"userId": b.UserID, "authToken": "tok-" + name}})
	})
	user := func(name string) map[string]any {
		return map[string]any{"_id": "uid-" + name, "username": name, "name": name, "active": true, "roles": []string{"user"}}
	}
	mux.HandleFunc("/api/v1/users.info", func(w http.ResponseWriter, r *http.Request) {
		js(w, map[string]any{"success": true, "user": user(r.URL.Query().Get("username"))})
	})
	mux.HandleFunc("/api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		m := user(strings.TrimPrefix(r.Header.Get("X-User-Id"), "uid-"))
		m["success"] = true
		js(w, m)
	})
	// subscriptions.get: every subscription, or (updatedSince) those changed since, which
	// here is none once fakerc has started (apps/meteor/app/api/server/v1/subscriptions.ts).
	mux.HandleFunc("/api/v1/subscriptions.get", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.Header.Get("X-User-Id"), "uid-")
		since, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("updatedSince"))
		update := []any{}
		if since.IsZero() || since.Before(s.started) {
			for _, rid := range s.roomsOf(name) {
				update = append(update, s.subscription(name, rid))
			}
		}
		js(w, map[string]any{"update": update, "remove": []any{}, "success": true})
	})
	mux.HandleFunc("/api/v1/rooms.get", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.Header.Get("X-User-Id"), "uid-")
		since, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("updatedSince"))
		rooms := []any{}
		for _, rid := range s.roomsOf(name) {
			s.mu.Lock()
			var last time.Time
			if h := s.rooms[rid]; h != nil {
				last = h.last
			}
			s.mu.Unlock()
			if last.IsZero() || last.Before(since) {
				continue
			}
			if rid == s.room {
				rooms = append(rooms, map[string]any{"_id": rid, "t": "c", "name": rid, "fname": rid, "_updatedAt": last.UTC().Format(isoMillis)})
			} else {
				rooms = append(rooms, map[string]any{"_id": rid, "t": "d", "usernames": []string{name, "peer"}, "_updatedAt": last.UTC().Format(isoMillis)})
			}
		}
		js(w, map[string]any{"update": rooms, "remove": []any{}, "success": true})
	})
	mux.HandleFunc("/api/v1/chat.syncMessages", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.Header.Get("X-User-Id"), "uid-")
		since, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("lastUpdate"))
		rid := r.URL.Query().Get("roomId")
		if err != nil || !slices.Contains(s.roomsOf(name), rid) {
			http.Error(w, `{"success":false,"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		var updated []json.RawMessage // newest first, as Rocket.Chat lists them
		s.mu.Lock()
		if h := s.rooms[rid]; h != nil {
			for i := len(h.hist) - 1; i >= 0 && h.hist[i].at.After(since); i-- {
				updated = append(updated, h.hist[i].rest)
			}
		}
		s.mu.Unlock()
		if updated == nil {
			updated = []json.RawMessage{}
		}
		js(w, map[string]any{"result": map[string]any{"updated": updated, "deleted": []any{}}, "success": true})
	})
	mux.HandleFunc("/websocket", s.serveDDP)
	mux.HandleFunc("/start", s.start)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		c, n, members := len(s.conns), len(s.subs), s.members
		s.mu.Unlock()
		js(w, map[string]any{"connections": c, "subscribed": n, "emitted": s.emitted.Load(), "sent": s.sent.Load(), "dropped": s.dropped.Load(),
			"room_members": members, "room_frames": s.roomFrames.Load(), "room_bytes": s.roomBytes.Load()})
	})
	mux.HandleFunc("/drop-all", func(w http.ResponseWriter, r *http.Request) {
		js(w, map[string]any{"dropped": s.dropAll()})
	})
	return mux
}

// dropAll closes every DDP connection. Nobody counts as subscribed from here on.
func (s *server) dropAll() int {
	s.mu.Lock()
	clear(s.subs)
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.ws.CloseNow()
	}
	return len(cs)
}

// serveDDP is one DDP session: server_id, connect, login with resume, subs, ping/pong.
func (s *server) serveDDP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c := &conn{ws: ws}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if c.user != "" && s.subs[c.user] == c {
			delete(s.subs, c.user)
		}
		s.mu.Unlock()
		ws.CloseNow()
	}()
	ctx := r.Context()
	if c.write(ctx, []byte(`{"server_id":"0"}`)) != nil {
		return
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var m struct {
			Msg    string            `json:"msg"`
			ID     string            `json:"id"`
			Method string            `json:"method"`
			Name   string            `json:"name"`
			Params []json.RawMessage `json:"params"`
		}
		if json.Unmarshal(data, &m) != nil {
			return
		}
		var out string
		switch m.Msg {
		case "connect":
			out = `{"msg":"connected","session":"fake"}`
		case "ping":
			if m.ID != "" {
				out = `{"msg":"pong","id":` + strconv.Quote(m.ID) + `}`
			} else {
				out = `{"msg":"pong"}`
			}
		case "method":
			out = s.method(c, m.ID, m.Method, m.Params)
		case "sub":
			if len(m.Params) > 0 && m.Name == "stream-room-messages" && string(m.Params[0]) == `"__my_messages__"` && c.user != "" {
				c.subID = m.ID
				s.mu.Lock()
				s.subs[c.user] = c
				s.mu.Unlock()
			}
			if len(m.Params) > 0 && m.Name == "stream-notify-user" && string(m.Params[0]) == strconv.Quote("uid-"+c.user+"/rooms-changed") {
				c.roomsChanged.Store(true)
			}
			out = `{"msg":"ready","subs":[` + strconv.Quote(m.ID) + `]}`
		case "unsub":
			out = `{"msg":"nosub","id":` + strconv.Quote(m.ID) + `}`
		default:
			continue
		}
		if c.write(ctx, []byte(out)) != nil {
			return
		}
	}
}

func (s *server) method(c *conn, id, method string, params []json.RawMessage) string {
	qid := strconv.Quote(id)
	if method != "login" {
		return `{"msg":"updated","methods":[` + qid + `]}` + "\n" + `{"msg":"result","id":` + qid + `}`
	}
	var p struct {
		Resume string `json:"resume"`
	}
	if len(params) > 0 {
		_ = json.Unmarshal(params[0], &p)
	}
	if !strings.HasPrefix(p.Resume, "tok-") {
		return `{"msg":"result","id":` + qid + `,"error":{"isClientSafe":true,"error":403,"reason":"You've been logged out by the server. Please log in again.","message":"You've been logged out by the server. Please log in again. [403]","errorType":"Meteor.Error"}}`
	}
	if s.loginDelay > 0 {
		time.Sleep(s.loginDelay) // models a slow server; this is the simulated cost, not synchronisation
	}
	c.user = strings.TrimPrefix(p.Resume, "tok-")
	exp := time.Now().Add(90 * 24 * time.Hour).UnixMilli()
	return fmt.Sprintf(`{"msg":"result","id":%s,"result":{"id":"uid-%s","token":%q,"tokenExpires":{"$date":%d},"type":"resume"}}`, qid, c.user, p.Resume, exp)
}

// writeFrame sends one text frame.
func (c *conn) writeFrame(ctx context.Context, f []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.Write(ctx, websocket.MessageText, f)
}

// write sends one text frame, or several when out holds newline-separated frames.
func (c *conn) write(ctx context.Context, out []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, f := range strings.Split(string(out), "\n") {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.ws.Write(wctx, websocket.MessageText, []byte(f))
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// start begins emitting events: rate per second in total, for dur, spread round-robin
// over the first n subscribed users (sorted by name), or (room=1) all into the -room
// channel, whose members are then the first n subscribed users.
func (s *server) start(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rate, _ := strconv.Atoi(q.Get("rate"))
	dur, _ := time.ParseDuration(q.Get("dur"))
	n, _ := strconv.Atoi(q.Get("users"))
	inRoom := q.Get("room") == "1"
	if rate <= 0 || dur <= 0 {
		http.Error(w, "rate and dur are required", http.StatusBadRequest)
		return
	}
	if inRoom && s.room == "" {
		http.Error(w, "room=1 needs fakerc -room", http.StatusBadRequest)
		return
	}
	s.stopGen()
	s.mu.Lock()
	users := make([]string, 0, len(s.subs))
	for name := range s.subs {
		users = append(users, name)
	}
	s.mu.Unlock()
	sort.Strings(users)
	if n > 0 && n < len(users) {
		users = users[:n]
	}
	if len(users) == 0 {
		http.Error(w, "no subscribed users", http.StatusConflict)
		return
	}
	s.mu.Lock()
	s.members = 0
	if inRoom {
		s.members = len(users)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	s.genMu.Lock()
	s.gen = cancel
	s.genWG.Add(1)
	s.genMu.Unlock()
	go s.generate(ctx, users, rate, inRoom)
	fmt.Fprintf(w, `{"users":%d,"rate":%d,"room":%t}`+"\n", len(users), rate, inRoom)
}

func (s *server) stopGen() {
	s.genMu.Lock()
	if s.gen != nil {
		s.gen()
		s.gen = nil
	}
	s.genMu.Unlock()
	s.genWG.Wait()
}

// generate emits events in 1 ms ticks, keeping the total on schedule. Every event is kept
// in its room's history; it is sent to the connections subscribed at that moment.
func (s *server) generate(ctx context.Context, users []string, rate int, inRoom bool) {
	defer s.genWG.Done()
	start := time.Now()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	emitted, next := 0, 0
	buf := make([]byte, 0, 1024)
	var rb roomBuf
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int(now.Sub(start).Seconds() * float64(rate))
			for ; emitted < due; emitted++ {
				if inRoom {
					s.emitted.Add(1)
					s.roomMessage(context.WithoutCancel(ctx), users, &rb)
					continue
				}
				name := users[next%len(users)]
				next++
				c := s.record(name, "r-"+name, time.Now(), &buf)
				s.emitted.Add(1)
				if c == nil {
					continue
				}
				// Not cancelled by the end of the run: an event counted as emitted is written.
				if err := c.write(context.WithoutCancel(ctx), buf); err != nil {
					s.dropped.Add(1)
					continue
				}
				s.sent.Add(1)
			}
		}
	}
}

// record numbers and stores the next message of room rid (user name's direct room), puts
// its changed frame in *buf and returns name's subscribed connection, if any.
func (s *server) record(name, rid string, now time.Time, buf *[]byte) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.store(rid, now)
	at := h.last
	*buf = appendMessage(append((*buf)[:0], `{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"__my_messages__","args":[`...), rid, h.seq, at, now, false)
	*buf = append(*buf, `,{"roomParticipant":true,"roomType":"d","roomName":"peer"}]}}`...)
	return s.subs[name]
}

// store numbers the next message of rid and keeps it, as REST returns it, in the room's
// history. s.mu is held.
func (s *server) store(rid string, now time.Time) *rhist {
	h := s.rooms[rid]
	if h == nil {
		h = &rhist{}
		s.rooms[rid] = h
	}
	h.seq++
	at := now.Truncate(time.Millisecond) // Rocket.Chat's dates have millisecond precision
	cut := 0
	for cut < len(h.hist) && at.Sub(h.hist[cut].at) > historyKeep {
		cut++
	}
	h.hist = append(h.hist[cut:], stored{at: at, rest: appendMessage(nil, rid, h.seq, at, now, true)})
	h.last = at
	return h
}

// roomBuf holds the frames of one room message, reused across messages.
type roomBuf struct {
	msg, room, member []byte
	conns             []*conn
}

// roomMessage posts one message in the channel and sends it as Rocket.Chat does to a room
// whose members are all online: on stream-room-messages "__my_messages__", one frame to
// every member connection (the watch.messages listener emits it to each subscriber the
// room's allowEmit admits, with {roomParticipant, roomType, roomName} appended:
// apps/meteor/server/modules/listeners/listeners.module.ts, notifications.module.ts); then,
// because sendMessage ends with notifyOnRoomChangedById (the room's lastMessage, lm and
// msgs changed: apps/meteor/app/lib/server/functions/sendMessage.ts, notifyUsersOnMessage.ts),
// a rooms-changed with the whole room to every member connection that follows
// <uid>/rooms-changed (notifications.module.ts registers each such publication on every room
// of its user). No subscriptions-changed follows a plain message once a member's
// subscription has alert and open set (setAlertForRoomIdExcludingUserId and
// setOpenForRoomIdExcludingUserId only match alert/open != true; a channel's unread count
// moves on mentions only by default), so none is sent here.
func (s *server) roomMessage(ctx context.Context, members []string, b *roomBuf) {
	now := time.Now()
	s.mu.Lock()
	h := s.store(s.room, now)
	at, seq := h.last, h.seq
	b.conns = b.conns[:0]
	for _, name := range members {
		if c := s.subs[name]; c != nil {
			b.conns = append(b.conns, c)
		}
	}
	s.mu.Unlock()
	b.msg = appendMessage(append(b.msg[:0], `{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"__my_messages__","args":[`...), s.room, seq, at, now, false)
	b.msg = append(b.msg, `,{"roomParticipant":true,"roomType":"c","roomName":"`...)
	b.msg = append(b.msg, s.room...)
	b.msg = append(b.msg, `"}]}}`...)
	// The room as the rooms watcher publishes it (the fields of publishFields.ts that a
	// channel has), after the message: lastMessage, lm, msgs and _updatedAt changed.
	b.room = append(b.room[:0], `/rooms-changed","args":["updated",{"_id":"`...)
	b.room = append(b.room, s.room...)
	b.room = append(b.room, `","t":"c","name":"`...)
	b.room = append(b.room, s.room...)
	b.room = append(b.room, `","fname":"`...)
	b.room = append(b.room, s.room...)
	b.room = append(b.room, `","u":{"_id":"uid-owner","username":"owner"},"ts":{"$date":`...)
	b.room = strconv.AppendInt(b.room, s.started.UnixMilli(), 10)
	b.room = append(b.room, `},"ro":false,"default":false,"sysMes":true,"usersCount":`...)
	b.room = strconv.AppendInt(b.room, int64(len(members)), 10)
	b.room = append(b.room, `,"msgs":`...)
	b.room = strconv.AppendUint(b.room, seq, 10)
	b.room = append(b.room, `,"lm":{"$date":`...)
	b.room = strconv.AppendInt(b.room, at.UnixMilli(), 10)
	b.room = append(b.room, `},"_updatedAt":{"$date":`...)
	b.room = strconv.AppendInt(b.room, at.UnixMilli(), 10)
	b.room = append(b.room, `},"lastMessage":`...)
	b.room = appendMessage(b.room, s.room, seq, at, now, false)
	b.room = append(b.room, `}]}}`...)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, c := range b.conns {
		if err := c.writeFrame(wctx, b.msg); err != nil {
			s.dropped.Add(1)
			continue
		}
		s.sent.Add(1)
		s.roomFrames.Add(1)
		s.roomBytes.Add(uint64(len(b.msg)))
	}
	for _, c := range b.conns {
		if !c.roomsChanged.Load() {
			continue
		}
		b.member = append(b.member[:0], `{"msg":"changed","collection":"stream-notify-user","id":"id","fields":{"eventName":"uid-`...)
		b.member = append(b.member, c.user...)
		b.member = append(b.member, b.room...)
		if c.writeFrame(wctx, b.member) == nil {
			s.roomFrames.Add(1)
			s.roomBytes.Add(uint64(len(b.member)))
		}
	}
}

const isoMillis = "2006-01-02T15:04:05.000Z07:00"

// appendMessage appends one message of room rid dated at, carrying the send time (unix ns)
// and the room's sequence number in its "bench" field; dates as REST writes them (ISO) or as
// the realtime API does (EJSON).
func appendMessage(b []byte, rid string, seq uint64, at, sent time.Time, rest bool) []byte {
	date := func(b []byte) []byte {
		if rest {
			b = append(b, '"')
			b = at.UTC().AppendFormat(b, isoMillis)
			return append(b, '"')
		}
		b = append(b, `{"$date":`...)
		b = strconv.AppendInt(b, at.UnixMilli(), 10)
		return append(b, '}')
	}
	b = append(b, `{"_id":"m-`...)
	b = append(b, rid...)
	b = append(b, '-')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `","rid":"`...)
	b = append(b, rid...)
	b = append(b, `","msg":"benchmark message with a realistic length of text inside it","ts":`...)
	b = date(b)
	b = append(b, `,"u":{"_id":"uid-peer","username":"peer","name":"Peer User"},"_updatedAt":`...)
	b = date(b)
	b = append(b, `,"urls":[],"mentions":[],"channels":[],"bench":{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"sent":`...)
	b = strconv.AppendInt(b, sent.UnixNano(), 10)
	return append(b, `}}`...)
}
