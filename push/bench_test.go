package push

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The benchmarks compare the hub with a floor measured in the same run (the hub's
// cpu-x-floor and mem-x-floor are the ratios). The floor is the
// least a fan-out server can do: a raw WebSocket per browser, each event encoded once, one
// writer goroutine per connection with a small queue, queued records coalesced into one
// write. The browsers run in a child process (this test binary re-executed), so the
// benchmark process's CPU time and allocations are the server's alone.
//
//	go test -run '^$' -bench . -benchtime 30000x ./push

type floor struct {
	mu    sync.Mutex
	users map[string][]*floorConn
	n     atomic.Int64
}

type floorConn struct {
	ws *websocket.Conn
	q  chan []byte
}

func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c := &floorConn{ws: ws, q: make(chan []byte, 128)}
	user := r.URL.Query().Get("user")
	f.mu.Lock()
	f.users[user] = append(f.users[user], c)
	f.mu.Unlock()
	f.n.Add(1)
	ctx := ws.CloseRead(r.Context())
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case rec := <-c.q:
			buf = append(buf[:0], rec...)
		drain:
			for {
				select {
				case rec := <-c.q:
					buf = append(buf, rec...)
				default:
					break drain
				}
			}
			// No per-write context: coder/websocket then arms no cancellation per write.
			if ws.Write(context.Background(), websocket.MessageText, buf) != nil {
				return
			}
		}
	}
}

func (f *floor) send(user, target string, arg json.RawMessage) {
	rec := make([]byte, 0, len(arg)+64)
	rec = append(rec, `{"type":1,"target":"`...)
	rec = append(rec, target...)
	rec = append(rec, `","arguments":[`...)
	rec = append(append(rec, arg...), "]}\x1e"...)
	f.mu.Lock()
	conns := f.users[user]
	f.mu.Unlock()
	for _, c := range conns {
		select {
		case c.q <- rec:
		default:
		}
	}
}

const (
	benchUsers, benchPerUser = 1000, 3
	benchRate                = 10000 // sends per second: 30,000 deliveries/s, performance.md §B4
	benchWindow              = 3000  // deliveries in flight at most, so nothing is dropped
	benchClientEnv           = "RCGW_PUSH_BENCH_CLIENT"
)

var benchPayload = json.RawMessage(`{"_id":"Xb7pQ2kWcTn4","rid":"GENERAL","msg":"Hello everyone, the build is green again.","ts":"2025-11-22T08:26:40.123Z","u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"_updatedAt":"2025-11-22T08:26:40.123Z","urls":[],"mentions":[],"channels":[]}`)

// server is the process under test: the floor or the hub.
type server struct {
	url   string
	conns func() int64
	send  func(user string)
	stats func() string
	close func()
}

func floorServer() *server {
	f := &floor{users: map[string][]*floorConn{}}
	srv := httptest.NewServer(f)
	return &server{url: srv.URL, conns: f.n.Load, close: srv.Close,
		send:  func(u string) { f.send(u, "getRoomMessageNotification", benchPayload) },
		stats: func() string { return "" }}
}

func hubServer(b *testing.B) *server {
	h, err := NewHub(Options{Authenticate: testAuth, KeepAliveInterval: time.Hour, ClientTimeout: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	ctx := context.Background()
	return &server{url: srv.URL,
		conns: func() int64 { return int64(h.Stats().Connections) },
		send: func(u string) {
			if err := h.SendToUser(ctx, u, "getRoomMessageNotification", benchPayload); err != nil {
				b.Fatal(err)
			}
		},
		stats: func() string { return fmt.Sprintf("%+v", h.Stats()) },
		close: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = h.Close(ctx)
			srv.Close()
		}}
}

var benchResults sync.Map // "Fanout/floor" → cpu-ns/delivery, for the ratio

// BenchmarkFanout: one iteration is one event to one of 1,000 users, each with 3 open
// WebSockets (3 deliveries), offered at 10,000 events/s as a live upstream would.
// cpu-ns/delivery (server CPU from getrusage), B/delivery and allocs/delivery are the
// figures; records/write shows how much coalescing happened. The connections are opened
// once per server, outside the measured runs.
func BenchmarkFanout(b *testing.B) {
	for _, mode := range []string{"floor", "hub"} {
		s := newServer(b, mode)
		cl := startBenchClient(b, mode, s.url, benchUsers, benchPerUser)
		b.Run(mode, func(b *testing.B) { benchFanout(b, s, cl, mode) })
		cl.stop(b)
		s.close()
	}
}

func newServer(b *testing.B, mode string) *server {
	if mode == "hub" {
		return hubServer(b)
	}
	return floorServer()
}

func benchFanout(b *testing.B, s *server, cl *benchClient, mode string) {
	names := make([]string, benchUsers)
	for i := range names {
		names[i] = "u" + strconv.Itoa(i)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	cpu0, frames0 := processCPU(b), cl.frames.Load()
	got0 := cl.got.Load()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; {
		due := min(b.N, int(time.Since(start).Seconds()*benchRate)+1)
		for ; i < due; i++ {
			for int64(i)*benchPerUser-(cl.got.Load()-got0) > benchWindow {
				cl.waitProgress(b, s)
			}
			s.send(names[i%benchUsers])
		}
		if i < b.N {
			<-tick.C
		}
	}
	want := got0 + int64(b.N)*benchPerUser
	for cl.got.Load() < want {
		cl.waitProgress(b, s)
	}
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	runtime.ReadMemStats(&m1)
	d := float64(b.N * benchPerUser)
	perDelivery := float64(cpu) / d
	benchResults.Store("Fanout/"+mode, perDelivery)
	b.ReportMetric(perDelivery, "cpu-ns/delivery")
	if mode == "hub" {
		reportRatio(b, "Fanout/floor", perDelivery, "cpu-x-floor") // target <= 1.5
	}
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/d, "B/delivery")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/d, "allocs/delivery")
	if f := cl.frames.Load() - frames0; f > 0 {
		b.ReportMetric(d/float64(f), "records/write")
	}
}

// BenchmarkIdleConnection: heap and stacks in use, and goroutines, per idle WebSocket
// connection (500 users × 2) on the server side, hub against floor. Each run measures
// once, whatever b.N.
func BenchmarkIdleConnection(b *testing.B) {
	const users, per = 500, 2
	measure := func(b *testing.B, mode string) {
		runtime.GC()
		g0, mem0 := runtime.NumGoroutine(), memInUse()
		s := newServer(b, mode)
		cl := startBenchClient(b, mode, s.url, users, per)
		deadline := time.Now().Add(30 * time.Second)
		for s.conns() < users*per {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d connections registered", s.conns(), users*per)
			}
			time.Sleep(time.Millisecond)
		}
		mem1, g1 := memInUse(), runtime.NumGoroutine()
		perConn := float64(mem1-mem0) / float64(users*per)
		benchResults.Store("Idle/"+mode, perConn)
		b.ReportMetric(perConn, "B/conn")
		if mode == "hub" {
			reportRatio(b, "Idle/floor", perConn, "mem-x-floor") // target <= 2.5
		}
		b.ReportMetric(float64(g1-g0)/float64(users*per), "goroutines/conn")
		cl.stop(b)
		s.close()
	}
	b.Run("floor", func(b *testing.B) { measure(b, "floor") })
	b.Run("hub", func(b *testing.B) { measure(b, "hub") })
}

// reportRatio reports v against the floor's figure measured earlier in the same run.
func reportRatio(b *testing.B, key string, v float64, unit string) {
	if f, ok := benchResults.Load(key); ok && f.(float64) > 0 {
		b.ReportMetric(v/f.(float64), unit)
	}
}

func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// processCPU is this process's user+system CPU time in ns.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchClient is the child process holding the browser connections. It reports the
// records and WebSocket messages received, one "records frames" line per change.
type benchClient struct {
	cmd         *exec.Cmd
	stdin       interface{ Close() error }
	got, frames atomic.Int64
	progress    chan struct{}
	done        chan struct{}
}

func startBenchClient(b *testing.B, mode, url string, users, per int) *benchClient {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d|%d", benchClientEnv, mode, url, users, per))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	cl := &benchClient{cmd: cmd, stdin: stdin, progress: make(chan struct{}, 1), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(cl.done)
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			ready <- fmt.Errorf("bench client did not get ready: %q %v", sc.Text(), sc.Err())
			return
		}
		ready <- nil
		for sc.Scan() {
			var n, f int64
			if _, err := fmt.Sscan(sc.Text(), &n, &f); err != nil {
				continue
			}
			cl.got.Store(n)
			cl.frames.Store(f)
			select {
			case cl.progress <- struct{}{}:
			default:
			}
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			cl.stop(b)
			b.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		cl.stop(b)
		b.Fatal("bench client: no connections after 60 s")
	}
	return cl
}

func (cl *benchClient) waitProgress(b *testing.B, s *server) {
	select {
	case <-cl.progress:
	case <-time.After(30 * time.Second):
		b.Fatalf("deliveries stalled at %d; %s", cl.got.Load(), s.stats())
	}
}

func (cl *benchClient) stop(b *testing.B) {
	_ = cl.stdin.Close() // the child exits when its stdin closes
	select {
	case <-cl.done:
	case <-time.After(10 * time.Second):
		_ = cl.cmd.Process.Kill()
		<-cl.done
	}
	if err := cl.cmd.Wait(); err != nil {
		b.Errorf("bench client: %v", err)
	}
}

// runBenchClient is the child side. spec is "mode|url|users|per": users × per WebSockets
// to the floor or to the hub (JSON, skipNegotiation), "ready" once every one is open (and
// for the hub, its handshake answered), then "records frames" whenever they change, until
// stdin closes. Failures go to stderr; the parent then never sees "ready" and fails.
func runBenchClient(spec string) {
	f := strings.Split(spec, "|")
	if len(f) != 4 {
		fmt.Fprintln(os.Stderr, "bench client: bad spec", spec)
		return
	}
	mode, url := f[0], strings.Replace(f[1], "http", "ws", 1)
	users, _ := strconv.Atoi(f[2])
	per, _ := strconv.Atoi(f[3])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got, frames atomic.Int64
	var wg sync.WaitGroup
	var conns []*websocket.Conn
	defer func() {
		for _, ws := range conns {
			ws.CloseNow()
		}
		wg.Wait()
	}()
	for u := range users {
		for range per {
			addr := url + "/ws?user=u" + strconv.Itoa(u)
			if mode == "hub" {
				addr = url + "/signalr?access_token=tok-u" + strconv.Itoa(u)
			}
			ws, _, err := websocket.Dial(ctx, addr, nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench client: dial:", err)
				return
			}
			conns = append(conns, ws)
			ws.SetReadLimit(1 << 20)
			if mode == "hub" {
				if err := ws.Write(ctx, websocket.MessageText, []byte("{\"protocol\":\"json\",\"version\":1}\x1e")); err != nil {
					fmt.Fprintln(os.Stderr, "bench client: handshake:", err)
					return
				}
				if _, _, err := ws.Read(ctx); err != nil {
					fmt.Fprintln(os.Stderr, "bench client: handshake answer:", err)
					return
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_, data, err := ws.Read(ctx)
					if err != nil {
						return
					}
					n := 0
					for _, c := range data {
						if c == 0x1e {
							n++
						}
					}
					got.Add(int64(n))
					frames.Add(1)
				}
			}()
		}
	}
	fmt.Println("ready")
	stdinClosed := make(chan struct{})
	go func() {
		defer close(stdinClosed)
		var buf [64]byte
		for {
			if _, err := os.Stdin.Read(buf[:]); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	last := int64(-1)
	for {
		select {
		case <-stdinClosed:
			return
		case <-tick.C:
			if n := got.Load(); n != last {
				last = n
				fmt.Println(n, frames.Load())
			}
		}
	}
}
