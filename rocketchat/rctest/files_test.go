package rctest

import (
	"compress/gzip"
	"io"
	"net/http"
	"testing"
)

// TestServeFileAccessRule checks /file-upload/<id>/<name> against requests.ts and
// FileUpload.requestCanAccessFiles with the default settings: a valid login token of a
// member of the file's room (query, cookie or headers), 403 for anyone else (a
// non-member of a public channel too), 404 for an unknown id, GridFS' headers.
func TestServeFileAccessRule(t *testing.T) {
	s := newTestServer(t, Options{Version: "8.8.1"})
	s.AddUser(UserSpec{Username: "outsider", NoDefaultChannels: true})
	uid, tok := s.LoginToken("admin")
	r := multipartUpload(t, s, "/api/v1/rooms.media/GENERAL", uid, tok).want(t, 200)
	fid, _ := path(r.body, "file", "_id").(string)
	link := "/file-upload/" + fid + "/a.txt"
	get := func(target string, hdr map[string]string, cookies ...*http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL()+target, nil)
		req.Header.Set("Accept-Encoding", "identity")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	res := get(link, map[string]string{"X-User-Id": uid, "X-Auth-Token": tok})
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(body) != "hello" {
		t.Fatalf("member with headers: %d %q", res.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/plain", "Content-Length": "5", "Content-Disposition": "inline; filename*=UTF-8''a.txt",
		"Content-Security-Policy": "default-src 'none'", "Cache-Control": "max-age=31536000",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if res.Header.Get("Last-Modified") == "" {
		t.Error("no Last-Modified")
	}
	if res := get(link, nil, &http.Cookie{Name: "rc_uid", Value: uid}, &http.Cookie{Name: "rc_token", Value: tok}); res.StatusCode != 200 {
		t.Fatalf("member with cookies: %d", res.StatusCode)
	}
	// The query's rc_uid wins over the headers (uid = rc_uid || x-user-id).
	if res := get(link+"?rc_uid=nobody&rc_token=bad", map[string]string{"X-User-Id": uid, "X-Auth-Token": tok}); res.StatusCode != 403 {
		t.Fatalf("bad query credentials over good headers: %d, want 403", res.StatusCode)
	}
	ouid, otok := s.LoginToken("outsider")
	if res := get(link, map[string]string{"X-User-Id": ouid, "X-Auth-Token": otok}); res.StatusCode != 403 {
		t.Fatalf("non-member of the public channel: %d, want 403", res.StatusCode)
	}
	if res := get(link, map[string]string{"X-User-Id": uid, "X-Auth-Token": "wrong"}); res.StatusCode != 403 {
		t.Fatalf("wrong token: %d, want 403", res.StatusCode)
	}
	if res := get(link, nil); res.StatusCode != 403 {
		t.Fatalf("anonymous: %d, want 403", res.StatusCode)
	}
	if res := get("/file-upload/NoSuchFile123/a.txt", map[string]string{"X-User-Id": uid, "X-Auth-Token": tok}); res.StatusCode != 404 {
		t.Fatalf("unknown id: %d, want 404", res.StatusCode)
	}
	res = get(link, map[string]string{"X-User-Id": uid, "X-Auth-Token": tok, "Accept-Encoding": "gzip"})
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip asked: Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != "hello" {
		t.Fatalf("gzipped body %q", b)
	}
}
