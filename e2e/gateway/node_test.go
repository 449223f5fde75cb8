package gateway_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/internal/demotest"
	"github.com/rcgateway/rcgateway/session"
)

// TestNodeSignalRClientAgainstDemo builds rcgateway, starts `rcgateway demo` on a free
// port, and runs the official @microsoft/signalr client (signalr_client.js): it must receive
// a message another user sends through the REST API. The process is stopped with SIGTERM
// and must exit cleanly.
func TestNodeSignalRClientAgainstDemo(t *testing.T) {
	root := demotest.RepoRoot(t)
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node not found: install Node.js 20+ (run `make deps`)")
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "@microsoft", "signalr")); err != nil {
		t.Fatal("e2e/node_modules/@microsoft/signalr missing: run `make deps`")
	}
	demo := demotest.Start(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", "signalr_client.js")
	node.Env = append(os.Environ(), "RCGW_BASE_URL="+demo.URL, "NODE_PATH="+filepath.Join(root, "e2e", "node_modules"))
	out, err := node.CombinedOutput()
	if err != nil {
		t.Fatalf("signalr_client.js: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "OK ") || !strings.Contains(last, `"from":"`+session.RocketChatUsername(session.DefaultUsernamePrefix, "1002")+`"`) {
		t.Fatalf("signalr_client.js output:\n%s", out)
	}

	// SIGTERM: the demo shuts down in order and exits 0 within its deadline.
	if err := demo.Stop(15 * time.Second); err != nil {
		t.Fatalf("demo: %v", err)
	}
}
