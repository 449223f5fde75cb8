package rctest

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // image.DecodeConfig for uploads
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// call is one REST request being served (Server.mu held while its handler runs).
type call struct {
	s      *Server
	r      *http.Request
	u      *user
	tok    *loginToken
	body   map[string]json.RawMessage
	form   *multipart.Form
	q      url.Values
	rest   []string // path segments after the endpoint (rooms.media/<rid>)
	header http.Header
}

type reply struct {
	status int
	body   any
}

type route struct {
	auth    bool
	handler func(*call) reply
}

func (s *Server) routes() map[string]route {
	a := func(h func(*call) reply) route { return route{auth: true, handler: h} }
	rt := map[string]route{
		"POST login":                             {handler: (*call).login},
		"POST logout":                            a((*call).logout),
		"GET logout":                             a((*call).logout),
		"GET me":                                 a((*call).me),
		"POST users.create":                      a((*call).usersCreate),
		"GET users.info":                         a((*call).usersInfo),
		"POST users.update":                      a((*call).usersUpdate),
		"POST users.delete":                      a((*call).usersDelete),
		"POST users.setActiveStatus":             a((*call).usersSetActiveStatus),
		"GET users.list":                         a((*call).usersList),
		"POST users.createToken":                 a((*call).usersCreateToken),
		"POST users.logout":                      a((*call).usersLogout),
		"GET rooms.get":                          a((*call).roomsGet),
		"GET rooms.info":                         a((*call).roomsInfo),
		"POST rooms.cleanHistory":                a((*call).roomsCleanHistory),
		"GET subscriptions.get":                  a((*call).subscriptionsGet),
		"POST subscriptions.read":                a((*call).subscriptionsRead),
		"POST chat.sendMessage":                  a((*call).chatSendMessage),
		"POST chat.postMessage":                  a((*call).chatPostMessage),
		"POST chat.update":                       a((*call).chatUpdate),
		"POST chat.delete":                       a((*call).chatDelete),
		"GET chat.getMessage":                    a((*call).chatGetMessage),
		"GET chat.syncMessages":                  a((*call).chatSyncMessages),
		"POST channels.join":                     a((*call).channelsJoin),
		"POST rooms.upload":                      a((*call).roomsUpload),
		"POST rooms.media":                       a((*call).roomsMedia),
		"POST rooms.mediaConfirm":                a((*call).roomsMediaConfirm),
		"POST im.create":                         a((*call).imCreate),
		"GET im.history":                         a((*call).imHistory),
		"GET im.list":                            a((*call).imList),
		"POST channels.create":                   a(func(c *call) reply { return c.roomCreate("c") }),
		"POST groups.create":                     a(func(c *call) reply { return c.roomCreate("p") }),
		"GET channels.info":                      a(func(c *call) reply { return c.roomInfoKind("c") }),
		"GET groups.info":                        a(func(c *call) reply { return c.roomInfoKind("p") }),
		"POST channels.invite":                   a(func(c *call) reply { return c.roomInvite("c") }),
		"POST groups.invite":                     a(func(c *call) reply { return c.roomInvite("p") }),
		"POST channels.kick":                     a(func(c *call) reply { return c.roomKick("c") }),
		"POST groups.kick":                       a(func(c *call) reply { return c.roomKick("p") }),
		"GET channels.history":                   a(func(c *call) reply { return c.roomHistory("c") }),
		"GET groups.history":                     a(func(c *call) reply { return c.roomHistory("p") }),
		"GET channels.list":                      a(func(c *call) reply { return c.roomList("c") }),
		"GET groups.list":                        a(func(c *call) reply { return c.roomList("p") }),
		"POST channels.leave":                    a(func(c *call) reply { return c.roomLeave("c") }),
		"POST groups.leave":                      a(func(c *call) reply { return c.roomLeave("p") }),
		"POST users.generatePersonalAccessToken": a((*call).usersGeneratePAT),
		"GET info":                               a((*call).infoV1),
		"GET subscriptions.getOne":               a((*call).subscriptionsGetOne),
		"POST chat.react":                        a((*call).chatReact),
		"GET chat.getThreadMessages":             a((*call).chatGetThreadMessages),
		"GET chat.search":                        a((*call).chatSearch),
		"GET channels.members":                   a(func(c *call) reply { return c.roomMembers("c") }),
		"GET groups.members":                     a(func(c *call) reply { return c.roomMembers("p") }),
		"GET im.members":                         a(func(c *call) reply { return c.roomMembers("d") }),
		"GET channels.messages":                  a(func(c *call) reply { return c.roomMessages("c") }),
		"GET groups.messages":                    a(func(c *call) reply { return c.roomMessages("p") }),
		"GET im.messages":                        a(func(c *call) reply { return c.roomMessages("d") }),
		"GET channels.list.joined":               a((*call).channelsListJoined),
	}
	rt["GET dm.members"] = rt["GET im.members"]
	rt["GET dm.messages"] = rt["GET im.messages"]
	rt["POST dm.create"] = rt["POST im.create"]
	rt["GET dm.history"] = rt["GET im.history"]
	rt["GET dm.list"] = rt["GET im.list"]
	if s.major >= 8 {
		delete(rt, "POST rooms.upload")
	}
	if s.major < 7 {
		delete(rt, "POST rooms.media")
		delete(rt, "POST rooms.mediaConfirm")
	}
	return rt
}

func normalizeEndpoint(e string) string {
	e = strings.TrimPrefix(e, "/")
	e = strings.TrimPrefix(e, "api/v1/")
	e, _, _ = strings.Cut(e, "/")
	return e
}

const maxBody = 32 << 20

func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	status := s.serveRESTInner(w, r)
	s.log.Debug("rctest: rest", "method", r.Method, "path", r.URL.Path, "status", status)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: status,
		UserID: r.Header.Get("X-User-Id"), Time: time.Now()})
	s.mu.Unlock()
}

func (s *Server) serveRESTInner(w http.ResponseWriter, r *http.Request) int {
	s.mu.Lock()
	lat := s.latency
	s.mu.Unlock()
	if lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 499
		}
	}
	if r.URL.Path == "/api/info" {
		return s.info(w, r)
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/")
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"success": false, "error": "Resource not found"})
		return http.StatusNotFound
	}
	segs := strings.Split(rest, "/")
	endpoint := segs[0]

	// Read the body before taking the lock.
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "error": "Could not read body"})
		return http.StatusBadRequest
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fails[endpoint]; f != nil && f.times > 0 {
		f.times--
		if f.times == 0 {
			delete(s.fails, endpoint)
		}
		return s.writeFailure(w, f.status)
	}
	rt, ok := s.rt[r.Method+" "+endpoint]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"success": false, "error": "Resource not found"})
		return http.StatusNotFound
	}
	c := &call{s: s, r: r, q: r.URL.Query(), rest: segs[1:], header: w.Header()}
	val, hasVal := s.vals[r.Method+" "+endpoint]
	if hasVal && val.typed {
		// Typed routes validate query and body in Router.ts before the action authenticates.
		if r.Method != http.MethodGet {
			if rep, bad := c.parseBody(raw); bad {
				writeJSON(w, rep.status, rep.body)
				return rep.status
			}
		}
		if rep, ok := c.validate(val); !ok {
			writeJSON(w, rep.status, rep.body)
			return rep.status
		}
	}
	if rt.auth {
		uid, tok := r.Header.Get("X-User-Id"), r.Header.Get("X-Auth-Token")
		u, t := s.findToken(uid, tok)
		if u == nil || uid == "" || s.tokenExpired(t) || !u.active {
			rep := s.notLoggedIn()
			writeJSON(w, rep.status, rep.body)
			return rep.status
		}
		c.u, c.tok = u, t
	}
	if s.opts.RateLimit && !hasRole(c.u, "admin") && !hasRole(c.u, "bot") {
		if rep, limited := s.rateLimit(w, r, endpoint); limited {
			writeJSON(w, rep.status, rep.body)
			return rep.status
		}
	}
	if c.body == nil && c.form == nil {
		if rep, bad := c.parseBody(raw); bad {
			writeJSON(w, rep.status, rep.body)
			return rep.status
		}
	}
	if hasVal && !val.typed {
		// Legacy addRoute validateParams runs after authentication (ApiClass.ts).
		if rep, ok := c.validate(val); !ok {
			writeJSON(w, rep.status, rep.body)
			return rep.status
		}
	}
	rep := rt.handler(c)
	writeJSON(w, rep.status, rep.body)
	return rep.status
}

// parseBody reads a multipart form or a JSON object body into c; bad means rep is the answer.
func (c *call) parseBody(raw []byte) (rep reply, bad bool) {
	r := c.r
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "multipart/form-data":
		mr, err := multipartReader(r, raw)
		if err == nil {
			c.form, err = mr.ReadForm(maxBody)
		}
		if err != nil {
			return fail("error-invalid-field", "Invalid multipart body", nil), true
		}
	case len(bytes.TrimSpace(raw)) > 0 && r.Method == http.MethodPost:
		if err := json.Unmarshal(raw, &c.body); err != nil {
			return reply{http.StatusBadRequest, map[string]any{"success": false,
				"error": "Unexpected token in JSON body [invalid-params]", "errorType": "invalid-params"}}, true
		}
	}
	if c.body == nil {
		c.body = map[string]json.RawMessage{}
	}
	return reply{}, false
}

func multipartReader(r *http.Request, raw []byte) (*multipart.Reader, error) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, fmt.Errorf("no boundary")
	}
	return multipart.NewReader(bytes.NewReader(raw), params["boundary"]), nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimit applies the default REST limiter rule {IPAddr, route} (s.mu held).
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, endpoint string) (reply, bool) {
	key := "/api/v1/" + endpoint + strings.ToLower(r.Method) + "|" + clientIP(r)
	now := time.Now()
	win := s.limits[key]
	if win == nil || now.Sub(win.start) >= s.opts.RateLimitWindow {
		win = &window{start: now}
		s.limits[key] = win
	}
	win.count++
	reset := win.start.Add(s.opts.RateLimitWindow)
	remaining := max(s.opts.RateLimitCalls-win.count, 0)
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateLimitCalls))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.UnixMilli(), 10))
	if win.count <= s.opts.RateLimitCalls {
		return reply{}, false
	}
	return tooManyRequests(reset.Sub(now)), true
}

func tooManyRequests(wait time.Duration) reply {
	secs := int(math.Ceil(wait.Seconds()))
	return reply{http.StatusTooManyRequests, map[string]any{"success": false, "error": fmt.Sprintf(
		"Error, too many requests. Please slow down. You must wait %d seconds before trying this endpoint again. [error-too-many-requests]", secs)}}
}

// failNextResetIn is when a 429 injected by FailNext says the window resets.
const failNextResetIn = time.Second

func (s *Server) writeFailure(w http.ResponseWriter, status int) int {
	var rep reply
	switch status {
	case http.StatusUnauthorized:
		rep = s.notLoggedIn()
	case http.StatusForbidden:
		rep = s.forbidden()
	case http.StatusNotFound:
		rep = reply{status, map[string]any{"success": false, "error": "Resource not found"}}
	case http.StatusTooManyRequests:
		reset := time.Now().Add(failNextResetIn)
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateLimitCalls))
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.UnixMilli(), 10))
		rep = tooManyRequests(failNextResetIn)
	case http.StatusBadRequest:
		rep = fail("error-simulated", "Simulated failure", nil)
	default:
		rep = reply{status, map[string]any{"success": false, "error": "Internal server error"}}
	}
	writeJSON(w, rep.status, rep.body)
	return rep.status
}

// ---- bodies ----

func ok(body map[string]any) reply {
	if body == nil {
		body = map[string]any{}
	}
	body["success"] = true
	return reply{http.StatusOK, body}
}

// fail is a Meteor.Error thrown by a handler: 400 with "<reason> [<code>]".
func fail(code, reason string, details map[string]any) reply {
	b := map[string]any{"success": false, "error": reason + " [" + code + "]", "errorType": code}
	if details != nil {
		b["details"] = details
	}
	return reply{http.StatusBadRequest, b}
}

// failure is api.failure("text"): no errorType.
func failure(text string) reply {
	return reply{http.StatusBadRequest, map[string]any{"success": false, "error": text}}
}

func invalidParams(prop string) reply {
	return fail("invalid-params", fmt.Sprintf("must have required property '%s'", prop), nil)
}

// forbidden is a failed permissionsRequired check (apps/meteor/app/api/server/ApiClass.ts):
// Meteor.Error('error-unauthorized', ...) answered through API.v1.forbidden(e.message) while
// the breaking-change flag is off (7.x, 8.x), Meteor.Error('error-forbidden', ...) once it is
// on (9.x). Either way 403 with the reason and code in error, no errorType.
func (s *Server) forbidden() reply {
	code := "error-unauthorized"
	if s.major >= 9 {
		code = "error-forbidden"
	}
	return reply{http.StatusForbidden, map[string]any{"success": false,
		"error": "User does not have the permissions required for this action [" + code + "]"}}
}

// apiForbidden is API.v1.forbidden() (apps/meteor/app/api/server/ApiClass.ts): 403 whose
// error is "unauthorized" until the breaking-change flag applies and "forbidden" after.
// The flag (applyBreakingChanges) was shouldBreakInVersion('8.0.0') in 7.x's ApiClass.ts
// and is shouldBreakInVersion('9.0.0') in 8.x's: 8.x still answers "unauthorized"
// (RocketChat/Rocket.Chat#41589 and the 8.x e2e test in #41590 expecting the old codes
// "until the 9.0.0 breaking changes are applied").
func (s *Server) apiForbidden() reply {
	e := "unauthorized"
	if s.major >= 9 {
		e = "forbidden"
	}
	return reply{http.StatusForbidden, map[string]any{"success": false, "error": e}}
}

// unauthorized is API.v1.unauthorized() (apps/meteor/app/api/server/ApiClass.ts): 401 with
// error "unauthorized" from 7.0, 403 before.
func (s *Server) unauthorized() reply {
	st := http.StatusUnauthorized
	if s.major < 7 {
		st = http.StatusForbidden
	}
	return reply{st, map[string]any{"success": false, "error": "unauthorized"}}
}

func (s *Server) notLoggedIn() reply {
	const m = "You must be logged in to do this."
	switch {
	case s.major < 7:
		return reply{http.StatusUnauthorized, map[string]any{"status": "error", "message": m}}
	case s.major >= 9:
		return reply{http.StatusUnauthorized, map[string]any{"success": false, "error": m}}
	}
	return reply{http.StatusUnauthorized, map[string]any{"success": false, "status": "error", "message": m, "error": m}}
}

// ---- parameter helpers ----

func (c *call) str(key string) string {
	if v, ok := c.body[key]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		return ""
	}
	if c.form != nil {
		if v := c.form.Value[key]; len(v) > 0 {
			return v[0]
		}
	}
	return c.q.Get(key)
}

func (c *call) has(key string) bool { _, ok := c.body[key]; return ok }

func (c *call) strs(key string) []string {
	var out []string
	if v, ok := c.body[key]; ok {
		if json.Unmarshal(v, &out) == nil {
			return out
		}
	}
	return nil
}

func (c *call) boolParam(key string, def bool) bool {
	if v, ok := c.body[key]; ok {
		var b bool
		if json.Unmarshal(v, &b) == nil {
			return b
		}
	}
	if v := c.q.Get(key); v != "" {
		return v == "true"
	}
	return def
}

func (c *call) can(perm string) bool {
	if hasRole(c.u, "admin") {
		return true
	}
	switch perm {
	case "create-c", "create-p", "create-d", "view-c-room", "view-d-room", "view-other-user-channels":
		return true
	}
	return false
}

// twoFactor enforces a twoFactorRequired endpoint; ok false means rep is the answer.
func (c *call) twoFactor() (reply, bool) {
	s := c.s
	if !s.opts.TwoFactor || c.tok.bypass2FA || time.Since(c.u.createdAt) < 30*time.Minute {
		return reply{}, true
	}
	if c.u.emailVerified {
		// Email 2FA would send a code; the simulator cannot receive mail, so it has no way in
		// except a PAT, as on a real server without mail access. getSecondFactorMethod
		// (apps/meteor/app/2fa/server/code/index.ts) only knows "totp" and "email" by name, so
		// x-2fa-method: password still selects the user's first active method, email, and the
		// password digest fails as an email code.
		if c.r.Header.Get("x-2fa-code") == "" {
			return fail("totp-required", "TOTP Required", s.emailTOTPDetails()), false
		}
		return fail("totp-invalid", "TOTP Invalid", map[string]any{"method": "email"}), false
	}
	if c.u.password == "" {
		return reply{}, true
	}
	method, code := c.r.Header.Get("x-2fa-method"), c.r.Header.Get("x-2fa-code")
	if method == "" || code == "" {
		return fail("totp-required", "TOTP Required", map[string]any{"method": "password",
			"codeGenerated": false, "availableMethods": []any{}}), false
	}
	if method != "password" || !strings.EqualFold(code, sha256Hex(c.u.password)) {
		return fail("totp-invalid", "TOTP Invalid", map[string]any{"method": method}), false
	}
	return reply{}, true
}

func parseTime(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func (c *call) paging() (offset, count int) {
	offset, _ = strconv.Atoi(c.q.Get("offset"))
	count = 50
	if v := c.q.Get("count"); v != "" {
		count, _ = strconv.Atoi(v)
	}
	if offset < 0 {
		offset = 0
	}
	if count < 0 || count > 100 {
		count = 100
	}
	return offset, count
}

func page[T any](items []T, offset, count int) []T {
	if offset >= len(items) {
		return nil
	}
	items = items[offset:]
	if count > 0 && count < len(items) {
		items = items[:count]
	}
	return items
}

func docs[T any](items []T, f func(T) map[string]any) []any {
	out := make([]any, 0, len(items))
	for _, x := range items {
		out = append(out, f(x))
	}
	return out
}

// ---- endpoints ----

func (s *Server) info(w http.ResponseWriter, r *http.Request) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, t := s.findToken(r.Header.Get("X-User-Id"), r.Header.Get("X-Auth-Token"))
	if u != nil && r.Header.Get("X-User-Id") != "" && !s.tokenExpired(t) {
		writeJSON(w, http.StatusOK, map[string]any{"info": map[string]any{"version": s.opts.Version,
			"build": map[string]any{"nodeVersion": "v22.16.0"}, "marketplaceApiVersion": "1.0.0"}, "success": true})
		return http.StatusOK
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": s.opts.Version, "success": true})
	return http.StatusOK
}

func (c *call) login() reply {
	s := c.s
	loginFail := func(code any, msg string, details map[string]any) reply {
		b := map[string]any{"success": false, "error": code, "status": "error", "message": msg}
		if details != nil {
			b["details"] = details
		}
		return reply{http.StatusUnauthorized, b}
	}
	if resume := c.str("resume"); resume != "" {
		u, t := s.findToken("", resume)
		if u == nil {
			return loginFail(403, "You've been logged out by the server. Please log in again.", nil)
		}
		if s.tokenExpired(t) {
			return loginFail(403, "Your session has expired. Please log in again.", nil)
		}
		return c.loginOK(u, t)
	}
	ident := c.str("username")
	byEmail := false
	if e := c.str("email"); e != "" {
		ident, byEmail = e, true
	}
	if v := c.str("user"); v != "" {
		ident, byEmail = v, strings.Contains(v, "@")
	}
	var pw string
	hashed := false
	if raw, ok := c.body["password"]; ok {
		if json.Unmarshal(raw, &pw) != nil {
			var h struct {
				Hashed string `json:"hashed"`
			}
			if json.Unmarshal(raw, &h) == nil && h.Hashed != "" {
				pw, hashed = h.Hashed, true
			}
		}
	}
	if ident == "" || pw == "" {
		return loginFail(400, "Unrecognized options for login request", nil)
	}
	var u *user
	if byEmail {
		for _, x := range s.users {
			if strings.EqualFold(x.email, ident) {
				u = x
			}
		}
	} else {
		u = s.byName[ident]
	}
	ip := clientIP(c.r)
	if s.loginBlocked("ip|"+ip, 50) {
		return loginFail("error-login-blocked-for-ip", "Login has been temporarily blocked For IP", nil)
	}
	if s.loginBlocked("user|"+ident, 10) {
		return loginFail("error-login-blocked-for-user", "Login has been temporarily blocked For User", nil)
	}
	if u == nil {
		s.loginFailed("ip|" + ip)
		return loginFail("Unauthorized", "Unauthorized", nil)
	}
	match := u.password != "" && (pw == u.password || (hashed && strings.EqualFold(pw, sha256Hex(u.password))))
	if !match {
		s.loginFailed("ip|" + ip)
		s.loginFailed("user|" + ident)
		return loginFail(403, "Incorrect password", nil)
	}
	delete(s.loginFails, "user|"+ident)
	if !u.active {
		return loginFail("error-user-is-not-activated", "User is not activated", nil)
	}
	if s.opts.TwoFactor && u.emailVerified && c.str("code") == "" && c.r.Header.Get("x-2fa-code") == "" {
		return loginFail("totp-required", "TOTP Required", s.emailTOTPDetails())
	}
	if s.opts.TwoFactor && u.emailVerified {
		return loginFail("totp-invalid", "TOTP Invalid", map[string]any{"method": "email"})
	}
	return c.loginOK(u, s.addTokenLocked(u, false, ""))
}

func (c *call) loginOK(u *user, t *loginToken) reply {
	return ok(map[string]any{"status": "success", "data": map[string]any{
		"userId": u.id, "authToken": t.token, "me": c.s.meDoc(u)}})
}

func (c *call) logout() reply {
	c.s.removeTokenLocked(c.u, c.tok.token)
	return reply{http.StatusOK, map[string]any{"status": "success", "data": map[string]any{"message": "You've been logged out!"}}}
}

func (c *call) me() reply { return ok(c.s.meDoc(c.u)) }

var usernameRe = regexp.MustCompile(`^[0-9a-zA-Z\-_.]+$`)

func (c *call) usersCreate() reply {
	s := c.s
	if !c.can("create-user") {
		return c.s.forbidden()
	}
	for _, k := range []string{"email", "name", "password", "username"} {
		if !c.has(k) {
			return invalidParams(k)
		}
	}
	if s.major >= 8 {
		if rep, ok := c.twoFactor(); !ok {
			return rep
		}
	}
	username := c.str("username")
	if !usernameRe.MatchString(username) {
		return fail("error-input-is-not-a-valid-field", username+" is not a valid username", map[string]any{"method": "insertOrUpdateUser", "input": username, "field": "Username"})
	}
	// Uniqueness ignores case: checkUsernameAvailability uses Users.findOneByUsernameIgnoringCase
	// (apps/meteor/app/lib/server/functions/checkUsernameAvailability.ts).
	if s.usernameTakenLocked(username) {
		return fail("error-field-unavailable", "<strong>"+username+"</strong> is already in use :(", map[string]any{"method": "insertOrUpdateUser", "field": username})
	}
	email := c.str("email")
	for _, x := range s.users {
		if strings.EqualFold(x.email, email) {
			return fail("error-field-unavailable", "<strong>"+email+"</strong> is already in use :(", map[string]any{"method": "insertOrUpdateUser", "field": email})
		}
	}
	roles := c.strs("roles")
	if slices.Contains(roles, "admin") && !hasRole(c.u, "admin") {
		return c.s.forbidden()
	}
	u := s.addUserLocked(UserSpec{Username: username, Name: c.str("name"), Email: email, Password: c.str("password"),
		Roles: roles, EmailVerified: c.boolParam("verified", false), NoDefaultChannels: !c.boolParam("joinDefaultChannels", true)})
	if c.has("active") {
		u.active = c.boolParam("active", true)
	}
	return ok(map[string]any{"user": s.userDoc(u)})
}

// usernameTakenLocked reports whether any user has name, ignoring case.
func (s *Server) usernameTakenLocked(name string) bool {
	for n := range s.byName {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

func (c *call) findUserParam() *user {
	s := c.s
	if id := c.str("userId"); id != "" {
		return s.users[id]
	}
	if n := c.str("username"); n != "" {
		return s.byName[n]
	}
	if e := c.str("email"); e != "" {
		for _, x := range s.users {
			if strings.EqualFold(x.email, e) {
				return x
			}
		}
	}
	return nil
}

func (c *call) usersInfo() reply {
	u := c.findUserParam()
	if u == nil {
		return failure("User not found.")
	}
	d := c.s.userDoc(u)
	if c.q.Get("includeUserRooms") == "true" || strings.Contains(c.q.Get("fields"), "userRooms") {
		var rooms []any
		for _, sb := range c.s.subs {
			if sb.uid != u.id {
				continue
			}
			r := c.s.rooms[sb.rid]
			name, _ := c.s.subNames(sb, r)
			rooms = append(rooms, map[string]any{"_id": sb.id, "rid": sb.rid, "name": name, "t": r.t, "unread": sb.unread})
		}
		if rooms == nil {
			rooms = []any{}
		}
		d["rooms"] = rooms
	}
	return ok(map[string]any{"user": d})
}

func (c *call) usersUpdate() reply {
	s := c.s
	if !c.has("userId") {
		return invalidParams("userId")
	}
	if !c.has("data") {
		return invalidParams("data")
	}
	u := s.users[c.str("userId")]
	if u != c.u && !c.can("edit-other-user-info") {
		return c.s.forbidden()
	}
	if rep, ok := c.twoFactor(); !ok {
		return rep
	}
	if u == nil {
		return fail("error-invalid-user", "Invalid user", nil)
	}
	var data struct {
		Email    *string   `json:"email"`
		Name     *string   `json:"name"`
		Password *string   `json:"password"`
		Username *string   `json:"username"`
		Active   *bool     `json:"active"`
		Roles    *[]string `json:"roles"`
		Verified *bool     `json:"verified"`
	}
	if err := json.Unmarshal(c.body["data"], &data); err != nil {
		return fail("invalid-params", "must be object", nil)
	}
	if data.Username != nil && *data.Username != u.username {
		if !usernameRe.MatchString(*data.Username) {
			return fail("error-input-is-not-a-valid-field", *data.Username+" is not a valid username", map[string]any{"method": "insertOrUpdateUser", "input": *data.Username, "field": "Username"})
		}
		if x := s.byName[*data.Username]; x != nil || !strings.EqualFold(*data.Username, u.username) && s.usernameTakenLocked(*data.Username) {
			return fail("error-field-unavailable", "<strong>"+*data.Username+"</strong> is already in use :(", nil)
		}
		delete(s.byName, u.username)
		u.username = *data.Username
		s.byName[u.username] = u
	}
	if data.Email != nil {
		u.email = *data.Email
	}
	if data.Name != nil {
		u.name = *data.Name
	}
	if data.Password != nil {
		u.password = *data.Password
	}
	if data.Roles != nil {
		u.roles = slices.Clone(*data.Roles)
	}
	if data.Verified != nil {
		u.emailVerified = *data.Verified
	}
	if data.Active != nil {
		u.active = *data.Active
		if !u.active {
			for len(u.tokens) > 0 {
				s.removeTokenLocked(u, u.tokens[0].token)
			}
		}
	}
	u.updatedAt = time.Now().UTC()
	return ok(map[string]any{"user": s.userDoc(u)})
}

func (c *call) usersDelete() reply {
	s := c.s
	if !c.can("delete-user") {
		return c.s.forbidden()
	}
	u := c.findUserParam()
	if u == nil {
		if c.str("userId") == "" && c.str("username") == "" {
			return invalidParams("userId")
		}
		return fail("error-invalid-user", "Invalid user", nil)
	}
	for _, r := range s.rooms {
		s.leaveLocked(r, u)
	}
	for len(u.tokens) > 0 {
		s.removeTokenLocked(u, u.tokens[0].token)
	}
	delete(s.users, u.id)
	delete(s.byName, u.username)
	if s.major >= 8 {
		return ok(map[string]any{"deletedRooms": []any{}})
	}
	return ok(nil)
}

// usersSetActiveStatus follows apps/meteor/app/api/server/v1/users.ts (users.setActiveStatus:
// API.v1.unauthorized() without edit-other-user-active-status; body {userId, activeStatus}
// checked by isUserSetActiveStatusParamsPOST in packages/rest-typings/src/v1/users) and
// apps/meteor/app/lib/server/functions/setUserActiveStatus.ts (an unknown user is
// error-invalid-user; deactivating removes the user's login tokens). The answer carries
// {user: {_id, active}}.
func (c *call) usersSetActiveStatus() reply {
	s := c.s
	if !c.can("edit-other-user-active-status") {
		return s.unauthorized()
	}
	if c.str("userId") == "" {
		return invalidParams("userId")
	}
	var active bool
	if raw, ok := c.body["activeStatus"]; !ok || json.Unmarshal(raw, &active) != nil {
		return invalidParams("activeStatus")
	}
	u := s.users[c.str("userId")]
	if u == nil {
		return fail("error-invalid-user", "Invalid user", map[string]any{"method": "setUserActiveStatus"})
	}
	u.active = active
	if !active {
		for len(u.tokens) > 0 {
			s.removeTokenLocked(u, u.tokens[0].token)
		}
	}
	u.updatedAt = time.Now().UTC()
	return ok(map[string]any{"user": map[string]any{"_id": u.id, "active": u.active}})
}

func (c *call) usersList() reply {
	s := c.s
	if !c.can("view-d-room") {
		return c.s.forbidden()
	}
	users := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		users = append(users, u)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].username < users[j].username })
	offset, count := c.paging()
	p := page(users, offset, count)
	return ok(map[string]any{"users": docs(p, s.userDoc), "count": len(p), "offset": offset, "total": len(users)})
}

// usersCreateToken is users.createToken, per version:
//   - 7.x (apps/meteor/app/api/server/v1/users.ts + apps/meteor/app/lib/server/methods/createToken.ts):
//     the user comes from userId, username or user (getUserFromParams); the env
//     CREATE_TOKENS_FOR_USERS must be true/yes, and a token for someone else needs
//     user-generate-access-token; otherwise "Not authorized [error-not-authorized]" with
//     details {"method":"createToken"}.
//   - 8.0-8.6 (apps/meteor/server/meteor-methods/auth/createToken.ts, generateAccessToken(userId,
//     secret)): the body must be exactly {userId, secret} (Router.ts schema check); only the
//     secret (CREATE_TOKENS_FOR_USERS_SECRET) is checked. MeteorError from core-services: no details.
//   - 8.7+ and 9.x (same files at develop; Open-API user-management.yaml changelog "8.7.0 Enforced
//     the user-generate-access-token permission"): the route is twoFactorRequired and a token for
//     another user needs user-generate-access-token again.
func (c *call) usersCreateToken() reply {
	s := c.s
	if s.major < 8 {
		target := c.findUserParam()
		if target == nil {
			if c.str("userId") == "" && c.str("username") == "" && c.str("user") == "" {
				return fail("error-user-param-not-provided", `The required "userId" or "username" param was not provided`, nil)
			}
			return fail("error-invalid-user", `The required "userId" or "username" param provided does not match any users`, nil)
		}
		if s.opts.CreateTokensDisabled || (target != c.u && !c.can("user-generate-access-token")) {
			return fail("error-not-authorized", "Not authorized", map[string]any{"method": "createToken"})
		}
		t := s.addTokenLocked(target, false, "")
		return ok(map[string]any{"data": map[string]any{"userId": target.id, "authToken": t.token}})
	}
	if msg := createTokenSchema.check(c.body); msg != "" {
		return routerInvalidParams(msg)
	}
	if s.atLeast(8, 7) {
		if rep, ok := c.twoFactor(); !ok {
			return rep
		}
	}
	target := s.users[c.str("userId")]
	if target == nil {
		// getUserFromParams (apps/meteor/server/api/lib/getUserFromParams.ts).
		return fail("error-invalid-user", `The required "userId" or "username" param provided does not match any users`, nil)
	}
	notAuth := fail("error-not-authorized", "Not authorized", nil)
	if s.opts.CreateTokenSecret == "" || c.str("secret") != s.opts.CreateTokenSecret {
		return notAuth
	}
	if s.atLeast(8, 7) && target != c.u && !c.can("user-generate-access-token") {
		return notAuth
	}
	t := s.addTokenLocked(target, false, "")
	return ok(map[string]any{"data": map[string]any{"userId": target.id, "authToken": t.token}})
}

func (c *call) usersGeneratePAT() reply {
	if rep, ok := c.twoFactor(); !ok {
		return rep
	}
	name := c.str("tokenName")
	if name == "" {
		return invalidParams("tokenName")
	}
	for _, t := range c.u.tokens {
		if t.pat && t.name == name {
			return fail("error-token-already-exists", "A token with this name already exists", map[string]any{"method": "personalAccessTokens:generateToken"})
		}
	}
	t := c.s.addTokenLocked(c.u, true, name)
	t.bypass2FA = c.boolParam("bypassTwoFactor", false)
	return ok(map[string]any{"token": t.token})
}

func (c *call) usersLogout() reply {
	u := c.u
	if id := c.str("userId"); id != "" && id != c.u.id {
		if !c.can("logout-other-user") {
			return c.s.forbidden()
		}
		u = c.s.users[id]
		if u == nil {
			return fail("error-invalid-user-id", "Invalid user id", nil)
		}
	}
	for len(u.tokens) > 0 {
		c.s.removeTokenLocked(u, u.tokens[0].token)
	}
	return ok(map[string]any{"message": "User " + u.id + " has been logged out!"})
}

// ---- rooms ----

func kindWord(t string) string {
	if t == "p" {
		return "group"
	}
	return "channel"
}

// findRoom resolves roomId/roomName for channels.* (t "c") or groups.* (t "p").
func (c *call) findRoom(t string) (*room, reply, bool) {
	s := c.s
	id, name := c.str("roomId"), c.str("roomName")
	if id == "" && name == "" {
		return nil, fail("error-roomid-param-not-provided", `The parameter "roomId" or "roomName" is required`, nil), false
	}
	var r *room
	if id != "" {
		r = s.rooms[id]
	} else {
		r = s.roomByName(name)
	}
	notFound := fail("error-room-not-found", fmt.Sprintf(`The required "roomId" or "roomName" param provided does not match any %s`, kindWord(t)), nil)
	if r == nil || r.t != t {
		return nil, notFound, false
	}
	if t == "p" && !s.isMember(c.u.id, r) && !hasRole(c.u, "admin") {
		return nil, notFound, false
	}
	return r, reply{}, true
}

func (c *call) roomReply(t string, r *room) reply {
	return ok(map[string]any{kindWord(t): c.s.roomDoc(r)})
}

var roomNameRe = regexp.MustCompile(`^[0-9a-zA-Z\-_.]+$`)

func (c *call) roomCreate(t string) reply {
	s := c.s
	if !c.can("create-" + t) {
		return c.s.forbidden()
	}
	if !c.has("name") {
		return invalidParams("name")
	}
	name := c.str("name")
	if !roomNameRe.MatchString(name) {
		return fail("error-invalid-room-name", name+" is not a valid room name", map[string]any{"channel_name": name})
	}
	if s.roomByName(name) != nil {
		return fail("error-duplicate-channel-name", "A channel with name '"+name+"' exists", map[string]any{"channel_name": name})
	}
	var members []*user
	if !c.boolParam("excludeSelf", false) {
		members = append(members, c.u)
	}
	for _, n := range c.strs("members") {
		if u := s.byName[n]; u != nil {
			members = append(members, u)
		}
	}
	r := s.createRoomLocked(t, name, c.u, members)
	r.ro = c.boolParam("readOnly", false)
	return c.roomReply(t, r)
}

func (c *call) roomInfoKind(t string) reply {
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	return c.roomReply(t, r)
}

func (c *call) targetUsers() []*user {
	s := c.s
	var out []*user
	add := func(u *user) {
		if u != nil && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if id := c.str("userId"); id != "" {
		add(s.users[id])
	}
	for _, id := range c.strs("userIds") {
		add(s.users[id])
	}
	if n := c.str("username"); n != "" {
		add(s.byName[n])
	}
	for _, n := range c.strs("usernames") {
		add(s.byName[n])
	}
	return out
}

func (c *call) roomInvite(t string) reply {
	s := c.s
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	if !c.isRoomOwner(r) {
		// addUsersToRoomMethod (apps/meteor/app/lib/server/methods/addUsersToRoom.ts) lets a
		// member with add-user-to-joined-room in, or anyone with add-user-to-any-c-room /
		// add-user-to-any-p-room; by default (apps/meteor/app/authorization/server/constant/permissions.ts)
		// the first is admin, owner and moderator, the others admin only. Anyone else, plain
		// members included, gets Meteor.Error('error-not-allowed', 'Not allowed', {method: 'addUsersToRoom'}).
		return fail("error-not-allowed", "Not allowed", map[string]any{"method": "addUsersToRoom"})
	}
	users := c.targetUsers()
	if len(users) == 0 {
		if !c.has("userId") && !c.has("userIds") && !c.has("username") && !c.has("usernames") {
			return fail("error-user-param-not-provided", `The required "userId" or "username" param was not provided`, nil)
		}
		return fail("error-invalid-user", "Invalid user", nil)
	}
	for _, u := range users {
		s.addToRoomLocked(r, u, c.u)
	}
	return c.roomReply(t, r)
}

func (c *call) isRoomOwner(r *room) bool {
	if hasRole(c.u, "admin") {
		return true
	}
	sb := c.s.sub(c.u.id, r.id)
	return sb != nil && (slices.Contains(sb.roles, "owner") || slices.Contains(sb.roles, "moderator"))
}

func (c *call) roomKick(t string) reply {
	s := c.s
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	users := c.targetUsers()
	if len(users) == 0 {
		return fail("error-invalid-user", "Invalid user", nil)
	}
	if !c.isRoomOwner(r) {
		return fail("error-not-allowed", "Not allowed", map[string]any{"method": "removeUserFromRoom"})
	}
	u := users[0]
	if !s.isMember(u.id, r) {
		return fail("error-user-not-in-room", "User is not in this room", map[string]any{"method": "removeUserFromRoom"})
	}
	s.removeFromRoomLocked(r, u, c.u)
	return c.roomReply(t, r)
}

func (c *call) roomLeave(t string) reply {
	s := c.s
	if !c.has("roomId") && !c.has("roomName") {
		return fail("error-roomid-param-not-provided", `The parameter "roomId" or "roomName" is required`, nil)
	}
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	if !s.isMember(c.u.id, r) {
		return fail("error-user-not-in-room", "You are not in this room", map[string]any{"method": "leaveRoom"})
	}
	s.removeFromRoomLocked(r, c.u, nil)
	return c.roomReply(t, r)
}

func (c *call) channelsJoin() reply {
	s := c.s
	r, rep, ok := c.findRoom("c")
	if !ok {
		return rep
	}
	s.addToRoomLocked(r, c.u, nil)
	return c.roomReply("c", r)
}

// history is getChannelHistory (apps/meteor/app/lib/server/methods/getChannelHistory.ts):
// messages of types in Hide_System_Messages are left out, and so are thread-only replies
// unless showThreads.
func (c *call) history(r *room, showThreads bool) reply {
	s := c.s
	latest := time.Now().UTC().Add(time.Millisecond)
	if t, ok := parseTime(c.q.Get("latest")); ok {
		latest = t
	}
	oldest, hasOldest := parseTime(c.q.Get("oldest"))
	inclusive := c.q.Get("inclusive") == "true"
	offset, count := c.paging()
	var sel []*message
	ms := s.roomMsgs[r.id]
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.ts.After(latest) || (!inclusive && m.ts.Equal(latest)) {
			continue
		}
		if hasOldest && (m.ts.Before(oldest) || (!inclusive && m.ts.Equal(oldest))) {
			continue
		}
		if s.hiddenType(m.t) || (!showThreads && m.tmid != "" && !m.tshow) {
			continue
		}
		sel = append(sel, m)
	}
	body := map[string]any{"messages": docs(page(sel, offset, count), s.msgDoc)}
	if c.q.Get("unreads") == "true" {
		body["unreadNotLoaded"] = 0
		if sb := s.sub(c.u.id, r.id); sb != nil {
			for i := len(ms) - 1; i >= 0; i-- {
				if ms[i].ts.After(sb.ls) && ms[i].uid != c.u.id {
					body["firstUnread"] = s.msgDoc(ms[i])
				}
			}
		}
	}
	return ok(body)
}

func (c *call) roomHistory(t string) reply {
	r, rep, ok := c.findRoom(t)
	if !ok {
		return rep
	}
	if !c.s.canRead(c.u.id, r) {
		// channels.ts / groups.ts answer API.v1.forbidden() when canAccessRoom fails.
		return c.s.apiForbidden()
	}
	// channels.history passes showThreadMessages === 'true' (apps/meteor/app/api/server/v1/channels.ts);
	// groups.history passes showThreadMessages !== 'false' (groups.ts).
	show := c.q.Get("showThreadMessages") == "true"
	if t == "p" {
		show = c.q.Get("showThreadMessages") != "false"
	}
	return c.history(r, show)
}

func (c *call) roomList(t string) reply {
	if t == "c" && !c.can("view-c-room") {
		return c.s.forbidden()
	}
	return c.listRooms(kindWord(t)+"s", t, t != "c")
}

// listRooms answers a room listing under key: the rooms of kind t (only the caller's when
// joined is set), sorted by name, or by id for direct messages, which have no name; paged.
func (c *call) listRooms(key, t string, joined bool) reply {
	s := c.s
	var rooms []*room
	for _, r := range s.rooms {
		if r.t == t && (!joined || s.isMember(c.u.id, r)) {
			rooms = append(rooms, r)
		}
	}
	if t == "d" {
		sort.Slice(rooms, func(i, j int) bool { return rooms[i].id < rooms[j].id })
	} else {
		sort.Slice(rooms, func(i, j int) bool { return rooms[i].name < rooms[j].name })
	}
	offset, count := c.paging()
	p := page(rooms, offset, count)
	return ok(map[string]any{key: docs(p, s.roomDoc), "count": len(p), "offset": offset, "total": len(rooms)})
}

func (c *call) imCreate() reply {
	s := c.s
	var names []string
	if n := c.str("username"); n != "" {
		names = []string{n}
	} else if ns := c.str("usernames"); ns != "" {
		for _, n := range strings.Split(ns, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return fail("error-room-param-not-provided", `Body param "roomId" or "username" is required`, nil)
	}
	users := []*user{}
	if !c.boolParam("excludeSelf", false) {
		users = append(users, c.u)
	}
	for _, n := range names {
		other := s.byName[n]
		if other == nil {
			return fail("error-invalid-user", "Invalid user", map[string]any{"method": "createDirectMessage"})
		}
		users = append(users, other)
	}
	if len(users) < 2 && !slices.Contains(users, c.u) {
		users = append(users, c.u)
	}
	r := s.directGroupLocked(users)
	d := s.roomDoc(r)
	d["rid"] = r.id
	return ok(map[string]any{"room": d})
}

func (c *call) imHistory() reply {
	s := c.s
	rid := c.str("roomId")
	if rid == "" {
		return fail("error-room-param-not-provided", `Query param "roomId" or "username" is required`, nil)
	}
	r := s.rooms[rid]
	if r == nil || r.t != "d" || !s.isMember(c.u.id, r) {
		return fail("error-room-not-found", `The required "roomId" or "username" param provided does not match any direct message`, nil)
	}
	// im.history passes showThreadMessages === 'true' (apps/meteor/app/api/server/v1/im.ts).
	return c.history(r, c.q.Get("showThreadMessages") == "true")
}

func (c *call) imList() reply { return c.listRooms("ims", "d", true) }

func (c *call) roomsGet() reply {
	s := c.s
	since, hasSince := parseTime(c.q.Get("updatedSince"))
	update := []any{}
	for _, sb := range s.subs {
		if sb.uid != c.u.id {
			continue
		}
		r := s.rooms[sb.rid]
		if hasSince && !r.updatedAt.After(since) {
			continue
		}
		update = append(update, s.roomDoc(r))
	}
	return ok(map[string]any{"update": update, "remove": []any{}})
}

func (c *call) roomsInfo() reply {
	s := c.s
	rid := c.str("roomId")
	var r *room
	if rid != "" {
		r = s.rooms[rid]
	} else if n := c.str("roomName"); n != "" {
		r = s.roomByName(n)
	} else {
		return fail("error-roomid-param-not-provided", `The parameter "roomId" or "roomName" is required`, nil)
	}
	if r == nil || !s.canRead(c.u.id, r) {
		// API.v1.failure('not-allowed', 'Not Allowed') (apps/meteor/app/api/server/v1/rooms.ts):
		// the second argument lands in errorType.
		return reply{http.StatusBadRequest, map[string]any{"success": false, "error": "not-allowed", "errorType": "Not Allowed"}}
	}
	return ok(map[string]any{"room": s.roomDoc(r)})
}

func (c *call) subscriptionsGet() reply {
	s := c.s
	since, hasSince := parseTime(c.q.Get("updatedSince"))
	update := []any{}
	for _, sb := range s.subs {
		if sb.uid != c.u.id || (hasSince && !sb.updatedAt.After(since)) {
			continue
		}
		update = append(update, s.subDoc(sb))
	}
	remove := []any{}
	if hasSince {
		for _, d := range s.removedSubs[c.u.id] {
			if d.at.After(since) {
				remove = append(remove, map[string]any{"_id": d.id, "_deletedAt": d.at})
			}
		}
	}
	return ok(map[string]any{"update": update, "remove": remove})
}

func (c *call) subscriptionsRead() reply {
	s := c.s
	rid := c.str("rid")
	if rid == "" {
		rid = c.str("roomId")
	}
	if rid == "" {
		return invalidParams("rid")
	}
	sb := s.sub(c.u.id, rid)
	if sb == nil {
		return fail("error-invalid-subscription", "Invalid subscription", map[string]any{"method": "readMessages"})
	}
	s.markReadLocked(sb)
	return ok(nil)
}

// ---- messages ----

func (c *call) chatSendMessage() reply {
	s := c.s
	raw, has := c.body["message"]
	if !has {
		return invalidParams("message")
	}
	var m struct {
		ID    string `json:"_id"`
		RID   string `json:"rid"`
		Msg   string `json:"msg"`
		TMID  string `json:"tmid"`
		TShow bool   `json:"tshow"`
		T     string `json:"t"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return fail("invalid-params", "must be object", nil)
	}
	if m.RID == "" {
		return fail("error-invalid-params", "The 'rid' property on the message object is missing.", nil)
	}
	if m.T != "" {
		return fail("error-invalid-message-type", "Invalid message type", nil)
	}
	if len(m.Msg) > 5000 {
		return fail("error-message-size-exceeded", "Message size exceeds the allowed limit", nil)
	}
	r := s.rooms[m.RID]
	if r == nil {
		return fail("error-invalid-room", "Invalid room", map[string]any{"method": "sendMessage"})
	}
	if !s.isMember(c.u.id, r) {
		return fail("error-not-allowed", "Not allowed", map[string]any{"method": "sendMessage"})
	}
	if m.ID != "" {
		if s.msgs[m.ID] != nil {
			// sendMessage (apps/meteor/app/lib/server/functions/sendMessage.ts) looks the _id up
			// and returns undefined without inserting; chat.sendMessage (apps/meteor/app/api/server/v1/chat.ts)
			// then hands [undefined] to normalizeMessagesForUser, whose filterStarred reads
			// message.starred and throws a TypeError. A non-Meteor error becomes
			// API.v1.failure(e.message): 400, no errorType. Whoever owns the stored message.
			return failure(duplicateSendError)
		}
	} else {
		m.ID = randomID()
	}
	if m.TMID != "" && s.msgs[m.TMID] == nil {
		return fail("error-invalid-message", "Invalid message", nil)
	}
	msg := s.insertMessageShowLocked(r, c.u, m.ID, m.Msg, m.TMID, m.TShow, nil)
	return ok(map[string]any{"message": s.msgDoc(msg)})
}

// duplicateSendError is Node's TypeError text for chat.sendMessage with an _id that exists.
const duplicateSendError = "Cannot read properties of undefined (reading 'starred')"

func (c *call) chatPostMessage() reply {
	s := c.s
	var r *room
	if id := c.str("roomId"); id != "" {
		r = s.rooms[id]
	} else if ch := c.str("channel"); ch != "" {
		switch {
		case strings.HasPrefix(ch, "#"):
			r = s.roomByName(ch[1:])
		case strings.HasPrefix(ch, "@"):
			if o := s.byName[ch[1:]]; o != nil {
				r = s.directRoomLocked(c.u, o)
			}
		default:
			r = s.roomByName(ch)
		}
	}
	if r == nil || !s.canRead(c.u.id, r) {
		return fail("invalid-channel", "", nil)
	}
	m := s.insertMessageLocked(r, c.u, randomID(), c.str("text"), "", nil)
	ch := r.name
	if r.t == "d" {
		ch = r.id
	}
	return ok(map[string]any{"ts": m.ts.UnixMilli(), "channel": ch, "message": s.msgDoc(m)})
}

func (c *call) chatUpdate() reply {
	s := c.s
	for _, k := range []string{"roomId", "msgId", "text"} {
		if !c.has(k) {
			return invalidParams(k)
		}
	}
	m := s.msgs[c.str("msgId")]
	if m == nil {
		return failure(fmt.Sprintf(`No message found with the id of "%s".`, c.str("msgId")))
	}
	if m.rid != c.str("roomId") {
		return failure("The room id provided does not match where the message is from.")
	}
	if m.uid != c.u.id && !hasRole(c.u, "admin") {
		return fail("error-action-not-allowed", "Message editing not allowed", map[string]any{"method": "updateMessage", "action": "Message_editing"})
	}
	s.editMessageLocked(m, c.u, c.str("text"))
	return ok(map[string]any{"message": s.msgDoc(m)})
}

func (c *call) chatDelete() reply {
	s := c.s
	if !c.has("roomId") {
		return invalidParams("roomId")
	}
	if !c.has("msgId") {
		return invalidParams("msgId")
	}
	m := s.msgs[c.str("msgId")]
	if m == nil {
		return failure(fmt.Sprintf(`No message found with the id of "%s".`, c.str("msgId")))
	}
	if m.rid != c.str("roomId") {
		return failure("The room id provided does not match where the message is from.")
	}
	if m.uid != c.u.id && !hasRole(c.u, "admin") {
		// deleteMessage's permission check (apps/meteor/app/lib/server/methods/deleteMessage.ts,
		// deleteMessageValidatingPermission in chat.ts) throws a Meteor.Error: 400, not 401.
		return fail("error-action-not-allowed", "Not allowed", map[string]any{"method": "deleteMessage", "action": "Delete_message"})
	}
	s.deleteMessageLocked(m, c.u)
	return ok(map[string]any{"_id": m.id, "ts": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"message": map[string]any{"_id": m.id, "rid": m.rid, "u": s.userRef(m.uid)}})
}

func (c *call) chatGetMessage() reply {
	s := c.s
	id := c.q.Get("msgId")
	if id == "" {
		return fail("error-invalid-params", "The \"msgId\" query parameter must be provided.", nil)
	}
	m := s.msgs[id]
	if m == nil || !s.canRead(c.u.id, s.rooms[m.rid]) {
		return failure("Message not found")
	}
	return ok(map[string]any{"message": s.msgDoc(m)})
}

func (c *call) chatSyncMessages() reply {
	s := c.s
	rid := c.q.Get("roomId")
	if rid == "" {
		return fail("error-roomId-param-not-provided", `The required "roomId" query param is missing.`, nil)
	}
	since, okT := parseTime(c.q.Get("lastUpdate"))
	if !okT {
		return fail("error-lastUpdate-param-invalid", `The "lastUpdate" query parameter must be a valid date.`, nil)
	}
	r := s.rooms[rid]
	if r == nil || !s.canRead(c.u.id, r) {
		return fail("error-not-allowed", "Not allowed", map[string]any{"method": "messages/get"})
	}
	updated, deleted := []any{}, []any{}
	ms := s.roomMsgs[rid]
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].updatedAt.After(since) {
			updated = append(updated, s.msgDoc(ms[i]))
		}
	}
	for _, d := range s.deletedMsgs[rid] {
		if d.at.After(since) {
			deleted = append(deleted, map[string]any{"_id": d.id, "_deletedAt": d.at})
		}
	}
	return ok(map[string]any{"result": map[string]any{"updated": updated, "deleted": deleted}})
}

// ---- uploads ----

func (c *call) uploadRoom() (*room, reply, bool) {
	s := c.s
	if len(c.rest) < 1 || c.rest[0] == "" {
		return nil, reply{http.StatusNotFound, map[string]any{"success": false, "error": "Resource not found"}}, false
	}
	r := s.rooms[c.rest[0]]
	if r == nil || !s.canRead(c.u.id, r) {
		// rooms.media, rooms.mediaConfirm and (late 7.x) rooms.upload answer
		// API.v1.forbidden() when canAccessRoomIdAsync fails (apps/meteor/app/api/server/v1/rooms.ts).
		return nil, s.apiForbidden(), false
	}
	return r, reply{}, true
}

func (c *call) takeFile(r *room) (*upload, reply, bool) {
	if c.form == nil || len(c.form.File["file"]) == 0 {
		return nil, fail("error-no-file-uploaded", "[No file uploaded]", nil), false
	}
	fh := c.form.File["file"][0]
	mt := uploadMimeType(fh.Header.Get("Content-Type"), fh.Filename)
	f, err := fh.Open()
	if err != nil {
		return nil, fail("error-file-upload", "Could not read the file", nil), false
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fail("error-file-upload", "Could not read the file", nil), false
	}
	up := &upload{id: randomID(), rid: r.id, uid: c.u.id, name: fh.Filename, mime: mt, size: len(data), data: data, uploadedAt: time.Now().UTC()}
	if strings.HasPrefix(mt, "image/") {
		if cfg, format, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
			up.identified, up.format, up.width, up.height = true, format, cfg.Width, cfg.Height
		}
	}
	c.s.files[up.id] = up
	return up, reply{}, true
}

// uploadMimeType is the type Rocket.Chat stores for an uploaded part: getUploadFormData
// (apps/meteor/server/api/lib/getUploadFormData.ts, and UploadService's parser) passes the
// part's type through getMimeType(mimetype, filename) (apps/meteor/lib/mimeTypes.ts), which
// keeps a specific type the mime database knows when its extension differs from the name's,
// and otherwise (application/octet-stream, an unknown type, or a matching extension) looks
// the file name up, falling back to application/octet-stream. So an octet-stream "a.png" is
// stored as image/png. Go's mime table stands in for the mime-type package's database.
func uploadMimeType(part, name string) string {
	if mt, _, err := mime.ParseMediaType(part); err == nil && mt != "application/octet-stream" {
		if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
			return mt
		}
	}
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); t != "" {
		if mt, _, err := mime.ParseMediaType(t); err == nil {
			return mt
		}
	}
	return "application/octet-stream"
}

func (c *call) roomsUpload() reply {
	s := c.s
	r, rep, okR := c.uploadRoom()
	if !okR {
		return rep
	}
	if c.form == nil || len(c.form.File["file"]) == 0 {
		return fail("invalid-field", "[invalid-field]", nil)
	}
	up, rep, okF := c.takeFile(r)
	if !okF {
		return rep
	}
	up.confirmed = true
	up.desc = c.str("description")
	m := s.insertMessageLocked(r, c.u, randomID(), c.str("msg"), c.str("tmid"), up)
	return ok(map[string]any{"message": s.msgDoc(m)})
}

func (c *call) roomsMedia() reply {
	r, rep, okR := c.uploadRoom()
	if !okR {
		return rep
	}
	up, rep, okF := c.takeFile(r)
	if !okF {
		return rep
	}
	return ok(map[string]any{"file": map[string]any{"_id": up.id, "url": "/file-upload/" + up.id + "/" + up.name}})
}

func (c *call) roomsMediaConfirm() reply {
	s := c.s
	r, rep, okR := c.uploadRoom()
	if !okR {
		return rep
	}
	if len(c.rest) < 2 {
		return reply{http.StatusNotFound, map[string]any{"success": false, "error": "Resource not found"}}
	}
	up := s.files[c.rest[1]]
	if up == nil || up.rid != r.id || up.uid != c.u.id || up.confirmed {
		return fail("invalid-file", "Invalid file", nil)
	}
	if s.major < 8 && c.has("fileName") {
		return fail("invalid-params", "must NOT have additional properties", nil)
	}
	if n := c.str("fileName"); n != "" {
		up.name = n
	}
	up.desc = c.str("description")
	up.confirmed = true
	m := s.insertMessageLocked(r, c.u, randomID(), c.str("msg"), c.str("tmid"), up)
	return ok(map[string]any{"message": s.msgDoc(m)})
}

// ---- smaller read endpoints the gateway passes through ----

func (c *call) infoV1() reply {
	return ok(map[string]any{"info": map[string]any{"version": c.s.opts.Version}})
}

func (c *call) subscriptionsGetOne() reply {
	rid := c.q.Get("roomId")
	if rid == "" {
		return fail("error-invalid-params", `The "roomId" param is required`, nil)
	}
	if sb := c.s.sub(c.u.id, rid); sb != nil {
		return ok(map[string]any{"subscription": c.s.subDoc(sb)})
	}
	return ok(map[string]any{"subscription": nil})
}

// roomOf resolves a room for *.members / *.messages of kind t ("d" uses roomId only).
func (c *call) roomOf(t string) (*room, reply, bool) {
	if t != "d" {
		return c.findRoom(t)
	}
	r := c.s.rooms[c.str("roomId")]
	if r == nil || r.t != "d" || !c.s.isMember(c.u.id, r) {
		return nil, fail("error-room-not-found", `The required "roomId" or "username" param provided does not match any direct message`, nil), false
	}
	return r, reply{}, true
}

func (c *call) roomMembers(t string) reply {
	s := c.s
	r, rep, okR := c.roomOf(t)
	if !okR {
		return rep
	}
	if !s.canRead(c.u.id, r) {
		// channels.members / groups.members / im.members: API.v1.forbidden().
		return s.apiForbidden()
	}
	var members []*user
	for _, id := range r.members {
		if u := s.users[id]; u != nil {
			members = append(members, u)
		}
	}
	offset, count := c.paging()
	p := page(members, offset, count)
	return ok(map[string]any{"members": docs(p, func(u *user) map[string]any {
		return map[string]any{"_id": u.id, "username": u.username, "name": u.name, "status": "offline"}
	}), "count": len(p), "offset": offset, "total": len(members)})
}

func (c *call) roomMessages(t string) reply {
	s := c.s
	r, rep, okR := c.roomOf(t)
	if !okR {
		return rep
	}
	if !s.canRead(c.u.id, r) {
		// channels.messages / groups.messages / im.messages: API.v1.forbidden().
		return s.apiForbidden()
	}
	ms := s.roomMsgs[r.id]
	sorted := make([]*message, 0, len(ms))
	for i := len(ms) - 1; i >= 0; i-- {
		sorted = append(sorted, ms[i])
	}
	offset, count := c.paging()
	p := page(sorted, offset, count)
	return ok(map[string]any{"messages": docs(p, s.msgDoc), "count": len(p), "offset": offset, "total": len(sorted)})
}

func (c *call) channelsListJoined() reply { return c.listRooms("channels", "c", true) }

func (c *call) chatReact() reply {
	s := c.s
	if !c.has("emoji") && !c.has("reaction") {
		return invalidParams("emoji")
	}
	m := s.msgs[c.str("messageId")]
	if m == nil {
		return fail("error-not-allowed", "Invalid message", nil)
	}
	if !s.isMember(c.u.id, s.rooms[m.rid]) {
		return fail("error-not-allowed", "Not allowed", nil)
	}
	emoji := c.str("emoji")
	if emoji == "" {
		emoji = c.str("reaction")
	}
	emoji = ":" + strings.Trim(emoji, ":") + ":"
	if m.reactions == nil {
		m.reactions = map[string][]string{}
	}
	names := m.reactions[emoji]
	has := slices.Contains(names, c.u.username)
	want := c.boolParam("shouldReact", !has)
	switch {
	case want && !has:
		m.reactions[emoji] = append(names, c.u.username)
	case !want && has:
		names = slices.DeleteFunc(names, func(n string) bool { return n == c.u.username })
		if len(names) == 0 {
			delete(m.reactions, emoji)
		} else {
			m.reactions[emoji] = names
		}
	default:
		return ok(nil)
	}
	m.updatedAt = time.Now().UTC()
	s.emitRoomMessage(s.rooms[m.rid], m)
	return ok(nil)
}

// serveFile serves /file-upload/<fileId>/<name> as apps/meteor/app/file-upload/server/lib/requests.ts
// does: 404 for an unknown id, 403 when FileUpload.requestCanAccessFiles (lib/FileUpload.ts)
// refuses. That check reads rc_uid/rc_token from the query, else from the cookies, and only
// then falls back to the X-User-Id/X-Auth-Token headers; the user must hold that login token.
// With the default settings (FileUpload_ProtectFiles and FileUpload_Restrict_to_room_members
// true, FileUpload_Restrict_to_users_who_can_access_room false: server/settings/file-upload.ts)
// only a subscriber of the file's room may read it, even in a public channel. The answer
// carries requests.ts' CSP and Cache-Control and the GridFS store's headers
// (config/GridFS.ts: inline Content-Disposition with filename*, Content-Type,
// Content-Length, Last-Modified), gzipped when the request accepts gzip, as GridFS does.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	status := s.serveFileInner(w, r)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: status,
		UserID: r.Header.Get("X-User-Id"), Time: time.Now()})
	s.mu.Unlock()
}

func (s *Server) serveFileInner(w http.ResponseWriter, r *http.Request) int {
	q := r.URL.Query()
	uid, tok := q.Get("rc_uid"), q.Get("rc_token")
	if uid == "" {
		if c, err := r.Cookie("rc_uid"); err == nil {
			uid = c.Value
			tok = ""
			if c, err := r.Cookie("rc_token"); err == nil {
				tok = c.Value
			}
		}
	}
	if uid == "" {
		uid = r.Header.Get("X-User-Id")
	}
	if tok == "" {
		tok = r.Header.Get("X-Auth-Token")
	}
	s.mu.Lock()
	up := s.files[r.PathValue("id")]
	allowed := false
	if up != nil && uid != "" && tok != "" {
		u, t := s.findToken(uid, tok)
		allowed = u != nil && u.id == uid && !s.tokenExpired(t) && s.isMember(u.id, s.rooms[up.rid])
	}
	var f upload
	if up != nil {
		f = *up
	}
	s.mu.Unlock()
	switch {
	case up == nil:
		w.WriteHeader(http.StatusNotFound)
		return http.StatusNotFound
	case !allowed:
		w.WriteHeader(http.StatusForbidden)
		return http.StatusForbidden
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Cache-Control", "max-age=31536000")
	h.Set("Content-Disposition", "inline; filename*=UTF-8''"+encodeURIComponent(f.name))
	h.Set("Last-Modified", f.uploadedAt.UTC().Format(http.TimeFormat))
	h.Set("Content-Type", cmp.Or(f.mime, "application/octet-stream"))
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusOK)
		zw := gzip.NewWriter(w)
		_, _ = zw.Write(f.data)
		_ = zw.Close()
		return http.StatusOK
	}
	h.Set("Content-Length", strconv.Itoa(len(f.data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.data)
	return http.StatusOK
}

// encodeURIComponent escapes as JavaScript's encodeURIComponent: everything but letters,
// digits and -_.!~*'() is percent-encoded as UTF-8.
func encodeURIComponent(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Block_Multiple_Failed_Logins: 10 failures for a user or 50 from an IP block logins for 5 min.
const loginBlockWindow = 5 * time.Minute

func (s *Server) loginFailed(key string) {
	now := time.Now()
	fails := slices.DeleteFunc(s.loginFails[key], func(t time.Time) bool { return now.Sub(t) > loginBlockWindow })
	s.loginFails[key] = append(fails, now)
}

func (s *Server) loginBlocked(key string, limit int) bool {
	now := time.Now()
	n := 0
	for _, t := range s.loginFails[key] {
		if now.Sub(t) <= loginBlockWindow {
			n++
		}
	}
	return n >= limit
}
