package pushtest

import (
	"bufio"
	"context"
	"fmt"
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
)

// browsersEnv carries a Browsers spec to the child process.
const browsersEnv = "RCGW_PUSHTEST_BROWSERS"

// Browsers is a fleet of WebSocket clients in a child process (the test binary run again),
// so that the benchmark process's own CPU time and allocations are the server's alone. The
// child reports the records (0x1E-terminated) and WebSocket messages it has received.
type Browsers struct {
	cmd      *exec.Cmd
	stdin    interface{ Close() error }
	records  atomic.Int64
	messages atomic.Int64
	progress chan struct{}
	done     chan struct{}
}

// BrowsersSpec says what the child connects. With SignalR, each connection is a
// skipNegotiation WebSocket to URL+"/signalr?access_token=tok-u<N>" that completes the JSON
// handshake; without, a plain WebSocket to URL+"/ws?user=u<N>".
type BrowsersSpec struct {
	URL        string // http://host:port
	Users, Per int    // users u0…u<Users-1>, Per connections each
	SignalR    bool
}

// RunBrowsersChild runs the child side when this process is one (call it first in
// TestMain and return when it reports true).
func RunBrowsersChild() bool {
	spec := os.Getenv(browsersEnv)
	if spec == "" {
		return false
	}
	runBrowsers(spec)
	return true
}

// StartBrowsers starts the child and waits (up to 60 s) until every connection is open.
func StartBrowsers(tb testing.TB, s BrowsersSpec) *Browsers {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%t|%s|%d|%d", browsersEnv, s.SignalR, s.URL, s.Users, s.Per))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	b := &Browsers{cmd: cmd, stdin: stdin, progress: make(chan struct{}, 1), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(b.done)
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			ready <- fmt.Errorf("pushtest: browsers did not get ready: %q %v", sc.Text(), sc.Err())
			return
		}
		ready <- nil
		for sc.Scan() {
			var n, m int64
			if _, err := fmt.Sscan(sc.Text(), &n, &m); err != nil {
				continue
			}
			b.records.Store(n)
			b.messages.Store(m)
			select {
			case b.progress <- struct{}{}:
			default:
			}
		}
	}()
	t := time.NewTimer(60 * time.Second)
	defer t.Stop()
	select {
	case err := <-ready:
		if err != nil {
			b.Stop(tb)
			tb.Fatal(err)
		}
	case <-t.C:
		b.Stop(tb)
		tb.Fatal("pushtest: browsers: not connected after 60 s")
	}
	return b
}

// Records is how many records the browsers have received so far.
func (b *Browsers) Records() int64 { return b.records.Load() }

// Messages is how many WebSocket messages carried them.
func (b *Browsers) Messages() int64 { return b.messages.Load() }

// WaitProgress waits until the count changes; after 30 s without a change it fails the
// benchmark with the count and what stalled says about the server.
func (b *Browsers) WaitProgress(tb testing.TB, stalled func() string) {
	tb.Helper()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-b.progress:
	case <-t.C:
		msg := fmt.Sprintf("deliveries stalled at %d", b.records.Load())
		if stalled != nil {
			msg += "; " + stalled()
		}
		tb.Fatal(msg)
	}
}

// Stop ends the child (it exits when its stdin closes) and waits for it.
func (b *Browsers) Stop(tb testing.TB) {
	tb.Helper()
	_ = b.stdin.Close()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C:
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	if err := b.cmd.Wait(); err != nil {
		tb.Errorf("pushtest: browsers: %v", err)
	}
}

// runBrowsers is the child side. spec is "signalr|url|users|per". It prints "ready" once
// every connection is open (and its handshake answered), then "records messages" whenever
// they change, until stdin closes. Failures go to stderr; the parent then never sees
// "ready" and fails.
func runBrowsers(spec string) {
	f := strings.Split(spec, "|")
	if len(f) != 4 {
		fmt.Fprintln(os.Stderr, "pushtest: browsers: bad spec", spec)
		return
	}
	signalR, url := f[0] == "true", strings.Replace(f[1], "http", "ws", 1)
	users, _ := strconv.Atoi(f[2])
	per, _ := strconv.Atoi(f[3])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var records, messages atomic.Int64
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
			if signalR {
				addr = url + "/signalr?access_token=tok-u" + strconv.Itoa(u)
			}
			ws, _, err := websocket.Dial(ctx, addr, nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, "pushtest: browsers: dial:", err)
				return
			}
			conns = append(conns, ws)
			ws.SetReadLimit(1 << 20)
			if signalR {
				if err := ws.Write(ctx, websocket.MessageText, []byte("{\"protocol\":\"json\",\"version\":1}\x1e")); err != nil {
					fmt.Fprintln(os.Stderr, "pushtest: browsers: handshake:", err)
					return
				}
				if _, _, err := ws.Read(ctx); err != nil {
					fmt.Fprintln(os.Stderr, "pushtest: browsers: handshake answer:", err)
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
					records.Add(int64(n))
					messages.Add(1)
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
			if n := records.Load(); n != last {
				last = n
				fmt.Println(n, messages.Load())
			}
		}
	}
}

// ProcessCPU is this process's user+system CPU time in ns: with the browsers in a child
// process, the server's alone.
func ProcessCPU(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
