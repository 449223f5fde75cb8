package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Sentinel problems carried by FieldError.
var (
	ErrRequired       = errors.New("is required")
	ErrMustBePositive = errors.New("must be positive")
	ErrNegative       = errors.New("must not be negative")
	ErrInvalidURL     = errors.New("is not a valid URL")
	ErrOneOf          = errors.New("is not one of the allowed values")
	ErrConflict       = errors.New("conflicts with another setting")
	ErrTooShort       = errors.New("is too short")
	ErrExampleSecret  = errors.New("is an example value shipped with rcgateway")
)

// exampleSecrets are the placeholder values shipped in deploy/env.example, the README and
// the docs. A configuration that still carries one was copied without being edited.
var exampleSecrets = []string{
	"change-me-agent-password",
	"change-me-create-tokens-secret-0123456789",
	"change-me-at-least-32-bytes-of-hs256-key-0123456789",
	"change-me-product-backend-api-key",
}

// isExampleSecret reports whether v is a shipped example value, or any value starting
// with "change-me" (the convention of every example in the repository).
func isExampleSecret(v string) bool {
	if strings.HasPrefix(strings.ToLower(v), "change-me") {
		return true
	}
	for _, e := range exampleSecrets {
		if v == e {
			return true
		}
	}
	return false
}

// ParseTrustedProxy parses one http.trusted_proxies entry: a CIDR or a single address.
func ParseTrustedProxy(s string) (*net.IPNet, error) {
	s = strings.TrimSpace(s)
	if _, n, err := net.ParseCIDR(s); err == nil {
		return n, nil
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("%w: want a CIDR such as 10.0.0.0/8 or an address, got %q", ErrInvalidURL, s)
	}
	bits := 128
	if ip4 := ip.To4(); ip4 != nil {
		ip, bits = ip4, 32
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
}

// FieldError is one problem with one key.
type FieldError struct {
	Path string // key path, e.g. "rocketchat.url"
	Err  error  // one of the Err* sentinels, possibly wrapped with detail
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// Validate reports every problem, each as a *FieldError, joined with errors.Join. Secrets
// never appear in the messages.
func (c Config) Validate() error {
	var v validator

	// rocketchat
	v.url("rocketchat.url", c.RocketChat.URL, true, "http", "https")
	v.url("rocketchat.ws_url", c.RocketChat.WSURL, false, "ws", "wss")
	a := c.RocketChat.Admin
	pw := a.Username != "" || a.Password.IsSet()
	pat := a.UserID != "" || a.Token.IsSet()
	switch {
	case pw && pat:
		v.add("rocketchat.admin", fmt.Errorf("%w: set username+password or user_id+token, not both", ErrConflict))
	case pw:
		if a.Username == "" {
			v.add("rocketchat.admin.username", ErrRequired)
		}
		if !a.Password.IsSet() {
			v.add("rocketchat.admin.password", ErrRequired)
		}
	case pat:
		if a.UserID == "" {
			v.add("rocketchat.admin.user_id", ErrRequired)
		}
		if !a.Token.IsSet() {
			v.add("rocketchat.admin.token", ErrRequired)
		}
	default:
		v.add("rocketchat.admin", fmt.Errorf("%w: username+password or user_id+token", ErrRequired))
	}
	v.positive("rocketchat.timeout", c.RocketChat.Timeout)
	v.notExample("rocketchat.admin.password", a.Password)
	v.notExample("rocketchat.admin.token", a.Token)
	v.notExample("user_tokens.create_token_secret", c.UserTokens.CreateTokenSecret)
	v.notExample("user_tokens.default_password", c.UserTokens.DefaultPassword)
	v.notExample("auth.jwt.hs256_secret", c.Auth.JWT.HS256Secret)
	v.notExample("redis.password", c.Redis.Password)

	// user_tokens
	switch c.UserTokens.Strategy {
	case StrategyCreateToken:
	case StrategyDefaultPassword:
		if !c.UserTokens.DefaultPassword.IsSet() {
			v.add("user_tokens.default_password", fmt.Errorf("%w with strategy default_password", ErrRequired))
		}
	default:
		v.add("user_tokens.strategy", fmt.Errorf("%w: %q (create_token, default_password)", ErrOneOf, c.UserTokens.Strategy))
	}
	v.positive("user_tokens.ttl", c.UserTokens.TTL)
	v.nonNegative("user_tokens.linger", c.UserTokens.Linger)

	// identity
	if p := c.Identity.UsernamePrefix; p == "" || len(p) > 32 || strings.ContainsFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		v.add("identity.username_prefix", fmt.Errorf("%w: 1 to 32 of a-z, 0-9, '-' and '_' (no '.')", ErrOneOf))
	}
	if d := c.Identity.EmailDomain; d == "" || strings.ContainsAny(d, "@ \t\r\n") || !strings.Contains(d, ".") {
		v.add("identity.email_domain", fmt.Errorf("%w: a domain name", ErrOneOf))
	}
	v.positive("identity.tombstone_ttl", c.Identity.TombstoneTTL)

	// auth
	j := c.Auth.JWT
	if !j.HS256Secret.IsSet() && j.RS256PublicKeyFile == "" && j.JWKSURL == "" {
		v.add("auth.jwt", fmt.Errorf("%w: one of hs256_secret, rs256_public_key_file, jwks_url", ErrRequired))
	}
	if j.HS256Secret.IsSet() && len(j.HS256Secret.Value()) < 32 {
		v.add("auth.jwt.hs256_secret", fmt.Errorf("%w: HS256 needs at least 32 bytes", ErrTooShort))
	}
	v.url("auth.jwt.jwks_url", j.JWKSURL, false, "http", "https")
	if j.JWKSURL != "" {
		v.positive("auth.jwt.jwks_refresh", j.JWKSRefresh)
	}
	v.nonNegative("auth.jwt.leeway", j.Leeway)
	if j.Leeway.D() > 5*time.Minute {
		v.add("auth.jwt.leeway", fmt.Errorf("%w: at most 5m", ErrOneOf))
	}
	if strings.TrimSpace(j.UserIDClaim) == "" {
		v.add("auth.jwt.user_id_claim", ErrRequired)
	}
	for i, aud := range j.Audience {
		if strings.TrimSpace(aud) == "" {
			v.add(fmt.Sprintf("auth.jwt.audience[%d]", i), ErrRequired)
		}
	}
	for i, k := range c.Auth.APIKeys {
		if len(k.Value()) < 16 {
			v.add(fmt.Sprintf("auth.api_keys[%d]", i), fmt.Errorf("%w: at least 16 characters", ErrTooShort))
		}
		v.notExample(fmt.Sprintf("auth.api_keys[%d]", i), k)
	}

	// http
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		v.add("http.listen", fmt.Errorf("%w: want host:port, got %q", ErrOneOf, c.HTTP.Listen))
	}
	for i, o := range c.HTTP.CORSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.add(fmt.Sprintf("http.cors_origins[%d]", i), fmt.Errorf("%w: want scheme://host[:port] or \"*\", got %q", ErrInvalidURL, o))
		}
	}
	for i, p := range c.HTTP.TrustedProxies {
		if _, err := ParseTrustedProxy(p); err != nil {
			v.add(fmt.Sprintf("http.trusted_proxies[%d]", i), err)
		}
	}
	if c.HTTP.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.AdminListen); err != nil {
			v.add("http.admin_listen", fmt.Errorf("%w: want host:port, got %q", ErrOneOf, c.HTTP.AdminListen))
		} else if c.HTTP.AdminListen == c.HTTP.Listen {
			v.add("http.admin_listen", fmt.Errorf("%w: must differ from http.listen", ErrConflict))
		}
	}
	if strings.ContainsAny(c.HTTP.ContentSecurityPolicy, "\r\n") {
		v.add("http.content_security_policy", fmt.Errorf("%w: one line", ErrOneOf))
	}
	v.positive("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	v.positive("http.read_timeout", c.HTTP.ReadTimeout)
	v.positive("http.idle_timeout", c.HTTP.IdleTimeout)
	v.positive("http.request_timeout", c.HTTP.RequestTimeout)
	v.positive("http.upload_timeout", c.HTTP.UploadTimeout)
	if c.HTTP.BodyLimit <= 0 {
		v.add("http.body_limit", ErrMustBePositive)
	}
	if c.HTTP.UploadLimit <= 0 {
		v.add("http.upload_limit", ErrMustBePositive)
	}

	// hub
	if !strings.HasPrefix(c.Hub.Path, "/") || len(c.Hub.Path) < 2 || strings.ContainsAny(c.Hub.Path, "?#*") {
		v.add("hub.path", fmt.Errorf("%w: want an absolute path such as /signalr, got %q", ErrOneOf, c.Hub.Path))
	}
	v.positive("hub.keepalive", c.Hub.KeepAlive)
	v.positive("hub.handshake_timeout", c.Hub.HandshakeTimeout)
	if c.Hub.ClientTimeout <= c.Hub.KeepAlive {
		v.add("hub.client_timeout", fmt.Errorf("%w: must exceed hub.keepalive (%s)", ErrOneOf, c.Hub.KeepAlive))
	}

	// limits
	for _, l := range []struct {
		path string
		n    int
	}{
		{"limits.max_connections_per_user", c.Limits.MaxConnectionsPerUser},
		{"limits.negotiates_per_minute", c.Limits.NegotiatesPerMinute},
		{"limits.negotiate_burst", c.Limits.NegotiateBurst},
		{"limits.rest_per_second", c.Limits.RESTPerSecond},
		{"limits.rest_burst", c.Limits.RESTBurst},
	} {
		if l.n < 0 {
			v.add(l.path, ErrNegative)
		}
	}
	if c.Limits.NegotiatesPerMinute > 0 && c.Limits.NegotiateBurst <= 0 {
		v.add("limits.negotiate_burst", fmt.Errorf("%w when limits.negotiates_per_minute is set", ErrMustBePositive))
	}
	if c.Limits.RESTPerSecond > 0 && c.Limits.RESTBurst <= 0 {
		v.add("limits.rest_burst", fmt.Errorf("%w when limits.rest_per_second is set", ErrMustBePositive))
	}

	// log
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", fmt.Errorf("%w: %q (debug, info, warn, error)", ErrOneOf, c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", fmt.Errorf("%w: %q (text, json)", ErrOneOf, c.Log.Format))
	}

	// redis
	v.url("redis.url", c.Redis.URL, false, "redis", "rediss")
	if c.Redis.URL == "" && (c.Redis.Password.IsSet() || c.Redis.TLS) {
		v.add("redis.url", fmt.Errorf("%w when redis.password or redis.tls is set", ErrRequired))
	}

	// shutdown
	v.nonNegative("shutdown.drain_delay", c.Shutdown.DrainDelay)
	v.positive("shutdown.timeout", c.Shutdown.Timeout)
	v.positive("redis.timeout", c.Redis.Timeout)
	v.positive("redis.lease_ttl", c.Redis.LeaseTTL)
	if c.Redis.LeaseTTL > 0 && c.Redis.LeaseTTL < 2*c.Redis.Timeout {
		// A renewal sent at a third of the TTL may take redis.timeout to answer; it must land
		// before the lease runs out.
		v.add("redis.lease_ttl", fmt.Errorf("%w: must be at least 2 × redis.timeout", ErrConflict))
	}
	if c.Redis.URL != "" && c.Shutdown.Timeout > 0 && c.Shutdown.Timeout < c.Redis.Timeout+Duration(3*time.Second) {
		// Closing a Redis client waits up to redis.timeout for a command a hung Redis never
		// answers; the rest of the sequence needs a few seconds more.
		v.add("shutdown.timeout", fmt.Errorf("%w: must be at least redis.timeout + 3s", ErrConflict))
	}
	v.positive("rocketchat.ping_interval", c.RocketChat.PingInterval)
	v.positive("rocketchat.ping_timeout", c.RocketChat.PingTimeout)
	v.positive("rocketchat.reconnect_max", c.RocketChat.ReconnectMax)
	if c.Shutdown.Timeout > 0 && c.Shutdown.DrainDelay >= c.Shutdown.Timeout {
		v.add("shutdown.drain_delay", fmt.Errorf("%w: must be shorter than shutdown.timeout", ErrConflict))
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(path string, err error) {
	v.errs = append(v.errs, &FieldError{Path: path, Err: err})
}

// notExample refuses a secret that is one of the shipped example values.
func (v *validator) notExample(path string, s Secret) {
	if s.IsSet() && isExampleSecret(s.Value()) {
		v.add(path, fmt.Errorf("%w: replace it (openssl rand -hex 32)", ErrExampleSecret))
	}
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.add(path, ErrMustBePositive)
	}
}

func (v *validator) nonNegative(path string, d Duration) {
	if d < 0 {
		v.add(path, ErrNegative)
	}
}

func (v *validator) url(path, s string, required bool, schemes ...string) {
	if s == "" {
		if required {
			v.add(path, ErrRequired)
		}
		return
	}
	u, err := url.Parse(s)
	if err != nil {
		v.add(path, fmt.Errorf("%w (does not parse)", ErrInvalidURL))
		return
	}
	ok := false
	for _, sc := range schemes {
		ok = ok || u.Scheme == sc
	}
	if !ok || u.Host == "" {
		v.add(path, fmt.Errorf("%w: want %s://host, got %q", ErrInvalidURL, strings.Join(schemes, " or "), redactURL(s)))
	}
}
