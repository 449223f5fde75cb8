package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// apiError is the JSON error body every route answers with: {error, message}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

var (
	errUnauthorized = errorf(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
	errNoAPIKey     = errorf(http.StatusUnauthorized, "unauthorized", "a valid X-API-Key is required")
	errNotFound     = errorf(http.StatusNotFound, "not_found", "no such resource")
	// errInvalidSubject: the token's subject is empty, over 255 bytes, not UTF-8 or holds
	// control characters.
	errInvalidSubject = errorf(http.StatusUnauthorized, "invalid_subject", "the token's subject (user id) is not acceptable")
)

// codeForStatus names a status for errors that carry no code of their own.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusBadGateway:
		return "upstream_error"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusGatewayTimeout:
		return "upstream_timeout"
	}
	if status >= 500 {
		return "internal"
	}
	return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

// toAPIError maps any handler error to the answer the caller sees. Upstream (Rocket.Chat)
// detail is never echoed: mapUpstream turns it into our own words.
func (s *Server) toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over the %d byte limit", mbe.Limit))
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			msg = m
		}
		return errorf(he.Code, codeForStatus(he.Code), msg)
	}
	if errors.Is(err, ErrUnauthenticated) {
		return errUnauthorized
	}
	if mapped := mapUpstream(err); mapped != nil {
		return mapped
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errorf(http.StatusGatewayTimeout, "upstream_timeout", "Rocket.Chat did not answer in time")
	}
	return errorf(http.StatusInternalServerError, "internal", "internal error")
}

func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae := s.toAPIError(err)
	if ae.Status >= 500 {
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("route", c.Path()), slog.String("err", redactErr(err)))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.Status)
		return
	}
	_ = c.JSON(ae.Status, ae)
}

// mapUpstream turns a Rocket.Chat failure (*rocketchat.APIError, *rocketchat.RateLimitError)
// into our own answer, never its raw body; nil when err is not one. This is the one place
// Rocket.Chat's errorType vocabulary becomes HTTP.
func mapUpstream(err error) *apiError {
	var ae *rocketchat.APIError
	var status int
	var errorType string
	switch {
	case errors.As(err, &ae):
		status, errorType = ae.Status, ae.ErrorType
		if errors.Is(ae, rocketchat.ErrUnauthorized) {
			// A missing or dead session, whatever code the text carries.
			errorType = ""
		}
	case errors.Is(err, rocketchat.ErrRateLimited):
		status = http.StatusTooManyRequests
	default:
		return nil
	}
	switch {
	case status == http.StatusUnauthorized && errorType != "unauthorized" && errorType != "error-unauthorized":
		return errorf(http.StatusBadGateway, "upstream_auth", "the chat server refused the user's session; retry")
	// Not allowed: API.v1.forbidden() (403 "unauthorized" before 9.0, "forbidden" from 9.0),
	// 7.x API.v1.unauthorized() (401 {"error":"unauthorized"}, no "status":"error": not a bad
	// token), 9.x's 401 "<reason> [error-unauthorized]" for a permission check a route throws,
	// a Meteor error-not-allowed / error-action-not-allowed (400), and rooms.info's
	// failure('not-allowed', 'Not Allowed') (apps/meteor/app/api/server/ApiClass.ts, v1/rooms.ts).
	case status == http.StatusForbidden || errorType == "error-not-allowed" || errorType == "error-action-not-allowed" ||
		errorType == "unauthorized" || errorType == "error-unauthorized" ||
		errorType == "forbidden" || errorType == "not-allowed" || errorType == "Not Allowed":
		return errorf(http.StatusForbidden, "forbidden", "not allowed in the chat server")
	case status == http.StatusNotFound || strings.Contains(errorType, "not-found") || errorType == "error-room-not-found" || errorType == "error-invalid-room":
		return errorf(http.StatusNotFound, "not_found", "no such room, message or user")
	case status == http.StatusTooManyRequests:
		return errorf(http.StatusTooManyRequests, "rate_limited", "the chat server is rate limiting; retry later")
	case status == http.StatusRequestEntityTooLarge || errorType == "error-file-too-large":
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "file too large for the chat server")
	case strings.Contains(errorType, "duplicate") || strings.Contains(errorType, "already") || strings.Contains(errorType, "in-use"):
		return errorf(http.StatusConflict, "conflict", "already exists")
	case status >= 500:
		return errorf(http.StatusBadGateway, "upstream_error", "the chat server failed")
	case status == http.StatusBadRequest:
		msg := "the chat server rejected the request"
		if errorType != "" && len(errorType) < 64 && !strings.ContainsAny(errorType, " <>\"") {
			msg += " (" + errorType + ")"
		}
		return errorf(http.StatusBadRequest, "bad_request", msg)
	}
	return errorf(http.StatusBadGateway, "upstream_error", "the chat server failed")
}
