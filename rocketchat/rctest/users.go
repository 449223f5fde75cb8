// Auth and users: login, logout, me, users.* (create, info, update, delete, setActiveStatus,
// list, createToken, generatePersonalAccessToken, logout), REST two-factor checks, login
// tokens and failed-login blocking. Follows Rocket.Chat's apps/meteor/app/api/server/ApiClass.ts
// (login, logout), apps/meteor/app/api/server/v1/misc.ts (me), apps/meteor/app/api/server/v1/users.ts
// (7.x) and apps/meteor/server/api/v1/users.ts (8.x+), apps/meteor/server/meteor-methods/auth/createToken.ts,
// apps/meteor/app/2fa/server/code/index.ts and
// apps/meteor/app/authentication/server/lib/restrictLoginAttempts.ts; each rule cites its file.

package rctest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

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

func (s *Server) addTokenLocked(u *user, pat bool, name string) *loginToken {
	t := &loginToken{token: randomToken(), when: time.Now().UTC(), pat: pat, name: name, bypass2FA: pat}
	u.tokens = append(u.tokens, t)
	// Token cap: the oldest non-PAT tokens go first.
	for {
		n := 0
		for _, x := range u.tokens {
			if !x.pat {
				n++
			}
		}
		if n <= s.opts.MaxLoginTokens {
			break
		}
		for _, x := range u.tokens {
			if !x.pat {
				s.removeTokenLocked(u, x.token)
				break
			}
		}
	}
	return t
}

// removeTokenLocked deletes a token and closes, with no frame, every DDP connection that
// logged in with it.
func (s *Server) removeTokenLocked(u *user, token string) {
	u.tokens = slices.DeleteFunc(u.tokens, func(t *loginToken) bool { return t.token == token })
	for c := range s.conns {
		if c.uid == u.id && c.token == token {
			c.close()
		}
	}
}

// findToken returns the user and token for (uid, token); uid may be empty (DDP resume).
func (s *Server) findToken(uid, token string) (*user, *loginToken) {
	if token == "" {
		return nil, nil
	}
	check := func(u *user) (*user, *loginToken) {
		for _, t := range u.tokens {
			if t.token == token {
				return u, t
			}
		}
		return nil, nil
	}
	if uid != "" {
		if u := s.users[uid]; u != nil {
			return check(u)
		}
		return nil, nil
	}
	for _, u := range s.users {
		if uu, t := check(u); uu != nil {
			return uu, t
		}
	}
	return nil, nil
}

func (s *Server) tokenExpired(t *loginToken) bool {
	if t.pat {
		return false
	}
	return t.expired || time.Since(t.when) > s.opts.TokenExpiry
}
