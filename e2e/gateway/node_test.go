package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var listeningRE = regexp.MustCompile(`^rcgateway demo: listening on (http://\S+)$`)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root %s has no go.mod: %v", root, err)
	}
	return root
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNodeSignalRClientAgainstDemo builds rcgateway, starts `rcgateway demo` on a free
// port, and runs the official @microsoft/signalr client (signalr_client.js): it must receive
// a message another user sends through the REST API. The process is stopped with SIGTERM
// and must exit cleanly.
func TestNodeSignalRClientAgainstDemo(t *testing.T) {
	root := repoRoot(t)
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node not found: install Node.js 20+ (run `make deps`)")
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "@microsoft", "signalr")); err != nil {
		t.Fatal("e2e/node_modules/@microsoft/signalr missing: run `make deps`")
	}
	bin := filepath.Join(t.TempDir(), "rcgateway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rcgateway")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "-listen", addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start demo: %v", err)
	}
	exited := make(chan error, 1)
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			logs.Write([]byte(line + "\n"))
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				urlc <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	stopped := false
	defer func() {
		if stopped {
			return
		}
		_ = cmd.Process.Kill()
		<-exited
	}()
	var base string
	select {
	case base = <-urlc:
	case err := <-exited:
		stopped = true
		t.Fatalf("demo exited before listening: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("demo printed no listening line within 60s:\n%s", logs.String())
	}
	if base != "http://"+addr {
		t.Fatalf("demo listens on %s, asked for %s", base, addr)
	}

	node := exec.CommandContext(ctx, "node", "signalr_client.js")
	node.Env = append(os.Environ(), "RCGW_BASE_URL="+base, "NODE_PATH="+filepath.Join(root, "e2e", "node_modules"))
	out, err := node.CombinedOutput()
	if err != nil {
		t.Fatalf("signalr_client.js: %v\n%s\n--- demo output ---\n%s", err, out, logs.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "OK ") || !strings.Contains(last, `"from":"bob"`) {
		t.Fatalf("signalr_client.js output:\n%s", out)
	}

	// SIGTERM: the demo shuts down in order and exits 0 within its deadline.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("demo exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("demo did not exit within 15s of SIGTERM:\n%s", logs.String())
	}
}
