package gateway

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/rocketchat"
)

// deadlineSessions records the time left on the context of each Credentials call (the
// token-minting step) and, with block set, holds the call until that context ends.
type deadlineSessions struct {
	*fakeSessions
	block bool
	mu    sync.Mutex
	left  []time.Duration // -1: no deadline
}

func (d *deadlineSessions) Credentials(ctx context.Context, id Identity) (rocketchat.Credentials, error) {
	left := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	d.mu.Lock()
	d.left = append(d.left, left)
	d.mu.Unlock()
	if d.block {
		<-ctx.Done()
		return rocketchat.Credentials{}, ctx.Err()
	}
	return d.fakeSessions.Credentials(ctx, id)
}

func (d *deadlineSessions) last(t *testing.T) time.Duration {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.left) == 0 {
		t.Fatal("Credentials was not called")
	}
	return d.left[len(d.left)-1]
}

func withDeadlineSessions(f *fixture, block bool) *deadlineSessions {
	d := &deadlineSessions{fakeSessions: f.srv.sessions.(*fakeSessions), block: block}
	f.srv.sessions = d
	return d
}

// TestRequestTimeoutBoundsWholeHandler: http.request_timeout bounds every /api/im and
// /api/v1 handler, token minting included, on routes that used to run without one (me,
// send, passthrough): a minting step that never returns ends in 504 at the deadline.
func TestRequestTimeoutBoundsWholeHandler(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.HTTP.RequestTimeout = config.Duration(300 * time.Millisecond) })
	withDeadlineSessions(f, true)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/im/me", ""},
		{"POST", "/api/im/rooms/GENERAL/messages", `{"text":"hi"}`},
		{"GET", "/api/v1/me", ""},
		{"POST", "/api/im/rooms/GENERAL/read", ""},
	} {
		req, _ := http.NewRequest(tc.method, f.http.URL+tc.path, bytes.NewReader([]byte(tc.body)))
		req.Header.Set("Authorization", "Bearer "+f.token("alice"))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v (no deadline bounds the handler)", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("%s %s = %d, want 504", tc.method, tc.path, resp.StatusCode)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s %s took %v with a 300ms request_timeout", tc.method, tc.path, took)
		}
	}
}

// TestUploadTimeoutBudget: uploads run under http.upload_timeout, every other route under
// http.request_timeout, and the deadline reaches the minting step.
func TestUploadTimeoutBudget(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.HTTP.RequestTimeout = config.Duration(20 * time.Second)
		c.HTTP.UploadTimeout = config.Duration(time.Hour)
	})
	d := withDeadlineSessions(f, false)
	if st := f.do("GET", "/api/im/me", f.token("alice"), nil, nil); st != http.StatusOK {
		t.Fatalf("me = %d", st)
	}
	if left := d.last(t); left < 0 || left > 20*time.Second {
		t.Errorf("me: minting saw %v left, want at most request_timeout (20s)", left)
	}
	if st, _ := uploadFile(t, f, f.token("alice"), "GENERAL", "a.txt", "text/plain", []byte("hello")); st != http.StatusCreated {
		t.Fatalf("upload = %d", st)
	}
	if left := d.last(t); left < 30*time.Minute || left > time.Hour {
		t.Errorf("upload: minting saw %v left, want about upload_timeout (1h)", left)
	}
}
