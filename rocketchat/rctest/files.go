// Files: rooms.upload, rooms.media, rooms.mediaConfirm and the /file-upload download route.
// Follows Rocket.Chat's apps/meteor/app/api/server/v1/rooms.ts, apps/meteor/server/api/lib/getUploadFormData.ts,
// apps/meteor/lib/mimeTypes.ts, apps/meteor/app/file-upload/server/methods/sendFileMessage.ts and
// apps/meteor/app/file-upload/server/lib/requests.ts; each rule cites its file.

package rctest

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"image"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func (c *call) uploadRoom() (*room, reply, bool) {
	s := c.s
	if len(c.rest) < 1 || c.rest[0] == "" {
		return nil, reply{http.StatusNotFound, map[string]any{"success": false, "error": "Resource not found"}}, false
	}
	r := s.rooms[c.rest[0]]
	if r == nil || !s.canRead(c.u.id, r) {
		// rooms.media, rooms.mediaConfirm and (late 7.x) rooms.upload answer
		// API.v1.forbidden() when canAccessRoomIdAsync fails (apps/meteor/app/api/server/v1/rooms.ts).
		return nil, s.apiForbidden(), false
	}
	return r, reply{}, true
}

func (c *call) takeFile(r *room) (*upload, reply, bool) {
	if c.form == nil || len(c.form.File["file"]) == 0 {
		return nil, fail("error-no-file-uploaded", "[No file uploaded]", nil), false
	}
	fh := c.form.File["file"][0]
	mt := uploadMimeType(fh.Header.Get("Content-Type"), fh.Filename)
	f, err := fh.Open()
	if err != nil {
		return nil, fail("error-file-upload", "Could not read the file", nil), false
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fail("error-file-upload", "Could not read the file", nil), false
	}
	up := &upload{id: randomID(), rid: r.id, uid: c.u.id, name: fh.Filename, mime: mt, size: len(data), data: data, uploadedAt: time.Now().UTC()}
	if strings.HasPrefix(mt, "image/") {
		if cfg, format, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
			up.identified, up.format, up.width, up.height = true, format, cfg.Width, cfg.Height
		}
	}
	c.s.files[up.id] = up
	return up, reply{}, true
}

// uploadMimeType is the type Rocket.Chat stores for an uploaded part: getUploadFormData
// (apps/meteor/server/api/lib/getUploadFormData.ts, and UploadService's parser) passes the
// part's type through getMimeType(mimetype, filename) (apps/meteor/lib/mimeTypes.ts), which
// keeps a specific type the mime database knows when its extension differs from the name's,
// and otherwise (application/octet-stream, an unknown type, or a matching extension) looks
// the file name up, falling back to application/octet-stream. So an octet-stream "a.png" is
// stored as image/png. Go's mime table stands in for the mime-type package's database.
func uploadMimeType(part, name string) string {
	if mt, _, err := mime.ParseMediaType(part); err == nil && mt != "application/octet-stream" {
		if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
			return mt
		}
	}
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); t != "" {
		if mt, _, err := mime.ParseMediaType(t); err == nil {
			return mt
		}
	}
	return "application/octet-stream"
}

func (c *call) roomsUpload() reply {
	s := c.s
	r, rep, okR := c.uploadRoom()
	if !okR {
		return rep
	}
	if c.form == nil || len(c.form.File["file"]) == 0 {
		return fail("invalid-field", "[invalid-field]", nil)
	}
	up, rep, okF := c.takeFile(r)
	if !okF {
		return rep
	}
	up.confirmed = true
	up.desc = c.str("description")
	m := s.insertMessageLocked(r, c.u, randomID(), c.str("msg"), c.str("tmid"), up)
	return ok(map[string]any{"message": s.msgDoc(m)})
}

func (c *call) roomsMedia() reply {
	r, rep, okR := c.uploadRoom()
	if !okR {
		return rep
	}
	up, rep, okF := c.takeFile(r)
	if !okF {
		return rep
	}
	return ok(map[string]any{"file": map[string]any{"_id": up.id, "url": "/file-upload/" + up.id + "/" + up.name}})
}

func (c *call) roomsMediaConfirm() reply {
	s := c.s
	r, rep, okR := c.uploadRoom()
	if !okR {
		return rep
	}
	if len(c.rest) < 2 {
		return reply{http.StatusNotFound, map[string]any{"success": false, "error": "Resource not found"}}
	}
	up := s.files[c.rest[1]]
	if up == nil || up.rid != r.id || up.uid != c.u.id || up.confirmed {
		return fail("invalid-file", "Invalid file", nil)
	}
	if s.major < 8 && c.has("fileName") {
		return fail("invalid-params", "must NOT have additional properties", nil)
	}
	if n := c.str("fileName"); n != "" {
		up.name = n
	}
	up.desc = c.str("description")
	up.confirmed = true
	m := s.insertMessageLocked(r, c.u, randomID(), c.str("msg"), c.str("tmid"), up)
	return ok(map[string]any{"message": s.msgDoc(m)})
}

// serveFile serves /file-upload/<fileId>/<name> as apps/meteor/app/file-upload/server/lib/requests.ts
// does: 404 for an unknown id, 403 when FileUpload.requestCanAccessFiles (lib/FileUpload.ts)
// refuses. That check reads rc_uid/rc_token from the query, else from the cookies, and only
// then falls back to the X-User-Id/X-Auth-Token headers; the user must hold that login token.
// With the default settings (FileUpload_ProtectFiles and FileUpload_Restrict_to_room_members
// true, FileUpload_Restrict_to_users_who_can_access_room false: server/settings/file-upload.ts)
// only a subscriber of the file's room may read it, even in a public channel. The answer
// carries requests.ts' CSP and Cache-Control and the GridFS store's headers
// (config/GridFS.ts: inline Content-Disposition with filename*, Content-Type,
// Content-Length, Last-Modified), gzipped when the request accepts gzip, as GridFS does.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	status := s.serveFileInner(w, r)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: status,
		UserID: r.Header.Get("X-User-Id"), Time: time.Now()})
	s.mu.Unlock()
}

func (s *Server) serveFileInner(w http.ResponseWriter, r *http.Request) int {
	q := r.URL.Query()
	uid, tok := q.Get("rc_uid"), q.Get("rc_token")
	if uid == "" {
		if c, err := r.Cookie("rc_uid"); err == nil {
			uid = c.Value
			tok = ""
			if c, err := r.Cookie("rc_token"); err == nil {
				tok = c.Value
			}
		}
	}
	if uid == "" {
		uid = r.Header.Get("X-User-Id")
	}
	if tok == "" {
		tok = r.Header.Get("X-Auth-Token")
	}
	s.mu.Lock()
	up := s.files[r.PathValue("id")]
	allowed := false
	if up != nil && uid != "" && tok != "" {
		u, t := s.findToken(uid, tok)
		allowed = u != nil && u.id == uid && !s.tokenExpired(t) && s.isMember(u.id, s.rooms[up.rid])
	}
	var f upload
	if up != nil {
		f = *up
	}
	s.mu.Unlock()
	switch {
	case up == nil:
		w.WriteHeader(http.StatusNotFound)
		return http.StatusNotFound
	case !allowed:
		w.WriteHeader(http.StatusForbidden)
		return http.StatusForbidden
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Cache-Control", "max-age=31536000")
	h.Set("Content-Disposition", "inline; filename*=UTF-8''"+encodeURIComponent(f.name))
	h.Set("Last-Modified", f.uploadedAt.UTC().Format(http.TimeFormat))
	h.Set("Content-Type", cmp.Or(f.mime, "application/octet-stream"))
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusOK)
		zw := gzip.NewWriter(w)
		_, _ = zw.Write(f.data)
		_ = zw.Close()
		return http.StatusOK
	}
	h.Set("Content-Length", strconv.Itoa(len(f.data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.data)
	return http.StatusOK
}

// encodeURIComponent escapes as JavaScript's encodeURIComponent: everything but letters,
// digits and -_.!~*'() is percent-encoded as UTF-8.
func encodeURIComponent(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
