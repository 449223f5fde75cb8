// Package demotest builds `rcgateway demo` and runs it on a free port for end-to-end tests.
// It knows the demo's command line and its "listening on" line, nothing of what the tests
// then do with it.
package demotest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

var listeningRE = regexp.MustCompile(`^rcgateway demo: listening on (http://\S+)$`)

// Demo is one running `rcgateway demo`.
type Demo struct {
	URL  string // base URL, http://127.0.0.1:<port>
	Root string // the repository root

	cmd    *exec.Cmd
	logs   buffer
	exited chan error // Wait's result, once
	done   chan struct{}
	err    error
	once   sync.Once
}

// RepoRoot is the module root: the nearest directory above the working directory that
// holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("repo root: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repo root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build compiles ./cmd/rcgateway into a temporary directory and returns the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rcgateway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rcgateway")
	build.Dir = RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/rcgateway: %v\n%s", err, out)
	}
	return bin
}

// FreeAddr is a loopback host:port that was free a moment ago, for a child process to
// listen on.
func FreeAddr(t testing.TB) string {
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

// Start builds ./cmd/rcgateway, starts `rcgateway demo` on a free loopback port and waits
// for its "listening on" line. The demo is stopped with SIGTERM when the test ends, and
// must then exit cleanly; its output is logged when the test failed.
func Start(t testing.TB) *Demo {
	t.Helper()
	d := &Demo{Root: RepoRoot(t), exited: make(chan error, 1), done: make(chan struct{})}
	bin := Build(t)
	addr := FreeAddr(t)
	d.cmd = exec.Command(bin, "demo", "-listen", addr)
	d.cmd.Dir = t.TempDir()
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = &d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start rcgateway demo: %v", err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&d.logs, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		d.exited <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		if err := d.Stop(20 * time.Second); err != nil {
			t.Errorf("rcgateway demo: %v", err)
		}
		if t.Failed() {
			t.Logf("rcgateway demo output:\n%s", d.Logs())
		}
	})
	select {
	case d.URL = <-urlc:
	case err := <-d.exited:
		d.exited <- err
		t.Fatalf("rcgateway demo exited before listening: %v\n%s", err, d.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("rcgateway demo printed no listening line within 60s:\n%s", d.Logs())
	}
	if d.URL != "http://"+addr {
		t.Fatalf("rcgateway demo listens on %s, asked for %s", d.URL, addr)
	}
	return d
}

// Stop sends SIGTERM and waits up to timeout for the demo to exit. It returns nil when
// the demo exited with status 0; later calls return the first call's answer.
func (d *Demo) Stop(timeout time.Duration) error {
	d.once.Do(func() {
		defer close(d.done)
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			d.err = fmt.Errorf("SIGTERM: %w", err)
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case err := <-d.exited:
			if err != nil {
				d.err = fmt.Errorf("exit after SIGTERM: %w", err)
			}
		case <-t.C:
			_ = d.cmd.Process.Kill()
			<-d.exited
			d.err = fmt.Errorf("did not exit within %s of SIGTERM", timeout)
		}
	})
	<-d.done
	return d.err
}

// Logs is the demo's output so far.
func (d *Demo) Logs() string { return d.logs.String() }

// buffer collects a process's output from two goroutines.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
