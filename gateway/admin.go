package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/session"
)

// The product-backend API (/api/admin, X-API-Key).

var targetRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:-]{0,63}$`)

// pathParam is the route parameter name, decoded once. Echo (v4.16) routes on the request's
// RawPath when Go keeps one (the path has an escape that decoding would lose, such as %2F) and
// then hands the parameter over still escaped; otherwise it routes on the decoded Path and the
// parameter is decoded already (unescaping it again would turn "a%2541" into "aA"). So it is
// unescaped here exactly when RawPath is set.
func pathParam(c echo.Context, name string) (string, bool) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, true
	}
	u, err := url.PathUnescape(v)
	return u, err == nil
}

// userParam is the product user id of /api/admin/users/{id}, percent-encoded by the caller
// when it holds reserved or non-ASCII characters; every legal subject ("auth0|42", "李雷",
// "a/b") reaches the session unchanged (docs/http-api.md).
func userParam(c echo.Context) (string, error) {
	id, ok := pathParam(c, "id")
	if !ok {
		return "", errorf(http.StatusBadRequest, "invalid_subject", "the user id is not validly percent-encoded")
	}
	if err := session.ValidateSubject(id); err != nil {
		return "", errorf(http.StatusBadRequest, "invalid_subject", "the user id is empty, over 255 bytes, not UTF-8 or holds control characters")
	}
	return id, nil
}

func (s *Server) adminUpsert(c echo.Context) error {
	var req struct {
		Username string `json:"username"`
		Name     string `json:"name"`
		Email    string `json:"email"`
		Link     string `json:"link"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	id, err := userParam(c)
	if err != nil {
		return err
	}
	if req.Email != "" && !strings.Contains(req.Email, "@") {
		return errorf(http.StatusBadRequest, "bad_request", "email is not an address")
	}
	if req.Link != "" && !validID(req.Link) {
		return errorf(http.StatusBadRequest, "bad_request", "link is not a Rocket.Chat username")
	}
	rcID, rcName, created, err := s.sessions.Upsert(c.Request().Context(), UserSpec{UserID: id, Username: req.Username, Name: req.Name, Email: req.Email, Link: req.Link})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == "account_protected" {
			s.log.Warn("admin upsert: refused to bind a protected account", "user", id, "link", req.Link)
		}
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"userId": id, "username": rcName, "rcUserId": rcID, "created": created})
}

func (s *Server) adminDelete(c echo.Context) error {
	id, err := userParam(c)
	if err != nil {
		return err
	}
	if err := s.sessions.Delete(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) adminDeactivate(c echo.Context) error { return s.adminSetActive(c, false) }
func (s *Server) adminActivate(c echo.Context) error   { return s.adminSetActive(c, true) }

func (s *Server) adminSetActive(c echo.Context, active bool) error {
	id, err := userParam(c)
	if err != nil {
		return err
	}
	if err := s.sessions.SetActive(c.Request().Context(), id, active); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// known answers 404 for a product user with no Rocket.Chat account.
func (s *Server) known(c echo.Context, id string) error {
	ok, err := s.sessions.Known(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusNotFound, "user_not_found", "no chat account for this product user")
	}
	return nil
}

func (s *Server) adminKick(c echo.Context) error {
	id, err := userParam(c)
	if err != nil {
		return err
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
	if err := s.known(c, id); err != nil {
		return err
	}
	if err := s.hub.Kick(c.Request().Context(), id, req.Reason, req.AllowReconnect); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) adminPush(c echo.Context) error {
	var req struct {
		Target  string          `json:"target"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	id, err := userParam(c)
	if err != nil {
		return err
	}
	if !targetRE.MatchString(req.Target) {
		return errorf(http.StatusBadRequest, "bad_request", "a product user id and a target name are required")
	}
	if !utf8.Valid(req.Payload) {
		// Passed on raw, invalid UTF-8 would reach every JSON client of the user.
		return errorf(http.StatusBadRequest, "bad_request", "payload is not valid UTF-8")
	}
	if len(req.Payload) == 0 {
		req.Payload = json.RawMessage("null")
	}
	if err := s.known(c, id); err != nil {
		return err
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
	q := req.URL.Query()
	q.Del("access_token")
	var raw []byte
	if req.Method == http.MethodPost && req.Body != nil {
		// Kept for the one retry after a refused token (the body limit bounds it).
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return err
		}
		raw = b
	}
	var resp *http.Response
	err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		resp, err = s.rc.Forward(ctx, cr, req.Method, rest, q, raw, req.Header.Get(echo.HeaderContentType))
		return err
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ct := resp.Header.Get(echo.HeaderContentType)
	if ct == "" {
		ct = echo.MIMEApplicationJSON
	}
	return c.Stream(resp.StatusCode, ct, resp.Body)
}
