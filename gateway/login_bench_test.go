package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// benchTokens signs n product JWTs for n distinct users, as a login storm brings them.
func benchTokens(b *testing.B, n int) []string {
	b.Helper()
	toks := make([]string, n)
	for i := range toks {
		c := baseClaims()
		c["sub"] = fmt.Sprintf("p-user-%d", i)
		c["preferred_username"] = fmt.Sprintf("user%d", i)
		toks[i] = signHS(b, c, testSecret)
	}
	return toks
}

// BenchmarkHubLogin is the gateway's share of one browser tab's login on the hub, as
// @microsoft/signalr makes it: negotiate with the JWT in Authorization, then the WebSocket
// request with the connection token and the JWT in the query. Each iteration is a new user
// (a distinct token); the hub is a fake that only authenticates, so what is measured is the
// gateway's routing, access log (redactQuery) and authentication of both requests.
func BenchmarkHubLogin(b *testing.B) {
	rc := rctest.New(rctest.Options{})
	defer rc.Close()
	cfg := productConfig(rc)
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	hub := &fakeHub{}
	srv, err := New(Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Hub: hub, Sessions: &fakeSessions{rc: rc, kick: hub.Kick, cr: map[string]rocketchat.Credentials{}}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Close(context.Background()) }()
	hub.auth = srv.authenticate
	h := srv.Handler()
	toks := benchTokens(b, b.N)
	do := func(r *http.Request) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s %s: %d %s", r.Method, r.URL, w.Code, w.Body)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := httptest.NewRequest(http.MethodPost, "/signalr/negotiate?negotiateVersion=1", nil)
		r.Header.Set("Authorization", "Bearer "+toks[i])
		do(r)
		r = httptest.NewRequest(http.MethodGet, "/signalr?id=Y29ubmVjdGlvbi10b2tlbi0xMjM0NTY3OA&access_token="+toks[i], nil)
		do(r)
	}
}

// BenchmarkVerify is one Verify of a token seen for the first time (miss) and of the same
// token again (hit: the second request of a tab, the WebSocket after negotiate).
func BenchmarkVerify(b *testing.B) {
	newV := func(b *testing.B) *JWTVerifier {
		v, err := NewJWTVerifier(JWTOptions{HS256Secret: testSecret, Issuer: "product", Audience: []string{"im-gateway"}})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	ctx := context.Background()
	b.Run("miss", func(b *testing.B) {
		v, toks := newV(b), benchTokens(b, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := v.Verify(ctx, toks[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hit", func(b *testing.B) {
		v, tok := newV(b), benchTokens(b, 1)[0]
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRedactQuery is the access log's rendering of a hub path: negotiate (no secret in
// the query) and the WebSocket request (access_token to mask).
func BenchmarkRedactQuery(b *testing.B) {
	tok := benchTokens(b, 1)[0]
	for _, c := range []struct{ name, url string }{
		{"negotiate", "/signalr/negotiate?negotiateVersion=1"},
		{"websocket", "/signalr?id=Y29ubmVjdGlvbi10b2tlbi0xMjM0NTY3OA&access_token=" + tok},
	} {
		b.Run(c.name, func(b *testing.B) {
			u := httptest.NewRequest(http.MethodGet, c.url, nil).URL
			b.ReportAllocs()
			for range b.N {
				_ = redactQuery(u)
			}
		})
	}
}
