// Package config owns rcgateway's configuration: the schema, its documented defaults,
// loading from one YAML file plus RCGW_* environment overrides, validation that names every
// problem by key path, and redaction of secrets wherever the configuration is printed.
//
// It knows nothing of the packages that consume it: the gateway translates a Config into
// each package's own options.
//
// # Environment overrides
//
// Every leaf key can be set from the environment. The variable name is RCGW_ followed by
// the key path in upper case, with "__" (two underscores) between path segments; single
// underscores inside a key stay as they are:
//
//	rocketchat.url                 → RCGW_ROCKETCHAT__URL
//	rocketchat.admin.password      → RCGW_ROCKETCHAT__ADMIN__PASSWORD
//	user_tokens.ttl                → RCGW_USER_TOKENS__TTL
//	auth.jwt.hs256_secret          → RCGW_AUTH__JWT__HS256_SECRET
//
// List values (auth.jwt.audience, auth.api_keys, http.cors_origins) are comma separated.
// Every secret leaf also accepts a *_FILE variant naming a file whose content (trailing
// newline trimmed) is the value, for Docker and Kubernetes secrets:
// RCGW_ROCKETCHAT__ADMIN__PASSWORD_FILE=/run/secrets/rc_admin. Environment values win over
// the file; an unknown RCGW_* variable is an error, so a typo cannot go unnoticed.
// RCGW_CONFIG (the config file path, read by the command) is the one exception.
//
// # Seed mapping
//
// The seed's appsettings section "Im" maps as follows: Address → rocketchat.url,
// WebSocketAddress → rocketchat.ws_url, AdminUserName → rocketchat.admin.username,
// AdminPassword → rocketchat.admin.password, DefaultPassword → user_tokens.default_password
// (with user_tokens.strategy: default_password).
package config

import (
	"log/slog"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "RCGW_"

// EnvConfigPath names the config file when -config is not given.
const EnvConfigPath = "RCGW_CONFIG"

// Token strategies (user_tokens.strategy).
const (
	StrategyCreateToken     = "create_token"
	StrategyDefaultPassword = "default_password"
)

// NameIdentifierClaim is the claim ABP (ASP.NET Core identity) puts the user id in.
const NameIdentifierClaim = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"

// NameClaim is the claim ABP puts the user name in.
const NameClaim = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"

// Config is the whole configuration. The zero value is not useful; start from Default.
type Config struct {
	RocketChat RocketChat `yaml:"rocketchat"`
	UserTokens UserTokens `yaml:"user_tokens"`
	Identity   Identity   `yaml:"identity"`
	Auth       Auth       `yaml:"auth"`
	HTTP       HTTP       `yaml:"http"`
	Hub        Hub        `yaml:"hub"`
	Limits     Limits     `yaml:"limits"`
	Log        Log        `yaml:"log"`
	Redis      Redis      `yaml:"redis"`
	Shutdown   Shutdown   `yaml:"shutdown"`
}

// RocketChat is how the gateway reaches Rocket.Chat.
type RocketChat struct {
	// URL is the REST base, e.g. https://chat.example.com (required).
	URL string `yaml:"url"`
	// WSURL is the Realtime (DDP) endpoint. Empty: derived from URL as ws(s)://host/websocket.
	WSURL string `yaml:"ws_url"`
	// Admin is the agent account that provisions users and mints their tokens.
	Admin Admin `yaml:"admin"`
	// TLSVerify checks Rocket.Chat's certificate (default true). Turn off only for tests.
	TLSVerify bool `yaml:"tls_verify"`
	// Timeout bounds one REST call (default 15s).
	Timeout Duration `yaml:"timeout"`
	// PingInterval is the upstream silence after which the gateway pings Rocket.Chat, and
	// PingTimeout how long it then waits for any frame before it takes the connection for
	// dead and reconnects (defaults 5s and 5s: a silent partition is noticed within 10s).
	PingInterval Duration `yaml:"ping_interval"`
	PingTimeout  Duration `yaml:"ping_timeout"`
	// ReconnectMax caps the delay between upstream reconnect attempts (default 5s), so an
	// upstream is back within seconds of Rocket.Chat answering again.
	ReconnectMax Duration `yaml:"reconnect_max"`
}

// Admin is the admin agent's credentials: username + password, or user id + personal
// access token. Exactly one pair.
type Admin struct {
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	UserID   string `yaml:"user_id"`
	Token    Secret `yaml:"token"`
}

// UsesPassword reports whether the agent logs in with a password (and so logs out on
// shutdown).
func (a Admin) UsesPassword() bool { return a.Username != "" || a.Password.IsSet() }

// UserTokens is how product users get Rocket.Chat tokens.
type UserTokens struct {
	// Strategy is create_token (default: the agent calls users.createToken) or
	// default_password (the seed's mode: every user shares one password; explicit opt-in).
	Strategy string `yaml:"strategy"`
	// CreateTokenSecret is Rocket.Chat's CREATE_TOKENS_FOR_USERS_SECRET (needed on 8.x+).
	CreateTokenSecret Secret `yaml:"create_token_secret"`
	// DefaultPassword is the shared password for strategy default_password.
	DefaultPassword Secret `yaml:"default_password"`
	// TTL is how long a user's token is cached (default 1h, as in the seed).
	TTL Duration `yaml:"ttl"`
	// Linger keeps a user's upstream open after the last browser connection closes
	// (default 30s).
	Linger Duration `yaml:"linger"`
}

// Identity is how a product user maps to a Rocket.Chat account (docs/identity.md): by its
// subject alone, never by a name.
type Identity struct {
	// UsernamePrefix prefixes every derived Rocket.Chat username: "<prefix><sub>" when sub
	// is all lowercase letters, digits, '-' and '_', else "<prefix>.<base32 of sub>". 1 to 32
	// of [a-z0-9_-] (default "u-"). Changing it orphans every existing account.
	UsernamePrefix string `yaml:"username_prefix"`
	// EmailDomain is the domain of the e-mail given to provisioned accounts (a hash of the
	// username; default users.rcgateway.invalid). Token claims never choose it.
	EmailDomain string `yaml:"email_domain"`
	// TombstoneTTL is how long a deleted user's older tokens stay refused (default 24h); at
	// least the longest lifetime of a product JWT.
	TombstoneTTL Duration `yaml:"tombstone_ttl"`
}

// Auth is how callers prove who they are.
type Auth struct {
	JWT JWT `yaml:"jwt"`
	// APIKeys are accepted in X-API-Key from product backends on /api/admin/.
	APIKeys []Secret `yaml:"api_keys"`
	// FrontendAuth enables POST /api/im/authenticate, which hands the user's own
	// Rocket.Chat credentials to the browser (the seed's "frontend auth"). Default false.
	FrontendAuth bool `yaml:"frontend_auth"`
}

// JWT is the validation of product JWTs (browsers and product frontends). At least one
// key source: HS256Secret, RS256PublicKeyFile or JWKSURL.
type JWT struct {
	// HS256Secret is the shared HMAC key (ABP: Authentication:JwtBearer:SecurityKey);
	// at least 32 bytes.
	HS256Secret Secret `yaml:"hs256_secret"`
	// RS256PublicKeyFile is a PEM file with one or more RSA public keys or certificates.
	RS256PublicKeyFile string `yaml:"rs256_public_key_file"`
	// JWKSURL is fetched for RS256 keys; refreshed every JWKSRefresh and on an unknown kid.
	// A token verified before its key left the set stays accepted up to 30s more: the
	// gateway remembers verified tokens that long (docs/security.md).
	JWKSURL string `yaml:"jwks_url"`
	// JWKSRefresh is the periodic JWKS refresh interval (default 10m).
	JWKSRefresh Duration `yaml:"jwks_refresh"`
	// Issuer, when set, must equal the token's iss.
	Issuer string `yaml:"issuer"`
	// Audience, when set, must contain one of the token's aud values.
	Audience []string `yaml:"audience"`
	// Leeway is the clock skew allowed on exp/nbf/iat (default 30s).
	Leeway Duration `yaml:"leeway"`
	// UserIDClaim holds the product user id (default "sub"; when absent the ABP
	// NameIdentifier claim is tried).
	UserIDClaim string `yaml:"user_id_claim"`
	// UsernameClaim holds the product user name (default "preferred_username", then
	// ABP's name claim, then "unique_name", then "name").
	UsernameClaim string `yaml:"username_claim"`
}

// HTTP is the gateway's listener.
type HTTP struct {
	// Listen is host:port (default ":8080").
	Listen string `yaml:"listen"`
	// CORSOrigins are the product origins allowed to call the API and the hub
	// (scheme://host[:port], or "*" to allow any without credentials). Empty: same origin only.
	CORSOrigins []string `yaml:"cors_origins"`
	// ReadHeaderTimeout bounds reading request headers (default 10s).
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request body (default 60s; uploads included).
	ReadTimeout Duration `yaml:"read_timeout"`
	// IdleTimeout closes idle keep-alive connections (default 120s).
	IdleTimeout Duration `yaml:"idle_timeout"`
	// RequestTimeout bounds one /api/im or /api/v1 handler as a whole: authentication, token
	// minting and every Rocket.Chat call it makes (default 30s).
	RequestTimeout Duration `yaml:"request_timeout"`
	// UploadTimeout replaces RequestTimeout for file uploads (default 5m).
	UploadTimeout Duration `yaml:"upload_timeout"`
	// BodyLimit caps JSON request bodies (default 1MB).
	BodyLimit ByteSize `yaml:"body_limit"`
	// UploadLimit caps file uploads (default 20MB); larger gets 413.
	UploadLimit ByteSize `yaml:"upload_limit"`
	// TrustedProxies are the CIDRs (or single addresses) of the reverse proxies whose
	// X-Forwarded-For / X-Real-IP headers are believed. Empty (default): the peer address is
	// the client address and those headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AdminListen is host:port of a second listener serving /metrics and /version. Empty
	// (default): they are served on http.listen, and deploy/nginx.conf keeps them off the
	// public path. When set, they are served only there.
	AdminListen string `yaml:"admin_listen"`
	// ContentSecurityPolicy is sent with every response (default: DefaultCSP).
	ContentSecurityPolicy string `yaml:"content_security_policy"`
}

// DefaultCSP allows scripts, styles, images, fonts and connections (the hub included,
// ws(s): too) from the gateway's own origin only, no framing, no plugins.
const DefaultCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// Limits are per-user caps, kept per node. A value of 0 turns that cap off.
type Limits struct {
	// MaxConnectionsPerUser caps a user's hub connections (negotiated or open) on this
	// node (default 20); one more is refused with 429.
	MaxConnectionsPerUser int `yaml:"max_connections_per_user"`
	// NegotiatesPerMinute is the refill rate of a user's negotiate bucket (default 60).
	NegotiatesPerMinute int `yaml:"negotiates_per_minute"`
	// NegotiateBurst is its size (default 20).
	NegotiateBurst int `yaml:"negotiate_burst"`
	// RESTPerSecond is the refill rate of a user's REST bucket on /api/im and /api/v1
	// (default 20); an empty bucket answers 429 with Retry-After.
	RESTPerSecond int `yaml:"rest_per_second"`
	// RESTBurst is its size (default 100).
	RESTBurst int `yaml:"rest_burst"`
}

// Hub is the SignalR hub browsers connect to.
type Hub struct {
	// Path is where the hub is mounted (default "/signalr", ABP's).
	Path string `yaml:"path"`
	// KeepAlive is the server ping interval (default 15s).
	KeepAlive Duration `yaml:"keepalive"`
	// ClientTimeout closes a connection silent for this long (default 30s; > keepalive).
	ClientTimeout Duration `yaml:"client_timeout"`
	// HandshakeTimeout bounds the SignalR handshake (default 15s).
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
	// SingleLogin, when true, closes a user's older connections when a new one arrives
	// (one tab at a time). Default false: every tab stays connected.
	SingleLogin bool `yaml:"single_login"`
}

// Log is the process log.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
}

// Redis joins gateway nodes into a cluster (optional; empty URL means one node with the
// in-memory backplane).
type Redis struct {
	// URL is redis://host:port/db or rediss:// for TLS.
	URL string `yaml:"url"`
	// Password, if not in the URL.
	Password Secret `yaml:"password"`
	// TLS forces TLS even for a redis:// URL.
	TLS bool `yaml:"tls"`
	// NodeID names this node in the cluster (default: the host name). Each process start
	// adds a random incarnation to it in Redis, so a restarted node never inherits the
	// presence counts or leases of the process before it.
	NodeID string `yaml:"node_id"`
	// Timeout bounds every Redis round trip and is the silence after which a Redis
	// connection is taken for dead (default 5s).
	Timeout Duration `yaml:"timeout"`
	// LeaseTTL is how long a node owns a user's upstream without renewing it (renewed every
	// third of it): after a node is killed its users' upstreams come back on another node
	// between one and two lease TTLs later (default 15s; at least 2 × redis.timeout).
	LeaseTTL Duration `yaml:"lease_ttl"`
}

// Shutdown bounds the SIGTERM sequence.
type Shutdown struct {
	// DrainDelay is how long /readyz reports 503 before the listener closes (default 0s;
	// set ~5s behind a load balancer).
	DrainDelay Duration `yaml:"drain_delay"`
	// Timeout bounds the whole sequence (default 25s).
	Timeout Duration `yaml:"timeout"`
}

// Default returns the documented defaults. rocketchat.url, the admin credentials and a
// JWT key source have no default and must be set.
func Default() Config {
	return Config{
		RocketChat: RocketChat{
			TLSVerify:    true,
			Timeout:      Duration(15 * time.Second),
			PingInterval: Duration(5 * time.Second),
			PingTimeout:  Duration(5 * time.Second),
			ReconnectMax: Duration(5 * time.Second),
		},
		UserTokens: UserTokens{
			Strategy: StrategyCreateToken,
			TTL:      Duration(time.Hour),
			Linger:   Duration(30 * time.Second),
		},
		Identity: Identity{
			UsernamePrefix: "u-",
			EmailDomain:    "users.rcgateway.invalid",
			TombstoneTTL:   Duration(24 * time.Hour),
		},
		Auth: Auth{
			JWT: JWT{
				JWKSRefresh: Duration(10 * time.Minute),
				Leeway:      Duration(30 * time.Second),
				UserIDClaim: "sub",
			},
		},
		HTTP: HTTP{
			Listen:            ":8080",
			ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout:       Duration(60 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			RequestTimeout:    Duration(30 * time.Second),
			UploadTimeout:     Duration(5 * time.Minute),
			BodyLimit:         1 << 20,
			UploadLimit:       20 << 20,

			ContentSecurityPolicy: DefaultCSP,
		},
		Limits: Limits{
			MaxConnectionsPerUser: 20,
			NegotiatesPerMinute:   60,
			NegotiateBurst:        20,
			RESTPerSecond:         20,
			RESTBurst:             100,
		},
		Hub: Hub{
			Path:             "/signalr",
			KeepAlive:        Duration(15 * time.Second),
			ClientTimeout:    Duration(30 * time.Second),
			HandshakeTimeout: Duration(15 * time.Second),
		},
		Log:      Log{Level: "info", Format: "text"},
		Redis:    Redis{Timeout: Duration(5 * time.Second), LeaseTTL: Duration(15 * time.Second)},
		Shutdown: Shutdown{Timeout: Duration(25 * time.Second)},
	}
}

// WebSocketURL returns rocketchat.ws_url, or the one derived from rocketchat.url
// (http→ws, https→wss, path + "/websocket").
func (r RocketChat) WebSocketURL() string {
	if r.WSURL != "" {
		return r.WSURL
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" {
		return ""
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(u.Path, "/") + "/websocket"
	return u.String()
}

// Redacted returns a copy safe to print: secrets print as REDACTED (they do anyway) and
// passwords inside URLs are masked.
func (c Config) Redacted() Config {
	r := c
	r.RocketChat.URL = redactURL(c.RocketChat.URL)
	r.RocketChat.WSURL = redactURL(c.RocketChat.WSURL)
	r.Redis.URL = redactURL(c.Redis.URL)
	r.Auth.JWT.JWKSURL = redactURL(c.Auth.JWT.JWKSURL)
	r.Auth.APIKeys = append([]Secret(nil), c.Auth.APIKeys...)
	r.Auth.JWT.Audience = append([]string(nil), c.Auth.JWT.Audience...)
	r.HTTP.CORSOrigins = append([]string(nil), c.HTTP.CORSOrigins...)
	r.HTTP.TrustedProxies = append([]string(nil), c.HTTP.TrustedProxies...)
	return r
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Redacted)
	}
	return u.String()
}

// YAML returns the redacted configuration as YAML.
func (c Config) YAML() string {
	b, err := yaml.Marshal(c.Redacted())
	if err != nil {
		return "# config: marshal: " + err.Error() + "\n"
	}
	return string(b)
}

// LogValue implements slog.LogValuer with the redacted configuration.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	return slog.GroupValue(
		slog.String("rocketchat.url", r.RocketChat.URL),
		slog.String("rocketchat.ws_url", r.RocketChat.WebSocketURL()),
		slog.Bool("rocketchat.tls_verify", r.RocketChat.TLSVerify),
		slog.String("user_tokens.strategy", r.UserTokens.Strategy),
		slog.String("http.listen", r.HTTP.Listen),
		slog.String("hub.path", r.Hub.Path),
		slog.Bool("auth.frontend_auth", r.Auth.FrontendAuth),
		slog.Bool("redis.enabled", r.Redis.URL != ""),
		slog.String("log.level", r.Log.Level),
	)
}

// String returns the redacted YAML, so fmt's %v and %+v cannot print a secret.
func (c Config) String() string { return c.YAML() }

// GoString returns the redacted YAML, for %#v.
func (c Config) GoString() string { return c.YAML() }
