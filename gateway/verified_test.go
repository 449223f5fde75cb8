package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// clockVerifier is a verifier on a clock the test moves.
func clockVerifier(t *testing.T, now *time.Time, o JWTOptions) *JWTVerifier {
	t.Helper()
	o.HS256Secret, o.Now = testSecret, func() time.Time { return *now }
	v, err := NewJWTVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// timedToken is a token issued at iat that expires at exp (Unix seconds).
func timedToken(t *testing.T, iat, exp int64) string {
	c := baseClaims()
	c["iat"], c["exp"] = iat, exp
	return signHS(t, c, testSecret)
}

// A tab's second request with the same token is answered from the cache: no parse.
func TestVerifyRemembersAVerifiedToken(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	v := clockVerifier(t, &now, JWTOptions{})
	tok := timedToken(t, now.Unix(), now.Unix()+3600)
	ctx := context.Background()
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(DefaultVerifiedTTL - time.Second)
	second, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if second != first || first.UserID != "42" {
		t.Fatalf("cached identity %+v, verified %+v", second, first)
	}
	if n := v.parses.Load(); n != 1 {
		t.Fatalf("%d parses for two Verify of one token, want 1", n)
	}
	// Past the TTL the token is verified in full again.
	now = now.Add(2 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := v.parses.Load(); n != 2 {
		t.Fatalf("%d parses after the TTL, want 2", n)
	}
}

// A remembered token is refused once its exp (plus leeway) has passed, however long the TTL.
func TestVerifyRefusesACachedTokenPastExp(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	v := clockVerifier(t, &now, JWTOptions{Leeway: 5 * time.Second, CacheTTL: time.Hour})
	tok := timedToken(t, now.Unix(), now.Unix()+60)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	now = now.Add(59 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil || v.parses.Load() != 1 {
		t.Fatalf("before exp: %v, %d parses (want a hit)", err, v.parses.Load())
	}
	now = now.Add(7 * time.Second) // exp + leeway + 1 s
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a cached token past exp+leeway: err = %v", err)
	}
}

// The cache's own checks, each alone: an entry is not kept past the token's exp, and get
// refuses an entry whose exp+leeway, nbf or iat does not hold at now even when the entry
// itself is still in time (a clock that moved back, or an entry kept too long).
func TestVerifiedCacheChecksTimes(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	key := sha256.Sum256([]byte("a token"))
	c := newVerifiedCache(time.Hour, 8)
	c.put(key, Identity{UserID: "u", Expires: now.Add(time.Minute)}, time.Time{}, now)
	if e := c.m[key]; !e.until.Equal(now.Add(time.Minute)) {
		t.Fatalf("entry kept until %v, want the token's exp %v", e.until, now.Add(time.Minute))
	}
	old := sha256.Sum256([]byte("an expired token"))
	c.put(old, Identity{UserID: "u", Expires: now.Add(-time.Second)}, time.Time{}, now)
	if _, ok := c.m[old]; ok {
		t.Fatal("a token past its exp was put")
	}

	far := now.Add(time.Hour)
	for name, e := range map[string]verifiedEntry{
		"past exp+leeway": {id: Identity{UserID: "u", Expires: now.Add(-6 * time.Second)}, until: far},
		"before nbf":      {id: Identity{UserID: "u", Expires: far}, nbf: now.Add(6 * time.Second), until: far},
		"before iat":      {id: Identity{UserID: "u", Expires: far, IssuedAt: now.Add(6 * time.Second)}, until: far},
		"past until":      {id: Identity{UserID: "u", Expires: far}, until: now},
	} {
		c := newVerifiedCache(time.Hour, 8)
		c.m[key] = e
		if id, ok := c.get(key, now, 5*time.Second); ok {
			t.Errorf("%s: hit %+v", name, id)
		}
		if _, ok := c.m[key]; ok {
			t.Errorf("%s: entry kept", name)
		}
	}
	// Within the leeway each still holds.
	c = newVerifiedCache(time.Hour, 8)
	c.m[key] = verifiedEntry{id: Identity{UserID: "u", Expires: now.Add(-4 * time.Second), IssuedAt: now.Add(4 * time.Second)}, nbf: now.Add(4 * time.Second), until: far}
	if _, ok := c.get(key, now, 5*time.Second); !ok {
		t.Error("within the leeway: miss")
	}
}

// A token differing from a remembered one in one byte is verified in full, and refused when
// its signature does not hold.
func TestVerifyCachedTokenTampered(t *testing.T) {
	v, err := NewJWTVerifier(JWTOptions{HS256Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := signHS(t, baseClaims(), testSecret)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// One byte in the middle of the signature (the last character may only carry padding bits).
	i := len(tok) - 10
	b := []byte(tok)
	b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
	for name, bad := range map[string]string{"signature": string(b), "payload": tamper(tok), "appended": tok + "A"} {
		before := v.parses.Load()
		if _, err := v.Verify(ctx, bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s tampered after the genuine token was cached: err = %v", name, err)
		}
		if v.parses.Load() != before+1 {
			t.Errorf("%s: not verified in full", name)
		}
	}
}

// Failures are never remembered: each costs a full verification.
func TestVerifyFailuresNotCached(t *testing.T) {
	v, err := NewJWTVerifier(JWTOptions{HS256Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, tok := range map[string]string{
		"wrong key":   signHS(t, baseClaims(), []byte("another-secret-another-secret-another")),
		"bad subject": signHS(t, with(baseClaims(), "sub", "a\tb"), testSecret),
		"expired":     signHS(t, with(baseClaims(), "exp", time.Now().Add(-time.Hour).Unix()), testSecret),
	} {
		before := v.parses.Load()
		for range 3 {
			if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("%s: err = %v", name, err)
			}
		}
		if n := v.parses.Load() - before; n != 3 {
			t.Errorf("%s: %d parses for 3 Verify, want 3", name, n)
		}
	}
	if n := v.cache.len(); n != 0 {
		t.Errorf("%d entries after failures only", n)
	}
}

// A flood of distinct valid tokens does not grow the cache past its size.
func TestVerifiedCacheBounded(t *testing.T) {
	v, err := NewJWTVerifier(JWTOptions{HS256Secret: testSecret, CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 100 {
		c := baseClaims()
		c["sub"] = fmt.Sprintf("u%d", i)
		if _, err := v.Verify(ctx, signHS(t, c, testSecret)); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.len(); n > 8 {
			t.Fatalf("after %d tokens: %d entries, want at most 8", i+1, n)
		}
	}
}

// A negative CacheTTL turns the cache off.
func TestVerifyCacheOff(t *testing.T) {
	v, err := NewJWTVerifier(JWTOptions{HS256Secret: testSecret, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	tok := signHS(t, baseClaims(), testSecret)
	for range 2 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.parses.Load(); n != 2 {
		t.Fatalf("%d parses with the cache off, want 2", n)
	}
}

// A hub login (negotiate, then the WebSocket request with the same JWT) verifies the token
// once; admission still runs at each negotiate, so a user deleted after its token was
// cached is refused there.
func TestHubLoginVerifiesOnce(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token("carol")
	if st := f.do("PUT", "/api/admin/users/p-carol", "", map[string]string{"username": "carol", "name": "Carol"}, nil, "X-API-Key", testAPIKey); st != 200 {
		t.Fatalf("upsert: %d", st)
	}
	serve := func(method, url string, hdr ...string) int {
		r := httptest.NewRequest(method, url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(w, r)
		return w.Code
	}
	before := f.srv.verifier.parses.Load()
	if st := serve(http.MethodPost, "/signalr/negotiate?negotiateVersion=1", "Authorization", "Bearer "+tok); st != 200 {
		t.Fatalf("negotiate: %d", st)
	}
	if st := serve(http.MethodGet, "/signalr?id=conn-token-1&access_token="+tok); st != 200 {
		t.Fatalf("websocket request: %d", st)
	}
	if n := f.srv.verifier.parses.Load() - before; n != 1 {
		t.Fatalf("%d parses for one tab's login, want 1", n)
	}
	if st := f.do("DELETE", "/api/admin/users/p-carol", "", nil, nil, "X-API-Key", testAPIKey); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if st := serve(http.MethodPost, "/signalr/negotiate?negotiateVersion=1", "Authorization", "Bearer "+tok); st != http.StatusUnauthorized {
		t.Fatalf("negotiate with a cached token of a deleted user: %d, want 401", st)
	}
}
