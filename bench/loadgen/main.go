// Command loadgen drives one benchmark scenario against one peer and prints one JSON line.
//
// Modes: signalr (the gateway: negotiate, WebSocket, JSON hub protocol), raw (the floor:
// plain WebSocket) and ddp (straight to fakerc: connect, resume login, subscribe; the
// baseline a frontend-auth deployment would see). Scenarios: idle (connect, settle, read
// the server's memory), fanout (connect, then fakerc emits at -rate for -dur; server CPU per
// delivery, drops, reorders, latency), storm (everyone connects at once; time until every
// user's upstream is subscribed), reconnect (every browser connection drops and comes back
// while events flow; reconnect time against the initial connect time, events delivered;
// -stateful resumes the same connections), upstream (every upstream connection of the
// gateway drops while events flow; time until all are subscribed again, events delivered)
// and room (fanout where every event is a message in one channel whose members are all the
// users: fakerc sends it to every member's upstream; Rocket.Chat-side frames and bytes per
// message are reported).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

type config struct {
	mode, scenario, target, fakerc, secret, prefix, label string
	users, conns, concurrency, rate, pid                  int
	dur, settle                                           time.Duration
	stateful                                              bool
	quiet                                                 float64
}

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "signalr", "signalr | raw | ddp")
	flag.StringVar(&c.scenario, "scenario", "fanout", "idle | fanout | storm | reconnect | upstream | room")
	flag.StringVar(&c.target, "target", "http://127.0.0.1:8080", "server base URL (fakerc's for ddp)")
	flag.StringVar(&c.fakerc, "fakerc", "http://127.0.0.1:3100", "fakerc control URL")
	flag.StringVar(&c.secret, "secret", "bench-secret", "HS256 secret of the gateway's product JWTs")
	flag.StringVar(&c.prefix, "prefix", "u", "user name prefix")
	flag.StringVar(&c.label, "label", "", "label copied to the output")
	flag.IntVar(&c.users, "users", 1000, "users")
	flag.IntVar(&c.conns, "conns", 2, "connections per user")
	flag.IntVar(&c.concurrency, "concurrency", 200, "concurrent dials")
	flag.IntVar(&c.rate, "rate", 10000, "events per second (fanout)")
	flag.IntVar(&c.pid, "pid", 0, "server process id, for CPU and memory")
	flag.DurationVar(&c.dur, "dur", 10*time.Second, "event duration (fanout)")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "settle time before measuring")
	flag.BoolVar(&c.stateful, "stateful", false, "signalr: negotiate stateful reconnect (protocol v2); a reconnect resumes the same connection")
	flag.Float64Var(&c.quiet, "quiet", 0, "fanout/room: after settling, also wait (at most 60 s) until the server uses less than this share of a core over a second: the work a mass login leaves behind (first resyncs, room subscriptions) is done")
	flag.Parse()
	out, err := run(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

type result struct {
	Label          string  `json:"label"`
	Mode           string  `json:"mode"`
	Scenario       string  `json:"scenario"`
	Users          int     `json:"users"`
	Conns          int     `json:"conns"`
	ConnectS       float64 `json:"connect_s"`
	ReadyS         float64 `json:"ready_s"`
	RSSKiB         int64   `json:"rss_kib,omitempty"`
	ServerCPUS     float64 `json:"server_cpu_s,omitempty"`
	LoadgenCPUS    float64 `json:"loadgen_cpu_s"`
	Deliveries     uint64  `json:"deliveries"`
	Expected       uint64  `json:"expected,omitempty"`
	Gaps           uint64  `json:"gaps"`
	Reorders       uint64  `json:"reorders"`
	P50us          float64 `json:"p50_us,omitempty"`
	P99us          float64 `json:"p99_us,omitempty"`
	P999us         float64 `json:"p999_us,omitempty"`
	CPUusPerDel    float64 `json:"cpu_us_per_delivery,omitempty"`
	ReconnectS     float64 `json:"reconnect_s,omitempty"`
	ReconnectRatio float64 `json:"reconnect_ratio,omitempty"`
	QuietS         float64 `json:"quiet_s,omitempty"` // from ready until the server was quiet (-quiet)
	Errors         int64   `json:"errors"`
	// room: messages posted, and what fakerc (Rocket.Chat) sent for them to all members.
	RoomMessages uint64  `json:"room_messages,omitempty"`
	RCFramesPer  float64 `json:"rc_frames_per_message,omitempty"`
	RCBytesPer   float64 `json:"rc_bytes_per_message,omitempty"`
}

type client struct {
	c      config
	mu     sync.Mutex
	conns  []*lconn
	errs   atomic.Int64
	events atomic.Uint64 // events received on all connections (replays skipped)
	keep   atomic.Bool   // keep latencies
	wg     sync.WaitGroup
}

// lconn is one browser connection: its socket (replaced on reconnect) and its track. With
// stateful reconnect it also keeps the hub's connection token and the count of numbered
// messages received, which is acknowledged every second and decides what a replay repeats.
type lconn struct {
	name string
	id   string // connection token (stateful only)
	t    *track
	recv atomic.Int64 // numbered messages processed
	next int64        // sequence id of the next numbered message; reader only
	ws   *websocket.Conn
	done chan struct{} // closed when the socket's reader returns
}

func run(ctx context.Context, c config) (result, error) {
	res := result{Label: c.label, Mode: c.mode, Scenario: c.scenario, Users: c.users, Conns: c.conns}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cl := &client{c: c}
	start := time.Now()
	sem := make(chan struct{}, c.concurrency)
	var dialWG sync.WaitGroup
	var firstErr atomic.Value
	for u := 0; u < c.users; u++ {
		for k := 0; k < c.conns; k++ {
			dialWG.Add(1)
			sem <- struct{}{}
			go func(name string) {
				defer dialWG.Done()
				defer func() { <-sem }()
				lc := &lconn{name: name, t: &track{}}
				if err := cl.open(ctx, lc, false); err != nil {
					cl.errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				cl.mu.Lock()
				cl.conns = append(cl.conns, lc)
				cl.mu.Unlock()
			}(fmt.Sprintf("%s%05d", c.prefix, u))
		}
	}
	dialWG.Wait()
	res.ConnectS = time.Since(start).Seconds()
	if n := cl.errs.Load(); n > 0 {
		return res, fmt.Errorf("%d connections failed, first: %v", n, firstErr.Load())
	}
	if err := waitSubscribed(ctx, c.fakerc, c.users, 60*time.Second); err != nil {
		return res, err
	}
	res.ReadyS = time.Since(start).Seconds()
	if c.mode == "signalr" {
		cl.wg.Add(1)
		go cl.pinger(ctx)
	}

	switch c.scenario {
	case "reconnect":
		// Events keep flowing while every browser connection drops and comes back with
		// 0-1 s of jitter; the time until all are back is compared with the initial connect.
		if err := get(ctx, fmt.Sprintf("%s/start?rate=%d&dur=%s&users=%d", c.fakerc, c.rate, c.dur, c.users)); err != nil {
			return res, err
		}
		wait(ctx, c.settle)
		t0 := time.Now()
		if err := cl.reconnectAll(ctx); err != nil {
			return res, err
		}
		res.ReconnectS = time.Since(t0).Seconds()
		if res.ConnectS > 0 {
			res.ReconnectRatio = res.ReconnectS / res.ConnectS
		}
		wait(ctx, time.Until(t0.Add(c.dur)))
		res.Expected = cl.drain(ctx, c)
	case "upstream":
		// Every upstream connection (gateway to Rocket.Chat) drops while events flow. The
		// time until every user is subscribed again is compared with the initial one
		// (ready_s); what was emitted meanwhile must come back through the gateway's resync.
		t1 := time.Now()
		if err := get(ctx, fmt.Sprintf("%s/start?rate=%d&dur=%s&users=%d", c.fakerc, c.rate, c.dur, c.users)); err != nil {
			return res, err
		}
		wait(ctx, c.settle)
		t0 := time.Now()
		if err := get(ctx, c.fakerc+"/drop-all"); err != nil {
			return res, err
		}
		if err := waitSubscribed(ctx, c.fakerc, c.users, 60*time.Second); err != nil {
			return res, err
		}
		res.ReconnectS = time.Since(t0).Seconds()
		res.ReconnectRatio = res.ReconnectS / res.ReadyS
		wait(ctx, time.Until(t1.Add(c.dur)))
		res.Expected = cl.drain(ctx, c)
	case "storm":
	case "idle":
		wait(ctx, c.settle)
		res.RSSKiB = rssKiB(c.pid)
	case "fanout", "room":
		wait(ctx, c.settle)
		if c.quiet > 0 {
			waitQuiet(ctx, c.pid, c.quiet, 60*time.Second)
			res.QuietS = time.Since(start).Seconds() - res.ReadyS
		}
		res.RSSKiB = rssKiB(c.pid) // settled, before any event
		cl.keep.Store(true)
		cpu0, self0 := cpuSeconds(c.pid), cpuSeconds(os.Getpid())
		room := ""
		if c.scenario == "room" {
			room = "&room=1"
		}
		if err := get(ctx, fmt.Sprintf("%s/start?rate=%d&dur=%s&users=%d%s", c.fakerc, c.rate, c.dur, c.users, room)); err != nil {
			return res, err
		}
		wait(ctx, c.dur)
		res.Expected = cl.drain(ctx, c)
		res.ServerCPUS = cpuSeconds(c.pid) - cpu0
		res.LoadgenCPUS = cpuSeconds(os.Getpid()) - self0
		if c.scenario == "room" {
			st := stats(c.fakerc)
			res.RoomMessages = st.Emitted
			if st.Emitted > 0 {
				res.RCFramesPer = float64(st.RoomFrames) / float64(st.Emitted)
				res.RCBytesPer = float64(st.RoomBytes) / float64(st.Emitted)
			}
		}
	default:
		return res, fmt.Errorf("unknown scenario %q", c.scenario)
	}
	cancel()
	cl.mu.Lock()
	for _, lc := range cl.conns {
		if lc.ws != nil {
			lc.ws.CloseNow()
		}
	}
	cl.mu.Unlock()
	cl.wg.Wait()
	var tot totals
	for _, lc := range cl.conns {
		tot.add(lc.t)
	}
	res.Deliveries, res.Gaps, res.Reorders, res.Errors = tot.deliveries, tot.gaps, tot.reorders, cl.errs.Load()
	if len(tot.lat) > 0 {
		s := sortedCopy(tot.lat)
		res.P50us, res.P99us, res.P999us = percentile(s, 50), percentile(s, 99), percentile(s, 99.9)
	}
	if res.Deliveries > 0 && res.ServerCPUS > 0 {
		res.CPUusPerDel = res.ServerCPUS * 1e6 / float64(res.Deliveries)
	}
	return res, nil
}

// reconnectAll drops every connection's socket (no close frame, as when a network path
// breaks) and opens it again after 0-1 s of jitter, waiting until all are back. Without
// -stateful a reconnect is a new connection of the same user (a new track); with it, the
// same connection resumes and the hub replays what the drop lost.
func (cl *client) reconnectAll(ctx context.Context) error {
	cl.mu.Lock()
	conns := append([]*lconn(nil), cl.conns...)
	cl.mu.Unlock()
	for _, lc := range conns {
		lc.ws.CloseNow()
	}
	sem := make(chan struct{}, cl.c.concurrency)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for i, lc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait(ctx, time.Duration(i*7919%1000)*time.Millisecond) // spread over a second
			sem <- struct{}{}
			defer func() { <-sem }()
			<-lc.done
			if !cl.c.stateful {
				lc = &lconn{name: lc.name, t: &track{}} // the old one keeps its track
			}
			if err := cl.open(ctx, lc, cl.c.stateful); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			if !cl.c.stateful {
				cl.mu.Lock()
				cl.conns = append(cl.conns, lc)
				cl.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		cl.errs.Add(n)
		return fmt.Errorf("%d reconnects failed, first: %v", n, firstErr.Load())
	}
	return nil
}

// open dials lc's socket (resuming lc's hub connection when resume is set) and starts its
// reader.
func (cl *client) open(ctx context.Context, lc *lconn, resume bool) error {
	var ws *websocket.Conn
	var first []byte
	var err error
	if cl.c.mode == "signalr" {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ws, lc.id, first, err = dialSignalR(dctx, cl.c.target, cl.token(lc.name), lc.id, resume, cl.c.stateful)
		cancel()
	} else {
		ws, err = cl.dial(ctx, lc.name)
	}
	if err != nil {
		return err
	}
	cl.mu.Lock()
	lc.ws = ws
	lc.done = make(chan struct{})
	cl.mu.Unlock()
	cl.wg.Add(1)
	go cl.read(ctx, lc, ws, first)
	return nil
}

func (cl *client) dial(ctx context.Context, name string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled}
	switch cl.c.mode {
	case "raw":
		ws, _, err := websocket.Dial(dctx, wsURL(cl.c.target)+"/ws?user="+name, opts)
		if err != nil {
			return nil, err
		}
		ws.SetReadLimit(16 << 20)
		return ws, nil
	case "ddp":
		return dialDDP(dctx, wsURL(cl.c.target)+"/websocket", name, opts)
	}
	return nil, fmt.Errorf("unknown mode %q", cl.c.mode)
}

func (cl *client) token(name string) string {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "p-" + name, "preferred_username": name, "name": name,
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	s, _ := t.SignedString([]byte(cl.c.secret))
	return s
}

// dialSignalR negotiates (unless it resumes connection id) and opens the WebSocket with
// the JSON hub protocol, version 2 when stateful. It returns the socket, the connection
// token and whatever came in the handshake answer's frame after the answer.
func dialSignalR(ctx context.Context, base, token, id string, resume, stateful bool) (*websocket.Conn, string, []byte, error) {
	if !resume {
		q := "negotiateVersion=1"
		if stateful {
			q += "&useStatefulReconnect=true"
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signalr/negotiate?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, "", nil, fmt.Errorf("negotiate: %w", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, "", nil, fmt.Errorf("negotiate: %s", resp.Status)
		}
		var n struct {
			ConnectionToken      string `json:"connectionToken"`
			UseStatefulReconnect bool   `json:"useStatefulReconnect"`
		}
		if err := json.Unmarshal(body, &n); err != nil || n.ConnectionToken == "" {
			return nil, "", nil, errors.New("negotiate: no connectionToken")
		}
		if stateful && !n.UseStatefulReconnect {
			return nil, "", nil, errors.New("negotiate: the server did not agree to stateful reconnect")
		}
		id = n.ConnectionToken
	}
	ws, _, err := websocket.Dial(ctx, wsURL(base)+"/signalr?id="+id+"&access_token="+token,
		&websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, "", nil, fmt.Errorf("websocket: %w", err)
	}
	ws.SetReadLimit(16 << 20)
	if resume {
		// A resumed connection does no handshake (the official client does not either):
		// both sides send their Sequence, the hub then replays. This client sends no
		// numbered messages, so its next one is 1.
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":9,"sequenceId":1}`+"\x1e")); err != nil {
			ws.CloseNow()
			return nil, "", nil, err
		}
		return ws, id, nil, nil
	}
	version := "1"
	if stateful {
		version = "2"
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"protocol":"json","version":`+version+`}`+"\x1e")); err != nil {
		ws.CloseNow()
		return nil, "", nil, err
	}
	_, hs, err := ws.Read(ctx)
	if err != nil || !bytes.HasPrefix(hs, []byte("{}")) {
		ws.CloseNow()
		return nil, "", nil, fmt.Errorf("handshake: %q %v", hs, err)
	}
	return ws, id, bytes.TrimPrefix(hs[2:], []byte{0x1e}), nil
}

// dialDDP logs in directly to Rocket.Chat's DDP as a frontend would: connect, resume
// login and the same six streams the gateway's upstream follows (the user's messages and
// its notify-user events), all pipelined, then waits until every sub is ready.
func dialDDP(ctx context.Context, url, name string, opts *websocket.DialOptions) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(16 << 20)
	frames := []string{
		`{"msg":"connect","version":"1","support":["1"]}`,
		`{"msg":"method","method":"login","id":"1","params":[{"resume":"tok-` + name + `"}]}`,
		`{"msg":"sub","id":"2","name":"stream-room-messages","params":["__my_messages__",{"useCollection":false,"args":[]}]}`,
	}
	events := []string{"message", "subscriptions-changed", "rooms-changed", "notification", "force_logout"}
	for i, ev := range events {
		frames = append(frames, `{"msg":"sub","id":"`+strconv.Itoa(3+i)+`","name":"stream-notify-user","params":["uid-`+name+`/`+ev+`",{"useCollection":false,"args":[]}]}`)
	}
	for _, f := range frames {
		if err := ws.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	for pending := 1 + len(events); pending > 0; { // the messages stream and the user's events
		_, data, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, err
		}
		var m struct {
			Msg  string   `json:"msg"`
			Subs []string `json:"subs"`
		}
		if json.Unmarshal(data, &m) == nil && m.Msg == "ready" {
			pending -= len(m.Subs)
		}
	}
	return ws, nil
}

// read receives until the connection ends, answering DDP pings.
func (cl *client) read(ctx context.Context, lc *lconn, ws *websocket.Conn, first []byte) {
	defer cl.wg.Done()
	defer close(lc.done)
	if len(first) > 0 {
		cl.handle(lc, first)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if cl.c.mode == "ddp" && bytes.HasPrefix(data, []byte(`{"msg":"ping"`)) {
			_ = ws.Write(ctx, websocket.MessageText, []byte(`{"msg":"pong"}`))
			continue
		}
		cl.handle(lc, data)
	}
}

// handle records one received frame. On a stateful connection it follows the hub's
// numbering: invocations, stream items and completions count; a Sequence message says the
// number of the next one (after a resume), and numbers already received are replays,
// skipped as the official client skips them.
func (cl *client) handle(lc *lconn, data []byte) {
	now, keep := time.Now().UnixNano(), cl.keep.Load()
	before := lc.t.deliveries
	defer func() { cl.events.Add(lc.t.deliveries - before) }()
	if !cl.c.stateful {
		lc.t.observe(data, now, keep)
		return
	}
	for len(data) > 0 {
		rec, rest, _ := bytes.Cut(data, []byte{0x1e})
		data = rest
		switch typ := jsonInt(rec, `"type":`); {
		case typ == 9:
			lc.next = jsonInt(rec, `"sequenceId":`)
		case typ >= 1 && typ <= 5:
			if lc.next == 0 {
				lc.next = 1
			}
			seq := lc.next
			lc.next++
			if seq <= lc.recv.Load() {
				continue
			}
			lc.recv.Store(seq)
			lc.t.observe(rec, now, keep)
		}
	}
}

// jsonInt is the integer after the first occurrence of key in rec (0 if none); the hub
// writes "type" first, so the first "type" is the message's.
func jsonInt(rec []byte, key string) int64 {
	i := bytes.Index(rec, []byte(key))
	if i < 0 {
		return 0
	}
	v, _ := leadingUint(rec[i+len(key):])
	return int64(v)
}

// pinger keeps SignalR connections inside the server's client timeout (a ping every 10 s)
// and, on stateful connections, acknowledges what was received once a second.
func (cl *client) pinger(ctx context.Context) {
	defer cl.wg.Done()
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	acked := map[*lconn]int64{}
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		cl.mu.Lock()
		conns := append([]*lconn(nil), cl.conns...)
		cl.mu.Unlock()
		for _, lc := range conns {
			cl.mu.Lock()
			ws := lc.ws
			cl.mu.Unlock()
			if n%10 == 0 {
				_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":6}`+"\x1e"))
			}
			if r := lc.recv.Load(); cl.c.stateful && r > acked[lc] {
				if ws.Write(ctx, websocket.MessageText, []byte(`{"type":8,"sequenceId":`+strconv.FormatInt(r, 10)+"}\x1e")) == nil {
					acked[lc] = r
				}
			}
		}
	}
}

// waitQuiet waits until pid used less than share of a core over the last second, or limit.
func waitQuiet(ctx context.Context, pid int, share float64, limit time.Duration) {
	deadline := time.Now().Add(limit)
	prev := cpuSeconds(pid)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		wait(ctx, time.Second)
		cur := cpuSeconds(pid)
		if cur-prev < share {
			return
		}
		prev = cur
	}
}

func waitSubscribed(ctx context.Context, fakerc string, users int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var st struct {
			Subscribed int `json:"subscribed"`
		}
		resp, err := http.Get(fakerc + "/stats")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Subscribed >= users {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d users subscribed upstream", st.Subscribed, users)
		}
		wait(ctx, 5*time.Millisecond)
	}
}

// drain waits, once fakerc has stopped emitting, until every event emitted has been
// received on every connection, or nothing more arrives for two seconds (at most 15 s), so
// that events still queued in the server count as delivered late, not as lost. It returns
// the deliveries expected.
func (cl *client) drain(ctx context.Context, c config) uint64 {
	wait(ctx, 100*time.Millisecond) // fakerc's generator ends at -dur, on its own clock
	st := stats(c.fakerc)
	expected := st.Emitted * uint64(c.conns)
	if c.scenario == "room" {
		expected *= uint64(st.RoomMembers) // every message is due on every member's connections
	}
	deadline := time.Now().Add(15 * time.Second)
	last, idleSince := cl.events.Load(), time.Now()
	for ctx.Err() == nil && time.Now().Before(deadline) && time.Since(idleSince) < 2*time.Second {
		if n := cl.events.Load(); n >= expected {
			break
		} else if n != last {
			last, idleSince = n, time.Now()
		}
		wait(ctx, 20*time.Millisecond)
	}
	return expected
}

// fakercStats is fakerc's /stats.
type fakercStats struct {
	Emitted     uint64 `json:"emitted"` // events generated (each due on every connection of its user, or of every room member)
	RoomMembers int    `json:"room_members"`
	RoomFrames  uint64 `json:"room_frames"`
	RoomBytes   uint64 `json:"room_bytes"`
}

func stats(fakerc string) fakercStats {
	var st fakercStats
	resp, err := http.Get(fakerc + "/stats")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st
}

func get(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s %s", url, resp.Status, b)
	}
	return nil
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func wsURL(u string) string {
	u = strings.Replace(u, "http://", "ws://", 1)
	return strings.Replace(u, "https://", "wss://", 1)
}

// cpuSeconds is a process's user+system CPU time from /proc (0 if unknown).
func cpuSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// rssKiB is a process's resident set size.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return 0
}
