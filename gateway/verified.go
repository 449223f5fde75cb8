package gateway

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Defaults of the verified-token cache (JWTOptions.CacheTTL, CacheSize).
const (
	// DefaultVerifiedTTL is how long a verified product JWT is remembered: long enough for
	// a tab's negotiate, WebSocket request and first long polls, short enough that a key
	// removed from the JWKS stops its tokens soon after.
	DefaultVerifiedTTL = 30 * time.Second
	// DefaultVerifiedSize bounds the remembered tokens (about 250 bytes each): a login
	// storm of that many tabs within DefaultVerifiedTTL fits.
	DefaultVerifiedSize = 16384
)

// verifiedCache remembers product JWTs that verified, with the identity they name, so a
// tab's second request is not parsed and signature-checked again. It is keyed by the
// SHA-256 of the exact token: a hit is a token byte-for-byte identical to one that verified
// (short of a SHA-256 collision), an entry takes the same few bytes whatever the token's
// size, and the cache holds no bearer token itself. Only successes are put; an entry lives
// at most ttl and never past the token's exp; at most max entries are held.
type verifiedCache struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedEntry
}

type verifiedEntry struct {
	id    Identity
	nbf   time.Time // the token's nbf (zero: none)
	until time.Time // forgotten from then on
}

func newVerifiedCache(ttl time.Duration, max int) *verifiedCache {
	return &verifiedCache{ttl: ttl, max: max, m: make(map[[sha256.Size]byte]verifiedEntry)}
}

// get returns the identity of a remembered token that is still acceptable at now: exp,
// nbf and iat are checked with leeway as jwt.Validator checks them. An entry that is past
// its time or no longer acceptable is dropped, and the caller verifies the token in full.
func (c *verifiedCache) get(key [sha256.Size]byte, now time.Time, leeway time.Duration) (Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return Identity{}, false
	}
	if !now.Before(e.until) ||
		!now.Before(e.id.Expires.Add(leeway)) ||
		(!e.nbf.IsZero() && now.Before(e.nbf.Add(-leeway))) ||
		(!e.id.IssuedAt.IsZero() && now.Before(e.id.IssuedAt.Add(-leeway))) {
		delete(c.m, key)
		return Identity{}, false
	}
	return e.id, true
}

// put remembers a verified token until now+ttl or its exp, whichever is first. When full
// it first drops what is past its time; if that leaves it more than three quarters full,
// it forgets everything, so that each sweep follows at least max/4 puts.
func (c *verifiedCache) put(key [sha256.Size]byte, id Identity, nbf, now time.Time) {
	until := now.Add(c.ttl)
	if id.Expires.Before(until) {
		until = id.Expires
	}
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) > c.max*3/4 {
			clear(c.m)
		}
	}
	c.m[key] = verifiedEntry{id: id, nbf: nbf, until: until}
}

// len reports how many tokens are remembered.
func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
