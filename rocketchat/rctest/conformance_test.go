package rctest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConformanceDDPClient runs Rocket.Chat's own @rocket.chat/ddp-client (e2e/ddp/conformance.js)
// against the simulator: connect, loginWithToken, stream subscriptions, a posted message with
// its subscriptions-changed event, and a nosub for another user's stream.
func TestConformanceDDPClient(t *testing.T) {
	e2e, err := filepath.Abs(filepath.Join("..", "..", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: run `make deps` (Node 20 is needed for the conformance suites)")
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "@rocket.chat", "ddp-client")); err != nil {
		t.Fatalf("e2e/node_modules/@rocket.chat/ddp-client is missing: run `make deps` (%v)", err)
	}

	s := newTestServer(t, Options{})
	bob := s.AddUser(UserSpec{Username: "bob", Name: "Bob"})
	alice := s.AddUser(UserSpec{Username: "alice", Name: "Alice"})
	_, btok := s.LoginToken("bob")
	_, atok := s.LoginToken("alice")
	rid := s.AddRoom(RoomSpec{Type: "p", Name: "conformance", Owner: "alice", Members: []string{"bob"}})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("ddp", "conformance.js"))
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(),
		"RC_URL="+s.URL(), "RC_UID="+bob, "RC_TOKEN="+btok, "RC_ROOM="+rid,
		"RC_OTHER_UID="+alice, "RC_OTHER_TOKEN="+atok)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nPASS") {
		t.Fatalf("conformance.js failed (%v):\n%s", err, out)
	}
	t.Logf("conformance.js:\n%s", out)
}
