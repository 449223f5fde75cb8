package web

import (
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
