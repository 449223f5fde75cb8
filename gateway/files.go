package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
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
	id, name := c.Param("fileId"), c.Param("name")
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	if !fileIDPattern.MatchString(id) || !validFileName(name) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid file id or name")
	}
	cr, err := s.creds(c)
	if err != nil {
		return err
	}
	resp, err := s.rc.file(c.Request().Context(), cr, id, name, s.cfg.HTTP.RequestTimeout.D())
	if err != nil {
		if ctxErr := c.Request().Context().Err(); ctxErr != nil {
			return ctxErr
		}
		s.log.Warn("file", "request_id", c.Get("request_id"), "err", err)
		return errorf(http.StatusBadGateway, "upstream_error", "the chat server did not answer")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound:
		return errorf(http.StatusNotFound, "not_found", "no such file")
	case resp.StatusCode == http.StatusForbidden:
		// requestCanAccessFiles said no: not a member of the file's room (or a bad token).
		return errorf(http.StatusForbidden, "forbidden", "not allowed to read this file")
	default:
		return errorf(http.StatusBadGateway, "upstream_error", fmt.Sprintf("the chat server answered %d", resp.StatusCode))
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

// file requests /file-upload/<id>/<name> with the user's credentials in X-User-Id and
// X-Auth-Token, which Rocket.Chat's requestCanAccessFiles accepts besides its rc_uid /
// rc_token cookies (apps/meteor/app/file-upload/server/lib/FileUpload.ts). It asks for the
// identity encoding: the GridFS store gzips when allowed (config/GridFS.ts), and the
// gateway passes Content-Length through. headerTimeout bounds the wait for the answer's
// headers; the body streams for as long as the caller's context lives.
func (r *rcREST) file(ctx context.Context, cr rcCreds, id, name string, headerTimeout time.Duration) (*http.Response, error) {
	u := *r.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/file-upload/" + id + "/" + name
	u.RawPath, u.RawQuery = "", ""
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("gateway: rocketchat file-upload: %w", err)
	}
	req.Header.Set("X-User-Id", cr.UserID)
	req.Header.Set("X-Auth-Token", cr.Token)
	req.Header.Set("Accept-Encoding", "identity")
	timer := time.AfterFunc(headerTimeout, cancel)
	start := time.Now()
	resp, err := r.client.Do(req)
	r.metrics.observeRC("file-upload", start, resp, err)
	if !timer.Stop() && err == nil {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("gateway: rocketchat file-upload: %w", err)
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
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
