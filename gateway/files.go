package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"
)

// Files through the gateway: GET /api/im/files/{fileId}/{name} streams a Rocket.Chat
// upload (the /file-upload/<id>/<name> URL a message carries in attachments[].title_link,
// image_url and file) with the caller's own Rocket.Chat credentials, so the browser never
// holds a Rocket.Chat token.

// fileIDPattern is Rocket.Chat's upload id alphabet (Random.id(): letters and digits).
var fileIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// validFileName refuses names that could change the upstream path: separators, dot
// segments, control characters, and anything longer than a file name.
func validFileName(name string) bool {
	if name == "" || len(name) > 255 || name == "." || name == ".." || strings.ContainsAny(name, "/\\") {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// passedFileHeaders are the upstream answer's headers a browser needs for a file.
var passedFileHeaders = []string{"Content-Type", "Content-Length", "Content-Disposition", "Last-Modified"}

func (s *Server) file(c echo.Context) error {
	id := c.Param("fileId")
	name, ok := pathParam(c, "name")
	if !ok || !fileIDPattern.MatchString(id) || !validFileName(name) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid file id or name")
	}
	cr, err := s.creds(c)
	if err != nil {
		return err
	}
	resp, err := s.rc.OpenFile(c.Request().Context(), cr, id, name, s.cfg.HTTP.RequestTimeout.D())
	if err != nil {
		if ctxErr := c.Request().Context().Err(); ctxErr != nil {
			return ctxErr
		}
		s.log.Warn("file", "request_id", c.Get("request_id"), "err", err)
		return errorf(http.StatusBadGateway, "upstream_error", "the chat server did not answer")
	}
	defer resp.Body.Close()
	switch {
	case resp.Status == http.StatusOK:
	case resp.Status == http.StatusNotFound:
		return errorf(http.StatusNotFound, "not_found", "no such file")
	case resp.Status == http.StatusForbidden:
		// requestCanAccessFiles said no: not a member of the file's room (or a bad token).
		return errorf(http.StatusForbidden, "forbidden", "not allowed to read this file")
	default:
		return errorf(http.StatusBadGateway, "upstream_error", fmt.Sprintf("the chat server answered %d", resp.Status))
	}
	h := c.Response().Header()
	for _, k := range passedFileHeaders {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/octet-stream")
	}
	// The body is the user's data, not the gateway's page: never sniffed, never run
	// as a document of the gateway's origin, cached only by this user's browser.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=3600")
	c.Response().WriteHeader(http.StatusOK)
	if _, err := io.Copy(c.Response(), resp.Body); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Debug("file: copy", "request_id", c.Get("request_id"), "err", err)
	}
	return nil
}
