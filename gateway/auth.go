package gateway

import (
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rcgateway/rcgateway/session"
)

// Identity is the product user a verified JWT names. UserID (the subject) alone says who
// the user is; the names are display data.
type Identity struct {
	UserID   string // product user id: the token's subject (docs/identity.md)
	Username string // product user name ("" when the token carries none); display only
	Name     string // display name: the name claim, else Username
	Email    string
	IssuedAt time.Time // the token's iat (zero when it has none)
	Expires  time.Time // the token's exp
}

// ErrUnauthenticated is returned for a missing, malformed, expired, wrongly signed or
// otherwise unacceptable credential. The detail is for logs, never for the caller.
var ErrUnauthenticated = errors.New("unauthenticated")

// JWTOptions configures a JWTVerifier (translated from config.JWT by the gateway).
type JWTOptions struct {
	HS256Secret   []byte
	RSAKeys       []*rsa.PublicKey // from a PEM file
	JWKS          *JWKS            // optional
	Issuer        string
	Audience      []string
	Leeway        time.Duration
	UserIDClaim   string // default "sub" (then ABP's NameIdentifier)
	UsernameClaim string // default preferred_username, ABP name, unique_name
	Now           func() time.Time
	// CacheTTL is how long a verified token is remembered (default DefaultVerifiedTTL;
	// negative: not at all); CacheSize bounds how many (default DefaultVerifiedSize).
	CacheTTL  time.Duration
	CacheSize int
}

// JWTVerifier validates product JWTs: pinned algorithms, exp required, issuer, audience and
// leeway checked. It remembers the tokens that verified for a short while (verifiedCache),
// so a browser tab's requests after negotiate do not parse and check the signature again.
type JWTVerifier struct {
	opts   JWTOptions
	parser *jwt.Parser
	cache  *verifiedCache // nil: off
	parses atomic.Int64   // full verifications (parse and signature check) done
}

const (
	claimNameIdentifier = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
	claimABPName        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimEmailAddress   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
)

// NewJWTVerifier returns a verifier; it fails when no key source is configured.
func NewJWTVerifier(o JWTOptions) (*JWTVerifier, error) {
	var methods []string
	if len(o.HS256Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if len(o.RSAKeys) > 0 || o.JWKS != nil {
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	if len(methods) == 0 {
		return nil, errors.New("gateway: jwt: no key source (hs256 secret, RSA PEM or JWKS)")
	}
	if o.UserIDClaim == "" {
		o.UserIDClaim = "sub"
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(o.Leeway),
		jwt.WithJSONNumber(),
	}
	if o.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(o.Issuer))
	}
	if len(o.Audience) > 0 {
		popts = append(popts, jwt.WithAudience(o.Audience...))
	}
	if o.Now != nil {
		popts = append(popts, jwt.WithTimeFunc(o.Now))
	}
	v := &JWTVerifier{opts: o, parser: jwt.NewParser(popts...)}
	if o.CacheTTL >= 0 {
		v.cache = newVerifiedCache(cmp.Or(o.CacheTTL, DefaultVerifiedTTL), cmp.Or(o.CacheSize, DefaultVerifiedSize))
	}
	return v, nil
}

func (v *JWTVerifier) now() time.Time {
	if v.opts.Now != nil {
		return v.opts.Now()
	}
	return time.Now()
}

// Verify checks a compact JWT and returns the identity it names. Every failure wraps
// ErrUnauthenticated.
//
// A token byte-for-byte identical to one that verified in the last CacheTTL is not parsed
// again: its exp, nbf and iat are checked against the clock (with the leeway) as the parser
// would, and its identity is returned. Failures are never remembered. A key removed from
// the JWKS stops the tokens it signed at the latest CacheTTL later.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, fmt.Errorf("%w: no token", ErrUnauthenticated)
	}
	if v.cache == nil {
		id, _, err := v.verify(ctx, token)
		return id, err
	}
	key := sha256.Sum256([]byte(token))
	now := v.now()
	if id, ok := v.cache.get(key, now, v.opts.Leeway); ok {
		return id, nil
	}
	id, nbf, err := v.verify(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	v.cache.put(key, id, nbf, now)
	return id, nil
}

// verify parses and checks a token; it also returns the token's nbf (zero when none).
func (v *JWTVerifier) verify(ctx context.Context, token string) (Identity, time.Time, error) {
	v.parses.Add(1)
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		switch t.Method.(type) {
		case *jwt.SigningMethodHMAC:
			if len(v.opts.HS256Secret) == 0 {
				return nil, errors.New("hmac not configured")
			}
			return v.opts.HS256Secret, nil
		case *jwt.SigningMethodRSA:
			kid, _ := t.Header["kid"].(string)
			var keys []jwt.VerificationKey
			if v.opts.JWKS != nil && kid != "" {
				k, err := v.opts.JWKS.Key(ctx, kid)
				if err == nil {
					return k, nil
				}
				if len(v.opts.RSAKeys) == 0 {
					return nil, err
				}
			}
			for _, k := range v.opts.RSAKeys {
				keys = append(keys, k)
			}
			if v.opts.JWKS != nil && kid == "" {
				for _, k := range v.opts.JWKS.All() {
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				return nil, errors.New("no RSA key")
			}
			return jwt.VerificationKeySet{Keys: keys}, nil
		}
		return nil, fmt.Errorf("unexpected method %v", t.Header["alg"])
	})
	if err != nil {
		return Identity{}, time.Time{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	id := Identity{UserID: claimString(claims, v.opts.UserIDClaim)}
	if id.UserID == "" && v.opts.UserIDClaim == "sub" {
		id.UserID = claimString(claims, claimNameIdentifier)
	}
	if id.UserID == "" {
		return Identity{}, time.Time{}, fmt.Errorf("%w: no user id claim %q", ErrUnauthenticated, v.opts.UserIDClaim)
	}
	if err := session.ValidateSubject(id.UserID); err != nil {
		return Identity{}, time.Time{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if iat, err := claims.GetIssuedAt(); err == nil && iat != nil {
		id.IssuedAt = iat.Time
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.Expires = exp.Time
	}
	if v.opts.UsernameClaim != "" {
		id.Username = claimString(claims, v.opts.UsernameClaim)
	} else {
		for _, c := range []string{"preferred_username", claimABPName, "unique_name", "name"} {
			if id.Username = claimString(claims, c); id.Username != "" {
				break
			}
		}
	}
	id.Name = claimString(claims, "name")
	if id.Name == "" {
		id.Name = id.Username
	}
	id.Email = claimString(claims, "email")
	if id.Email == "" {
		id.Email = claimString(claims, claimEmailAddress)
	}
	var nbf time.Time
	if t, err := claims.GetNotBefore(); err == nil && t != nil {
		nbf = t.Time
	}
	return id, nbf, nil
}

// claimString reads a string or integral number claim.
func claimString(c jwt.MapClaims, name string) string {
	switch v := c[name].(type) {
	case string:
		return v
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return v.String()
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return strconv.FormatInt(int64(v), 10)
		}
	}
	return ""
}

// bearerToken takes the token from "Authorization: Bearer", or, when query is not nil (the
// request's parsed query, on hub paths only), from the access_token query parameter as
// browsers' WebSockets send it.
func bearerToken(r *http.Request, query url.Values) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return query.Get("access_token")
}

// APIKeys checks X-API-Key against the configured keys in constant time.
type APIKeys struct{ keys [][]byte }

// NewAPIKeys copies keys; empty keys are ignored.
func NewAPIKeys(keys []string) *APIKeys {
	a := &APIKeys{}
	for _, k := range keys {
		if k != "" {
			a.keys = append(a.keys, []byte(k))
		}
	}
	return a
}

// Check reports whether key is one of the configured keys. Every key is compared, so the
// time taken does not reveal which one (or whether any) matched.
func (a *APIKeys) Check(key string) bool {
	if key == "" {
		return false
	}
	ok := 0
	for _, k := range a.keys {
		ok |= subtle.ConstantTimeCompare([]byte(key), k)
	}
	return ok == 1
}

// LoadRSAPublicKeys reads every RSA public key (PKIX, PKCS#1 or inside a certificate) from
// a PEM file.
func LoadRSAPublicKeys(path string) ([]*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: read rsa keys: %w", err)
	}
	return ParseRSAPublicKeys(b)
}

// ParseRSAPublicKeys parses every RSA public key in PEM data.
func ParseRSAPublicKeys(b []byte) ([]*rsa.PublicKey, error) {
	var out []*rsa.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("gateway: parse public key: %w", err)
			}
			rk, ok := k.(*rsa.PublicKey)
			if !ok {
				return nil, errors.New("gateway: parse public key: not an RSA key")
			}
			out = append(out, rk)
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("gateway: parse rsa public key: %w", err)
			}
			out = append(out, k)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("gateway: parse certificate: %w", err)
			}
			rk, ok := c.PublicKey.(*rsa.PublicKey)
			if !ok {
				return nil, errors.New("gateway: certificate key is not RSA")
			}
			out = append(out, rk)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("gateway: no RSA public key in PEM data")
	}
	return out, nil
}
