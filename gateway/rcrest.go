package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// rcCreds are one Rocket.Chat user's REST credentials (X-User-Id, X-Auth-Token).
type rcCreds struct {
	UserID string
	Token  string
}

// rcError is a failed Rocket.Chat call, kept for mapping; its detail is never echoed.
type rcError struct {
	Endpoint  string
	Status    int
	ErrorType string // Rocket.Chat's errorType / error code
}

func (e *rcError) Error() string {
	return fmt.Sprintf("rocketchat %s: status %d %s", e.Endpoint, e.Status, e.ErrorType)
}

// rcREST performs the facade's and the passthrough's REST calls with the caller's own
// credentials, observing latency and errors per endpoint.
type rcREST struct {
	base    *url.URL
	client  *http.Client
	metrics *metrics
}

// endpointOf names an /api/v1 path for metrics: the method name without ids
// ("rooms.media/ABC" → "rooms.media").
func endpointOf(path string) string {
	p := strings.TrimPrefix(strings.TrimPrefix(path, "/"), "api/v1/")
	p, _, _ = strings.Cut(p, "/")
	if p == "" {
		return "other"
	}
	return p
}

// do calls Rocket.Chat and decodes a 2xx JSON answer into out (nil: discard). A 429 is
// waited out once, up to 5 s, when X-RateLimit-Reset says when.
func (r *rcREST) do(ctx context.Context, cr rcCreds, method, path string, query url.Values, body any, out any) error {
	var raw []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("gateway: rocketchat %s: encode: %w", endpointOf(path), err)
		}
		raw = b
	}
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if raw != nil {
			rd = bytes.NewReader(raw)
		}
		resp, err := r.send(ctx, cr, method, path, query, rd, "application/json")
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt == 0 {
			wait := rateLimitWait(resp.Header, time.Now())
			resp.Body.Close()
			if wait <= 5*time.Second {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
				continue
			}
			return &rcError{Endpoint: endpointOf(path), Status: http.StatusTooManyRequests, ErrorType: "error-too-many-requests"}
		}
		return decodeRC(resp, endpointOf(path), out)
	}
}

func rateLimitWait(h http.Header, now time.Time) time.Duration {
	ms, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return time.Second
	}
	d := time.UnixMilli(ms).Sub(now)
	if d < 0 {
		return 0
	}
	return d
}

// send issues one request and records its latency; the caller closes the body.
func (r *rcREST) send(ctx context.Context, cr rcCreds, method, path string, query url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := *r.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("gateway: rocketchat %s: %w", endpointOf(path), err)
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if cr.Token != "" {
		req.Header.Set("X-User-Id", cr.UserID)
		req.Header.Set("X-Auth-Token", cr.Token)
	}
	ep := endpointOf(path)
	start := time.Now()
	resp, err := r.client.Do(req)
	r.metrics.observeRC(ep, start, resp, err)
	if err != nil {
		return nil, fmt.Errorf("gateway: rocketchat %s: %w", ep, err)
	}
	return resp, nil
}

func decodeRC(resp *http.Response, ep string, out any) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("gateway: rocketchat %s: read: %w", ep, err)
	}
	var env struct {
		Success   *bool  `json:"success"`
		Error     any    `json:"error"`
		ErrorType string `json:"errorType"`
		Status    string `json:"status"`
	}
	_ = json.Unmarshal(b, &env)
	if resp.StatusCode/100 != 2 || (env.Success != nil && !*env.Success) || env.Status == "error" {
		et := env.ErrorType
		if s, ok := env.Error.(string); ok && et == "" {
			switch {
			case strings.Contains(s, "E11000") || strings.Contains(s, "duplicate key"):
				et = "duplicate-key"
			case !strings.Contains(s, " "):
				et = s
			case resp.StatusCode == http.StatusUnauthorized && strings.Contains(s, "must be logged in"):
				// A missing session, whatever the code (9.x permission check without a user).
			default:
				// "reason [code]": a Meteor error answered through API.v1.unauthorized/forbidden
				// (apps/meteor/app/api/server/ApiClass.ts) has its code only there.
				if i := strings.LastIndex(s, " ["); i >= 0 && strings.HasSuffix(s, "]") && !strings.ContainsAny(s[i+2:len(s)-1], " []") {
					et = s[i+2 : len(s)-1]
				}
			}
		}
		st := resp.StatusCode
		if st/100 == 2 {
			st = http.StatusBadRequest
		}
		return &rcError{Endpoint: ep, Status: st, ErrorType: et}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("gateway: rocketchat %s: decode: %w", ep, err)
	}
	return nil
}

// mapUpstream turns a Rocket.Chat failure into our own answer, never its raw body.
func mapUpstream(err error) *apiError {
	var re *rcError
	var ae *rocketchat.APIError
	switch {
	case errors.As(err, &re):
	case errors.As(err, &ae):
		re = &rcError{Endpoint: ae.Endpoint, Status: ae.Status, ErrorType: ae.ErrorType}
		if errors.Is(ae, rocketchat.ErrUnauthorized) {
			re.ErrorType = ""
		}
	case errors.Is(err, rocketchat.ErrRateLimited):
		re = &rcError{Status: http.StatusTooManyRequests}
	default:
		return nil
	}
	switch {
	case re.Status == http.StatusUnauthorized && re.ErrorType != "unauthorized" && re.ErrorType != "error-unauthorized":
		return errorf(http.StatusBadGateway, "upstream_auth", "the chat server refused the user's session; retry")
	// Not allowed: API.v1.forbidden() (403 "unauthorized" before 9.0, "forbidden" from 9.0),
	// 7.x API.v1.unauthorized() (401 {"error":"unauthorized"}, no "status":"error": not a bad
	// token), 9.x's 401 "<reason> [error-unauthorized]" for a permission check a route throws,
	// a Meteor error-not-allowed / error-action-not-allowed (400), and rooms.info's
	// failure('not-allowed', 'Not Allowed') (apps/meteor/app/api/server/ApiClass.ts, v1/rooms.ts).
	case re.Status == http.StatusForbidden || re.ErrorType == "error-not-allowed" || re.ErrorType == "error-action-not-allowed" ||
		re.ErrorType == "unauthorized" || re.ErrorType == "error-unauthorized" ||
		re.ErrorType == "forbidden" || re.ErrorType == "not-allowed" || re.ErrorType == "Not Allowed":
		return errorf(http.StatusForbidden, "forbidden", "not allowed in the chat server")
	case re.Status == http.StatusNotFound || strings.Contains(re.ErrorType, "not-found") || re.ErrorType == "error-room-not-found" || re.ErrorType == "error-invalid-room":
		return errorf(http.StatusNotFound, "not_found", "no such room, message or user")
	case re.Status == http.StatusTooManyRequests:
		return errorf(http.StatusTooManyRequests, "rate_limited", "the chat server is rate limiting; retry later")
	case re.Status == http.StatusRequestEntityTooLarge || re.ErrorType == "error-file-too-large":
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "file too large for the chat server")
	case strings.Contains(re.ErrorType, "duplicate") || strings.Contains(re.ErrorType, "already") || strings.Contains(re.ErrorType, "in-use"):
		return errorf(http.StatusConflict, "conflict", "already exists")
	case re.Status >= 500:
		return errorf(http.StatusBadGateway, "upstream_error", "the chat server failed")
	case re.Status == http.StatusBadRequest:
		msg := "the chat server rejected the request"
		if re.ErrorType != "" && len(re.ErrorType) < 64 && !strings.ContainsAny(re.ErrorType, " <>\"") {
			msg += " (" + re.ErrorType + ")"
		}
		return errorf(http.StatusBadRequest, "bad_request", msg)
	}
	return errorf(http.StatusBadGateway, "upstream_error", "the chat server failed")
}
