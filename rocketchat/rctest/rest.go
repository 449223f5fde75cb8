// REST plumbing: the route table (one line per endpoint, in Server.routes), authentication,
// the REST rate limiter, fault injection, and the reply and parameter helpers every area uses.
// Follows Rocket.Chat's apps/meteor/app/api/server/ApiClass.ts (authentication, failure and
// forbidden bodies, rate limiter), packages/http-router/src/Router.ts (typed routes) and
// apps/meteor/app/api/server/helpers/getPaginationItems.ts; each rule cites its file.

package rctest

import (
	"bytes"
	"encoding/json"
	"fmt"
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
		"GET users.presence":                     a((*call).usersPresence),
		"POST users.setStatus":                   a((*call).usersSetStatus),
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

func (c *call) infoV1() reply {
	return ok(map[string]any{"info": map[string]any{"version": c.s.opts.Version}})
}
