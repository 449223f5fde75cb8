// Package rocketchat talks to Rocket.Chat: the REST client (Client), the admin agent (Agent)
// and one user's realtime upstream (Realtime) with its typed Events.
//
// It knows Rocket.Chat's wire formats and nothing about SignalR, product JWTs or session
// policy. Rocket.Chat objects the gateway passes through stay json.RawMessage; small typed
// views exist only where the gateway needs a field. Every user-facing call takes the caller's
// Credentials explicitly, so a user's request never runs with the admin's rights.
package rocketchat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Credentials are one Rocket.Chat user's REST/DDP credentials (X-User-Id, X-Auth-Token).
// PasswordDigest, when set, is the lowercase sha256 hex of the user's password and is sent
// as the 2FA password fallback (x-2fa-method: password) on every call.
type Credentials struct {
	UserID, Token  string
	PasswordDigest string
}

// String never shows the token.
func (c Credentials) String() string { return "Credentials{UserID:" + c.UserID + "}" }

// LogValue keeps tokens out of slog output.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.UserID) }

// PasswordDigest is the lowercase sha256 hex of a password, as Rocket.Chat's 2FA password
// fallback expects.
func PasswordDigest(password string) string {
	s := sha256.Sum256([]byte(password))
	return hex.EncodeToString(s[:])
}

// Errors that APIError matches with errors.Is.
var (
	// ErrUnauthorized: 401 because the credentials are missing, unknown or expired (or a login
	// failed). A 401 {"error":"unauthorized"} from 7.x+ means "not allowed" and is ErrForbidden.
	ErrUnauthorized = errors.New("rocketchat: unauthorized")
	ErrForbidden    = errors.New("rocketchat: forbidden")
	ErrNotFound     = errors.New("rocketchat: not found")
	// ErrTOTPRequired: the call needs a second factor (errorType totp-required or totp-invalid).
	ErrTOTPRequired = errors.New("rocketchat: two-factor code required")
	// ErrRateLimited: a 429 that could not be waited out; the error is a *RateLimitError.
	ErrRateLimited = errors.New("rocketchat: rate limited")
	// ErrMessageIDTaken: a message id chosen by the sender already names another user's
	// message (or one in another room).
	ErrMessageIDTaken = errors.New("rocketchat: message id taken")
)

// APIError is a non-2xx answer. Message is Rocket.Chat's text; map it, never echo it to users.
type APIError struct {
	Endpoint  string
	Status    int
	ErrorType string // errorType, or the string "error" code when there is none
	Message   string
	Details   json.RawMessage
	badToken  bool
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("rocketchat: %s: status %d", e.Endpoint, e.Status)
	if e.ErrorType != "" {
		s += " " + e.ErrorType
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is matches ErrUnauthorized, ErrForbidden, ErrNotFound and ErrTOTPRequired.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized && e.badToken
	case ErrForbidden:
		return e.Status == http.StatusForbidden || (e.Status == http.StatusUnauthorized && !e.badToken)
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrTOTPRequired:
		return e.ErrorType == "totp-required" || e.ErrorType == "totp-invalid"
	}
	return false
}

// RateLimitError is a 429 whose reset lies beyond ClientOptions.RateLimitMaxWait or that
// persisted through every retry.
type RateLimitError struct {
	Endpoint string
	Reset    time.Time // zero when the server sent no X-RateLimit-Reset
}

func (e *RateLimitError) Error() string {
	if e.Reset.IsZero() {
		return "rocketchat: " + e.Endpoint + ": rate limited"
	}
	return fmt.Sprintf("rocketchat: %s: rate limited until %s", e.Endpoint, e.Reset.UTC().Format(time.RFC3339Nano))
}

func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// ClientOptions configures NewClient. Zero values get defaults.
type ClientOptions struct {
	BaseURL    string // http(s)://host[:port][/prefix], without /api
	HTTPClient *http.Client
	Logger     *slog.Logger
	// RetryMax is the number of retries after the first attempt (default 3; negative: none).
	RetryMax int
	// RetryWaitMin/Max bound the jittered exponential backoff for 5xx and network errors
	// (defaults 200 ms and 5 s).
	RetryWaitMin, RetryWaitMax time.Duration
	// RateLimitMaxWait is the longest a 429 is waited out (default 10 s); a later reset
	// returns a *RateLimitError at once.
	RateLimitMaxWait time.Duration
	// Observe, if set, sees every logical call (after retries): endpoint like
	// "chat.sendMessage", final HTTP status (0 on transport error), duration and error.
	Observe func(endpoint string, status int, d time.Duration, err error)
}

// Client is a Rocket.Chat REST client. It holds no credentials of its own.
type Client struct {
	base *url.URL
	rc   *retryablehttp.Client
	log  *slog.Logger
	opts ClientOptions

	verMu   sync.Mutex
	version string
}

// NewClient builds a Client.
func NewClient(opts ClientOptions) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(opts.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rocketchat: base URL %q: want http(s)://host", opts.BaseURL)
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = 3
	} else if opts.RetryMax < 0 {
		opts.RetryMax = 0
	}
	if opts.RetryWaitMin <= 0 {
		opts.RetryWaitMin = 200 * time.Millisecond
	}
	if opts.RetryWaitMax <= 0 {
		opts.RetryWaitMax = 5 * time.Second
	}
	if opts.RateLimitMaxWait <= 0 {
		opts.RateLimitMaxWait = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{base: u, log: opts.Logger, opts: opts}
	c.rc = &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       nil, // URLs and headers stay out of its logs
		RetryWaitMin: opts.RetryWaitMin,
		RetryWaitMax: opts.RetryWaitMax,
		RetryMax:     opts.RetryMax,
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return c, nil
}

// checkRetry retries network errors, 5xx and 429s whose reset is near enough. A call marked
// at-most-once (it creates something: a user, a token, a room, an upload) is retried only when
// Rocket.Chat cannot have run it: the connection was never made, or a 429 refused it.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	once := ctx.Value(onceKey{}) != nil
	if err != nil {
		return !once || neverSent(err), nil // transport error
	}
	if once && resp.StatusCode != http.StatusTooManyRequests {
		return false, nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		reset, ok := rateLimitReset(resp)
		return ok && time.Until(reset) <= c.opts.RateLimitMaxWait, nil
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

// backoff waits for X-RateLimit-Reset on a 429, else full-jitter exponential backoff.
func (c *Client) backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		if reset, ok := rateLimitReset(resp); ok {
			d := time.Until(reset) + 10*time.Millisecond
			if d < 0 {
				d = 0
			}
			return min2(d, c.opts.RateLimitMaxWait)
		}
	}
	return jitterBackoff(min, max, attempt)
}

func min2(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// jitterBackoff is "full jitter": uniform in [min, min(max, min·2^attempt)].
func jitterBackoff(min, max time.Duration, attempt int) time.Duration {
	ceil := max
	if attempt < 30 {
		if d := min << attempt; d > 0 && d < max {
			ceil = d
		}
	}
	if ceil <= min {
		return min
	}
	return min + rand.N(ceil-min)
}

func rateLimitReset(resp *http.Response) (time.Time, bool) {
	v := resp.Header.Get("X-RateLimit-Reset")
	if v == "" {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// onceKey marks a request context whose call must not be repeated once it may have run.
type onceKey struct{}

// neverSent reports whether a transport error happened before the request could reach the
// server: the connection was refused or never established.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// request is one REST call.
type request struct {
	method, endpoint string // endpoint without /api/v1/, may contain a path suffix
	cred             *Credentials
	query            url.Values
	body             any    // JSON-encoded
	raw              []byte // pre-encoded body (with contentType)
	contentType      string
	header           http.Header
	api              bool // true: /api/<endpoint> instead of /api/v1/
	once             bool // at most once: not retried once it may have reached Rocket.Chat
}

// do performs r and decodes a 2xx JSON body into out (nil: discard).
func (c *Client) do(ctx context.Context, r request, out any) (err error) {
	name, _, _ := strings.Cut(r.endpoint, "/")
	start := time.Now()
	status := 0
	defer func() {
		if c.opts.Observe != nil {
			c.opts.Observe(name, status, time.Since(start), err)
		}
		if err != nil {
			c.log.DebugContext(ctx, "rocketchat call failed", "endpoint", name, "status", status, "err", err)
		}
	}()
	req, err := c.newRequest(ctx, r, name)
	if err != nil {
		return err
	}
	resp, err := c.rc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("rocketchat: %s: %w", name, ctx.Err())
		}
		return fmt.Errorf("rocketchat: %s: %w", name, stripURL(err))
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("rocketchat: %s: read body: %w", name, err)
	}
	if status == http.StatusTooManyRequests {
		reset, _ := rateLimitReset(resp)
		return &RateLimitError{Endpoint: name, Reset: reset}
	}
	if status < 200 || status > 299 {
		return decodeAPIError(name, status, b)
	}
	// A few legacy routes answer a failure with 200 and success:false or status:"error"; it
	// is treated as a 400 so callers see one kind of failure. The body is decoded into out
	// first, which validates it, so the check then only scans its top level.
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			if refused2xx(b, false) {
				return decodeAPIError(name, http.StatusBadRequest, b)
			}
			return fmt.Errorf("rocketchat: %s: decode response: %w", name, err)
		}
	}
	if refused2xx(b, out != nil) {
		return decodeAPIError(name, http.StatusBadRequest, b)
	}
	return nil
}

// newRequest builds r's HTTP request: URL, JSON or raw body, credentials and the
// at-most-once mark checkRetry reads.
func (c *Client) newRequest(ctx context.Context, r request, name string) (*retryablehttp.Request, error) {
	u := *c.base
	if r.api {
		u.Path += "/api/" + r.endpoint
	} else {
		u.Path += "/api/v1/" + r.endpoint
	}
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body []byte
	ctype := r.contentType
	switch {
	case r.raw != nil:
		body = r.raw
	case r.body != nil:
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("rocketchat: %s: encode: %w", name, err)
		}
		ctype = "application/json"
	}
	var rb any
	if body != nil {
		rb = body
	}
	rctx := ctx
	if r.once {
		rctx = context.WithValue(ctx, onceKey{}, true)
	}
	req, err := retryablehttp.NewRequestWithContext(rctx, r.method, u.String(), rb)
	if err != nil {
		return nil, fmt.Errorf("rocketchat: %s: %w", name, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.cred != nil {
		req.Header.Set("X-User-Id", r.cred.UserID)
		req.Header.Set("X-Auth-Token", r.cred.Token)
		if r.cred.PasswordDigest != "" {
			req.Header.Set("x-2fa-method", "password")
			req.Header.Set("x-2fa-code", r.cred.PasswordDigest)
		}
	}
	return req, nil
}

// Forward sends one caller-formed request to /api/v1/<path> (path unescaped, endpoint name
// first) with cred, under the client's retry and rate-limit policy; a POST is at most once.
// A 2xx answer is returned for the caller to stream and close, whatever its body says; any
// other answer is an *APIError or *RateLimitError, as from every other call.
func (c *Client) Forward(ctx context.Context, cred Credentials, method, path string, query url.Values, body []byte, contentType string) (resp *http.Response, err error) {
	name, _, _ := strings.Cut(path, "/")
	start := time.Now()
	status := 0
	defer func() {
		if c.opts.Observe != nil {
			c.opts.Observe(name, status, time.Since(start), err)
		}
	}()
	r := request{method: method, endpoint: path, cred: &cred, query: query, once: method != http.MethodGet && method != http.MethodHead}
	if body != nil {
		r.raw, r.contentType = body, contentType
	}
	req, err := c.newRequest(ctx, r, name)
	if err != nil {
		return nil, err
	}
	resp, err = c.rc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rocketchat: %s: %w", name, ctx.Err())
		}
		return nil, fmt.Errorf("rocketchat: %s: %w", name, stripURL(err))
	}
	status = resp.StatusCode
	if status/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	if status == http.StatusTooManyRequests {
		reset, _ := rateLimitReset(resp)
		return nil, &RateLimitError{Endpoint: name, Reset: reset}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("rocketchat: %s: read body: %w", name, err)
	}
	return nil, decodeAPIError(name, status, b)
}

// refused2xx reports whether a 2xx body is an object that says the call failed. With valid
// (b is known to be valid JSON) its top level is scanned, not decoded again.
func refused2xx(b []byte, valid bool) bool {
	if valid {
		// Last value wins for a repeated key, as in encoding/json; anything but a plain
		// boolean, null or string falls back to decoding.
		var failed, errored bool
		if members(b, func(key, val []byte) bool {
			switch string(key) {
			case "success":
				switch string(val) {
				case "false":
					failed = true
				case "true", "null":
					failed = false
				default:
					return false
				}
			case "status":
				s, ok := stringValue(val)
				errored = s == "error"
				return ok
			default:
				return other(key, "success", "status")
			}
			return true
		}) {
			return failed || errored
		}
	}
	var env struct {
		Success *bool  `json:"success"`
		Status  string `json:"status"`
	}
	if json.Unmarshal(b, &env) != nil {
		return false
	}
	return (env.Success != nil && !*env.Success) || env.Status == "error"
}

// stripURL drops the request URL from *url.Error so query strings never reach logs.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func decodeAPIError(endpoint string, status int, b []byte) *APIError {
	e := &APIError{Endpoint: endpoint, Status: status}
	var w struct {
		Error     json.RawMessage `json:"error"`
		ErrorType string          `json:"errorType"`
		Status    string          `json:"status"`
		Message   string          `json:"message"`
		Details   json.RawMessage `json:"details"`
	}
	if json.Unmarshal(b, &w) != nil {
		e.Message = http.StatusText(status)
		e.badToken = status == http.StatusUnauthorized
		return e
	}
	var errStr string
	if len(w.Error) > 0 && w.Error[0] == '"' {
		_ = json.Unmarshal(w.Error, &errStr)
	} else if len(w.Error) > 0 {
		errStr = string(w.Error) // numeric code, e.g. 403 on "Incorrect password"
	}
	e.ErrorType = w.ErrorType
	e.Message = w.Message
	if e.Message == "" {
		e.Message = errStr
	}
	if e.ErrorType == "" && (strings.Contains(errStr, "E11000") || strings.Contains(errStr, "duplicate key")) {
		// A MongoDB unique-index violation passed through as text.
		e.ErrorType = "duplicate-key"
	}
	if e.ErrorType == "" && errStr != "" && !strings.Contains(errStr, " ") {
		e.ErrorType = errStr
	}
	if e.ErrorType == "" {
		// Meteor errors answered through API.v1.unauthorized/forbidden(e.message) carry their
		// code only as the " [code]" suffix of error (apps/meteor/app/api/server/ApiClass.ts).
		e.ErrorType = bracketCode(errStr)
	}
	e.Details = w.Details
	// A bad or missing token is 401 with status:"error" (before 9.0) or the "must be logged
	// in" text (9.x drops status). Other 401s mean "not allowed": 7.x+ api.unauthorized() is
	// {"error":"unauthorized"}, and from 9.0 (applyBreakingChanges = shouldBreakInVersion('9.0.0'),
	// ApiClass.ts) a Meteor.Error('error-unauthorized', ...) thrown by a route's permission
	// check is 401 {"error":"<reason> [error-unauthorized]"} where 7.x/8.x answered 403.
	if status == http.StatusUnauthorized {
		notAllowed := errStr == "unauthorized" ||
			(e.ErrorType == "error-unauthorized" && !strings.Contains(errStr, "must be logged in"))
		e.badToken = !notAllowed || w.Status == "error"
	}
	return e
}

// bracketCode returns the code of a Meteor error message "reason [code]", or "".
func bracketCode(msg string) string {
	if !strings.HasSuffix(msg, "]") {
		return ""
	}
	i := strings.LastIndex(msg, " [")
	if i < 0 {
		return ""
	}
	code := msg[i+2 : len(msg)-1]
	if code == "" || strings.ContainsAny(code, " []") {
		return ""
	}
	return code
}

// --- typed views ---

// ServerInfo is /api/info.
type ServerInfo struct {
	Version string `json:"version"`
}

// Major is the major version number (0 if unknown).
func (s ServerInfo) Major() int { m, _ := parseVersion(s.Version); return m }

func parseVersion(v string) (major, minor int) {
	parts := strings.SplitN(v, ".", 3)
	major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}

// User is a typed view of a Rocket.Chat user; Raw is the whole object.
type User struct {
	ID       string          `json:"_id"`
	Username string          `json:"username"`
	Name     string          `json:"name"`
	Active   bool            `json:"active"`
	Roles    []string        `json:"roles"`
	Raw      json.RawMessage `json:"-"`
}

func userFrom(raw json.RawMessage) (User, error) {
	var u User
	if err := json.Unmarshal(raw, &u); err != nil {
		return User{}, err
	}
	u.Raw = raw
	return u, nil
}

// Room is a typed view of a Rocket.Chat room; Raw is the whole object.
type Room struct {
	ID    string `json:"_id"`
	Type  string `json:"t"` // c (public), p (private), d (direct)
	Name  string `json:"name"`
	FName string `json:"fname"` // display name, when it differs from name
	// LastMessage is the room's last message object (absent or null when none).
	LastMessage json.RawMessage `json:"lastMessage"`
	// LastMessageAt is lm, the time of the last message.
	LastMessageAt Date            `json:"lm"`
	UpdatedAt     Date            `json:"_updatedAt"`
	Raw           json.RawMessage `json:"-"`
}

func roomFrom(raw json.RawMessage) (Room, error) {
	var r Room
	if err := json.Unmarshal(raw, &r); err != nil {
		return Room{}, err
	}
	r.Raw = raw
	return r, nil
}

// Info is GET /api/info. It also remembers the server version for version-dependent calls.
func (c *Client) Info(ctx context.Context) (ServerInfo, error) {
	var out struct {
		Version string     `json:"version"`
		Info    ServerInfo `json:"info"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "info", api: true}, &out); err != nil {
		return ServerInfo{}, err
	}
	si := ServerInfo{Version: out.Version}
	if si.Version == "" {
		si = out.Info
	}
	c.verMu.Lock()
	c.version = si.Version
	c.verMu.Unlock()
	return si, nil
}

// serverMajor returns the cached server major version, asking /api/info once.
func (c *Client) serverMajor(ctx context.Context) (int, error) {
	c.verMu.Lock()
	v := c.version
	c.verMu.Unlock()
	if v == "" {
		si, err := c.Info(ctx)
		if err != nil {
			return 0, err
		}
		v = si.Version
	}
	m, _ := parseVersion(v)
	return m, nil
}

// LoginResult is a successful password login.
type LoginResult struct {
	Credentials Credentials
	Me          User
}

// Login logs in with username (or email) and password. The returned Credentials carry the
// password digest for the 2FA password fallback. A totp-required answer matches
// ErrTOTPRequired; wrong credentials match ErrUnauthorized.
func (c *Client) Login(ctx context.Context, username, password string) (LoginResult, error) {
	digest := PasswordDigest(password)
	body := map[string]any{"password": password}
	if strings.Contains(username, "@") {
		body["email"] = username
	} else {
		body["username"] = username
	}
	var out struct {
		Data struct {
			UserID    string          `json:"userId"`
			AuthToken string          `json:"authToken"`
			Me        json.RawMessage `json:"me"`
		} `json:"data"`
	}
	h := http.Header{}
	h.Set("x-2fa-method", "password")
	h.Set("x-2fa-code", digest)
	if err := c.do(ctx, request{method: http.MethodPost, endpoint: "login", body: body, header: h}, &out); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && !ae.Is(ErrTOTPRequired) {
			ae.badToken = true
		}
		return LoginResult{}, err
	}
	if out.Data.UserID == "" || out.Data.AuthToken == "" {
		return LoginResult{}, errors.New("rocketchat: login: response without userId/authToken")
	}
	res := LoginResult{Credentials: Credentials{UserID: out.Data.UserID, Token: out.Data.AuthToken, PasswordDigest: digest}}
	if len(out.Data.Me) > 0 {
		res.Me, _ = userFrom(out.Data.Me)
	}
	return res, nil
}

// Logout invalidates cred's token (closing DDP connections that use it).
func (c *Client) Logout(ctx context.Context, cred Credentials) error {
	return c.do(ctx, request{method: http.MethodPost, endpoint: "logout", cred: &cred, body: map[string]any{}}, nil)
}

// Me is GET me.
func (c *Client) Me(ctx context.Context, cred Credentials) (User, error) {
	var raw json.RawMessage
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "me", cred: &cred}, &raw); err != nil {
		return User{}, err
	}
	return userFrom(raw)
}

// NewUser is the body of users.create.
type NewUser struct {
	Username, Name, Email, Password string
	Verified                        bool
	Roles                           []string
	// JoinDefaultChannels defaults to Rocket.Chat's true when nil.
	JoinDefaultChannels *bool
}

// CreateUser is users.create (admin).
func (c *Client) CreateUser(ctx context.Context, admin Credentials, u NewUser) (User, error) {
	body := map[string]any{"username": u.Username, "name": u.Name, "email": u.Email, "password": u.Password,
		"verified": u.Verified, "sendWelcomeEmail": false}
	if len(u.Roles) > 0 {
		body["roles"] = u.Roles
	}
	if u.JoinDefaultChannels != nil {
		body["joinDefaultChannels"] = *u.JoinDefaultChannels
	}
	return c.userCall(ctx, request{method: http.MethodPost, endpoint: "users.create", cred: &admin, body: body, once: true})
}

func (c *Client) userCall(ctx context.Context, r request) (User, error) {
	var out struct {
		User json.RawMessage `json:"user"`
	}
	if err := c.do(ctx, r, &out); err != nil {
		return User{}, err
	}
	if len(out.User) == 0 {
		return User{}, fmt.Errorf("rocketchat: %s: response without user", r.endpoint)
	}
	return userFrom(out.User)
}

// UserInfo is users.info by username.
func (c *Client) UserInfo(ctx context.Context, cred Credentials, username string) (User, error) {
	return c.userCall(ctx, request{method: http.MethodGet, endpoint: "users.info", cred: &cred, query: url.Values{"username": {username}}})
}

// UserInfoByID is users.info by user id.
func (c *Client) UserInfoByID(ctx context.Context, cred Credentials, userID string) (User, error) {
	return c.userCall(ctx, request{method: http.MethodGet, endpoint: "users.info", cred: &cred, query: url.Values{"userId": {userID}}})
}

// UpdateUser is users.update; data holds the fields to change (name, email, password, ...).
func (c *Client) UpdateUser(ctx context.Context, admin Credentials, userID string, data map[string]any) (User, error) {
	return c.userCall(ctx, request{method: http.MethodPost, endpoint: "users.update", cred: &admin, body: map[string]any{"userId": userID, "data": data}})
}

// SetActiveStatus is users.setActiveStatus (admin): {userId, activeStatus}
// (apps/meteor/app/api/server/v1/users.ts; Rocket.Chat removes a deactivated user's login
// tokens).
func (c *Client) SetActiveStatus(ctx context.Context, admin Credentials, userID string, active bool) error {
	return c.do(ctx, request{method: http.MethodPost, endpoint: "users.setActiveStatus", cred: &admin, body: map[string]any{"userId": userID, "activeStatus": active}}, nil)
}

// DeleteUser is users.delete.
func (c *Client) DeleteUser(ctx context.Context, admin Credentials, userID string) error {
	return c.do(ctx, request{method: http.MethodPost, endpoint: "users.delete", cred: &admin, body: map[string]any{"userId": userID}}, nil)
}

// Page selects a slice of a list.
type Page struct{ Offset, Count int }

func (p Page) values() url.Values {
	v := url.Values{}
	if p.Offset > 0 {
		v.Set("offset", strconv.Itoa(p.Offset))
	}
	if p.Count > 0 {
		v.Set("count", strconv.Itoa(p.Count))
	}
	return v
}

// List is one page of a paginated answer.
type List struct {
	Items                []json.RawMessage
	Count, Offset, Total int
}

func (c *Client) list(ctx context.Context, cred Credentials, endpoint, key string, q url.Values) (List, error) {
	var out map[string]json.RawMessage
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: endpoint, cred: &cred, query: q}, &out); err != nil {
		return List{}, err
	}
	var l List
	if raw, ok := out[key]; ok {
		if err := json.Unmarshal(raw, &l.Items); err != nil {
			return List{}, fmt.Errorf("rocketchat: %s: decode %s: %w", endpoint, key, err)
		}
	}
	for k, p := range map[string]*int{"count": &l.Count, "offset": &l.Offset, "total": &l.Total} {
		if raw, ok := out[k]; ok {
			_ = json.Unmarshal(raw, p)
		}
	}
	return l, nil
}

// ListUsers is users.list.
func (c *Client) ListUsers(ctx context.Context, cred Credentials, p Page) (List, error) {
	return c.list(ctx, cred, "users.list", "users", p.values())
}

// CreateToken is users.createToken for the Rocket.Chat user userID, run with the admin's
// credentials. secret is CREATE_TOKENS_FOR_USERS_SECRET, sent only to 8.x+ servers (asked
// once via /api/info): 8.x checks the body against exactly {userId, secret} and refuses
// anything else with invalid-params (apps/meteor/server/api/v1/users.ts), so the body never
// carries a username. On 8.7+ the route is twoFactorRequired; a refusal matches
// ErrTOTPRequired.
func (c *Client) CreateToken(ctx context.Context, admin Credentials, userID, secret string) (Credentials, error) {
	if userID == "" {
		return Credentials{}, errors.New("rocketchat: users.createToken: empty user id")
	}
	major, err := c.serverMajor(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("rocketchat: users.createToken: server version: %w", err)
	}
	body := map[string]any{"userId": userID}
	if major >= 8 {
		body["secret"] = secret
	}
	var out struct {
		Data struct {
			UserID    string `json:"userId"`
			AuthToken string `json:"authToken"`
		} `json:"data"`
	}
	if err := c.do(ctx, request{method: http.MethodPost, endpoint: "users.createToken", cred: &admin, body: body, once: true}, &out); err != nil {
		return Credentials{}, err
	}
	if out.Data.UserID == "" || out.Data.AuthToken == "" {
		return Credentials{}, errors.New("rocketchat: users.createToken: response without userId/authToken")
	}
	return Credentials{UserID: out.Data.UserID, Token: out.Data.AuthToken}, nil
}

// --- rooms ---

func (c *Client) roomCall(ctx context.Context, r request, key string) (Room, error) {
	var out map[string]json.RawMessage
	if err := c.do(ctx, r, &out); err != nil {
		return Room{}, err
	}
	raw := out[key]
	if len(raw) == 0 {
		return Room{}, fmt.Errorf("rocketchat: %s: response without %s", r.endpoint, key)
	}
	return roomFrom(raw)
}

// CreateDirect is im.create with one or more usernames (several make a group DM).
func (c *Client) CreateDirect(ctx context.Context, cred Credentials, usernames ...string) (Room, error) {
	body := map[string]any{}
	if len(usernames) == 1 {
		body["username"] = usernames[0]
	} else {
		body["usernames"] = strings.Join(usernames, ",")
	}
	return c.roomCall(ctx, request{method: http.MethodPost, endpoint: "im.create", cred: &cred, body: body}, "room")
}

// RoomKind selects channels.* (public) or groups.* (private) endpoints.
type RoomKind string

const (
	Channel RoomKind = "channels"
	Group   RoomKind = "groups"
	Direct  RoomKind = "im"
)

func (k RoomKind) key() string {
	switch k {
	case Group:
		return "group"
	case Direct:
		return "room"
	}
	return "channel"
}

func (k RoomKind) valid() error {
	if k != Channel && k != Group && k != Direct {
		return fmt.Errorf("rocketchat: unknown room kind %q", string(k))
	}
	return nil
}

// CreateRoom is channels.create / groups.create.
func (c *Client) CreateRoom(ctx context.Context, cred Credentials, kind RoomKind, name string, members []string) (Room, error) {
	if kind != Channel && kind != Group {
		return Room{}, fmt.Errorf("rocketchat: create room: kind %q", string(kind))
	}
	body := map[string]any{"name": name}
	if len(members) > 0 {
		body["members"] = members
	}
	return c.roomCall(ctx, request{method: http.MethodPost, endpoint: string(kind) + ".create", cred: &cred, body: body, once: true}, kind.key())
}

// RoomInfoKind is channels.info / groups.info by room id.
func (c *Client) RoomInfoKind(ctx context.Context, cred Credentials, kind RoomKind, roomID string) (Room, error) {
	if kind != Channel && kind != Group {
		return Room{}, fmt.Errorf("rocketchat: room info: kind %q", string(kind))
	}
	return c.roomCall(ctx, request{method: http.MethodGet, endpoint: string(kind) + ".info", cred: &cred, query: url.Values{"roomId": {roomID}}}, kind.key())
}

// Invite is channels.invite / groups.invite.
func (c *Client) Invite(ctx context.Context, cred Credentials, kind RoomKind, roomID, userID string) (Room, error) {
	return c.roomCall(ctx, request{method: http.MethodPost, endpoint: string(kind) + ".invite", cred: &cred, body: map[string]any{"roomId": roomID, "userId": userID}}, kind.key())
}

// Kick is channels.kick / groups.kick.
func (c *Client) Kick(ctx context.Context, cred Credentials, kind RoomKind, roomID, userID string) (Room, error) {
	return c.roomCall(ctx, request{method: http.MethodPost, endpoint: string(kind) + ".kick", cred: &cred, body: map[string]any{"roomId": roomID, "userId": userID}}, kind.key())
}

// Join is channels.join.
func (c *Client) Join(ctx context.Context, cred Credentials, roomID string) (Room, error) {
	return c.roomCall(ctx, request{method: http.MethodPost, endpoint: "channels.join", cred: &cred, body: map[string]any{"roomId": roomID}}, "channel")
}

// Leave is channels.leave / groups.leave.
func (c *Client) Leave(ctx context.Context, cred Credentials, kind RoomKind, roomID string) error {
	return c.do(ctx, request{method: http.MethodPost, endpoint: string(kind) + ".leave", cred: &cred, body: map[string]any{"roomId": roomID}}, nil)
}

// HistoryOptions narrows a history call.
type HistoryOptions struct {
	Latest, Oldest time.Time
	Inclusive      bool
	Count, Offset  int
	// ThreadReplies lists thread replies too (showThreadMessages=true): by default
	// channels.history and im.history leave them out and groups.history keeps them
	// (apps/meteor/app/api/server/v1/channels.ts, im.ts, groups.ts).
	ThreadReplies bool
}

// History is im.history / channels.history / groups.history; messages newest first.
func (c *Client) History(ctx context.Context, cred Credentials, kind RoomKind, roomID string, o HistoryOptions) ([]json.RawMessage, error) {
	if err := kind.valid(); err != nil {
		return nil, err
	}
	q := Page{Offset: o.Offset, Count: o.Count}.values()
	q.Set("roomId", roomID)
	if !o.Latest.IsZero() {
		q.Set("latest", isoTime(o.Latest))
	}
	if !o.Oldest.IsZero() {
		q.Set("oldest", isoTime(o.Oldest))
	}
	if o.Inclusive {
		q.Set("inclusive", "true")
	}
	if o.ThreadReplies {
		q.Set("showThreadMessages", "true")
	}
	var out struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: string(kind) + ".history", cred: &cred, query: q}, &out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// ListRooms is im.list / channels.list / groups.list.
func (c *Client) ListRooms(ctx context.Context, cred Credentials, kind RoomKind, p Page) (List, error) {
	key := map[RoomKind]string{Channel: "channels", Group: "groups", Direct: "ims"}[kind]
	if key == "" {
		return List{}, kind.valid()
	}
	return c.list(ctx, cred, string(kind)+".list", key, p.values())
}

// RoomInfo is rooms.info.
func (c *Client) RoomInfo(ctx context.Context, cred Credentials, roomID string) (Room, error) {
	return c.roomCall(ctx, request{method: http.MethodGet, endpoint: "rooms.info", cred: &cred, query: url.Values{"roomId": {roomID}}}, "room")
}

func (c *Client) updatedSince(ctx context.Context, cred Credentials, endpoint string, since time.Time) (update, remove []json.RawMessage, err error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("updatedSince", isoTime(since))
	}
	var out struct {
		Update []json.RawMessage `json:"update"`
		Remove []json.RawMessage `json:"remove"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: endpoint, cred: &cred, query: q}, &out); err != nil {
		return nil, nil, err
	}
	return out.Update, out.Remove, nil
}

// RoomsGet is rooms.get; a zero updatedSince lists every room.
func (c *Client) RoomsGet(ctx context.Context, cred Credentials, updatedSince time.Time) (update, remove []json.RawMessage, err error) {
	return c.updatedSince(ctx, cred, "rooms.get", updatedSince)
}

// SubscriptionsGet is subscriptions.get; a zero updatedSince lists every subscription.
func (c *Client) SubscriptionsGet(ctx context.Context, cred Credentials, updatedSince time.Time) (update, remove []json.RawMessage, err error) {
	return c.updatedSince(ctx, cred, "subscriptions.get", updatedSince)
}

// SubscriptionsRead is subscriptions.read (mark a room read).
func (c *Client) SubscriptionsRead(ctx context.Context, cred Credentials, roomID string) error {
	return c.do(ctx, request{method: http.MethodPost, endpoint: "subscriptions.read", cred: &cred, body: map[string]any{"rid": roomID}}, nil)
}

// --- messages ---

// OutgoingMessage is chat.sendMessage's message. ID is client-chosen (NewMessageID) so a
// retried send cannot post twice.
type OutgoingMessage struct {
	ID, RoomID, Text string
	ThreadID         string // tmid, optional
}

// NewMessageID returns a fresh Meteor-style 17-character id.
func NewMessageID() string {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
	b := make([]byte, 17)
	for i := range b {
		b[i] = alphabet[rand.N(len(alphabet))]
	}
	return string(b)
}

// SendMessage is chat.sendMessage. An empty ID gets one. Rocket.Chat does not say
// "duplicate": sendMessage skips the insert when the _id exists and chat.sendMessage then
// fails with a 400 TypeError text (apps/meteor/app/lib/server/functions/sendMessage.ts). So on
// any 400 the message with that id is fetched: the caller's own message in this room is the
// answer (a retried send that went through); anyone else's, or one in another room, is an
// error matching ErrMessageIDTaken and is never handed out.
func (c *Client) SendMessage(ctx context.Context, cred Credentials, m OutgoingMessage) (json.RawMessage, error) {
	if m.ID == "" {
		m.ID = NewMessageID()
	}
	msg := map[string]any{"_id": m.ID, "rid": m.RoomID, "msg": m.Text}
	if m.ThreadID != "" {
		msg["tmid"] = m.ThreadID
	}
	var out struct {
		Message json.RawMessage `json:"message"`
	}
	err := c.do(ctx, request{method: http.MethodPost, endpoint: "chat.sendMessage", cred: &cred, body: map[string]any{"message": msg}}, &out)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			// A network-retried send whose first attempt went through is refused as a
			// duplicate; the message with our id is the answer.
			if got, gerr := c.GetMessage(ctx, cred, m.ID); gerr == nil {
				var v struct {
					RID string `json:"rid"`
					U   struct {
						ID string `json:"_id"`
					} `json:"u"`
				}
				if json.Unmarshal(got, &v) == nil {
					if v.RID == m.RoomID && v.U.ID == cred.UserID {
						return got, nil
					}
					return nil, fmt.Errorf("rocketchat: chat.sendMessage: %w", ErrMessageIDTaken)
				}
			}
		}
		return nil, err
	}
	return out.Message, nil
}

// GetMessage is chat.getMessage.
func (c *Client) GetMessage(ctx context.Context, cred Credentials, msgID string) (json.RawMessage, error) {
	var out struct {
		Message json.RawMessage `json:"message"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "chat.getMessage", cred: &cred, query: url.Values{"msgId": {msgID}}}, &out); err != nil {
		return nil, err
	}
	if len(out.Message) == 0 || string(out.Message) == "null" {
		return nil, &APIError{Endpoint: "chat.getMessage", Status: http.StatusNotFound, Message: "message not found"}
	}
	return out.Message, nil
}

// UpdateMessage is chat.update.
func (c *Client) UpdateMessage(ctx context.Context, cred Credentials, roomID, msgID, text string) (json.RawMessage, error) {
	var out struct {
		Message json.RawMessage `json:"message"`
	}
	if err := c.do(ctx, request{method: http.MethodPost, endpoint: "chat.update", cred: &cred, body: map[string]any{"roomId": roomID, "msgId": msgID, "text": text}}, &out); err != nil {
		return nil, err
	}
	return out.Message, nil
}

// DeleteMessage is chat.delete.
func (c *Client) DeleteMessage(ctx context.Context, cred Credentials, roomID, msgID string) error {
	return c.do(ctx, request{method: http.MethodPost, endpoint: "chat.delete", cred: &cred, body: map[string]any{"roomId": roomID, "msgId": msgID}}, nil)
}

// SyncMessages is chat.syncMessages: messages changed and deleted in rid since lastUpdate.
func (c *Client) SyncMessages(ctx context.Context, cred Credentials, rid string, lastUpdate time.Time) (updated, deleted []json.RawMessage, err error) {
	q := url.Values{"roomId": {rid}, "lastUpdate": {isoTime(lastUpdate)}}
	var out struct {
		Result struct {
			Updated []json.RawMessage `json:"updated"`
			Deleted []json.RawMessage `json:"deleted"`
		} `json:"result"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "chat.syncMessages", cred: &cred, query: q}, &out); err != nil {
		return nil, nil, err
	}
	return out.Result.Updated, out.Result.Deleted, nil
}

// Upload is a file to post into a room. An empty or generic (application/octet-stream)
// ContentType is replaced by the type of FileName's extension.
type Upload struct {
	FileName, ContentType string
	Data                  []byte
	Msg, Description      string
	ThreadID              string
}

// UploadFile posts a file message: rooms.media + rooms.mediaConfirm on 7.0+, rooms.upload on
// older servers. It returns the message.
func (c *Client) UploadFile(ctx context.Context, cred Credentials, roomID string, up Upload) (json.RawMessage, error) {
	major, err := c.serverMajor(ctx)
	if err != nil {
		return nil, fmt.Errorf("rocketchat: upload: server version: %w", err)
	}
	if up.FileName == "" {
		return nil, errors.New("rocketchat: upload: file name missing")
	}
	extra := map[string]string{}
	for k, v := range map[string]string{"msg": up.Msg, "description": up.Description, "tmid": up.ThreadID} {
		if v != "" {
			extra[k] = v
		}
	}
	var msgOut struct {
		Message json.RawMessage `json:"message"`
	}
	if major > 0 && major < 7 {
		body, ctype, err := multipartBody(up, extra)
		if err != nil {
			return nil, err
		}
		if err := c.do(ctx, request{method: http.MethodPost, endpoint: "rooms.upload/" + url.PathEscape(roomID), cred: &cred, raw: body, contentType: ctype, once: true}, &msgOut); err != nil {
			return nil, err
		}
		return msgOut.Message, nil
	}
	body, ctype, err := multipartBody(up, nil)
	if err != nil {
		return nil, err
	}
	var media struct {
		File struct {
			ID string `json:"_id"`
		} `json:"file"`
	}
	if err := c.do(ctx, request{method: http.MethodPost, endpoint: "rooms.media/" + url.PathEscape(roomID), cred: &cred, raw: body, contentType: ctype, once: true}, &media); err != nil {
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
			return nil, err
		}
		// A server without rooms.media (before 7.0, version unknown or misreported): the
		// one-step rooms.upload, which carries the message fields in the form.
		body, ctype, err := multipartBody(up, extra)
		if err != nil {
			return nil, err
		}
		if err := c.do(ctx, request{method: http.MethodPost, endpoint: "rooms.upload/" + url.PathEscape(roomID), cred: &cred, raw: body, contentType: ctype, once: true}, &msgOut); err != nil {
			return nil, err
		}
		return msgOut.Message, nil
	}
	if media.File.ID == "" {
		return nil, errors.New("rocketchat: rooms.media: response without file id")
	}
	if err := c.do(ctx, request{method: http.MethodPost, endpoint: "rooms.mediaConfirm/" + url.PathEscape(roomID) + "/" + url.PathEscape(media.File.ID), cred: &cred, body: extra}, &msgOut); err != nil {
		return nil, err
	}
	return msgOut.Message, nil
}

func multipartBody(up Upload, fields map[string]string) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := make(map[string][]string)
	ct := uploadType(up.ContentType, up.FileName)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, up.FileName)}
	h["Content-Type"] = []string{ct}
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", fmt.Errorf("rocketchat: upload: %w", err)
	}
	if _, err := part.Write(up.Data); err != nil {
		return nil, "", fmt.Errorf("rocketchat: upload: %w", err)
	}
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			return nil, "", fmt.Errorf("rocketchat: upload: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("rocketchat: upload: %w", err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// uploadType is the MIME type sent to Rocket.Chat for an uploaded file: the given part type
// when it is specific, else the type of the file name's extension. Rocket.Chat stores the
// part's type and makes an image attachment (image_url, image_type) only for image/*
// (apps/meteor/app/file-upload/server/methods/sendFileMessage.ts), so a generic
// application/octet-stream would lose every preview.
func uploadType(partType, name string) string {
	if mt, _, err := mime.ParseMediaType(partType); err == nil && mt != "application/octet-stream" {
		return partType
	}
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); t != "" {
		return t
	}
	return "application/octet-stream"
}

// File is an upload as Rocket.Chat streams it: the caller reads Body and closes it.
type File struct {
	Status int         // Rocket.Chat's HTTP status (200, 403 when not a member, 404)
	Header http.Header // Content-Type, Content-Length, Content-Disposition, Last-Modified, …
	Body   io.ReadCloser
}

// OpenFile requests /file-upload/<id>/<name> with the user's credentials in X-User-Id and
// X-Auth-Token, which Rocket.Chat's requestCanAccessFiles accepts besides its rc_uid /
// rc_token cookies (apps/meteor/app/file-upload/server/lib/FileUpload.ts). It asks for the
// identity encoding: the GridFS store gzips when allowed (config/GridFS.ts), and a caller
// passing Content-Length on must get the bytes it describes. headerTimeout bounds the wait for
// the answer's headers; the body streams for as long as ctx lives. It is not retried. An id
// or name that would make another path (empty, a dot segment, a separator) is refused before
// any request: the request carries the user's token.
func (c *Client) OpenFile(ctx context.Context, cred Credentials, id, name string, headerTimeout time.Duration) (*File, error) {
	if !fileSegment(id) || !fileSegment(name) {
		return nil, fmt.Errorf("rocketchat: file-upload: invalid file id or name %q/%q", id, name)
	}
	u := *c.base
	u.Path += "/file-upload/" + id + "/" + name
	u.RawPath, u.RawQuery = "", ""
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("rocketchat: file-upload: %w", err)
	}
	req.Header.Set("X-User-Id", cred.UserID)
	req.Header.Set("X-Auth-Token", cred.Token)
	req.Header.Set("Accept-Encoding", "identity")
	timer := time.AfterFunc(headerTimeout, cancel)
	start := time.Now()
	resp, err := c.rc.HTTPClient.Do(req)
	if !timer.Stop() && err == nil {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	if c.opts.Observe != nil {
		c.opts.Observe("file-upload", status, time.Since(start), err)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("rocketchat: file-upload: %w", stripURL(err))
	}
	return &File{Status: resp.StatusCode, Header: resp.Header, Body: &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}}, nil
}

// fileSegment reports whether s stays one path segment of /file-upload/<id>/<name>.
func fileSegment(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\")
}

// cancelOnClose releases a response's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
