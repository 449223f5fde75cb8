package gateway

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/rcgateway/rcgateway/session"
)

// Facade endpoints for typing indicators (docs/http-api.md): a tab says which rooms it has
// open, so the user's upstream follows their typing, and reports the user's own typing.

// Activity is what the gateway needs for typing (the session manager; nil: answered 503).
type Activity interface {
	// Watch records the rooms one tab of the user has open (none: the tab closed them).
	Watch(ctx context.Context, userID, tab string, rooms []string) error
	// Typing sends the user's own typing in rid on the user's upstream
	// (session.ErrNoUpstream when it does not run on this node).
	Typing(ctx context.Context, userID, rid string, typing bool) error
}

// tabID is the browser's opaque id of one tab.
var tabID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// openRooms records which rooms one tab shows (PUT, refreshed by the tab while they stay open).
func (s *Server) openRooms(c echo.Context) error {
	var req struct {
		Tab   string   `json:"tab"`
		Rooms []string `json:"rooms"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if !tabID.MatchString(req.Tab) || len(req.Rooms) > 8 {
		return errorf(http.StatusBadRequest, "bad_request", "tab (1-64 letters, digits, - or _) and at most 8 rooms are required")
	}
	for _, rid := range req.Rooms {
		if !validID(rid) {
			return errorf(http.StatusBadRequest, "bad_request", "invalid room id")
		}
	}
	if s.activity == nil {
		return errorf(http.StatusServiceUnavailable, "unavailable", "typing indicators are not available")
	}
	if err := s.activity.Watch(c.Request().Context(), identity(c).UserID, req.Tab, req.Rooms); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// typing reports the caller's own typing in a room to its other members.
func (s *Server) typing(c echo.Context) error {
	var req struct {
		Typing *bool `json:"typing"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if !validID(c.Param("rid")) || req.Typing == nil {
		return errorf(http.StatusBadRequest, "bad_request", "a room id and typing (true or false) are required")
	}
	if s.activity == nil {
		return errorf(http.StatusServiceUnavailable, "unavailable", "typing indicators are not available")
	}
	err := s.activity.Typing(c.Request().Context(), identity(c).UserID, c.Param("rid"), *req.Typing)
	if errors.Is(err, session.ErrNoUpstream) {
		return errorf(http.StatusConflict, "no_upstream", "this user has no live chat connection on this node yet")
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
