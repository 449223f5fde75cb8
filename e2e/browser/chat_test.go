// Package browser holds the end-to-end test of the web UI: two demo users chat through
// `rcgateway demo` in Debian's Chromium, driven by playwright-core (chat.js).
package browser

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/internal/demotest"
)

const chromiumPath = "/usr/bin/chromium"

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

// runBrowserScript runs e2e/browser/<script> in node against Chromium with env added,
// fails the test if it errors, outlives timeout or does not print okLine, and logs its output.
func runBrowserScript(t *testing.T, root, script string, timeout time.Duration, okLine string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	node := exec.CommandContext(ctx, "node", filepath.Join(root, "e2e", "browser", script))
	node.Dir = filepath.Join(root, "e2e", "browser")
	node.Env = append(append(os.Environ(), env...), "CHROMIUM_PATH="+chromiumPath)
	node.WaitDelay = 10 * time.Second
	out, err := node.CombinedOutput()
	t.Logf("%s output:\n%s", script, out)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("%s timed out after %v", script, timeout)
		}
		t.Fatalf("%s failed: %v", script, err)
	}
	if !strings.Contains(string(out), okLine) {
		t.Fatalf("%s ended without %q", script, okLine)
	}
}

func TestTwoUsersChatInChromium(t *testing.T) {
	root := demotest.RepoRoot(t)
	requireTools(t, root)
	base := demotest.Start(t).URL

	artifact := filepath.Join(root, "e2e", "artifacts", "chat.png")
	runBrowserScript(t, root, "chat.js", 3*time.Minute, "browser: ok",
		"RCGW_BASE_URL="+base,
		"RCGW_ARTIFACT="+artifact,
	)
	st, err := os.Stat(artifact)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s missing or too small: %v", artifact, err)
	}
}

// TestUIInChromium checks layouts (phone and desktop, no overflow, screenshots kept in
// e2e/artifacts), axe-core (no serious or critical violation in both layouts, schemes
// and languages), markdown and links, the Chinese UI, dark mode, keyboard-only sending,
// multi-line edit, confirm before delete, re-sign-in after a rejected token and human
// error texts, files (upload progress, thumbnail, drop, paste, download) and a desktop
// notification with title badge and sound for a DM in a hidden tab, reactions between two
// users, a thread reply (phone screen and desktop pane), search in a room, typing between
// two users in English and Chinese and a DM partner's presence dot following him (ui.js).
func TestUIInChromium(t *testing.T) {
	root := demotest.RepoRoot(t)
	requireTools(t, root)
	base := demotest.Start(t).URL

	dir := filepath.Join(root, "e2e", "artifacts")
	runBrowserScript(t, root, "ui.js", 4*time.Minute, "ui: ok",
		"RCGW_BASE_URL="+base,
		"RCGW_ARTIFACT_DIR="+dir,
	)
	for _, name := range []string{"ui-desktop.png", "ui-phone-list.png", "ui-phone-room.png", "ui-dark.png", "ui-thread.png"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Size() < 10_000 {
			t.Fatalf("screenshot %s missing or too small: %v", name, err)
		}
	}
}
