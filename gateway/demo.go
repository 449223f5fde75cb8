package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/rcgateway/rcgateway/session"
)

// DemoUser is one user `rcgateway demo` offers.
type DemoUser struct {
	UserID   string `json:"userId"`
	Username string `json:"username"`
	Name     string `json:"name"`
	// RCUsername is the user's Rocket.Chat username, derived from UserID (filled in by the
	// user list).
	RCUsername string `json:"rcUsername"`
}

// Demo enables the dev-only /api/demo routes: a user list and product JWTs for those users,
// signed with the configured HS256 secret. Never enabled by `serve`.
type Demo struct {
	Users    []DemoUser
	TokenTTL time.Duration // default 12h
	// SetStatus, when set, enables POST /api/demo/status: it sets a demo user's default
	// status (online, away, busy, offline) in the embedded Rocket.Chat simulator, so a
	// browser test can change a user's presence.
	SetStatus func(rcUsername, status string)
}

// IssueToken signs a product JWT for a demo user with the configured HS256 secret.
func (s *Server) IssueToken(u DemoUser, ttl time.Duration) (string, error) {
	if !s.cfg.Auth.JWT.HS256Secret.IsSet() {
		return "", errors.New("gateway: demo tokens need auth.jwt.hs256_secret")
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"sub":                u.UserID,
		"preferred_username": u.Username,
		"name":               u.Name,
		"iat":                now.Unix(),
		"exp":                now.Add(ttl).Unix(),
	}
	if s.cfg.Auth.JWT.Issuer != "" {
		claims["iss"] = s.cfg.Auth.JWT.Issuer
	}
	if len(s.cfg.Auth.JWT.Audience) > 0 {
		claims["aud"] = s.cfg.Auth.JWT.Audience[0]
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(s.cfg.Auth.JWT.HS256Secret.Value()))
}

func (s *Server) demoUsers(c echo.Context) error {
	users := make([]DemoUser, 0, len(s.demo.Users))
	for _, u := range s.demo.Users {
		u.RCUsername = session.RocketChatUsername(s.cfg.Identity.UsernamePrefix, u.UserID)
		users = append(users, u)
	}
	return c.JSON(http.StatusOK, map[string]any{"users": users})
}

func (s *Server) demoToken(c echo.Context) error {
	var req struct {
		Username string `json:"username"`
	}
	// The body is JSON whatever Content-Type says (curl -d sends a form type by default).
	body := http.MaxBytesReader(c.Response(), c.Request().Body, 4<<10)
	if err := json.NewDecoder(body).Decode(&req); err != nil || req.Username == "" {
		return errorf(http.StatusBadRequest, "bad_request", "body must be {\"username\": \"...\"}")
	}
	for _, u := range s.demo.Users {
		if u.Username == req.Username {
			ttl := s.demo.TokenTTL
			if ttl <= 0 {
				ttl = 12 * time.Hour
			}
			tok, err := s.IssueToken(u, ttl)
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, map[string]string{"token": tok})
		}
	}
	return errorf(http.StatusNotFound, "not_found", "no such demo user")
}

// demoStatus is POST /api/demo/status {username, status}: a demo user's default status.
func (s *Server) demoStatus(c echo.Context) error {
	if s.demo.SetStatus == nil {
		return errorf(http.StatusNotFound, "not_found", "not available")
	}
	var req struct {
		Username string `json:"username"`
		Status   string `json:"status"`
	}
	body := http.MaxBytesReader(c.Response(), c.Request().Body, 4<<10)
	if err := json.NewDecoder(body).Decode(&req); err != nil || req.Username == "" {
		return errorf(http.StatusBadRequest, "bad_request", "body must be {\"username\": \"...\", \"status\": \"online|away|busy|offline\"}")
	}
	switch req.Status {
	case "online", "away", "busy", "offline":
	default:
		return errorf(http.StatusBadRequest, "bad_request", "status must be online, away, busy or offline")
	}
	for _, u := range s.demo.Users {
		if u.Username == req.Username {
			s.demo.SetStatus(session.RocketChatUsername(s.cfg.Identity.UsernamePrefix, u.UserID), req.Status)
			return c.NoContent(http.StatusNoContent)
		}
	}
	return errorf(http.StatusNotFound, "not_found", "no such demo user")
}
