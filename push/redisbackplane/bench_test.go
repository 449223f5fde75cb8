package redisbackplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rcgateway/rcgateway/internal/redistest"
	"github.com/rcgateway/rcgateway/push"
)

// BenchmarkDelivery compares the CPU a gateway process spends per delivery when its hub
// sends through this Redis backplane with the same hub on its in-process MemoryBackplane,
// measured in the same run:
//
//	go test -run '^$' -bench Delivery -benchtime 30000x ./push/redisbackplane
//
// Each iteration is one SendToUser to one of 300 users with 3 WebSocket connections each
// (3 deliveries), offered at 10,000 sends/s (30,000 deliveries/s, the load of bench/run.sh's
// W2 and W6) rather than as fast as possible: flooding would let the in-process path
// coalesce many records per socket write, which a live upstream does not. The browsers run in a child process (this test binary re-executed), so
// the benchmark process's own CPU time (getrusage) is the server's alone: hub, backplane,
// Redis client. cpu-ns/delivery is the figure to compare; redis-cpu-ns/delivery is what
// redis-server spent besides (from /proc, 10 ms resolution). At most benchWindow deliveries
// are in flight, so neither path drops.
func BenchmarkDelivery(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchDelivery(b, nil) })
	b.Run("redis", func(b *testing.B) {
		r := redistest.Start(b)
		bp, err := New(Options{URL: r.URL()})
		if err != nil {
			b.Fatal(err)
		}
		defer bp.Close()
		benchDelivery(b, &redisUnderTest{bp: bp, srv: r})
	})
}

const (
	benchUsers, benchPerUser = 300, 3
	benchWindow              = 3000
	benchRate                = 10000 // sends per second: 30,000 deliveries/s, as bench/run.sh W2 and W6
	benchClientEnv           = "RCGW_BENCH_CLIENT_URL"
)

var benchPayload = []byte(`{"_id":"Xb7pQ2kWcTn4","rid":"GENERAL","msg":"Hello everyone, the build is green again.","ts":"2025-11-22T08:26:40.123Z","u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"_updatedAt":"2025-11-22T08:26:40.123Z","urls":[],"mentions":[],"channels":[]}`)

type redisUnderTest struct {
	bp  *Backplane
	srv *redistest.Server
}

func benchAuth(r *http.Request) (string, error) {
	u, ok := strings.CutPrefix(r.URL.Query().Get("access_token"), "tok-")
	if !ok {
		return "", errors.New("bad token")
	}
	return u, nil
}

func benchDelivery(b *testing.B, r *redisUnderTest) {
	o := push.Options{Authenticate: benchAuth, KeepAliveInterval: time.Hour, ClientTimeout: time.Hour}
	if r != nil {
		o.Backplane = r.bp
	}
	h, err := push.NewHub(o)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		srv.Close()
	}()
	cl := startBenchClient(b, srv.URL)
	defer cl.stop(b)

	names := make([]string, benchUsers)
	for i := range names {
		names[i] = "u" + strconv.Itoa(i)
	}
	ctx := context.Background()
	cpu0, redis0 := processCPU(b), redisCPU(r)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; {
		// Offer benchRate sends per second, as a live upstream would, never more than
		// benchWindow deliveries ahead of the browsers.
		due := min(b.N, int(time.Since(start).Seconds()*benchRate)+1)
		for ; i < due; i++ {
			for int64(i)*benchPerUser-cl.got.Load() > benchWindow {
				cl.waitProgress(b, r)
			}
			if err := h.SendToUser(ctx, names[i%benchUsers], "getRoomMessageNotification", benchPayload); err != nil {
				b.Fatal(err)
			}
		}
		if i < b.N {
			<-tick.C
		}
	}
	want := int64(b.N) * benchPerUser
	for cl.got.Load() < want {
		cl.waitProgress(b, r)
	}
	b.StopTimer()
	deliveries := float64(want)
	b.ReportMetric(float64(processCPU(b)-cpu0)/deliveries, "cpu-ns/delivery")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	if r != nil {
		b.ReportMetric(float64(redisCPU(r)-redis0)/deliveries, "redis-cpu-ns/delivery")
		if d := r.bp.Stats().Dropped; d != 0 {
			b.Fatalf("%d envelopes dropped", d)
		}
	}
}

// processCPU is this process's user+system CPU time in ns.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// redisCPU is redis-server's user+system CPU time in ns (0 without Redis).
func redisCPU(r *redisUnderTest) int64 {
	if r == nil {
		return 0
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(r.srv.PID()) + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)      // utime, field 14 of stat
	st, _ := strconv.ParseInt(f[12], 10, 64)      // stime, field 15
	return (ut + st) * int64(10*time.Millisecond) // USER_HZ is 100 on Linux
}

// benchClient is the child process holding the browser connections; it reports how many
// records they received, one line per change.
type benchClient struct {
	cmd      *exec.Cmd
	stdin    interface{ Close() error }
	got      atomic.Int64
	progress chan struct{}
	done     chan struct{}
}

func startBenchClient(b *testing.B, url string) *benchClient {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), benchClientEnv+"="+url)
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
			n, err := strconv.ParseInt(sc.Text(), 10, 64)
			if err != nil {
				continue
			}
			cl.got.Store(n)
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

func (cl *benchClient) waitProgress(b *testing.B, r *redisUnderTest) {
	select {
	case <-cl.progress:
	case <-time.After(30 * time.Second):
		msg := fmt.Sprintf("deliveries stalled at %d", cl.got.Load())
		if r != nil {
			msg += fmt.Sprintf("; backplane %+v", r.bp.Stats())
		}
		b.Fatal(msg)
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

// runBenchClient is the child side: benchUsers × benchPerUser SignalR (JSON) WebSockets to
// url, "ready" once all handshakes are answered, then the running count of received records
// whenever it changes, until stdin closes. Failures go to stderr; the parent then never
// sees "ready" and fails.
func runBenchClient(url string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got atomic.Int64
	var wg sync.WaitGroup
	var conns []*websocket.Conn
	defer func() {
		for _, ws := range conns {
			ws.CloseNow()
		}
		wg.Wait()
	}()
	ws0 := strings.Replace(url, "http", "ws", 1) + "/signalr?access_token=tok-u"
	for u := range benchUsers {
		for range benchPerUser {
			ws, _, err := websocket.Dial(ctx, ws0+strconv.Itoa(u), nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench client: dial:", err)
				return
			}
			conns = append(conns, ws)
			ws.SetReadLimit(1 << 20)
			if err := ws.Write(ctx, websocket.MessageText, []byte("{\"protocol\":\"json\",\"version\":1}\x1e")); err != nil {
				fmt.Fprintln(os.Stderr, "bench client: handshake:", err)
				return
			}
			if _, _, err := ws.Read(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "bench client: handshake answer:", err)
				return
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
	last := int64(0)
	for {
		select {
		case <-stdinClosed:
			return
		case <-tick.C:
			if n := got.Load(); n != last {
				last = n
				fmt.Println(n)
			}
		}
	}
}
