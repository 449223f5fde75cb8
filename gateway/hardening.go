package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rcgateway/rcgateway/config"
)

// metricMethods are the request methods that get their own metrics label; every other
// method is counted as "OTHER", so invented methods cannot add series.
var metricMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

func metricMethod(m string) string {
	if metricMethods[m] {
		return m
	}
	return "OTHER"
}

// metricRoute is the route label: the matched route template, the hub path for anything
// under it, or "unmatched". Templates are a fixed set, so no request can add one.
func (s *Server) metricRoute(c echo.Context) string {
	route := c.Path()
	switch {
	case strings.HasPrefix(route, s.cfg.Hub.Path):
		return s.cfg.Hub.Path
	case route == "":
		return "unmatched"
	}
	return route
}

// ipExtractor believes X-Forwarded-For (or, without it, X-Real-IP) only from a peer in
// http.trusted_proxies; with none configured the peer address is the client address.
func ipExtractor(proxies []string) (echo.IPExtractor, error) {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect(), nil
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		n, err := config.ParseTrustedProxy(p)
		if err != nil {
			return nil, fmt.Errorf("gateway: http.trusted_proxies: %w", err)
		}
		opts = append(opts, echo.TrustIPRange(n))
	}
	xff, realIP := echo.ExtractIPFromXFFHeader(opts...), echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if len(r.Header.Values(echo.HeaderXForwardedFor)) > 0 {
			return xff(r)
		}
		return realIP(r)
	}, nil
}

// securityHeaders sets the browser hardening headers on every response: the API's, the
// hub's and the web UI's.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	csp := s.cfg.HTTP.ContentSecurityPolicy
	return func(c echo.Context) error {
		h := c.Response().Header()
		if csp != "" {
			h.Set("Content-Security-Policy", csp)
		}
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		return next(c)
	}
}

// originPolicy decides which browser origins may use the hub: the gateway's own origin
// always, the http.cors_origins, or any when they contain "*".
type originPolicy struct {
	any     bool
	allowed map[string]bool // scheme://host[:port], lower case
}

func newOriginPolicy(origins []string) originPolicy {
	p := originPolicy{allowed: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			p.any = true
		}
		p.allowed[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return p
}

// allow reports whether r may proceed: no Origin (not a browser), the same host as the
// request (as coder/websocket compares it: host only, so TLS ending at a proxy still
// matches), or a listed origin.
func (p originPolicy) allow(r *http.Request) bool {
	origin := r.Header.Get(echo.HeaderOrigin)
	if origin == "" || p.any {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return p.allowed[strings.ToLower(u.Scheme+"://"+u.Host)]
}

// hubOrigin refuses a hub request (negotiate, WebSocket upgrade, SSE, long polling) from
// a foreign browser origin with 403, before the hub accepts it.
func (s *Server) hubOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	p := newOriginPolicy(s.cfg.HTTP.CORSOrigins)
	return func(c echo.Context) error {
		if !p.allow(c.Request()) {
			return errorf(http.StatusForbidden, "origin_not_allowed", "this origin may not connect to the hub (see http.cors_origins)")
		}
		return next(c)
	}
}

// limiter is a set of per-key token buckets: rate tokens per second, up to burst. It
// starts no goroutine; idle keys (whose bucket has refilled, so forgetting them changes
// nothing) are swept on use at most once per sweep interval, and the map never holds more
// than maxKeys: when a sweep cannot get under it, the fullest-looking half is dropped.
type limiter struct {
	rate    float64 // tokens per second
	burst   float64
	maxKeys int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
	now       func() time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate float64, burst, maxKeys int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), maxKeys: maxKeys, buckets: map[string]*bucket{}, now: time.Now}
}

// allow takes one token for key; when there is none it answers false and how long until
// there will be one.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastSweep) > l.full() || len(l.buckets) >= l.maxKeys {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// full is how long an empty bucket takes to refill.
func (l *limiter) full() time.Duration {
	return time.Duration(l.burst / l.rate * float64(time.Second))
}

// sweep forgets the buckets that have refilled; if that leaves maxKeys or more, it forgets
// the least recently used half. l.mu is held.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	full := l.full()
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.maxKeys {
		return
	}
	ats := make([]time.Time, 0, len(l.buckets))
	for _, b := range l.buckets {
		ats = append(ats, b.at)
	}
	slices.SortFunc(ats, time.Time.Compare)
	median := ats[len(ats)/2]
	for k, b := range l.buckets {
		if !b.at.After(median) {
			delete(l.buckets, k)
		}
	}
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// limiterMaxKeys bounds the users a node tracks per limiter.
const limiterMaxKeys = 100_000

// restLimit applies the caller's REST token bucket (limits.rest_per_second and
// limits.rest_burst); an empty bucket answers 429 with Retry-After. It runs after
// requireJWT, keyed by the product user id.
func (s *Server) restLimit(next echo.HandlerFunc) echo.HandlerFunc {
	if s.restLimiter == nil {
		return next
	}
	return func(c echo.Context) error {
		if ok, wait := s.restLimiter.allow(identity(c).UserID); !ok {
			c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
			return errorf(http.StatusTooManyRequests, "rate_limited", "too many requests for this user; retry later")
		}
		return next(c)
	}
}

// newLimiters builds the REST and negotiate limiters from limits.* (nil when off).
func (s *Server) newLimiters() {
	l := s.cfg.Limits
	if l.RESTPerSecond > 0 {
		s.restLimiter = newLimiter(float64(l.RESTPerSecond), l.RESTBurst, limiterMaxKeys)
	}
	if l.NegotiatesPerMinute > 0 {
		s.negotiateLimiter = newLimiter(float64(l.NegotiatesPerMinute)/60, l.NegotiateBurst, limiterMaxKeys)
	}
}

// allowNegotiate is the hub's AllowNegotiate.
func (s *Server) allowNegotiate(userID string) (bool, time.Duration) {
	if s.negotiateLimiter == nil {
		return true, 0
	}
	return s.negotiateLimiter.allow(userID)
}

// errMessageIDTaken answers a client message id whose Rocket.Chat message belongs to
// someone else (see storedOwnMessage).
var errMessageIDTaken = errorf(http.StatusConflict, "message_id_taken", "this message id belongs to another user's message; send with a new id")
