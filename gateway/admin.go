package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// The product-backend API (/api/admin, X-API-Key).

var targetRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:-]{0,63}$`)

func (s *Server) adminUpsert(c echo.Context) error {
	var req struct {
		Username string `json:"username"`
		Name     string `json:"name"`
		Email    string `json:"email"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	id := c.Param("id")
	if !validID(id) || !validID(req.Username) {
		return errorf(http.StatusBadRequest, "bad_request", "a product user id and a username are required")
	}
	if req.Email != "" && !strings.Contains(req.Email, "@") {
		return errorf(http.StatusBadRequest, "bad_request", "email is not an address")
	}
	rcID, created, err := s.sessions.Upsert(c.Request().Context(), UserSpec{UserID: id, Username: req.Username, Name: req.Name, Email: req.Email})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"userId": id, "username": req.Username, "rcUserId": rcID, "created": created})
}

func (s *Server) adminDelete(c echo.Context) error {
	id := c.Param("id")
	if !validID(id) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid product user id")
	}
	ctx := c.Request().Context()
	if err := s.hub.Kick(ctx, id, "user deleted", false); err != nil {
		s.log.Warn("admin delete: kick", "user", id, "err", err)
	}
	if err := s.sessions.Delete(ctx, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) adminKick(c echo.Context) error {
	id := c.Param("id")
	if !validID(id) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid product user id")
	}
	var req struct {
		Reason         string `json:"reason"`
		AllowReconnect bool   `json:"allowReconnect"`
	}
	if c.Request().ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil && err != io.EOF {
			return err
		}
	}
	if len(req.Reason) > 256 {
		return errorf(http.StatusBadRequest, "bad_request", "reason is too long")
	}
	if err := s.hub.Kick(c.Request().Context(), id, req.Reason, req.AllowReconnect); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) adminPush(c echo.Context) error {
	id := c.Param("id")
	var req struct {
		Target  string          `json:"target"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if !validID(id) || !targetRE.MatchString(req.Target) {
		return errorf(http.StatusBadRequest, "bad_request", "a product user id and a target name are required")
	}
	if !utf8.Valid(req.Payload) {
		// Passed on raw, invalid UTF-8 would reach every JSON client of the user.
		return errorf(http.StatusBadRequest, "bad_request", "payload is not valid UTF-8")
	}
	if len(req.Payload) == 0 {
		req.Payload = json.RawMessage("null")
	}
	if err := s.hub.SendToUser(c.Request().Context(), id, req.Target, req.Payload); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}

// passthroughAllowed lists the /api/v1 endpoints a product user may call with their own
// token. Everything else (user management, tokens, settings, login/logout, statistics,
// admin-only endpoints) is refused with 403 before Rocket.Chat is asked.
var passthroughAllowed = map[string]bool{
	"GET me": true, "GET info": true,
	"GET rooms.get": true, "GET rooms.info": true,
	"GET subscriptions.get": true, "GET subscriptions.getOne": true, "POST subscriptions.read": true, "POST subscriptions.unread": true,
	"GET chat.getMessage": true, "GET chat.syncMessages": true, "GET chat.search": true, "GET chat.getThreadMessages": true,
	"GET chat.getThreadsList": true, "POST chat.sendMessage": true, "POST chat.update": true, "POST chat.delete": true,
	"POST chat.react": true, "POST chat.starMessage": true, "POST chat.unStarMessage": true,
	"GET channels.list.joined": true, "GET channels.info": true, "GET channels.history": true, "GET channels.members": true,
	"GET channels.messages": true, "POST channels.join": true, "POST channels.leave": true,
	"GET groups.list": true, "GET groups.info": true, "GET groups.history": true, "GET groups.members": true, "GET groups.messages": true,
	"GET im.list": true, "GET im.history": true, "GET im.members": true, "GET im.messages": true, "POST im.create": true,
	"GET dm.list": true, "GET dm.history": true, "GET dm.members": true, "GET dm.messages": true, "POST dm.create": true,
	"GET users.info": true, "GET users.presence": true, "GET spotlight": true, "GET emoji-custom.list": true,
}

func (s *Server) passthrough(c echo.Context) error {
	req := c.Request()
	rest := c.Param("*")
	ep, _, _ := strings.Cut(rest, "/")
	if !passthroughAllowed[req.Method+" "+ep] || strings.Contains(rest, "..") {
		return errorf(http.StatusForbidden, "forbidden", "this Rocket.Chat endpoint is not available through the gateway")
	}
	cr, err := s.creds(c)
	if err != nil {
		return err
	}
	q := req.URL.Query()
	q.Del("access_token")
	var body io.Reader
	if req.Method == http.MethodPost {
		body = req.Body
	}
	resp, err := s.rc.send(req.Context(), cr, req.Method, "/api/v1/"+(&url.URL{Path: rest}).EscapedPath(), q, body, req.Header.Get(echo.HeaderContentType))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return decodeRC(resp, ep, nil)
	}
	defer resp.Body.Close()
	ct := resp.Header.Get(echo.HeaderContentType)
	if ct == "" {
		ct = echo.MIMEApplicationJSON
	}
	return c.Stream(resp.StatusCode, ct, resp.Body)
}
