// Package gateway is rcgateway's composition root and HTTP surface: it builds the Rocket.Chat
// agent, the session manager and the push hub from a config.Config, and serves the REST
// facade, the /api/v1 passthrough, the SignalR hub, the operations endpoints and the web UI
// on one Echo instance. It is the only package that imports Echo.
//
// It owns product-JWT and API-key authentication, the mapping of Rocket.Chat failures to
// JSON errors, metrics, readiness and the shutdown order. It does not know DDP frames,
// SignalR framing or Redis channel names.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/session"
)

// Hub is what the gateway needs from the push hub.
type Hub interface {
	http.Handler
	// SendToUser invokes target with one argument on every connection of userID.
	SendToUser(ctx context.Context, userID, target string, arg any) error
	// SendToUserOnce is SendToUser for a push that may be repeated (by this node or one
	// taking the user over): a connection gets at most one push per key.
	SendToUserOnce(ctx context.Context, userID, key, target string, arg any) error
	// Kick closes every connection of userID with a SignalR Close.
	Kick(ctx context.Context, userID, reason string, allowReconnect bool) error
	// Shutdown sends Close{allowReconnect:true} to every connection and stops the hub.
	Shutdown(ctx context.Context) error
}

// UserSpec is a product user as a product backend describes it.
type UserSpec struct {
	UserID   string // product user id
	Username string // display only
	Name     string
	Email    string
	// Link, when set, binds the existing Rocket.Chat account of that username to the user.
	Link string
}

// Sessions is what the gateway needs from the session manager.
type Sessions interface {
	// Admit checks and records a product user from a verified JWT: an *apiError (401) when
	// the user was deleted after the token was issued.
	Admit(ctx context.Context, id Identity) error
	// Credentials returns the user's own Rocket.Chat REST credentials, provisioning the
	// user and minting a token when needed.
	Credentials(ctx context.Context, id Identity) (rocketchat.Credentials, error)
	// Refresh replaces credentials Rocket.Chat refused (401) with freshly minted ones.
	Refresh(ctx context.Context, id Identity, stale rocketchat.Credentials) (rocketchat.Credentials, error)
	// Upsert creates or updates (or, with Link, binds) the Rocket.Chat user of a product
	// user, and lifts its deletion tombstone; rcUsername is the account's username.
	Upsert(ctx context.Context, u UserSpec) (rcUserID, rcUsername string, created bool, err error)
	// Delete removes the Rocket.Chat user and revokes its session on every node.
	Delete(ctx context.Context, productUserID string) error
	// SetActive activates or deactivates (and revokes) the user's Rocket.Chat account.
	SetActive(ctx context.Context, productUserID string, active bool) error
	// Known reports whether the product user has a Rocket.Chat account.
	Known(ctx context.Context, productUserID string) (bool, error)
	// Ready reports whether the admin agent is logged in.
	Ready(ctx context.Context) error
	// Shutdown stops upstreams, logs out minted tokens and (password mode) the agent.
	Shutdown(ctx context.Context) error
}

// Options configures New.
type Options struct {
	Config   config.Config
	Logger   *slog.Logger
	Version  string
	Revision string
	// Web serves the UI for every path the gateway does not own (nil: none).
	Web http.Handler
	// Demo enables the dev-only /api/demo routes.
	Demo *Demo
	// HTTPClient reaches Rocket.Chat (default: from config, honouring tls_verify).
	HTTPClient *http.Client
	// Hub and Sessions replace the ones New would build (tests).
	Hub      Hub
	Sessions Sessions
}

// Server is a composed gateway.
type Server struct {
	cfg         config.Config
	log         *slog.Logger
	version     string
	revision    string
	e           *echo.Echo
	verifier    *JWTVerifier
	jwks        *JWKS
	apiKeys     *APIKeys
	rc          *rocketchat.Client // every Rocket.Chat REST call: facade, passthrough, agent, sessions
	wsClient    *http.Client       // upstream WebSocket handshakes (same TLS settings as rc)
	hub         Hub
	sessions    Sessions
	activity    Activity // typing (typing.go); nil with test sessions
	metrics     *metrics
	demo        *Demo
	web         http.Handler
	agent       *rocketchat.Agent
	starters    []func(context.Context) error // run by Serve before accepting
	closers     []func(context.Context) error // extra components, closed last-first after sessions
	backplaneUp func() bool                   // nil without Redis; readyz fails while it says false

	draining  atomic.Bool
	roomTypes sync.Map // rid → "c"/"p"/"d"
	readyMu   sync.Mutex
	readyAt   time.Time // last successful /api/info
	bg        sync.WaitGroup
	bgCancel  context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	ops                           *echo.Echo // /metrics and /version when http.admin_listen is set
	ipExtractor                   echo.IPExtractor
	restLimiter, negotiateLimiter *limiter // per-user token buckets (nil: off)
}

// New composes a gateway from cfg. It does not listen; see Serve. It starts the hub's and
// the session manager's background goroutines: Serve stops them on return, and a Server that
// is never served must be stopped with Close.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := o.Config
	s := &Server{cfg: cfg, log: o.Logger, version: o.Version, revision: o.Revision, demo: o.Demo, web: o.Web}
	if s.version == "" {
		s.version = "dev"
	}
	s.metrics = newMetrics(s.version, s.revision)

	base, err := url.Parse(cfg.RocketChat.URL)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("gateway: rocketchat.url %q is not a URL", cfg.RocketChat.URL)
	}
	base.User = nil
	client := o.HTTPClient
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Every user's REST calls go to the one Rocket.Chat host. Keep the connections for
		// a login storm instead of Go's default of two idle per host, and cap them at 64, so
		// that 500 logins at once wait for a connection rather than dial 500 (profiled with
		// 2,000 users logging in at once: re-dialling was a fifth of the gateway's CPU; the
		// cap took the storm from 2.66 s to 2.30 s). The cap also spares Rocket.Chat.
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = 1024, 64, 64
		if !cfg.RocketChat.TLSVerify {
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // explicit opt-out for tests
		}
		client = &http.Client{Transport: tr, Timeout: cfg.RocketChat.Timeout.D()}
		// The upstream WebSockets get a transport of their own: each holds its connection
		// for its life, which the REST cap would count against every REST call.
		ws := http.DefaultTransport.(*http.Transport).Clone()
		ws.TLSClientConfig = tr.TLSClientConfig
		s.wsClient = &http.Client{Transport: ws}
	} else {
		s.wsClient = client
	}
	if s.rc, err = rocketchat.NewClient(rocketchat.ClientOptions{
		BaseURL:    base.String(),
		HTTPClient: client,
		Logger:     s.log.With("component", "rocketchat"),
		Observe:    s.metrics.observeCall,
	}); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}

	jo := JWTOptions{
		Issuer:        cfg.Auth.JWT.Issuer,
		Audience:      cfg.Auth.JWT.Audience,
		Leeway:        cfg.Auth.JWT.Leeway.D(),
		UserIDClaim:   cfg.Auth.JWT.UserIDClaim,
		UsernameClaim: cfg.Auth.JWT.UsernameClaim,
	}
	if cfg.Auth.JWT.HS256Secret.IsSet() {
		jo.HS256Secret = []byte(cfg.Auth.JWT.HS256Secret.Value())
	}
	if cfg.Auth.JWT.RS256PublicKeyFile != "" {
		if jo.RSAKeys, err = LoadRSAPublicKeys(cfg.Auth.JWT.RS256PublicKeyFile); err != nil {
			return nil, err
		}
	}
	if cfg.Auth.JWT.JWKSURL != "" {
		s.jwks = NewJWKS(JWKSOptions{URL: cfg.Auth.JWT.JWKSURL, Refresh: cfg.Auth.JWT.JWKSRefresh.D(), Logger: s.log})
		jo.JWKS = s.jwks
	}
	if s.verifier, err = NewJWTVerifier(jo); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(cfg.Auth.APIKeys))
	for _, k := range cfg.Auth.APIKeys {
		keys = append(keys, k.Value())
	}
	s.apiKeys = NewAPIKeys(keys)
	if s.ipExtractor, err = ipExtractor(cfg.HTTP.TrustedProxies); err != nil {
		return nil, err
	}
	s.newLimiters()

	s.hub, s.sessions = o.Hub, o.Sessions
	if s.hub == nil || s.sessions == nil {
		if err := s.compose(); err != nil {
			return nil, err
		}
	}
	s.e = s.routes()
	return s, nil
}

// Handler returns the gateway's HTTP handler (for tests and custom servers).
func (s *Server) Handler() http.Handler { return s.e }

// Echo returns the Echo instance, for the route/OpenAPI test.
func (s *Server) echo() *echo.Echo { return s.e }

// authenticate is the hub's Authenticate: the same JWT validation as the REST API, with
// the token from Bearer or (browsers' WebSockets) the access_token query parameter. The
// connection lives until the JWT's exp (plus the configured leeway), then the hub closes
// it with allowReconnect so the client returns with a fresh token.
//
// The user is admitted (its tombstone read, in a cluster from Redis) at negotiate, the one
// request without a connection id; the requests of a negotiated connection (the WebSocket
// upgrade, each long poll and send) only verify the token. A deletion closes open
// connections everywhere (Kick), and a Redis outage must not turn a long-polling client's
// next poll into a 401 that ends it.
func (s *Server) authenticate(r *http.Request) (string, time.Time, error) {
	q := r.URL.Query()
	id, err := s.verifier.Verify(r.Context(), bearerToken(r, q))
	if err != nil {
		return "", time.Time{}, err
	}
	if q.Get("id") == "" {
		if err := s.sessions.Admit(r.Context(), id); err != nil {
			return "", time.Time{}, err
		}
	}
	return id.UserID, id.Expires.Add(s.cfg.Auth.JWT.Leeway.D()), nil
}

// Serve listens on ln until ctx ends, then runs the shutdown sequence: readiness off
// (and shutdown.drain_delay), stop accepting, Close{allowReconnect:true} to browsers, stop
// upstreams and log out minted tokens and the password-mode agent, all within
// shutdown.timeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	abort := func(err error) error {
		_ = ln.Close()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Shutdown.Timeout.D())
		_ = s.Close(sctx)
		cancel()
		return err
	}
	for _, start := range s.starters {
		if err := start(ctx); err != nil {
			return abort(err)
		}
	}
	if s.ops != nil {
		// http.admin_listen: /metrics and /version on their own listener, closed last.
		aln, err := net.Listen("tcp", s.cfg.HTTP.AdminListen)
		if err != nil {
			return abort(fmt.Errorf("gateway: listen http.admin_listen: %w", err))
		}
		ops := &http.Server{Handler: s.ops, ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout.D(), ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
		opsDone := make(chan struct{})
		go func() { defer close(opsDone); _ = ops.Serve(aln) }()
		defer func() { _ = ops.Close(); <-opsDone }()
		s.log.Info("operations listener", "addr", aln.Addr().String())
	}
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.bgCancel = cancel
	if s.jwks != nil {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.jwks.Run(bgCtx) }()
	}
	hs := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout.D(),
		ReadTimeout:       s.cfg.HTTP.ReadTimeout.D(),
		IdleTimeout:       s.cfg.HTTP.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return bgCtx },
	}
	s.metrics.ready.Set(1)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	err := s.shutdown(hs, serveErr == nil)
	if serveErr == nil {
		<-errc
	}
	cancel()
	s.bg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("gateway: serve: %w", serveErr)
	}
	return err
}

func (s *Server) shutdown(hs *http.Server, wait bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Shutdown.Timeout.D())
	defer cancel()
	start := time.Now()
	s.draining.Store(true)
	s.metrics.ready.Set(0)
	s.log.Info("shutdown: readiness off")
	if d := s.cfg.Shutdown.DrainDelay.D(); d > 0 && wait {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	var errs []error
	// Stop accepting; idle connections close. Hijacked WebSockets are not waited for.
	shCtx, shCancel := context.WithTimeout(ctx, s.cfg.Shutdown.Timeout.D()/3)
	if err := hs.Shutdown(shCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		errs = append(errs, fmt.Errorf("gateway: shutdown http: %w", err))
	}
	shCancel()
	s.log.Info("shutdown: listener closed")
	if err := s.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	_ = hs.Close()
	s.log.Info("shutdown: done", "took", time.Since(start).Round(time.Millisecond))
	return errors.Join(errs...)
}

// Close stops what New started, in shutdown order: Close{allowReconnect:true} to browsers and
// the hub's timers, then upstreams (minted tokens logged out), then the agent and the Redis
// clients. Serve calls it on every exit; a caller that built a Server but never served it
// (listening failed) must call it. Only the first call does the work; later calls return
// its result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if err := s.hub.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gateway: shutdown hub: %w", err))
		}
		s.log.Info("shutdown: browsers told to reconnect")
		if err := s.sessions.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gateway: shutdown sessions: %w", err))
		}
		s.log.Info("shutdown: upstreams stopped, tokens logged out")
		if err := s.closeComponents(ctx); err != nil {
			errs = append(errs, err)
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// closeComponents runs the closers, last first.
func (s *Server) closeComponents(ctx context.Context) error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		start := time.Now()
		if err := s.closers[i](ctx); err != nil {
			errs = append(errs, err)
		}
		s.log.Debug("shutdown: component closed", "index", i, "took", time.Since(start).Round(time.Millisecond))
	}
	return errors.Join(errs...)
}

// routes builds the Echo instance. Every route here is in openapi.yaml (a test checks).
func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = s.ipExtractor
	e.Pre(requestID, s.securityHeaders, s.cors)
	e.Use(s.recoverer, s.accessLog, s.bodyLimit)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	ops := e
	if s.cfg.HTTP.AdminListen != "" {
		ops = echo.New()
		ops.HideBanner, ops.HidePort = true, true
		ops.HTTPErrorHandler = s.errorHandler
		s.ops = ops
	}
	ops.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	ops.GET("/version", s.versionInfo)
	e.GET("/openapi.yaml", s.openapi)

	hub := echo.WrapHandler(s.hub)
	e.Any(s.cfg.Hub.Path, hub, s.hubOrigin)
	e.Any(s.cfg.Hub.Path+"/*", hub, s.hubOrigin)

	im := e.Group("/api/im", s.handlerTimeout, s.requireJWT, s.restLimit)
	im.GET("/me", s.me)
	im.GET("/rooms", s.listRooms)
	im.GET("/unread", s.unread)
	im.GET("/rooms/:rid/messages", s.history)
	im.POST("/rooms/:rid/messages", s.sendMessage)
	im.PATCH("/rooms/:rid/messages/:mid", s.editMessage)
	im.DELETE("/rooms/:rid/messages/:mid", s.deleteMessage)
	im.POST("/rooms/:rid/messages/:mid/reactions", s.react)
	im.GET("/rooms/:rid/threads/:tmid/messages", s.threadMessages)
	im.GET("/rooms/:rid/search", s.searchRoom)
	im.POST("/rooms/:rid/read", s.markRead)
	im.POST("/rooms/:rid/typing", s.typing)
	im.PUT("/open-rooms", s.openRooms)
	im.POST(strings.TrimPrefix(uploadRoute, "/api/im"), s.upload)
	im.GET(strings.TrimPrefix(fileRoute, "/api/im"), s.file)
	im.POST("/dm", s.openDM)
	im.POST("/rooms", s.createRoom)
	im.POST("/rooms/:rid/members", s.invite)
	im.DELETE("/rooms/:rid/members/:username", s.kickMember)
	im.POST("/authenticate", s.frontendAuthenticate)

	v1 := e.Group("/api/v1", s.handlerTimeout, s.requireJWT, s.restLimit)
	v1.GET("/*", s.passthrough)
	v1.POST("/*", s.passthrough)

	adm := e.Group("/api/admin", s.requireAPIKey)
	adm.PUT("/users/:id", s.adminUpsert)
	adm.DELETE("/users/:id", s.adminDelete)
	adm.POST("/users/:id/deactivate", s.adminDeactivate)
	adm.POST("/users/:id/activate", s.adminActivate)
	adm.POST("/users/:id/kick", s.adminKick)
	adm.POST("/users/:id/push", s.adminPush)

	if s.demo != nil {
		e.GET("/api/demo/users", s.demoUsers)
		e.POST("/api/demo/token", s.demoToken)
		e.POST("/api/demo/status", s.demoStatus)
	}
	e.Any("/api/*", func(c echo.Context) error { return errNotFound })
	if s.web != nil {
		web := echo.WrapHandler(s.web)
		e.GET("/*", web)
		e.HEAD("/*", web)
	}
	return e
}

// userKey is where requireJWT leaves the caller's identity.
const userKey = "rcgw.identity"

func (s *Server) requireJWT(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := s.verifier.Verify(c.Request().Context(), bearerToken(c.Request(), nil))
		if err != nil {
			s.log.Debug("jwt rejected", "request_id", c.Get("request_id"), "err", err)
			if errors.Is(err, session.ErrInvalidSubject) {
				return errInvalidSubject
			}
			return errUnauthorized
		}
		if err := s.sessions.Admit(c.Request().Context(), id); err != nil {
			return err
		}
		c.Set(userKey, id)
		return next(c)
	}
}

func (s *Server) requireAPIKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.apiKeys.Check(c.Request().Header.Get("X-API-Key")) {
			return errNoAPIKey
		}
		c.Set(userKey, Identity{UserID: "api-key"})
		return next(c)
	}
}

func identity(c echo.Context) Identity {
	id, _ := c.Get(userKey).(Identity)
	return id
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when not draining, the Redis backplane (if any) is subscribed, the
// agent is logged in and Rocket.Chat answered /api/info in the last 5 s (checked on demand).
func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return errorf(http.StatusServiceUnavailable, "draining", "shutting down")
	}
	if s.backplaneUp != nil && !s.backplaneUp() {
		return errorf(http.StatusServiceUnavailable, "backplane_down", "the Redis backplane is not subscribed")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	s.readyMu.Lock()
	fresh := time.Since(s.readyAt) < 5*time.Second
	s.readyMu.Unlock()
	if !fresh {
		if _, err := s.rc.Info(ctx); err != nil {
			s.log.Warn("readyz: rocketchat /api/info", "err", err)
			return errorf(http.StatusServiceUnavailable, "rocketchat_unreachable", "Rocket.Chat does not answer /api/info")
		}
		s.readyMu.Lock()
		s.readyAt = time.Now()
		s.readyMu.Unlock()
	}
	if err := s.sessions.Ready(ctx); err != nil {
		s.log.Warn("readyz: admin agent", "err", err)
		return errorf(http.StatusServiceUnavailable, "agent_not_ready", "the admin agent is not logged in")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) versionInfo(c echo.Context) error {
	return c.JSON(http.StatusOK, VersionInfo(s.version, s.revision))
}

// VersionInfo is what /version and `rcgateway version` report.
func VersionInfo(version, revision string) map[string]string {
	return map[string]string{"version": version, "revision": revision, "go": goVersion()}
}

// sensitiveQueryKeys are the query parameters whose values never reach a log.
var sensitiveQueryKeys = [...]string{"access_token", "token", "authToken", "enc_auth_token"}

// redactQuery renders a request's path and query for the access log, the value of every
// sensitive parameter replaced by REDACTED. Keys are compared as url.ParseQuery decodes them
// (access%5Ftoken is access_token). A query needing no change is logged as sent, without
// parsing it; otherwise the parameters keep their order, each sensitive key appears once
// (where it first did) as key=REDACTED, and the pairs url.ParseQuery skips (with a ';' or
// a malformed escape) are left out, so the line shows the parameters the handlers read.
func redactQuery(u *url.URL) string {
	raw := u.RawQuery
	if raw == "" {
		return u.Path
	}
	clean := true
	for rest := raw; rest != "" && clean; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		_, _, ok := queryPair(pair)
		clean = ok
	}
	if clean {
		return u.Path + "?" + raw
	}
	var b strings.Builder
	b.Grow(len(u.Path) + 1 + len(raw))
	b.WriteString(u.Path)
	b.WriteByte('?')
	var done [len(sensitiveQueryKeys)]bool
	first := true
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		sensitive, skip, _ := queryPair(pair)
		switch {
		case skip:
			continue
		case sensitive >= 0 && done[sensitive]:
			continue
		}
		if !first {
			b.WriteByte('&')
		}
		first = false
		if sensitive >= 0 {
			done[sensitive] = true
			b.WriteString(sensitiveQueryKeys[sensitive])
			b.WriteString("=REDACTED")
			continue
		}
		b.WriteString(pair)
	}
	return b.String()
}

// queryPair classifies one &-separated pair of a raw query as url.ParseQuery reads it:
// sensitive is the index in sensitiveQueryKeys of its decoded key (-1: none); skip is
// true for a pair ParseQuery ignores (empty, with a ';' or a malformed escape); ok is true
// when the pair can be logged as it is.
func queryPair(pair string) (sensitive int, skip, ok bool) {
	if pair == "" {
		return -1, true, true
	}
	if strings.Contains(pair, ";") {
		return -1, true, false
	}
	key, value, _ := strings.Cut(pair, "=")
	if strings.ContainsAny(key, "%+") {
		k, err := url.QueryUnescape(key)
		if err != nil {
			return -1, true, false
		}
		key = k
	}
	if !validEscapes(value) {
		return -1, true, false
	}
	for i, s := range sensitiveQueryKeys {
		if key == s {
			return i, false, false
		}
	}
	return -1, false, true
}

// validEscapes reports whether every '%' in s starts a two-digit hex escape, the only thing
// url.QueryUnescape refuses.
func validEscapes(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; i = strings.IndexByte(s, '%') {
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		s = s[i+3:]
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// redactErr renders an error for logs with any access_token query value masked.
func redactErr(err error) string {
	msg := err.Error()
	for _, k := range []string{"access_token=", "authToken="} {
		for i := strings.Index(msg, k); i >= 0; {
			j := i + len(k)
			end := j
			for end < len(msg) && msg[end] != '&' && msg[end] != ' ' && msg[end] != '"' {
				end++
			}
			msg = msg[:j] + "REDACTED" + msg[end:]
			next := strings.Index(msg[j+len("REDACTED"):], k)
			if next < 0 {
				break
			}
			i = j + len("REDACTED") + next
		}
	}
	return msg
}
