package push

import (
	"net/http"
	"testing"
	"time"
)

// negotiateStatus negotiates for user and returns the status and Retry-After.
func negotiateStatus(t *testing.T, e *env, user string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/negotiate?negotiateVersion=1", nil)
	req.Header.Set("Authorization", "Bearer tok-"+user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func TestMaxConnectionsPerUser(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConnectionsPerUser = 2 })
	first := negotiate(t, e, "alice")
	negotiate(t, e, "alice")
	if st, _ := negotiateStatus(t, e, "alice"); st != http.StatusTooManyRequests {
		t.Fatalf("third negotiate of alice: %d, want 429", st)
	}
	if st := dialStatus(t, wsURL(e)+"?access_token=tok-alice"); st != http.StatusTooManyRequests {
		t.Fatalf("WebSocket without negotiate over the cap: %d, want 429", st)
	}
	negotiate(t, e, "bob") // the cap is per user

	// Ending one connection frees its place: bind it to long polling (the first poll
	// answers at once) and DELETE it, which forgets it before answering.
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequest(method, e.url+"?id="+first, nil)
		req.Header.Set("Authorization", "Bearer tok-alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s ?id=first: %d", method, resp.StatusCode)
		}
	}
	negotiate(t, e, "alice")
	e.h.mu.RLock()
	n := e.h.perUser["alice"]
	e.h.mu.RUnlock()
	if n != 2 {
		t.Fatalf("alice counted %d connections, want 2", n)
	}
}

func TestAllowNegotiateRefusesWithRetryAfter(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.AllowNegotiate = func(user string) (bool, time.Duration) {
			return user != "carol", 1500 * time.Millisecond
		}
	})
	if st, ra := negotiateStatus(t, e, "carol"); st != http.StatusTooManyRequests || ra != "2" {
		t.Fatalf("refused negotiate: %d Retry-After %q, want 429 and 2", st, ra)
	}
	if st := dialStatus(t, wsURL(e)+"?access_token=tok-carol"); st != http.StatusTooManyRequests {
		t.Fatalf("refused WebSocket without negotiate: %d, want 429", st)
	}
	negotiate(t, e, "alice")
}
