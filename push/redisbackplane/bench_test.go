package redisbackplane

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/internal/redistest"
	"github.com/rcgateway/rcgateway/push"
	"github.com/rcgateway/rcgateway/push/pushtest"
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
)

var benchPayload = []byte(`{"_id":"Xb7pQ2kWcTn4","rid":"GENERAL","msg":"Hello everyone, the build is green again.","ts":"2025-11-22T08:26:40.123Z","u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"_updatedAt":"2025-11-22T08:26:40.123Z","urls":[],"mentions":[],"channels":[]}`)

type redisUnderTest struct {
	bp  *Backplane
	srv *redistest.Server
}

func benchAuth(r *http.Request) (string, time.Time, error) {
	u, ok := strings.CutPrefix(r.URL.Query().Get("access_token"), "tok-")
	if !ok {
		return "", time.Time{}, errors.New("bad token")
	}
	return u, time.Time{}, nil
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
	cl := pushtest.StartBrowsers(b, pushtest.BrowsersSpec{URL: srv.URL, Users: benchUsers, Per: benchPerUser, SignalR: true})
	defer cl.Stop(b)
	stalled := func() string {
		if r == nil {
			return "in process"
		}
		return fmt.Sprintf("backplane %+v", r.bp.Stats())
	}

	names := make([]string, benchUsers)
	for i := range names {
		names[i] = "u" + strconv.Itoa(i)
	}
	ctx := context.Background()
	cpu0, redis0 := pushtest.ProcessCPU(b), redisCPU(r)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; {
		// Offer benchRate sends per second, as a live upstream would, never more than
		// benchWindow deliveries ahead of the browsers.
		due := min(b.N, int(time.Since(start).Seconds()*benchRate)+1)
		for ; i < due; i++ {
			for int64(i)*benchPerUser-cl.Records() > benchWindow {
				cl.WaitProgress(b, stalled)
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
	for cl.Records() < want {
		cl.WaitProgress(b, stalled)
	}
	b.StopTimer()
	deliveries := float64(want)
	b.ReportMetric(float64(pushtest.ProcessCPU(b)-cpu0)/deliveries, "cpu-ns/delivery")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	if r != nil {
		b.ReportMetric(float64(redisCPU(r)-redis0)/deliveries, "redis-cpu-ns/delivery")
		if d := r.bp.Stats().Dropped; d != 0 {
			b.Fatalf("%d envelopes dropped", d)
		}
	}
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
