package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
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
