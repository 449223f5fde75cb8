package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rcgateway/rcgateway/session"
)

// The REST facade for product frontends (/api/im). Every call runs with the caller's own
// Rocket.Chat credentials from the session manager; none falls back to the admin.

func (s *Server) creds(c echo.Context) (rcCreds, error) {
	cr, err := s.sessions.Credentials(c.Request().Context(), identity(c))
	if err != nil {
		return rcCreds{}, s.credsError(c, err)
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

func (s *Server) rcCall(c echo.Context, method, path string, q url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.HTTP.RequestTimeout.D())
	defer cancel()
	return s.withCreds(c, func(cr rcCreds) error {
		return s.rc.do(ctx, cr, method, path, q, body, out)
	})
}

// withCreds runs call with the caller's credentials. When Rocket.Chat answers 401 (the
// token was revoked, logged out or pushed out by the 50-token cap), the token is dropped,
// one fresh token is minted and call runs once more.
func (s *Server) withCreds(c echo.Context, call func(cr rcCreds) error) error {
	cr, err := s.creds(c)
	if err != nil {
		return err
	}
	err = call(cr)
	if !isTokenRefused(err) {
		return err
	}
	s.log.Info("rocket.chat refused a user token; minting a new one", "request_id", c.Get("request_id"), "user", identity(c).UserID)
	fresh, rerr := s.sessions.Refresh(c.Request().Context(), identity(c), cr)
	if rerr != nil {
		return s.credsError(c, rerr)
	}
	return call(fresh)
}

// isTokenRefused: Rocket.Chat answered 401 to a user's call.
func isTokenRefused(err error) bool {
	var re *rcError
	return errors.As(err, &re) && re.Status == http.StatusUnauthorized
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

type rcSub struct {
	RID          string `json:"rid"`
	T            string `json:"t"`
	Name         string `json:"name"`
	FName        string `json:"fname"`
	Unread       int    `json:"unread"`
	UserMentions int    `json:"userMentions"`
	Alert        bool   `json:"alert"`
	Open         bool   `json:"open"`
	UpdatedAt    any    `json:"_updatedAt"`
}

type rcRoom struct {
	ID          string          `json:"_id"`
	T           string          `json:"t"`
	Name        string          `json:"name"`
	FName       string          `json:"fname"`
	LastMessage json.RawMessage `json:"lastMessage"`
	LM          any             `json:"lm"`
	UpdatedAt   any             `json:"_updatedAt"`
}

// isoDate turns a REST date (ISO string) or an EJSON {"$date": ms} into ISO-8601.
func isoDate(v any) string {
	switch d := v.(type) {
	case string:
		return d
	case map[string]any:
		if ms, ok := d["$date"].(float64); ok {
			return time.UnixMilli(int64(ms)).UTC().Format("2006-01-02T15:04:05.000Z")
		}
	}
	return ""
}

func (s *Server) loadRooms(c echo.Context) ([]room, error) {
	var subs struct {
		Update []rcSub `json:"update"`
	}
	if err := s.rcCall(c, http.MethodGet, "/api/v1/subscriptions.get", nil, nil, &subs); err != nil {
		return nil, err
	}
	var rooms struct {
		Update []rcRoom `json:"update"`
	}
	if err := s.rcCall(c, http.MethodGet, "/api/v1/rooms.get", nil, nil, &rooms); err != nil {
		return nil, err
	}
	byID := map[string]rcRoom{}
	for _, r := range rooms.Update {
		byID[r.ID] = r
	}
	out := make([]room, 0, len(subs.Update))
	for _, sb := range subs.Update {
		r := room{ID: sb.RID, Type: sb.T, Name: sb.Name, DisplayName: sb.FName, Unread: sb.Unread, Mentions: sb.UserMentions,
			Alert: sb.Alert, Open: sb.Open, UpdatedAt: isoDate(sb.UpdatedAt)}
		if r.DisplayName == "" {
			r.DisplayName = r.Name
		}
		if rr, ok := byID[sb.RID]; ok {
			if len(rr.LastMessage) > 0 && string(rr.LastMessage) != "null" {
				r.LastMessage = rr.LastMessage
			}
			if lm := isoDate(rr.LM); lm > r.UpdatedAt {
				r.UpdatedAt = lm
			}
			if u := isoDate(rr.UpdatedAt); u > r.UpdatedAt {
				r.UpdatedAt = u
			}
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].UpdatedAt > out[j].UpdatedAt })
	return out, nil
}

func (s *Server) me(c echo.Context) error {
	var me struct {
		Username string `json:"username"`
		Name     string `json:"name"`
	}
	var cr rcCreds
	err := s.withCreds(c, func(x rcCreds) error {
		cr = x
		return s.rc.do(c.Request().Context(), x, http.MethodGet, "/api/v1/me", nil, nil, &me)
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
	var info struct {
		Room struct {
			T string `json:"t"`
		} `json:"room"`
	}
	if err := s.rcCall(c, http.MethodGet, "/api/v1/rooms.info", url.Values{"roomId": {rid}}, nil, &info); err != nil {
		return "", err
	}
	if info.Room.T == "" {
		return "", errNotFound
	}
	s.roomTypes.Store(rid, info.Room.T)
	return info.Room.T, nil
}

func roomAPI(t string) string {
	switch t {
	case "p":
		return "groups"
	case "d":
		return "im"
	}
	return "channels"
}

func validID(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsAny(s, "/?#&% \t\r\n")
}

// historyCap is Rocket.Chat's default API_Upper_Count_Limit.
const historyCap = 100

func (s *Server) history(c echo.Context) error {
	rid := c.Param("rid")
	if !validID(rid) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid room id")
	}
	count := 50
	if v := c.QueryParam("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errorf(http.StatusBadRequest, "bad_request", "count must be 1..100")
		}
		count = n
	}
	// Rocket.Chat caps count at API_Upper_Count_Limit, 100 by default
	// (apps/meteor/app/api/server/helpers/getPaginationItems.ts), so count+1 cannot tell
	// "more" at count=100: ask for up to 100 and, when the page is full, probe one more.
	ask := min(count+1, historyCap)
	// Thread replies are listed, for every room type, as the pushes deliver them: by default
	// channels.history and im.history leave them out and groups.history keeps them
	// (showThreadMessages in apps/meteor/app/api/server/v1/channels.ts, im.ts, groups.ts).
	q := url.Values{"roomId": {rid}, "count": {strconv.Itoa(ask)}, "showThreadMessages": {"true"}}
	if v := c.QueryParam("before"); v != "" {
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return errorf(http.StatusBadRequest, "bad_request", "before must be an ISO-8601 date")
		}
		q.Set("latest", v)
	}
	t, err := s.roomType(c, rid)
	if err != nil {
		return err
	}
	var res struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := s.rcCall(c, http.MethodGet, "/api/v1/"+roomAPI(t)+".history", q, nil, &res); err != nil {
		return err
	}
	more := len(res.Messages) > count
	if more {
		res.Messages = res.Messages[:count]
	} else if ask == count && len(res.Messages) == count {
		probe := url.Values{"roomId": {rid}, "count": {"1"}, "offset": {strconv.Itoa(count)}, "showThreadMessages": {"true"}}
		if v := q.Get("latest"); v != "" {
			probe.Set("latest", v)
		}
		var next struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := s.rcCall(c, http.MethodGet, "/api/v1/"+roomAPI(t)+".history", probe, nil, &next); err != nil {
			return err
		}
		more = len(next.Messages) > 0
	}
	if res.Messages == nil {
		res.Messages = []json.RawMessage{}
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": res.Messages, "hasMore": more})
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
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if !validID(rid) || strings.TrimSpace(req.Text) == "" || len(req.ID) > 128 {
		return errorf(http.StatusBadRequest, "bad_request", "a room id and a non-empty text are required")
	}
	cr, err := s.creds(c)
	if err != nil {
		return err
	}
	msg := map[string]any{"rid": rid, "msg": req.Text}
	if req.ID != "" {
		msg["_id"] = messageID(cr.UserID, req.ID)
	}
	var res struct {
		Message json.RawMessage `json:"message"`
	}
	ctx := c.Request().Context()
	err = s.rc.do(ctx, cr, http.MethodPost, "/api/v1/chat.sendMessage", nil, map[string]any{"message": msg}, &res)
	var re *rcError
	if errors.As(err, &re) && re.Status == http.StatusBadRequest && req.ID != "" {
		// Rocket.Chat does not say "duplicate": sendMessage skips the insert when the _id
		// exists and chat.sendMessage then fails with a TypeError text (apps/meteor/app/lib/
		// server/functions/sendMessage.ts). Any 400 on a send with a client id is checked
		// against the stored message; only the caller's own message in this room answers.
		if stored, ok := s.storedOwnMessage(ctx, cr, msg["_id"].(string), rid); ok {
			return c.JSON(http.StatusCreated, map[string]any{"message": stored})
		} else if stored != nil {
			return errMessageIDTaken
		}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"message": res.Message})
}

// storedOwnMessage fetches message id with the caller's credentials. ok is true when it is the
// caller's message in room rid; a non-nil message with ok false belongs to someone else (or
// another room) and must never be handed out as the caller's.
func (s *Server) storedOwnMessage(ctx context.Context, cr rcCreds, id, rid string) (json.RawMessage, bool) {
	var got struct {
		Message json.RawMessage `json:"message"`
	}
	if err := s.rc.do(ctx, cr, http.MethodGet, "/api/v1/chat.getMessage", url.Values{"msgId": {id}}, nil, &got); err != nil {
		return nil, false
	}
	var v struct {
		RID string `json:"rid"`
		U   struct {
			ID string `json:"_id"`
		} `json:"u"`
	}
	if len(got.Message) == 0 || string(got.Message) == "null" || json.Unmarshal(got.Message, &v) != nil {
		return nil, false
	}
	return got.Message, v.RID == rid && v.U.ID == cr.UserID
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
	var res struct {
		Message json.RawMessage `json:"message"`
	}
	if err := s.rcCall(c, http.MethodPost, "/api/v1/chat.update", nil, map[string]string{"roomId": c.Param("rid"), "msgId": c.Param("mid"), "text": req.Text}, &res); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"message": res.Message})
}

func (s *Server) deleteMessage(c echo.Context) error {
	if !validID(c.Param("rid")) || !validID(c.Param("mid")) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid id")
	}
	if err := s.rcCall(c, http.MethodPost, "/api/v1/chat.delete", nil, map[string]string{"roomId": c.Param("rid"), "msgId": c.Param("mid")}, nil); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) markRead(c echo.Context) error {
	if !validID(c.Param("rid")) {
		return errorf(http.StatusBadRequest, "bad_request", "invalid room id")
	}
	if err := s.rcCall(c, http.MethodPost, "/api/v1/subscriptions.read", nil, map[string]string{"rid": c.Param("rid")}, nil); err != nil {
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
	desc := c.FormValue("description")
	cr, err := s.creds(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ctype := uploadType(fh.Header.Get("Content-Type"), fh.Filename)
	form := func(withDesc bool) (*bytes.Buffer, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, fh.Filename))
		h.Set("Content-Type", ctype)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(data)
		if withDesc && desc != "" {
			_ = mw.WriteField("description", desc)
		}
		_ = mw.Close()
		return &buf, mw.FormDataContentType()
	}
	// Rocket.Chat 7.0+: rooms.media then rooms.mediaConfirm; older: rooms.upload.
	body, ct := form(false)
	resp, err := s.rc.send(ctx, cr, http.MethodPost, "/api/v1/rooms.media/"+url.PathEscape(rid), nil, body, ct)
	if err != nil {
		return err
	}
	var res struct {
		Message json.RawMessage `json:"message"`
		File    struct {
			ID string `json:"_id"`
		} `json:"file"`
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		body, ct = form(true)
		if resp, err = s.rc.send(ctx, cr, http.MethodPost, "/api/v1/rooms.upload/"+url.PathEscape(rid), nil, body, ct); err != nil {
			return err
		}
		if err := decodeRC(resp, "rooms.upload", &res); err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, map[string]any{"message": res.Message})
	}
	if err := decodeRC(resp, "rooms.media", &res); err != nil {
		return err
	}
	confirm := map[string]string{"msg": ""}
	if desc != "" {
		confirm["description"] = desc
	}
	if err := s.rc.do(ctx, cr, http.MethodPost, "/api/v1/rooms.mediaConfirm/"+url.PathEscape(rid)+"/"+url.PathEscape(res.File.ID), nil, confirm, &res); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"message": res.Message})
}

// uploadType is the MIME type sent to Rocket.Chat for an uploaded file: the browser's own
// part type when it is specific, else the type of the file name's extension. Rocket.Chat
// stores the part's type and makes an image attachment (image_url, image_type) only for
// image/* (apps/meteor/app/file-upload/server/methods/sendFileMessage.ts), so a generic
// application/octet-stream would lose every preview.
func uploadType(partType, name string) string {
	if mt, _, err := mime.ParseMediaType(partType); err == nil && mt != "application/octet-stream" {
		return partType
	}
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); t != "" {
		return t
	}
	return "application/octet-stream"
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
	var res struct {
		Room struct {
			ID string `json:"_id"`
		} `json:"room"`
	}
	if err := s.rcCall(c, http.MethodPost, "/api/v1/im.create", nil, map[string]string{"username": req.Username}, &res); err != nil {
		return err
	}
	s.roomTypes.Store(res.Room.ID, "d")
	r, err := s.subscriptionRoom(c, res.Room.ID)
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
	if req.Members == nil {
		req.Members = []string{}
	}
	var res map[string]json.RawMessage
	if err := s.rcCall(c, http.MethodPost, "/api/v1/"+roomAPI(req.Type)+".create", nil, map[string]any{"name": req.Name, "members": req.Members}, &res); err != nil {
		return err
	}
	var rr rcRoom
	key := "channel"
	if req.Type == "p" {
		key = "group"
	}
	_ = json.Unmarshal(res[key], &rr)
	s.roomTypes.Store(rr.ID, req.Type)
	r := room{ID: rr.ID, Type: req.Type, Name: rr.Name, DisplayName: rr.FName, Open: true, UpdatedAt: isoDate(rr.UpdatedAt)}
	if r.DisplayName == "" {
		r.DisplayName = r.Name
	}
	return c.JSON(http.StatusCreated, map[string]any{"room": r})
}

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
	var info struct {
		User struct {
			ID string `json:"_id"`
		} `json:"user"`
	}
	if err := s.rcCall(c, http.MethodGet, "/api/v1/users.info", url.Values{"username": {username}}, nil, &info); err != nil {
		return err
	}
	if err := s.rcCall(c, http.MethodPost, "/api/v1/"+roomAPI(t)+"."+op, nil, map[string]string{"roomId": rid, "userId": info.User.ID}, nil); err != nil {
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
	return s.member(c, c.Param("rid"), name, "invite")
}

func (s *Server) kickMember(c echo.Context) error {
	return s.member(c, c.Param("rid"), c.Param("username"), "kick")
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
