package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rcgateway/rcgateway/push/pushtest"
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
		cl := pushtest.StartBrowsers(b, pushtest.BrowsersSpec{URL: s.url, Users: benchUsers, Per: benchPerUser, SignalR: mode == "hub"})
		b.Run(mode, func(b *testing.B) { benchFanout(b, s, cl, mode) })
		cl.Stop(b)
		s.close()
	}
}

func newServer(b *testing.B, mode string) *server {
	if mode == "hub" {
		return hubServer(b)
	}
	return floorServer()
}

func benchFanout(b *testing.B, s *server, cl *pushtest.Browsers, mode string) {
	names := make([]string, benchUsers)
	for i := range names {
		names[i] = "u" + strconv.Itoa(i)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	cpu0, frames0 := pushtest.ProcessCPU(b), cl.Messages()
	got0 := cl.Records()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; {
		due := min(b.N, int(time.Since(start).Seconds()*benchRate)+1)
		for ; i < due; i++ {
			for int64(i)*benchPerUser-(cl.Records()-got0) > benchWindow {
				cl.WaitProgress(b, s.stats)
			}
			s.send(names[i%benchUsers])
		}
		if i < b.N {
			<-tick.C
		}
	}
	want := got0 + int64(b.N)*benchPerUser
	for cl.Records() < want {
		cl.WaitProgress(b, s.stats)
	}
	b.StopTimer()
	cpu := pushtest.ProcessCPU(b) - cpu0
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
	if f := cl.Messages() - frames0; f > 0 {
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
		cl := pushtest.StartBrowsers(b, pushtest.BrowsersSpec{URL: s.url, Users: users, Per: per, SignalR: mode == "hub"})
		deadline := time.NewTimer(30 * time.Second)
		defer deadline.Stop()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for s.conns() < users*per {
			select {
			case <-deadline.C:
				b.Fatalf("%d of %d connections registered", s.conns(), users*per)
			case <-tick.C:
			}
		}
		mem1, g1 := memInUse(), runtime.NumGoroutine()
		perConn := float64(mem1-mem0) / float64(users*per)
		benchResults.Store("Idle/"+mode, perConn)
		b.ReportMetric(perConn, "B/conn")
		if mode == "hub" {
			reportRatio(b, "Idle/floor", perConn, "mem-x-floor") // target <= 2.5
		}
		b.ReportMetric(float64(g1-g0)/float64(users*per), "goroutines/conn")
		cl.Stop(b)
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
