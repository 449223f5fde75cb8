package push

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCloseReasonsCounted: a connection the hub closes is counted under its one reason, and
// the client receives that reason's Close text and allowReconnect from the table.
func TestCloseReasonsCounted(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SingleLogin = true })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	older := e.dial("ann", 0)
	e.dial("ann", 0) // the newer connection closes the older one
	cm := waitDone(t, older)
	if cm == nil || cm.Error != CloseSingleLogin.Text() || cm.AllowReconnect != CloseSingleLogin.AllowReconnect() {
		t.Fatalf("single login close = %+v, want %q allowReconnect=%v", cm, CloseSingleLogin.Text(), CloseSingleLogin.AllowReconnect())
	}
	waitCount(t, e.h, CloseSingleLogin, 1)

	bob := e.dial("bob", 0)
	if err := e.h.Kick(ctx, "bob", "Bye.", true); err != nil {
		t.Fatal(err)
	}
	if cm := waitDone(t, bob); cm == nil || cm.Error != "Bye." || !cm.AllowReconnect {
		t.Fatalf("kick close = %+v", cm)
	}
	waitCount(t, e.h, CloseKicked, 1)

	cy := e.dial("cy", 0)
	if err := e.h.publish(ctx, ReconnectEnvelope(Address{Kind: ToUser, Key: "cy"})); err != nil {
		t.Fatal(err)
	}
	if cm := waitDone(t, cy); cm == nil || cm.Error != ReasonBackplaneGap || !cm.AllowReconnect {
		t.Fatalf("backplane gap close = %+v", cm)
	}
	waitCount(t, e.h, CloseBackplaneGap, 1)

	dee := e.dial("dee", 0)
	if err := e.h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if cm := waitDone(t, dee); cm == nil || !cm.AllowReconnect {
		t.Fatalf("shutdown close = %+v", cm)
	}
	waitCount(t, e.h, CloseShutdown, 2) // dee and ann's newer connection
	if n := e.h.Closes(CloseKicked); n != 1 {
		t.Errorf("kicked closes = %d after shutdown, want still 1", n)
	}
}

// waitCount checks a count once the client has seen its close (close counts before it ends
// the connection).
func waitCount(t *testing.T, h *Hub, r CloseReason, want uint64) {
	t.Helper()
	if got := h.Closes(r); got != want {
		t.Fatalf("closes{%s} = %d, want %d", r, got, want)
	}
}

// TestCloseReasonTable: every reason has a name and a client action, and names are unique
// (they are metric labels).
func TestCloseReasonTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range CloseReasons() {
		if r.String() == "" || r.String() == "unknown" || r.ClientAction() == "" {
			t.Errorf("reason %d has no name or action", r)
		}
		if seen[r.String()] {
			t.Errorf("reason name %q twice", r)
		}
		seen[r.String()] = true
	}
}

// TestDisconnectTableDocumented: docs/architecture.md lists every reason with its client
// action, so the documented table cannot drift from the one the hub uses.
func TestDisconnectTableDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range CloseReasons() {
		row := "| `" + r.String() + "` |"
		i := strings.Index(doc, row)
		if i < 0 {
			t.Errorf("docs/architecture.md has no row for %s", r)
			continue
		}
		line, _, _ := strings.Cut(doc[i:], "\n")
		if !strings.Contains(line, r.ClientAction()) {
			t.Errorf("docs/architecture.md row for %s lacks its client action %q", r, r.ClientAction())
		}
	}
}
