package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/session"
)

// The REST facade for product frontends (/api/im). Every call runs with the caller's own
// Rocket.Chat credentials from the session manager; none falls back to the admin.

func (s *Server) creds(c echo.Context) (rocketchat.Credentials, error) {
	cr, err := s.sessions.Credentials(c.Request().Context(), identity(c))
	if err != nil {
		return rocketchat.Credentials{}, s.credsError(c, err)
	}
	return cr, nil
}

func (s *Server) credsError(c echo.Context, err error) error {
	if ctxErr := c.Request().Context().Err(); ctxErr != nil {
		return ctxErr
	}
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusForbidden {
			s.log.Warn("credentials refused", "request_id", c.Get("request_id"), "user", identity(c).UserID, "code", ae.Code)
		}
		return ae
	}
	s.log.Warn("credentials", "request_id", c.Get("request_id"), "user", identity(c).UserID, "err", err)
	if m := mapUpstream(err); m != nil {
		return m
	}
	return errorf(http.StatusBadGateway, "upstream_error", "could not get a chat session for this user")
}

// withCreds runs call with the caller's credentials. When Rocket.Chat answers 401 (the
// token was revoked, logged out or pushed out by the 50-token cap), the token is dropped,
// one fresh token is minted and call runs once more.
func (s *Server) withCreds(c echo.Context, call func(ctx context.Context, cr rocketchat.Credentials) error) error {
	ctx := c.Request().Context()
	cr, err := s.creds(c)
	if err != nil {
		return err
	}
	err = call(ctx, cr)
	if !isTokenRefused(err) {
		return err
	}
	s.log.Info("rocket.chat refused a user token; minting a new one", "request_id", c.Get("request_id"), "user", identity(c).UserID)
	fresh, rerr := s.sessions.Refresh(ctx, identity(c), cr)
	if rerr != nil {
		return s.credsError(c, rerr)
	}
	return call(ctx, fresh)
}

// isTokenRefused: Rocket.Chat refused the user's token (a 401 for a missing or dead session).
// A 401 that means "not allowed" (7.x+ API.v1.unauthorized(), 9.x's "... [error-unauthorized]")
// is not: minting a new token for it would only be refused the same way, and a user could
// make the gateway mint tokens at will.
func isTokenRefused(err error) bool {
	return errors.Is(err, rocketchat.ErrUnauthorized)
}

// room is the facade's Room.
type room struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	DisplayName string          `json:"displayName"`
	Unread      int             `json:"unread"`
	Mentions    int             `json:"mentions"`
	Alert       bool            `json:"alert"`
	Open        bool            `json:"open"`
	LastMessage json.RawMessage `json:"lastMessage,omitempty"`
	UpdatedAt   string          `json:"updatedAt"`
}

func (s *Server) loadRooms(c echo.Context) ([]room, error) {
	var subs []rocketchat.Subscription
	var rooms []rocketchat.Room
	err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) error {
		var err error
		if subs, err = s.rc.Subscriptions(ctx, cr); err != nil {
			return err
		}
		rooms, err = s.rc.Rooms(ctx, cr)
		return err
	})
	if err != nil {
		return nil, err
	}
	byID := map[string]rocketchat.Room{}
	for _, r := range rooms {
		byID[r.ID] = r
	}
	out := make([]room, 0, len(subs))
	for _, sb := range subs {
		r := room{ID: sb.RoomID, Type: sb.Type, Name: sb.Name, DisplayName: sb.FName, Unread: sb.Unread, Mentions: sb.UserMentions,
			Alert: sb.Alert, Open: sb.Open, UpdatedAt: sb.UpdatedAt.String()}
		if r.DisplayName == "" {
			r.DisplayName = r.Name
		}
		if rr, ok := byID[sb.RoomID]; ok {
			if len(rr.LastMessage) > 0 && string(rr.LastMessage) != "null" {
				r.LastMessage = rr.LastMessage
			}
			if lm := rr.LastMessageAt.String(); lm > r.UpdatedAt {
				r.UpdatedAt = lm
			}
			if u := rr.UpdatedAt.String(); u > r.UpdatedAt {
				r.UpdatedAt = u
			}
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].UpdatedAt > out[j].UpdatedAt })
	return out, nil
}

func (s *Server) me(c echo.Context) error {
	var me rocketchat.User
	var cr rocketchat.Credentials
	err := s.withCreds(c, func(ctx context.Context, x rocketchat.Credentials) (err error) {
		cr = x
		me, err = s.rc.Me(ctx, x)
		return err
	})
	if err != nil {
		return err
	}
	id := identity(c)
	return c.JSON(http.StatusOK, map[string]string{"userId": id.UserID, "username": me.Username, "name": me.Name, "rcUserId": cr.UserID})
}

func (s *Server) listRooms(c echo.Context) error {
	rooms, err := s.loadRooms(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"rooms": rooms})
}

func (s *Server) unread(c echo.Context) error {
	rooms, err := s.loadRooms(c)
	if err != nil {
		return err
	}
	total, mentions := 0, 0
	for _, r := range rooms {
		total += r.Unread
		mentions += r.Mentions
	}
	return c.JSON(http.StatusOK, map[string]int{"total": total, "mentions": mentions})
}

// roomType finds a room's type (c, p, d), cached: it never changes.
func (s *Server) roomType(c echo.Context, rid string) (string, error) {
	if t, ok := s.roomTypes.Load(rid); ok {
		return t.(string), nil
	}
	var info rocketchat.Room
	err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		info, err = s.rc.RoomInfo(ctx, cr, rid)
		return err
	})
	if err != nil {
		return "", err
	}
	if info.Type == "" {
		return "", errNotFound
	}
	s.roomTypes.Store(rid, info.Type)
	return info.Type, nil
}

// validID checks an id a client sent (room, message, user) before it reaches a path or a
// DDP event name (rocketchat.ValidID).
func validID(s string) bool { return rocketchat.ValidID(s) }

// historyCap is Rocket.Chat's default API_Upper_Count_Limit.
const historyCap = 100

func (s *Server) history(c echo.Context) error {
	rid := c.Param("rid")
	if !validID(rid) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid room id")
	}
	count, err := countParam(c, 50)
	if err != nil {
		return err
	}
	// Rocket.Chat caps count at API_Upper_Count_Limit, 100 by default
	// (apps/meteor/app/api/server/helpers/getPaginationItems.ts), so count+1 cannot tell
	// "more" at count=100: ask for up to 100 and, when the page is full, probe one more.
	ask := min(count+1, historyCap)
	// Thread replies are listed, for every room type, as the pushes deliver them.
	o := rocketchat.HistoryOptions{Count: ask, ThreadReplies: true}
	if v := c.QueryParam("before"); v != "" {
		before, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return errorf(http.StatusBadRequest, "bad_request", "before must be an ISO-8601 date")
		}
		o.Latest = before
	}
	t, err := s.roomType(c, rid)
	if err != nil {
		return err
	}
	kind := rocketchat.KindOf(t)
	var msgs []json.RawMessage
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		msgs, err = s.rc.History(ctx, cr, kind, rid, o)
		return err
	}); err != nil {
		return err
	}
	more := len(msgs) > count
	if more {
		msgs = msgs[:count]
	} else if ask == count && len(msgs) == count {
		probe := rocketchat.HistoryOptions{Count: 1, Offset: count, Latest: o.Latest, ThreadReplies: true}
		var next []json.RawMessage
		if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
			next, err = s.rc.History(ctx, cr, kind, rid, probe)
			return err
		}); err != nil {
			return err
		}
		more = len(next) > 0
	}
	if msgs == nil {
		msgs = []json.RawMessage{}
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": msgs, "hasMore": more})
}

// messageID derives Rocket.Chat's _id from a client message id, per user, so the same id
// twice sends once and two users cannot collide.
func messageID(rcUserID, clientID string) string {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(rcUserID + "\x00" + clientID))
	b := make([]byte, 17)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b)
}

func bindJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, "bad_request", "body must be a JSON object")
	}
	return nil
}

func (s *Server) sendMessage(c echo.Context) error {
	rid := c.Param("rid")
	var req struct {
		ID   string `json:"id"`
		Text string `json:"text"`
		TMID string `json:"tmid"` // the thread's first message, for a reply
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if !validID(rid) || strings.TrimSpace(req.Text) == "" || len(req.ID) > 128 || (req.TMID != "" && !validID(req.TMID)) {
		return errorf(http.StatusBadRequest, "bad_request", "a room id and a non-empty text are required")
	}
	// A resend of a client id that went through answers the stored message (SendMessage
	// checks that it is the caller's own, in this room); anyone else's is refused. The id
	// derives from the Rocket.Chat user, which a fresh token does not change.
	var msg json.RawMessage
	err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		out := rocketchat.OutgoingMessage{RoomID: rid, Text: req.Text, ThreadID: req.TMID}
		if req.ID != "" {
			out.ID = messageID(cr.UserID, req.ID)
		}
		msg, err = s.rc.SendMessage(ctx, cr, out)
		return err
	})
	if errors.Is(err, rocketchat.ErrMessageIDTaken) {
		return errMessageIDTaken
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"message": msg})
}

func (s *Server) editMessage(c echo.Context) error {
	var req struct {
		Text string `json:"text"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if !validID(c.Param("rid")) || !validID(c.Param("mid")) || strings.TrimSpace(req.Text) == "" {
		return errorf(http.StatusBadRequest, "bad_request", "a non-empty text is required")
	}
	var msg json.RawMessage
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		msg, err = s.rc.UpdateMessage(ctx, cr, c.Param("rid"), c.Param("mid"), req.Text)
		return err
	}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"message": msg})
}

func (s *Server) deleteMessage(c echo.Context) error {
	if !validID(c.Param("rid")) || !validID(c.Param("mid")) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid id")
	}
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) error {
		return s.rc.DeleteMessage(ctx, cr, c.Param("rid"), c.Param("mid"))
	}); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) markRead(c echo.Context) error {
	if !validID(c.Param("rid")) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid room id")
	}
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) error {
		return s.rc.SubscriptionsRead(ctx, cr, c.Param("rid"))
	}); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) upload(c echo.Context) error {
	rid := c.Param("rid")
	if !validID(rid) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid room id")
	}
	fh, err := c.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, "bad_request", "multipart field \"file\" is required")
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("gateway: upload: open: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("gateway: upload: read: %w", err)
	}
	up := rocketchat.Upload{FileName: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data, Description: c.FormValue("description")}
	var msg json.RawMessage
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		msg, err = s.rc.UploadFile(ctx, cr, rid, up)
		return err
	}); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"message": msg})
}

func (s *Server) subscriptionRoom(c echo.Context, rid string) (room, error) {
	rooms, err := s.loadRooms(c)
	if err != nil {
		return room{}, err
	}
	for _, r := range rooms {
		if r.ID == rid {
			return r, nil
		}
	}
	return room{ID: rid}, nil
}

// peerUsername is the Rocket.Chat username a request names: the account of the product user
// userId (derived, docs/identity.md), or a Rocket.Chat username as given.
func (s *Server) peerUsername(userID, username string) (string, error) {
	if userID == "" {
		return username, nil
	}
	if err := session.ValidateSubject(userID); err != nil {
		return "", errorf(http.StatusBadRequest, "invalid_subject", "userId is empty, over 255 bytes, not UTF-8 or holds control characters")
	}
	return session.RocketChatUsername(s.cfg.Identity.UsernamePrefix, userID), nil
}

func (s *Server) openDM(c echo.Context) error {
	var req struct {
		UserID   string `json:"userId"`
		Username string `json:"username"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	var err error
	if req.Username, err = s.peerUsername(req.UserID, req.Username); err != nil {
		return err
	}
	if !validID(req.Username) {
		return errorf(http.StatusBadRequest, "bad_request", "username is required")
	}
	var dm rocketchat.Room
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		dm, err = s.rc.CreateDirect(ctx, cr, req.Username)
		return err
	}); err != nil {
		return err
	}
	s.roomTypes.Store(dm.ID, "d")
	r, err := s.subscriptionRoom(c, dm.ID)
	if err != nil {
		return err
	}
	if r.Type == "" {
		r.Type, r.Name, r.DisplayName = "d", req.Username, req.Username
	}
	return c.JSON(http.StatusOK, map[string]any{"room": r})
}

func (s *Server) createRoom(c echo.Context) error {
	var req struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Members []string `json:"members"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if (req.Type != "c" && req.Type != "p") || !validID(req.Name) {
		return errorf(http.StatusBadRequest, "bad_request", "type must be \"c\" or \"p\" and name is required")
	}
	var rr rocketchat.Room
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) (err error) {
		rr, err = s.rc.CreateRoom(ctx, cr, rocketchat.KindOf(req.Type), req.Name, req.Members)
		return err
	}); err != nil {
		return err
	}
	s.roomTypes.Store(rr.ID, req.Type)
	r := room{ID: rr.ID, Type: req.Type, Name: rr.Name, DisplayName: rr.FName, Open: true, UpdatedAt: rr.UpdatedAt.String()}
	if r.DisplayName == "" {
		r.DisplayName = r.Name
	}
	return c.JSON(http.StatusCreated, map[string]any{"room": r})
}

// member operations.
const (
	opInvite = "invite"
	opKick   = "kick"
)

func (s *Server) member(c echo.Context, rid, username, op string) error {
	if !validID(rid) || !validID(username) {
		return errorf(http.StatusBadRequest, "bad_request", "room id and username are required")
	}
	t, err := s.roomType(c, rid)
	if err != nil {
		return err
	}
	if t == "d" {
		return errorf(http.StatusBadRequest, "bad_request", "direct messages have fixed members")
	}
	kind := rocketchat.KindOf(t)
	if err := s.withCreds(c, func(ctx context.Context, cr rocketchat.Credentials) error {
		u, err := s.rc.UserInfo(ctx, cr, username)
		if err != nil {
			return err
		}
		if op == opInvite {
			_, err = s.rc.Invite(ctx, cr, kind, rid, u.ID)
		} else {
			_, err = s.rc.Kick(ctx, cr, kind, rid, u.ID)
		}
		return err
	}); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) invite(c echo.Context) error {
	var req struct {
		UserID   string `json:"userId"`
		Username string `json:"username"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	name, err := s.peerUsername(req.UserID, req.Username)
	if err != nil {
		return err
	}
	return s.member(c, c.Param("rid"), name, opInvite)
}

func (s *Server) kickMember(c echo.Context) error {
	return s.member(c, c.Param("rid"), c.Param("username"), opKick)
}

func (s *Server) frontendAuthenticate(c echo.Context) error {
	if !s.cfg.Auth.FrontendAuth {
		return errorf(http.StatusNotFound, "not_found", "frontend auth is disabled (auth.frontend_auth)")
	}
	cr, err := s.creds(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"userId": cr.UserID, "authToken": cr.Token})
}
