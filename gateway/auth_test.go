package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rcgateway/rcgateway/session"
)

var testSecret = []byte("test-secret-test-secret-test-secret!")

func signHS(t testing.TB, claims jwt.MapClaims, key []byte) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func baseClaims() jwt.MapClaims {
	return jwt.MapClaims{"sub": "42", "preferred_username": "alice", "name": "Alice", "iss": "product", "aud": "im-gateway", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
}

func TestJWTVerifier(t *testing.T) {
	v, err := NewJWTVerifier(JWTOptions{HS256Secret: testSecret, Issuer: "product", Audience: []string{"im-gateway"}, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := v.Verify(ctx, signHS(t, baseClaims(), testSecret))
	if err != nil || id.UserID != "42" || id.Username != "alice" || id.Name != "Alice" {
		t.Fatalf("good token: %+v %v", id, err)
	}

	// ABP shape: numeric id only in the NameIdentifier claim, name in ABP's name claim.
	abp := baseClaims()
	delete(abp, "sub")
	delete(abp, "preferred_username")
	abp[claimNameIdentifier] = 7
	abp[claimABPName] = "admin"
	id, err = v.Verify(ctx, signHS(t, abp, testSecret))
	if err != nil || id.UserID != "7" || id.Username != "admin" {
		t.Fatalf("ABP token: %+v %v", id, err)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rs, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, baseClaims()).SignedString(rsaKey)
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, baseClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)

	bad := map[string]string{
		"expired":       signHS(t, with(baseClaims(), "exp", time.Now().Add(-time.Hour).Unix()), testSecret),
		"no exp":        signHS(t, with(baseClaims(), "exp", nil), testSecret),
		"wrong key":     signHS(t, baseClaims(), []byte("another-secret-another-secret-another")),
		"alg none":      noneTok,
		"rs256 unknown": rs,
		"wrong aud":     signHS(t, with(baseClaims(), "aud", "someone-else"), testSecret),
		"no aud":        signHS(t, with(baseClaims(), "aud", nil), testSecret),
		"wrong iss":     signHS(t, with(baseClaims(), "iss", "evil"), testSecret),
		"no subject":    signHS(t, with(baseClaims(), "sub", nil), testSecret),
		"future iat":    signHS(t, with(baseClaims(), "iat", time.Now().Add(time.Hour).Unix()), testSecret),
		"not before":    signHS(t, with(baseClaims(), "nbf", time.Now().Add(time.Hour).Unix()), testSecret),
		"garbage":       "a.b.c",
		"empty":         "",
		"tampered":      tamper(signHS(t, baseClaims(), testSecret)),
	}
	for name, tok := range bad {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
	// Leeway: expired 10 s ago passes with 30 s leeway.
	if _, err := v.Verify(ctx, signHS(t, with(baseClaims(), "exp", time.Now().Add(-10*time.Second).Unix()), testSecret)); err != nil {
		t.Errorf("within leeway: %v", err)
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"42"`, `"43"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestRS256PEMAndJWKS(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&k1.PublicKey)
	keys, err := ParseRSAPublicKeys(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pv, err := NewJWTVerifier(JWTOptions{RSAKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, baseClaims()).SignedString(k1)
	if _, err := pv.Verify(ctx, tok); err != nil {
		t.Fatalf("PEM key: %v", err)
	}
	// HS256 signed with the public key bytes (key confusion) must fail.
	if _, err := pv.Verify(ctx, signHS(t, baseClaims(), der)); err == nil {
		t.Fatal("HS256 accepted by an RS256-only verifier")
	}

	// JWKS: k1 served first; k2 appears later and is found by refresh-on-unknown-kid.
	var served atomic.Value
	served.Store([]*rsa.PublicKey{k1.Public().(*rsa.PublicKey)})
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		for i, k := range served.Load().([]*rsa.PublicKey) {
			set.Keys = append(set.Keys, map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": []string{"k1", "k2"}[i],
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	now := time.Now()
	j := NewJWKS(JWKSOptions{URL: srv.URL, MinInterval: time.Minute})
	j.now = func() time.Time { return now }
	jv, _ := NewJWTVerifier(JWTOptions{JWKS: j})
	sign := func(k *rsa.PrivateKey, kid string) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodRS256, baseClaims())
		tk.Header["kid"] = kid
		s, _ := tk.SignedString(k)
		return s
	}
	if _, err := jv.Verify(ctx, sign(k1, "k1")); err != nil {
		t.Fatalf("jwks k1: %v", err)
	}
	served.Store([]*rsa.PublicKey{k1.Public().(*rsa.PublicKey), k2.Public().(*rsa.PublicKey)})
	// Within MinInterval the unknown kid does not trigger a fetch (rate limit).
	if _, err := jv.Verify(ctx, sign(k2, "k2")); err == nil {
		t.Fatal("k2 accepted before refresh")
	}
	if fetches.Load() != 1 {
		t.Fatalf("fetches = %d, want 1 (rate limited)", fetches.Load())
	}
	now = now.Add(2 * time.Minute)
	if _, err := jv.Verify(ctx, sign(k2, "k2")); err != nil {
		t.Fatalf("jwks k2 after refresh: %v", err)
	}
	if fetches.Load() != 2 {
		t.Fatalf("fetches = %d, want 2", fetches.Load())
	}
	// A kid signed by the wrong key fails.
	if _, err := jv.Verify(ctx, sign(k2, "k1")); err == nil {
		t.Fatal("wrong key for kid accepted")
	}
}

func TestAPIKeys(t *testing.T) {
	a := NewAPIKeys([]string{"key-one-0123456789", "", "key-two-0123456789"})
	for k, want := range map[string]bool{"key-one-0123456789": true, "key-two-0123456789": true, "": false, "key-one": false, "key-one-0123456789x": false} {
		if a.Check(k) != want {
			t.Errorf("Check(%q) = %v", k, !want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	r := httptest.NewRequest("GET", "/signalr?access_token=q", nil)
	if bearerToken(r, nil) != "" || bearerToken(r, r.URL.Query()) != "q" {
		t.Fatal("query token handling")
	}
	r.Header.Set("Authorization", "Bearer h")
	if bearerToken(r, r.URL.Query()) != "h" {
		t.Fatal("header wins")
	}
	r.Header.Set("Authorization", "Basic x")
	if bearerToken(r, r.URL.Query()) != "" {
		t.Fatal("basic accepted")
	}
}

func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseJWKS(strings.NewReader(string(b)))
	})
}

func FuzzVerify(f *testing.F) {
	v, _ := NewJWTVerifier(JWTOptions{HS256Secret: testSecret})
	f.Add(signHS(f, baseClaims(), testSecret))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		_, _ = v.Verify(context.Background(), tok)
	})
}

// The subject is bounded and clean; iat and exp are kept; the name falls back to the
// username claim, which stays display data.
func TestJWTVerifierSubjectAndTimes(t *testing.T) {
	v, err := NewJWTVerifier(JWTOptions{HS256Secret: testSecret, Now: func() time.Time { return time.Unix(1_900_000_100, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := baseClaims()
	c["sub"], c["iat"], c["exp"] = "李雷", int64(1_900_000_000), int64(1_900_003_600)
	delete(c, "name")
	id, err := v.Verify(ctx, signHS(t, c, testSecret))
	if err != nil || id.UserID != "李雷" || id.Name != "alice" || !id.IssuedAt.Equal(time.Unix(1_900_000_000, 0)) || !id.Expires.Equal(time.Unix(1_900_003_600, 0)) {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
	for _, sub := range []string{strings.Repeat("x", 256), "a\tb", "\x7f", "a\u2028b\x00"} {
		c := baseClaims()
		c["sub"], c["iat"], c["exp"] = sub, int64(1_900_000_000), int64(1_900_003_600)
		if _, err := v.Verify(ctx, signHS(t, c, testSecret)); !errors.Is(err, ErrUnauthenticated) || !errors.Is(err, session.ErrInvalidSubject) {
			t.Errorf("sub %q: err = %v, want ErrInvalidSubject", sub, err)
		}
	}
}
