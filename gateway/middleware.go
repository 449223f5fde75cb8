package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func goVersion() string { return runtime.Version() }

// recoverer turns a handler panic into a 500 and a log line with the stack.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("handler panic", "request_id", c.Get("request_id"), "route", c.Path(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = errorf(http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		return next(c)
	}
}

// accessLog writes one structured line per request: never a token, an API key or an
// access_token query value.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		route, method := s.metricRoute(c), metricMethod(req.Method)
		s.metrics.httpReqs.WithLabelValues(method, route, strconv.Itoa(res.Status)).Inc()
		s.metrics.httpDur.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		attrs := []slog.Attr{
			slog.String("request_id", fmt.Sprint(c.Get("request_id"))),
			slog.String("method", req.Method),
			slog.String("path", redactQuery(req.URL)),
			slog.String("route", route),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Duration("took", time.Since(start)),
			slog.String("remote", c.RealIP()),
		}
		if id := identity(c); id.UserID != "" {
			attrs = append(attrs, slog.String("user", id.UserID))
		}
		lvl := slog.LevelInfo
		if res.Status >= 500 {
			lvl = slog.LevelWarn
		}
		s.log.LogAttrs(req.Context(), lvl, "http", attrs...)
		return nil
	}
}

// uploadRoute is the facade's file upload, which has its own body limit and time budget;
// fileRoute streams a file down and has the same time budget.
const (
	uploadRoute = "/api/im/rooms/:rid/files"
	fileRoute   = "/api/im/files/:fileId/:name"
)

// handlerTimeout bounds a whole /api/im or /api/v1 handler, from authentication through
// token minting to the last Rocket.Chat call and the streamed answer, by http.request_timeout
// (http.upload_timeout on the upload route). Everything below runs on the request's context,
// so the deadline reaches each blocking call; a call that runs out answers 504.
func (s *Server) handlerTimeout(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		d := s.cfg.HTTP.RequestTimeout.D()
		if p := c.Path(); p == uploadRoute || p == fileRoute {
			d = s.cfg.HTTP.UploadTimeout.D()
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), d)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// bodyLimit caps request bodies: http.upload_limit on the upload route, http.body_limit
// elsewhere. The hub is left alone (its own framing limits apply).
func (s *Server) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		route := c.Path()
		if strings.HasPrefix(route, s.cfg.Hub.Path) {
			return next(c)
		}
		limit := int64(s.cfg.HTTP.BodyLimit)
		if route == uploadRoute {
			limit = int64(s.cfg.HTTP.UploadLimit)
		}
		req := c.Request()
		if req.ContentLength > limit {
			return errorf(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over the %d byte limit", limit))
		}
		if req.Body != nil {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
		}
		return next(c)
	}
}

// requestID takes a sane X-Request-Id from the caller or makes one, and echoes it.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'))
		}) {
			id = newRequestID()
		}
		c.Set("request_id", id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// cors answers preflights and sets the CORS headers for the configured product origins
// (SignalR's negotiate is a cross-origin POST with credentials).
func (s *Server) cors(next echo.HandlerFunc) echo.HandlerFunc {
	origins := map[string]bool{}
	wildcard := false
	for _, o := range s.cfg.HTTP.CORSOrigins {
		if o == "*" {
			wildcard = true
		}
		origins[strings.TrimSuffix(o, "/")] = true
	}
	return func(c echo.Context) error {
		origin := c.Request().Header.Get(echo.HeaderOrigin)
		if origin == "" || len(origins) == 0 {
			return next(c)
		}
		h := c.Response().Header()
		h.Add(echo.HeaderVary, echo.HeaderOrigin)
		if !wildcard && !origins[origin] {
			return next(c)
		}
		if wildcard {
			h.Set(echo.HeaderAccessControlAllowOrigin, "*")
		} else {
			h.Set(echo.HeaderAccessControlAllowOrigin, origin)
			h.Set(echo.HeaderAccessControlAllowCredentials, "true")
		}
		h.Set(echo.HeaderAccessControlExposeHeaders, echo.HeaderXRequestID)
		if c.Request().Method == http.MethodOptions && c.Request().Header.Get(echo.HeaderAccessControlRequestMethod) != "" {
			h.Set(echo.HeaderAccessControlAllowMethods, "GET, HEAD, POST, PUT, PATCH, DELETE")
			h.Set(echo.HeaderAccessControlAllowHeaders, "Authorization, Content-Type, X-Requested-With, X-SignalR-User-Agent, X-API-Key, X-Request-Id")
			h.Set(echo.HeaderAccessControlMaxAge, "600")
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}
