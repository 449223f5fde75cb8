// Command fakerc is the benchmark's upstream: a lean Rocket.Chat stand-in that speaks just
// what the gateway needs (the REST calls of the admin agent and the session manager, and the
// DDP realtime API) and emits timed, sequenced messages on stream-room-messages
// "__my_messages__" at a given total rate. Any user exists; user <name>'s token is
// "tok-<name>" and id "uid-<name>"; each user's messages are in room "r-<name>". Like
// Rocket.Chat, it keeps what it emitted (the last two minutes) whether or not the user was
// connected, and serves it through rooms.get and chat.syncMessages, so a gateway that lost
// its upstream can catch up.
//
// Control: GET /start?rate=<events/s>&dur=<duration>&users=<n> (events go round-robin to the
// first n subscribed users), GET /stats, GET /drop-all (closes every DDP connection).
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
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *loginDelay, log); err != nil {
		log.Error("fakerc", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, loginDelay time.Duration, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s := newServer(loginDelay, log)
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
	log        *slog.Logger

	mu    sync.Mutex
	conns map[*conn]struct{}
	subs  map[string]*conn // user → connection subscribed to __my_messages__
	users map[string]*user // user → what was emitted for the user
	genMu sync.Mutex
	gen   context.CancelFunc
	genWG sync.WaitGroup

	emitted, sent, dropped atomic.Uint64 // generated; written to a connection; failed to write
}

type conn struct {
	ws    *websocket.Conn
	user  string
	subID string
	wmu   sync.Mutex
}

// user is one user's emitted messages, guarded by server.mu.
type user struct {
	seq  uint64    // per-user sequence of emitted events
	hist []stored  // oldest first, the last historyKeep
	last time.Time // when the room was last updated
}

type stored struct {
	at   time.Time
	rest []byte // the message as REST returns it
}

const historyKeep = 2 * time.Minute

func newServer(loginDelay time.Duration, log *slog.Logger) *server {
	return &server{loginDelay: loginDelay, log: log, conns: map[*conn]struct{}{}, subs: map[string]*conn{}, users: map[string]*user{}}
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
		// The user is named by id ({userId}, as 8.x requires; ids are "uid-<name>").
		var b struct {
			UserID string `json:"userId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		name := strings.TrimPrefix(b.UserID, "uid-")
		js(w, map[string]any{"success": true, "data": map[string]any{"userId": "uid-" + name, "authToken": "tok-" + name}})
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
	empty := func(w http.ResponseWriter, r *http.Request) {
		js(w, map[string]any{"update": []any{}, "remove": []any{}, "success": true})
	}
	mux.HandleFunc("/api/v1/subscriptions.get", empty)
	mux.HandleFunc("/api/v1/rooms.get", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.Header.Get("X-User-Id"), "uid-")
		since, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("updatedSince"))
		s.mu.Lock()
		u := s.users[name]
		var last time.Time
		if u != nil {
			last = u.last
		}
		s.mu.Unlock()
		rooms := []any{}
		if !last.IsZero() && !last.Before(since) {
			rooms = append(rooms, map[string]any{"_id": "r-" + name, "t": "d", "usernames": []string{name, "peer"}, "_updatedAt": last.UTC().Format(isoMillis)})
		}
		js(w, map[string]any{"update": rooms, "remove": []any{}, "success": true})
	})
	mux.HandleFunc("/api/v1/chat.syncMessages", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.Header.Get("X-User-Id"), "uid-")
		since, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("lastUpdate"))
		if err != nil || r.URL.Query().Get("roomId") != "r-"+name {
			http.Error(w, `{"success":false,"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		var updated []json.RawMessage // newest first, as Rocket.Chat lists them
		s.mu.Lock()
		if u := s.users[name]; u != nil {
			for i := len(u.hist) - 1; i >= 0 && u.hist[i].at.After(since); i-- {
				updated = append(updated, u.hist[i].rest)
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
		c, n := len(s.conns), len(s.subs)
		s.mu.Unlock()
		js(w, map[string]any{"connections": c, "subscribed": n, "emitted": s.emitted.Load(), "sent": s.sent.Load(), "dropped": s.dropped.Load()})
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
// over the first n subscribed users (sorted by name).
func (s *server) start(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rate, _ := strconv.Atoi(q.Get("rate"))
	dur, _ := time.ParseDuration(q.Get("dur"))
	n, _ := strconv.Atoi(q.Get("users"))
	if rate <= 0 || dur <= 0 {
		http.Error(w, "rate and dur are required", http.StatusBadRequest)
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
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	s.genMu.Lock()
	s.gen = cancel
	s.genWG.Add(1)
	s.genMu.Unlock()
	go s.generate(ctx, users, rate)
	fmt.Fprintf(w, `{"users":%d,"rate":%d}`+"\n", len(users), rate)
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
// in its user's history; it is sent when the user has a subscribed connection.
func (s *server) generate(ctx context.Context, users []string, rate int) {
	defer s.genWG.Done()
	start := time.Now()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	emitted, next := 0, 0
	buf := make([]byte, 0, 1024)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int(now.Sub(start).Seconds() * float64(rate))
			for ; emitted < due; emitted++ {
				name := users[next%len(users)]
				next++
				c := s.record(name, time.Now(), &buf)
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

// record numbers and stores the user's next message, puts its changed frame in *buf and
// returns the user's subscribed connection, if any.
func (s *server) record(name string, now time.Time, buf *[]byte) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[name]
	if u == nil {
		u = &user{}
		s.users[name] = u
	}
	u.seq++
	at := now.Truncate(time.Millisecond) // Rocket.Chat's dates have millisecond precision
	cut := 0
	for cut < len(u.hist) && at.Sub(u.hist[cut].at) > historyKeep {
		cut++
	}
	u.hist = append(u.hist[cut:], stored{at: at, rest: appendMessage(nil, name, u.seq, at, now, true)})
	u.last = at
	*buf = appendMessage(append((*buf)[:0], `{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"__my_messages__","args":[`...), name, u.seq, at, now, false)
	*buf = append(*buf, `,{"roomParticipant":true,"roomType":"d","roomName":"peer"}]}}`...)
	return s.subs[name]
}

const isoMillis = "2006-01-02T15:04:05.000Z07:00"

// appendMessage appends one message of name's room dated at, carrying the send time (unix
// ns) and the user's sequence number in its "bench" field; dates as REST writes them (ISO)
// or as the realtime API does (EJSON).
func appendMessage(b []byte, name string, seq uint64, at, sent time.Time, rest bool) []byte {
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
	b = append(b, name...)
	b = append(b, '-')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `","rid":"r-`...)
	b = append(b, name...)
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
