package web

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestClientPackage runs the unit tests of the client package (web/client, node's own
// test runner) so they run wherever the Go tests do.
func TestClientPackage(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node not found: install Node.js 20+ (run `make deps`); web/client's tests need it")
	}
	for _, dep := range []string{"vue", "@microsoft/signalr"} {
		if _, err := os.Stat(filepath.Join("node_modules", dep, "package.json")); err != nil {
			t.Fatalf("web/node_modules/%s missing: run `make deps` (npm ci in web/)", dep)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	files, err := filepath.Glob(filepath.Join("client", "test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no client/test/*.test.js files (%v)", err)
	}
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test"}, files...)...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("node --test timed out:\n%s", out)
		}
		t.Fatalf("node --test client/test/: %v\n%s", err, out)
	}
	t.Logf("node --test client/test/:\n%s", out)
}
