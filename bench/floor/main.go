// Command floor is the benchmark's reference: the least a gateway must do. Per user with
// browser connections it holds one upstream DDP connection to fakerc (connect, resume login,
// subscribe __my_messages__); each upstream message is wrapped once into a small JSON record
// and the same bytes are queued to every connection of that user, where one writer per
// connection coalesces whatever is queued into one WebSocket frame (records separated by
// '\n'). A full queue closes the connection. It speaks no SignalR and does no translation:
// the gateway's cost is quoted as a ratio to this one's, measured in the same run.
package main

import (
	"bytes"
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
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	upstream := flag.String("upstream", "ws://127.0.0.1:3100/websocket", "fakerc DDP URL")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	f := &floor{upstream: *upstream, users: map[string]*user{}, log: log}
	srv := &http.Server{Handler: http.HandlerFunc(f.serveWS), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("floor listening", "addr", ln.Addr().String())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}

type floor struct {
	upstream string
	log      *slog.Logger
	mu       sync.Mutex
	users    map[string]*user
}

type user struct {
	name   string
	conns  map[*bconn]struct{}
	cancel context.CancelFunc
}

type bconn struct {
	ws *websocket.Conn
	q  chan []byte
}

func (f *floor) serveWS(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("user")
	if name == "" {
		http.Error(w, "user is required", http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	c := &bconn{ws: ws, q: make(chan []byte, 16)}
	f.mu.Lock()
	u := f.users[name]
	if u == nil {
		ctx, cancel := context.WithCancel(context.Background())
		u = &user{name: name, conns: map[*bconn]struct{}{}, cancel: cancel}
		f.users[name] = u
		go f.runUpstream(ctx, u)
	}
	u.conns[c] = struct{}{}
	f.mu.Unlock()

	ctx := ws.CloseRead(r.Context())
	c.writeLoop(ctx)
	ws.CloseNow()
	f.mu.Lock()
	delete(u.conns, c)
	if len(u.conns) == 0 {
		u.cancel()
		delete(f.users, name)
	}
	f.mu.Unlock()
}

// writeLoop coalesces queued records into one frame per write.
func (c *bconn) writeLoop(ctx context.Context) {
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case rec := <-c.q:
			buf.Reset()
			buf.Write(rec)
		drain:
			for {
				select {
				case rec := <-c.q:
					buf.Write(rec)
				default:
					break drain
				}
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.ws.Write(wctx, websocket.MessageText, buf.Bytes())
			cancel()
			if err != nil {
				return
			}
		}
	}
}

func (f *floor) runUpstream(ctx context.Context, u *user) {
	for ctx.Err() == nil {
		if err := f.upstreamOnce(ctx, u); err != nil && ctx.Err() == nil {
			f.log.Warn("upstream", "user", u.name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

func (f *floor) upstreamOnce(ctx context.Context, u *user) error {
	ws, _, err := websocket.Dial(ctx, f.upstream, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	ws.SetReadLimit(16 << 20)
	send := func(s string) error { return ws.Write(ctx, websocket.MessageText, []byte(s)) }
	if err := send(`{"msg":"connect","version":"1","support":["1"]}`); err != nil {
		return err
	}
	if err := send(`{"msg":"method","method":"login","id":"1","params":[{"resume":"tok-` + u.name + `"}]}`); err != nil {
		return err
	}
	if err := send(`{"msg":"sub","id":"2","name":"stream-room-messages","params":["__my_messages__",{"useCollection":false,"args":[]}]}`); err != nil {
		return err
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		var m struct {
			Msg    string `json:"msg"`
			ID     string `json:"id"`
			Fields struct {
				Args []json.RawMessage `json:"args"`
			} `json:"fields"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("bad frame: %w", err)
		}
		switch m.Msg {
		case "ping":
			if err := send(`{"msg":"pong","id":` + strconv.Quote(m.ID) + `}`); err != nil {
				return err
			}
		case "changed":
			if len(m.Fields.Args) == 0 {
				continue
			}
			rec := make([]byte, 0, len(m.Fields.Args[0])+40)
			rec = append(rec, `{"target":"m","arguments":[`...)
			rec = append(rec, m.Fields.Args[0]...)
			rec = append(rec, "]}\n"...)
			f.fanout(u, rec)
		case "result":
			if bytes.Contains(data, []byte(`"error"`)) {
				return errors.New("login refused")
			}
		}
	}
}

func (f *floor) fanout(u *user, rec []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range u.conns {
		select {
		case c.q <- rec:
		default:
			c.ws.CloseNow() // slow consumer
		}
	}
}
