// Package browser holds the end-to-end test of the web UI: two demo users chat through
// `rcgateway demo` in Debian's Chromium, driven by playwright-core (chat.js).
package browser

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const chromiumPath = "/usr/bin/chromium"

var listeningRE = regexp.MustCompile(`rcgateway demo: listening on (http://\S+)`)

// repoRoot is two levels up from this package (e2e/browser).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("repo root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root %s has no go.mod: %v", root, err)
	}
	return root
}

func requireTools(t *testing.T, root string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node not found: install Node.js 20+ (run `make deps`)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s missing: run `make deps` (apt-get install chromium)", chromiumPath)
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "playwright-core")); err != nil {
		t.Fatal("e2e/node_modules/playwright-core missing: run `make deps` (npm ci in e2e/)")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("free port: %v", err)
	}
	return addr
}

// lockedBuffer collects a process's output for the failure message.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDemo builds and starts `rcgateway demo` and returns its base URL. The process is
// stopped and waited for when the test ends.
func startDemo(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rcgateway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rcgateway")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/rcgateway: %v\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "demo", "-listen", freeAddr(t))
	cmd.Dir = t.TempDir()
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	logs := &lockedBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start rcgateway demo: %v", err)
	}
	found := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logs, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		_ = pw.Close()
		exited <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Errorf("rcgateway demo did not exit")
		}
		<-scanned
		if t.Failed() {
			t.Logf("rcgateway demo output:\n%s", logs.String())
		}
	})

	select {
	case u := <-found:
		return strings.TrimRight(u, "/")
	case err := <-exited:
		exited <- err
		t.Fatalf("rcgateway demo exited before listening: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("rcgateway demo printed no %q line within 60s:\n%s", "listening on", logs.String())
	}
	return ""
}

func TestTwoUsersChatInChromium(t *testing.T) {
	root := repoRoot(t)
	requireTools(t, root)
	base := startDemo(t, root)

	artifact := filepath.Join(root, "e2e", "artifacts", "chat.png")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", filepath.Join(root, "e2e", "browser", "chat.js"))
	node.Dir = filepath.Join(root, "e2e", "browser")
	node.Env = append(os.Environ(),
		"RCGW_BASE_URL="+base,
		"RCGW_ARTIFACT="+artifact,
		"CHROMIUM_PATH="+chromiumPath,
	)
	node.WaitDelay = 10 * time.Second
	out, err := node.CombinedOutput()
	t.Logf("chat.js output:\n%s", out)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("chat.js timed out after 3m")
		}
		t.Fatalf("chat.js failed: %v", err)
	}
	if !strings.Contains(string(out), "browser: ok") {
		t.Fatalf("chat.js ended without %q", "browser: ok")
	}
	st, err := os.Stat(artifact)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s missing or too small: %v", artifact, err)
	}
}
