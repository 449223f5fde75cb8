package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func get(t *testing.T, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestHandlerServesIndexForAppRoutes(t *testing.T) {
	for _, p := range []string{"/", "/index.html", "/rooms/abc", "/login"} {
		rec := get(t, http.MethodGet, p)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d", p, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), "<html") {
			t.Fatalf("GET %s: body is not index.html: %.80q", p, rec.Body.String())
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Fatalf("GET %s: Cache-Control %q, want no-cache", p, cc)
		}
	}
}

func TestHandlerMissingAssetIs404(t *testing.T) {
	for _, p := range []string{"/assets/nope-123.js", "/favicon-nope.png"} {
		if rec := get(t, http.MethodGet, p); rec.Code != http.StatusNotFound {
			t.Fatalf("GET %s: status %d, want 404", p, rec.Code)
		}
	}
}

func TestHandlerRejectsWrites(t *testing.T) {
	if rec := get(t, http.MethodPost, "/"); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /: status %d, want 405", rec.Code)
	}
}

func TestHandlerCachesHashedAssets(t *testing.T) {
	entries, err := fs.ReadDir(FS(), "assets")
	if err != nil || len(entries) == 0 {
		t.Fatalf("dist/assets is empty (%v): run `make web`", err)
	}
	for _, e := range entries {
		rec := get(t, http.MethodGet, "/assets/"+e.Name())
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /assets/%s: status %d", e.Name(), rec.Code)
		}
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Fatalf("GET /assets/%s: Cache-Control %q, want immutable", e.Name(), cc)
		}
	}
	rec := get(t, http.MethodGet, "/")
	if !strings.Contains(rec.Body.String(), "/assets/") {
		t.Fatalf("index.html does not reference the built assets")
	}
}

func getWith(t *testing.T, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header = header
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func builtAssets(t *testing.T, ext string) []string {
	t.Helper()
	entries, err := fs.ReadDir(FS(), "assets")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ext) {
			names = append(names, "/assets/"+e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatalf("no %s files in dist/assets: run `make web`", ext)
	}
	return names
}

// TestHandlerServesGzip checks that JS, CSS and index.html go out gzipped to a client
// that accepts it, decompress to the embedded bytes, and say Vary: Accept-Encoding.
func TestHandlerServesGzip(t *testing.T) {
	targets := append(builtAssets(t, ".js"), builtAssets(t, ".css")...)
	targets = append(targets, "/", "/rooms/abc")
	for _, p := range targets {
		plain := getWith(t, p, http.Header{})
		if plain.Code != http.StatusOK || plain.Header().Get("Content-Encoding") != "" {
			t.Fatalf("GET %s without Accept-Encoding: status %d, Content-Encoding %q", p, plain.Code, plain.Header().Get("Content-Encoding"))
		}
		rec := getWith(t, p, http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}})
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d", p, rec.Code)
		}
		if ce := rec.Header().Get("Content-Encoding"); ce != "gzip" {
			t.Fatalf("GET %s: Content-Encoding %q, want gzip", p, ce)
		}
		for _, r := range []*httptest.ResponseRecorder{plain, rec} {
			if v := r.Header().Get("Vary"); v != "Accept-Encoding" {
				t.Fatalf("GET %s: Vary %q, want Accept-Encoding", p, v)
			}
		}
		if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
			t.Fatalf("GET %s: Content-Length %s for %d bytes", p, cl, rec.Body.Len())
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatalf("GET %s: body is not gzip: %v", p, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("GET %s: gunzip: %v", p, err)
		}
		if !bytes.Equal(got, plain.Body.Bytes()) {
			t.Fatalf("GET %s: gunzipped body (%d bytes) differs from the plain one (%d bytes)", p, len(got), plain.Body.Len())
		}
		if rec.Body.Len() >= plain.Body.Len() {
			t.Fatalf("GET %s: gzip %d bytes, plain %d", p, rec.Body.Len(), plain.Body.Len())
		}
		if strings.HasPrefix(p, "/assets/") && !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
			t.Fatalf("GET %s: gzipped asset lost its long cache: %q", p, rec.Header().Get("Cache-Control"))
		}
		if rec.Header().Get("ETag") == plain.Header().Get("ETag") {
			t.Fatalf("GET %s: the gzip and identity forms share the ETag %s", p, rec.Header().Get("ETag"))
		}
	}
}

func TestHandlerHonoursGzipQualityZero(t *testing.T) {
	js := builtAssets(t, ".js")[0]
	for _, ae := range []string{"gzip;q=0", "identity", "br", "gzip;q=0, *;q=1", "*;q=0"} {
		rec := getWith(t, js, http.Header{"Accept-Encoding": {ae}})
		if ce := rec.Header().Get("Content-Encoding"); ce != "" {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, want none", ae, ce)
		}
	}
	for _, ae := range []string{"*", "GZIP", "deflate, gzip;q=0.5"} {
		rec := getWith(t, js, http.Header{"Accept-Encoding": {ae}})
		if ce := rec.Header().Get("Content-Encoding"); ce != "gzip" {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, want gzip", ae, ce)
		}
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	first := getWith(t, "/", http.Header{"Accept-Encoding": {"gzip"}})
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("GET /: no ETag")
	}
	rec := getWith(t, "/", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {etag}})
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("GET / with If-None-Match: status %d, %d body bytes; want 304 and none", rec.Code, rec.Body.Len())
	}
}
