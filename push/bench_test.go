package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The floor is the least a fan-out server can do, measured in the same run as the hub:
// encode once, one writer per connection with a small queue, coalesced writes.
type floor struct {
	mu    sync.Mutex
	users map[string][]*floorConn
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
			if ws.Write(ctx, websocket.MessageText, buf) != nil {
				return
			}
		}
	}
}

func (f *floor) send(user, target string, arg json.RawMessage) {
	rec := make([]byte, 0, len(arg)+64)
	rec = append(rec, `{"target":"`...)
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

// benchClients opens users×per WebSockets with dial and counts received records.
type benchClients struct {
	conns []*websocket.Conn
	got   atomic.Int64
	wg    sync.WaitGroup
}

func (bc *benchClients) read(ws *websocket.Conn) {
	defer bc.wg.Done()
	for {
		_, data, err := ws.Read(context.Background())
		if err != nil {
			return
		}
		if n := bytes.Count(data, []byte{0x1e}); n > 0 && !bytes.Contains(data, []byte(`{"type":6}`)) {
			bc.got.Add(int64(n))
		}
	}
}

func (bc *benchClients) close() {
	for _, ws := range bc.conns {
		ws.CloseNow()
	}
	bc.wg.Wait()
}

func (bc *benchClients) wait(b *testing.B, want int64) {
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for bc.got.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d", bc.got.Load(), want)
		}
		<-tick.C
	}
}

const benchUsers, benchPerUser = 1000, 3

var benchPayload = json.RawMessage(`{"_id":"Xb7pQ2kWcTn4","rid":"GENERAL","msg":"Hello everyone, the build is green again.","ts":"2025-11-22T08:26:40.123Z","u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"_updatedAt":"2025-11-22T08:26:40.123Z","urls":[],"mentions":[],"channels":[]}`)

func dialFloor(b *testing.B, url string, users, per int) *benchClients {
	bc := &benchClients{}
	for u := range users {
		for range per {
			ws, _, err := websocket.Dial(context.Background(), strings.Replace(url, "http", "ws", 1)+"/ws?user="+fmt.Sprint("u", u), nil)
			if err != nil {
				b.Fatal(err)
			}
			ws.SetReadLimit(1 << 20)
			bc.conns = append(bc.conns, ws)
			bc.wg.Add(1)
			go bc.read(ws)
		}
	}
	return bc
}

func dialHub(b *testing.B, url string, users, per int) *benchClients {
	bc := &benchClients{}
	for u := range users {
		for range per {
			user := fmt.Sprint("u", u)
			ws, _, err := websocket.Dial(context.Background(), strings.Replace(url, "http", "ws", 1)+"/signalr?access_token=tok-"+user, nil)
			if err != nil {
				b.Fatal(err)
			}
			ws.SetReadLimit(1 << 20)
			if err := ws.Write(context.Background(), websocket.MessageText, []byte("{\"protocol\":\"json\",\"version\":1}\x1e")); err != nil {
				b.Fatal(err)
			}
			if _, _, err := ws.Read(context.Background()); err != nil { // handshake answer
				b.Fatal(err)
			}
			bc.conns = append(bc.conns, ws)
			bc.wg.Add(1)
			go bc.read(ws)
		}
	}
	return bc
}

func newBenchHub(b *testing.B) (*Hub, *httptest.Server) {
	h, err := NewHub(Options{Authenticate: testAuth, KeepAliveInterval: time.Hour, ClientTimeout: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return h, httptest.NewServer(h)
}

// BenchmarkFanout pushes one event per iteration to one user's 3 connections (1,000 users
// × 3 connections open). Compare ns/delivery of hub and floor, measured in the same run:
//
//	go test -run '^$' -bench Fanout -benchmem ./push
func BenchmarkFanout(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		f := &floor{users: map[string][]*floorConn{}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		bc := dialFloor(b, srv.URL, benchUsers, benchPerUser)
		defer bc.close()
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for b.Loop() {
			f.send(fmt.Sprint("u", i%benchUsers), "getRoomMessageNotification", benchPayload)
			i++
		}
		bc.wait(b, int64(i*benchPerUser))
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*benchPerUser), "ns/delivery")
	})
	b.Run("hub", func(b *testing.B) {
		h, srv := newBenchHub(b)
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = h.Shutdown(ctx)
			srv.Close()
		}()
		bc := dialHub(b, srv.URL, benchUsers, benchPerUser)
		defer bc.close()
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for b.Loop() {
			_ = h.SendToUser(ctx, fmt.Sprint("u", i%benchUsers), "getRoomMessageNotification", benchPayload)
			i++
		}
		bc.wait(b, int64(i*benchPerUser))
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*benchPerUser), "ns/delivery")
	})
}

// BenchmarkIdleConnection reports the memory (heap + stacks, server and client side in
// this process) per open WebSocket connection of the hub and of the floor.
func BenchmarkIdleConnection(b *testing.B) {
	const users, per = 500, 2
	measure := func(b *testing.B, open func() func()) {
		for b.Loop() {
			before := memInUse()
			closeAll := open()
			after := memInUse()
			b.ReportMetric(float64(after-before)/float64(users*per), "B/conn")
			closeAll()
		}
	}
	b.Run("floor", func(b *testing.B) {
		measure(b, func() func() {
			f := &floor{users: map[string][]*floorConn{}}
			srv := httptest.NewServer(f)
			bc := dialFloor(b, srv.URL, users, per)
			return func() { bc.close(); srv.Close() }
		})
	})
	b.Run("hub", func(b *testing.B) {
		measure(b, func() func() {
			h, srv := newBenchHub(b)
			bc := dialHub(b, srv.URL, users, per)
			return func() {
				bc.close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = h.Shutdown(ctx)
				srv.Close()
			}
		})
	})
}

func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
