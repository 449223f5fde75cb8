package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/internal/demotest"
)

// buildMinimalExample builds web/examples/minimal (the guide's app) with the vite of
// web/node_modules into a temporary directory, served under /minimal/.
func buildMinimalExample(t *testing.T, root string) string {
	t.Helper()
	vite := filepath.Join(root, "web", "node_modules", "vite", "bin", "vite.js")
	if _, err := os.Stat(vite); err != nil {
		t.Fatal("web/node_modules/vite missing: run `make deps` (npm ci in web/)")
	}
	out := filepath.Join(t.TempDir(), "minimal")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", vite, "build", "--outDir", out, "--emptyOutDir", "--logLevel", "warn")
	cmd.Dir = filepath.Join(root, "web", "examples", "minimal")
	cmd.Env = append(os.Environ(), "EXAMPLE_BASE=/minimal/")
	cmd.WaitDelay = 10 * time.Second
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vite build of web/examples/minimal: %v\n%s", err, b)
	}
	return out
}

// TestMinimalExampleInChromium runs the guide's example app (docs/vue-guide.md) against
// the demo: rooms, a room's history, a message sent and one received (minimal.js).
func TestMinimalExampleInChromium(t *testing.T) {
	root := demotest.RepoRoot(t)
	requireTools(t, root)
	dist := buildMinimalExample(t, root)
	base := demotest.Start(t).URL

	runBrowserScript(t, root, "minimal.js", 2*time.Minute, "minimal: ok",
		"RCGW_BASE_URL="+base,
		"RCGW_EXAMPLE_DIST="+dist,
	)
}
