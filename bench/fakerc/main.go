// Command fakerc is the benchmark's upstream: a lean Rocket.Chat stand-in that speaks just
// what the gateway needs (the REST calls of the admin agent and the session manager, and the
// DDP realtime API) and emits timed, sequenced messages on stream-room-messages
// "__my_messages__" at a given total rate. Any user exists; user <name>'s token is
// "tok-<name>" and id "uid-<name>".
//
// Control: GET /start?rate=<events/s>&dur=<duration>&users=<n> (events go round-robin to the
// first n subscribed users), GET /stats, GET /drop-all (closes every DDP connection).
// It is not a simulator: rocketchat/rctest is. It is built for speed and predictability.
package main

import (
	"context"
	"encoding/json"
	"errors"
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
	genMu sync.Mutex
	gen   context.CancelFunc
	genWG sync.WaitGroup

	sent, dropped atomic.Uint64
}

type conn struct {
	ws    *websocket.Conn
	user  string
	subID string
	wmu   sync.Mutex
	seq   uint64 // per-user sequence of emitted events
}

func newServer(loginDelay time.Duration, log *slog.Logger) *server {
	return &server{loginDelay: loginDelay, log: log, conns: map[*conn]struct{}{}, subs: map[string]*conn{}}
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
		var b struct {
			Username string `json:"username"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		js(w, map[string]any{"success": true, "data": map[string]any{"userId": "uid-" + b.Username, "authToken": "tok-" + b.Username}})
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
	mux.HandleFunc("/api/v1/rooms.get", empty)
	mux.HandleFunc("/api/v1/chat.syncMessages", func(w http.ResponseWriter, r *http.Request) {
		js(w, map[string]any{"result": map[string]any{"updated": []any{}, "deleted": []any{}}, "success": true})
	})
	mux.HandleFunc("/websocket", s.serveDDP)
	mux.HandleFunc("/start", s.start)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		c, n := len(s.conns), len(s.subs)
		s.mu.Unlock()
		js(w, map[string]any{"connections": c, "subscribed": n, "sent": s.sent.Load(), "dropped": s.dropped.Load()})
	})
	mux.HandleFunc("/drop-all", func(w http.ResponseWriter, r *http.Request) {
		js(w, map[string]any{"dropped": s.dropAll()})
	})
	return mux
}

func (s *server) dropAll() int {
	s.mu.Lock()
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
	users := make([]*conn, 0, len(s.subs))
	for _, c := range s.subs {
		users = append(users, c)
	}
	s.mu.Unlock()
	sort.Slice(users, func(i, j int) bool { return users[i].user < users[j].user })
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

// generate emits events in 1 ms ticks, keeping the total on schedule.
func (s *server) generate(ctx context.Context, users []*conn, rate int) {
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
				c := users[next%len(users)]
				next++
				c.seq++
				buf = appendEvent(buf[:0], c, time.Now())
				if err := c.write(ctx, buf); err != nil {
					if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
						s.dropped.Add(1)
					}
					continue
				}
				s.sent.Add(1)
			}
		}
	}
}

// appendEvent appends the changed frame of one message for c's user, carrying the send
// time (unix ns) and the user's sequence number in the message's "bench" field.
func appendEvent(b []byte, c *conn, now time.Time) []byte {
	ms := now.UnixMilli()
	b = append(b, `{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"__my_messages__","args":[{"_id":"m-`...)
	b = append(b, c.user...)
	b = append(b, '-')
	b = strconv.AppendUint(b, c.seq, 10)
	b = append(b, `","rid":"r-`...)
	b = append(b, c.user...)
	b = append(b, `","msg":"benchmark message with a realistic length of text inside it","ts":{"$date":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `},"u":{"_id":"uid-peer","username":"peer","name":"Peer User"},"_updatedAt":{"$date":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `},"urls":[],"mentions":[],"channels":[],"bench":{"seq":`...)
	b = strconv.AppendUint(b, c.seq, 10)
	b = append(b, `,"sent":`...)
	b = strconv.AppendInt(b, now.UnixNano(), 10)
	b = append(b, `}},{"roomParticipant":true,"roomType":"d","roomName":"peer"}]}}`...)
	return b
}
