// Command loadgen drives one benchmark scenario against one peer and prints one JSON line.
//
// Modes: signalr (the gateway: negotiate, WebSocket, JSON hub protocol), raw (the floor:
// plain WebSocket) and ddp (straight to fakerc: connect, resume login, subscribe; the
// baseline a frontend-auth deployment would see). Scenarios: idle (connect, settle, read
// the server's memory), fanout (connect, then fakerc emits at -rate for -dur; server CPU per
// delivery, drops, reorders, latency), storm (everyone connects at once; time until every
// user's upstream is subscribed) and reconnect (every browser connection drops and comes back
// while events flow; reconnect time against the initial connect time, events delivered).
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
}

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "signalr", "signalr | raw | ddp")
	flag.StringVar(&c.scenario, "scenario", "fanout", "idle | fanout | storm")
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
	Errors         int64   `json:"errors"`
}

type client struct {
	c      config
	ws     []*websocket.Conn
	names  []string // one per connection, for reconnects
	mu     sync.Mutex
	tracks []*track
	errs   atomic.Int64
	keep   atomic.Bool // keep latencies
	wg     sync.WaitGroup
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
				ws, err := cl.dial(ctx, name)
				if err != nil {
					cl.errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				t := &track{}
				cl.mu.Lock()
				cl.ws = append(cl.ws, ws)
				cl.names = append(cl.names, name)
				cl.tracks = append(cl.tracks, t)
				cl.mu.Unlock()
				cl.wg.Add(1)
				go cl.read(ctx, ws, t)
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
		res.Expected = uint64(float64(c.rate)*c.dur.Seconds()) * uint64(c.conns)
	case "storm":
	case "idle":
		wait(ctx, c.settle)
		res.RSSKiB = rssKiB(c.pid)
	case "fanout":
		wait(ctx, c.settle)
		cl.keep.Store(true)
		cpu0, self0 := cpuSeconds(c.pid), cpuSeconds(os.Getpid())
		if err := get(ctx, fmt.Sprintf("%s/start?rate=%d&dur=%s&users=%d", c.fakerc, c.rate, c.dur, c.users)); err != nil {
			return res, err
		}
		wait(ctx, c.dur+time.Second)
		res.ServerCPUS = cpuSeconds(c.pid) - cpu0
		res.LoadgenCPUS = cpuSeconds(os.Getpid()) - self0
		res.Expected = uint64(float64(c.rate)*c.dur.Seconds()) * uint64(c.conns)
	default:
		return res, fmt.Errorf("unknown scenario %q", c.scenario)
	}
	cancel()
	cl.mu.Lock()
	for _, ws := range cl.ws {
		ws.CloseNow()
	}
	cl.mu.Unlock()
	cl.wg.Wait()
	var tot totals
	for _, t := range cl.tracks {
		tot.add(t)
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

// reconnectAll closes every connection and opens it again after 0-1 s of jitter (the
// same user), waiting until all are back.
func (cl *client) reconnectAll(ctx context.Context) error {
	cl.mu.Lock()
	old := cl.ws
	names := cl.names
	cl.ws = nil
	cl.mu.Unlock()
	for _, ws := range old {
		ws.CloseNow()
	}
	sem := make(chan struct{}, cl.c.concurrency)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait(ctx, time.Duration(i*7919%1000)*time.Millisecond) // spread over a second
			sem <- struct{}{}
			defer func() { <-sem }()
			ws, err := cl.dial(ctx, name)
			if err != nil {
				failed.Add(1)
				return
			}
			t := &track{}
			cl.mu.Lock()
			cl.ws = append(cl.ws, ws)
			cl.tracks = append(cl.tracks, t)
			cl.mu.Unlock()
			cl.wg.Add(1)
			go cl.read(ctx, ws, t)
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		cl.errs.Add(n)
		return fmt.Errorf("%d reconnects failed", n)
	}
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
	case "signalr":
		return dialSignalR(dctx, cl.c.target, cl.token(name), opts)
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

func dialSignalR(ctx context.Context, base, token string, opts *websocket.DialOptions) (*websocket.Conn, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signalr/negotiate?negotiateVersion=1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("negotiate: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("negotiate: %s", resp.Status)
	}
	var n struct {
		ConnectionToken string `json:"connectionToken"`
	}
	if err := json.Unmarshal(body, &n); err != nil || n.ConnectionToken == "" {
		return nil, errors.New("negotiate: no connectionToken")
	}
	ws, _, err := websocket.Dial(ctx, wsURL(base)+"/signalr?id="+n.ConnectionToken+"&access_token="+token, opts)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	ws.SetReadLimit(16 << 20)
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"protocol":"json","version":1}`+"\x1e")); err != nil {
		ws.CloseNow()
		return nil, err
	}
	_, hs, err := ws.Read(ctx)
	if err != nil || !bytes.HasPrefix(hs, []byte("{}")) {
		ws.CloseNow()
		return nil, fmt.Errorf("handshake: %q %v", hs, err)
	}
	return ws, nil
}

func dialDDP(ctx context.Context, url, name string, opts *websocket.DialOptions) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(16 << 20)
	for _, f := range []string{
		`{"msg":"connect","version":"1","support":["1"]}`,
		`{"msg":"method","method":"login","id":"1","params":[{"resume":"tok-` + name + `"}]}`,
		`{"msg":"sub","id":"2","name":"stream-room-messages","params":["__my_messages__",{"useCollection":false,"args":[]}]}`,
	} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, err
		}
		if bytes.Contains(data, []byte(`"ready"`)) {
			return ws, nil
		}
	}
}

// read receives until the connection ends, answering DDP pings.
func (cl *client) read(ctx context.Context, ws *websocket.Conn, t *track) {
	defer cl.wg.Done()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if cl.c.mode == "ddp" && bytes.HasPrefix(data, []byte(`{"msg":"ping"`)) {
			_ = ws.Write(ctx, websocket.MessageText, []byte(`{"msg":"pong"}`))
			continue
		}
		t.observe(data, time.Now().UnixNano(), cl.keep.Load())
	}
}

// pinger keeps SignalR connections inside the server's client timeout.
func (cl *client) pinger(ctx context.Context) {
	defer cl.wg.Done()
	tk := time.NewTicker(10 * time.Second)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			cl.mu.Lock()
			conns := append([]*websocket.Conn(nil), cl.ws...)
			cl.mu.Unlock()
			for _, ws := range conns {
				_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":6}`+"\x1e"))
			}
		}
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
