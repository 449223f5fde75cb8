package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// Facade endpoints for reactions, thread replies and search in a room (docs/http-api.md).

// emojiName is a Rocket.Chat emoji short name with or without its colons (":+1:",
// "thumbsup", "flag-cn", a custom emoji's name).
var emojiName = regexp.MustCompile(`^:?[A-Za-z0-9_+\-]{1,64}:?$`)

// react sets or toggles the caller's reaction on a message. The message comes back to the
// room's members as a getRoomMessageNotification with its new reactions.
func (s *Server) react(c echo.Context) error {
	var req struct {
		Emoji string `json:"emoji"`
		On    *bool  `json:"on"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if !validID(c.Param("rid")) || !validID(c.Param("mid")) || !emojiName.MatchString(req.Emoji) {
		return errorf(http.StatusBadRequest, "bad_request", "a message id and an emoji name (\":+1:\") are required")
	}
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) error {
		return s.rc.React(ctx, cr, c.Param("mid"), req.Emoji, req.On)
	}); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// countParam reads count: 1..100, def when absent.
func countParam(c echo.Context, def int) (int, error) {
	v := c.QueryParam("count")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return def, errorf(http.StatusBadRequest, "bad_request", "count must be 1..100")
	}
	return n, nil
}

// pageParams reads count (countParam) and offset (0 or more).
func pageParams(c echo.Context, def int) (rocketchat.Page, error) {
	var p rocketchat.Page
	var err error
	if p.Count, err = countParam(c, def); err != nil {
		return p, err
	}
	if v := c.QueryParam("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, errorf(http.StatusBadRequest, "bad_request", "offset must be 0 or more")
		}
		p.Offset = n
	}
	return p, nil
}

// threadMessages lists the replies of a thread, oldest first.
func (s *Server) threadMessages(c echo.Context) error {
	rid, tmid := c.Param("rid"), c.Param("tmid")
	if !validID(rid) || !validID(tmid) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid id")
	}
	p, err := pageParams(c, 50)
	if err != nil {
		return err
	}
	var l rocketchat.List
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		l, err = s.rc.ThreadMessages(ctx, cr, tmid, p)
		return err
	}); err != nil {
		return err
	}
	for _, m := range l.Items {
		var v struct {
			RID string `json:"rid"`
		}
		if json.Unmarshal(m, &v) != nil || v.RID != rid { // an item we cannot check is not shown
			return errorf(http.StatusNotFound, "not_found", "no such thread in this room")
		}
	}
	if l.Items == nil {
		l.Items = []json.RawMessage{}
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": l.Items, "total": l.Total, "hasMore": p.Offset+len(l.Items) < l.Total})
}

// maxSearch bounds a search text.
const maxSearch = 500

// searchRoom lists a room's messages matching q, newest first.
func (s *Server) searchRoom(c echo.Context) error {
	rid, q := c.Param("rid"), strings.TrimSpace(c.QueryParam("q"))
	if !validID(rid) || q == "" || len(q) > maxSearch {
		return errorf(http.StatusBadRequest, "bad_request", "a search text (q) of 1..500 bytes is required")
	}
	p, err := pageParams(c, 20)
	if err != nil {
		return err
	}
	var msgs []json.RawMessage
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		msgs, err = s.rc.SearchMessages(ctx, cr, rid, q, p)
		return err
	}); err != nil {
		return err
	}
	if msgs == nil {
		msgs = []json.RawMessage{}
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": msgs})
}
