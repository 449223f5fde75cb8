package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestOfficialClientConformance runs the official @microsoft/signalr client (Node) against
// the hub for every transport and protocol pair: e2e/signalr/conformance.js.
func TestOfficialClientConformance(t *testing.T) {
	e2e, err := filepath.Abs("../e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "@microsoft", "signalr")); err != nil {
		t.Fatal("e2e/node_modules is missing: run `make deps`")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed")
	}
	h, err := NewHub(Options{Authenticate: testAuth, SendQueueSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	h.On("add", func(_ context.Context, _ CallInfo, args []json.RawMessage) (any, error) {
		var a, b int
		if len(args) != 2 {
			return nil, &HubError{Message: "two numbers"}
		}
		fmt.Sscan(string(args[0]), &a)
		fmt.Sscan(string(args[1]), &b)
		return a + b, nil
	})
	mux := http.NewServeMux()
	mux.Handle("/signalr", h)
	mux.Handle("/signalr/", h)
	mux.HandleFunc("POST /ctl/push", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		from, _ := strconv.Atoi(r.URL.Query().Get("from"))
		for i := from; i < from+n; i++ {
			if err := h.SendToUser(r.Context(), r.URL.Query().Get("user"), "push", map[string]int{"seq": i}); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
	})
	mux.HandleFunc("POST /ctl/drop", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		h.mu.RLock()
		var conns []*conn
		for c := range h.users[user] {
			conns = append(conns, c)
		}
		h.mu.RUnlock()
		for _, c := range conns {
			c.dropTransport()
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		from, _ := strconv.Atoi(r.URL.Query().Get("from"))
		for i := from; i < from+n; i++ {
			_ = h.SendToUser(r.Context(), user, "push", map[string]int{"seq": i})
		}
	})
	mux.HandleFunc("POST /ctl/abort", func(w http.ResponseWriter, r *http.Request) {
		// The transport ends with no Close message: the socket is cut, a stream or poll ends.
		h.mu.RLock()
		var conns []*conn
		for c := range h.users[r.URL.Query().Get("user")] {
			conns = append(conns, c)
		}
		h.mu.RUnlock()
		for _, c := range conns {
			c.dropTransport()
			c.close(nil, CloseTransportLost)
		}
	})
	mux.HandleFunc("POST /ctl/kick", func(w http.ResponseWriter, r *http.Request) {
		reason := ""
		if r.URL.Query().Get("reconnect") != "true" {
			reason = "Kicked for the test."
		}
		if err := h.Kick(r.Context(), r.URL.Query().Get("user"), reason, r.URL.Query().Get("reconnect") == "true"); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	srv := httptest.NewServer(mux)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		srv.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(e2e, "signalr", "conformance.js"), srv.URL)
	cmd.Dir = e2e
	out, err := cmd.CombinedOutput()
	t.Logf("node output:\n%s", out)
	if err != nil {
		t.Fatalf("conformance suite failed: %v", err)
	}
}
