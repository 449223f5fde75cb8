package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/internal/apitest"
)

// httpSeries counts the label sets of the gateway's HTTP metrics.
func httpSeries(t *testing.T, f *fixture) int {
	t.Helper()
	mfs, err := f.srv.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "rcgw_http_") {
			n += len(mf.GetMetric())
		}
	}
	return n
}

func rawRequest(t *testing.T, method, url string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestMetricsLabelsAreBounded sends 5,000 requests with invented methods and paths and
// expects no new metric series: labels come from route templates and a fixed method set.
func TestMetricsLabelsAreBounded(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Limits.RESTPerSecond = 0 })
	alice := f.token("alice")
	shapes := func(i int) {
		rawRequest(t, fmt.Sprintf("INVENTED%d", i), f.http.URL+"/api/im/me", "Authorization", "Bearer "+alice)
		rawRequest(t, "GET", fmt.Sprintf("%s/nothing/here/%d", f.http.URL, i))
		rawRequest(t, fmt.Sprintf("X%d", i), fmt.Sprintf("%s/api/invented/%d", f.http.URL, i))
		rawRequest(t, "POST", fmt.Sprintf("%s/signalr/%d/negotiate", f.http.URL, i))
		rawRequest(t, "GET", fmt.Sprintf("%s/api/v1/x%d", f.http.URL, i), "Authorization", "Bearer "+alice)
	}
	shapes(0)
	before := httpSeries(t, f)
	for i := 1; i <= 1000; i++ {
		shapes(i) // 5 requests each
	}
	if after := httpSeries(t, f); after != before {
		t.Fatalf("5,000 requests with invented methods and paths grew the HTTP series from %d to %d", before, after)
	}
}

// logLine finds the access log line of the request with the given X-Request-Id.
func logLine(t *testing.T, f *fixture, requestID string) map[string]any {
	t.Helper()
	// The access log line is written before the answer is flushed to the client.
	sc := bufio.NewScanner(bytes.NewReader(f.logs.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "http" && m["request_id"] == requestID {
			return m
		}
	}
	t.Fatalf("no access log line for %s", requestID)
	return nil
}

// TestForwardedForOnlyFromTrustedProxies: X-Forwarded-For and X-Real-IP from a peer that
// is not a configured proxy are ignored; from a configured proxy they name the client.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	spoof := []string{"X-Forwarded-For", "203.0.113.7", "X-Real-IP", "203.0.113.8"}
	f := newFixture(t, nil)
	rawRequest(t, "GET", f.http.URL+"/healthz", append([]string{"X-Request-Id", "untrusted-xff"}, spoof...)...)
	if got := logLine(t, f, "untrusted-xff")["remote"]; got != "127.0.0.1" {
		t.Fatalf("untrusted peer with X-Forwarded-For: remote %v, want the peer 127.0.0.1", got)
	}
	rawRequest(t, "GET", f.http.URL+"/healthz", "X-Request-Id", "untrusted-real", "X-Real-IP", "203.0.113.8")
	if got := logLine(t, f, "untrusted-real")["remote"]; got != "127.0.0.1" {
		t.Fatalf("untrusted peer with X-Real-IP: remote %v, want the peer 127.0.0.1", got)
	}

	f = newFixture(t, func(c *config.Config) { c.HTTP.TrustedProxies = []string{"127.0.0.1/32"} })
	rawRequest(t, "GET", f.http.URL+"/healthz", append([]string{"X-Request-Id", "trusted-xff"}, spoof...)...)
	if got := logLine(t, f, "trusted-xff")["remote"]; got != "203.0.113.7" {
		t.Fatalf("trusted proxy with X-Forwarded-For: remote %v, want 203.0.113.7", got)
	}
	// A client behind the proxy cannot prepend a fake hop: the nearest untrusted one wins.
	rawRequest(t, "GET", f.http.URL+"/healthz", "X-Request-Id", "trusted-chain", "X-Forwarded-For", "198.51.100.1, 203.0.113.7")
	if got := logLine(t, f, "trusted-chain")["remote"]; got != "203.0.113.7" {
		t.Fatalf("trusted proxy, two hops: remote %v, want 203.0.113.7", got)
	}
	rawRequest(t, "GET", f.http.URL+"/healthz", "X-Request-Id", "trusted-real", "X-Real-IP", "203.0.113.8")
	if got := logLine(t, f, "trusted-real")["remote"]; got != "203.0.113.8" {
		t.Fatalf("trusted proxy with X-Real-IP: remote %v, want 203.0.113.8", got)
	}
}

// TestHubOriginCheck: a browser Origin that is neither the gateway's own nor in
// http.cors_origins is refused with 403 on negotiate and on the WebSocket upgrade.
func TestHubOriginCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		origins []string
		allowed []string
		refused []string
	}{
		{"default", nil, nil, []string{"https://app.example", "https://evil.example", "null"}},
		{"listed", []string{"https://app.example"}, []string{"https://app.example"}, []string{"https://evil.example", "http://app.example", "https://app.example.evil.example"}},
		{"wildcard", []string{"*"}, []string{"https://app.example", "https://evil.example"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *config.Config) { c.HTTP.CORSOrigins = tc.origins })
			tok := f.token("alice")
			same := f.http.URL // http://127.0.0.1:port: the gateway's own origin
			check := func(origin string, want int) {
				t.Helper()
				hdr := []string{}
				if origin != "" {
					hdr = append(hdr, "Origin", origin)
				}
				if st := rawRequest(t, "POST", f.http.URL+"/signalr/negotiate?negotiateVersion=1&access_token="+tok, hdr...).StatusCode; st != want {
					t.Errorf("negotiate with Origin %q: %d, want %d", origin, st, want)
				}
				ws := append(hdr, "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
				if st := rawRequest(t, "GET", f.http.URL+"/signalr?id=abc&access_token="+tok, ws...).StatusCode; st != want {
					t.Errorf("upgrade with Origin %q: %d, want %d", origin, st, want)
				}
			}
			check("", http.StatusOK)
			check(same, http.StatusOK)
			for _, o := range tc.allowed {
				check(o, http.StatusOK)
			}
			for _, o := range tc.refused {
				check(o, http.StatusForbidden)
			}
		})
	}
}

// TestAdminPushRefusesInvalidUTF8: a payload with bytes that are not UTF-8 is refused
// with 400 instead of being passed on raw to JSON clients.
func TestAdminPushRefusesInvalidUTF8(t *testing.T) {
	f := newFixture(t, nil)
	body := []byte("{\"target\":\"orderShipped\",\"payload\":{\"note\":\"caf\xe9 \xff\"}}")
	var e map[string]string
	if st := f.do("POST", "/api/admin/users/c1/push", "", body, &e, "X-API-Key", testAPIKey); st != http.StatusBadRequest || e["error"] != "bad_request" {
		t.Fatalf("push with invalid UTF-8: %d %v", st, e)
	}
	if st := f.do("POST", "/api/admin/users/c1/push", "", []byte(`{"target":"orderShipped","payload":{"note":"café \u00ff 李雷"}}`), nil, "X-API-Key", testAPIKey); st != http.StatusAccepted {
		t.Fatalf("push with valid UTF-8: %d", st)
	}
	f.hub.mu.Lock()
	defer f.hub.mu.Unlock()
	if len(f.hub.sent) != 1 {
		t.Fatalf("hub saw %q, want only the valid push", f.hub.sent)
	}
}

// TestMessageIDSquattingRefused: bob stores a message under the _id that alice's client
// id "c-9" maps to (the passthrough lets him pick _id); alice's send with that client id
// must be refused, never answered with bob's message. Her own resend still works.
func TestMessageIDSquattingRefused(t *testing.T) {
	f := newFixture(t, nil)
	alice, bob := f.token("alice"), f.token("bob")
	var rooms struct{ Rooms []room }
	if st := f.do("GET", "/api/im/rooms", alice, nil, &rooms); st != 200 || len(rooms.Rooms) == 0 {
		t.Fatalf("rooms: %d %+v", st, rooms)
	}
	rid := rooms.Rooms[0].ID
	squatted := messageID(f.rc.UserID("alice"), "c-9")
	var planted struct{ Message map[string]any }
	if st := f.do("POST", "/api/v1/chat.sendMessage", bob, map[string]any{"message": map[string]string{"_id": squatted, "rid": rid, "msg": "bob's words"}}, &planted); st != 200 {
		t.Fatalf("bob plants %s: %d %v", squatted, st, planted)
	}
	status, b := apitest.Do(t, "POST", f.http.URL+"/api/im/rooms/"+rid+"/messages", alice, map[string]string{"id": "c-9", "text": "alice's words"}, nil)
	var e map[string]string
	_ = json.Unmarshal(b, &e)
	if status != http.StatusConflict || e["error"] != "message_id_taken" || strings.Contains(string(b), "bob's words") {
		t.Fatalf("send on a squatted id: %d %s", status, b)
	}
	// Alice's own id sent twice is still idempotent.
	var first, again struct{ Message map[string]any }
	if st := f.do("POST", "/api/im/rooms/"+rid+"/messages", alice, map[string]string{"id": "c-10", "text": "hi"}, &first); st != 201 {
		t.Fatalf("send: %d", st)
	}
	if st := f.do("POST", "/api/im/rooms/"+rid+"/messages", alice, map[string]string{"id": "c-10", "text": "hi"}, &again); st != 201 || again.Message["_id"] != first.Message["_id"] {
		t.Fatalf("resend: %d %v", st, again)
	}
}

// TestSecurityHeaders: the API, the operations endpoints and unknown paths carry CSP,
// framing, sniffing and referrer headers.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/healthz", "/api/im/me", "/api/nothing", "/openapi.yaml", "/"} {
		h := rawRequest(t, "GET", f.http.URL+p, "Authorization", "Bearer "+f.token("alice")).Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", p, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
}

// TestRESTRateLimitPerUser: past limits.rest_burst a user gets 429 with Retry-After;
// another user is not affected.
func TestRESTRateLimitPerUser(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Limits.RESTPerSecond, c.Limits.RESTBurst = 1, 3 })
	alice, bob := f.token("alice"), f.token("bob")
	for i := range 3 {
		if st := f.do("GET", "/api/im/me", alice, nil, nil); st != 200 {
			t.Fatalf("request %d within the burst: %d", i, st)
		}
	}
	resp := rawRequest(t, "GET", f.http.URL+"/api/v1/me", "Authorization", "Bearer "+alice)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the burst: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if st := f.do("GET", "/api/im/me", bob, nil, nil); st != 200 {
		t.Fatalf("another user: %d", st)
	}
}

func TestLimiterRefillsAndStaysBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newLimiter(2, 4, 100)
	l.now = func() time.Time { return now }
	for i := range 4 {
		if ok, _ := l.allow("u"); !ok {
			t.Fatalf("token %d refused", i)
		}
	}
	if ok, wait := l.allow("u"); ok || wait != 500*time.Millisecond {
		t.Fatalf("empty bucket: %v %v, want refused for 500ms", ok, wait)
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.allow("u"); !ok {
		t.Fatal("refilled token refused")
	}
	// Many users, each seen once: idle ones are forgotten and the map stays under its cap.
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.allow(fmt.Sprint("user-", i))
		if n := l.size(); n > 100 {
			t.Fatalf("limiter holds %d keys, cap 100", n)
		}
	}
	// Once everyone's bucket has refilled, a sweep forgets them all.
	now = now.Add(time.Hour)
	l.allow("last")
	if n := l.size(); n != 1 {
		t.Fatalf("after an idle hour the limiter holds %d keys, want 1", n)
	}
}

// TestAdminListenerServesOperationsEndpoints: with http.admin_listen set, /metrics and
// /version answer there and not on the public listener.
func TestAdminListenerServesOperationsEndpoints(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := free.Addr().String()
	free.Close()
	f := newFixture(t, func(c *config.Config) { c.HTTP.AdminListen = adminAddr })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	}()
	public := "http://" + ln.Addr().String()
	for _, p := range []string{"/metrics", "/version"} {
		if st := rawRequest(t, "GET", public+p).StatusCode; st != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404", p, st)
		}
		if st := rawRequest(t, "GET", f.http.URL+p).StatusCode; st != http.StatusNotFound {
			t.Errorf("public handler %s: %d, want 404", p, st)
		}
	}
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "rcgw_build_info") {
		t.Fatalf("admin /metrics: %d", resp.StatusCode)
	}
	var v map[string]string
	if st, _ := apitest.Do(t, "GET", "http://"+adminAddr+"/version", "", nil, &v); st != 200 || v["version"] != "dev" {
		t.Fatalf("admin /version: %d %v", st, v)
	}
}
