// Package web owns the browser chat UI: a Vue 3 app whose production build in dist/ is
// committed and embedded here. It knows nothing about the gateway's routes or protocols;
// the gateway mounts Handler for every path it does not serve itself.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed all:dist
var dist embed.FS

// FS returns the built app (the contents of dist/).
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// dist is embedded at build time; fs.Sub only fails on an invalid name.
		panic("web: embedded dist missing: " + err.Error())
	}
	return sub
}

// asset is one file of the build, read once, with its gzip form when that is smaller.
type asset struct {
	body  []byte
	gz    []byte // nil when the type does not compress or gzip does not help
	ctype string
	etag  string // quoted, of the identity body; the gzip form's tag adds "-gz"
}

// compressible are the extensions worth gzipping (images and fonts are compressed already).
var compressible = map[string]bool{
	".html": true, ".js": true, ".mjs": true, ".css": true, ".svg": true,
	".json": true, ".txt": true, ".map": true, ".webmanifest": true, ".xml": true,
}

// assets reads and compresses the embedded build once per process.
var assets = sync.OnceValue(func() map[string]*asset {
	files := FS()
	out := map[string]*asset{}
	_ = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		ext := path.Ext(name)
		a.ctype = mime.TypeByExtension(ext)
		if a.ctype == "" {
			a.ctype = http.DetectContentType(body)
		}
		if compressible[ext] {
			a.gz = gzipBytes(body)
		}
		out[name] = a
		return nil
	})
	return out
})

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(b)                                       // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	if buf.Len() >= len(b) {
		return nil
	}
	return buf.Bytes()
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip (RFC 9110 §12.5.3:
// "gzip" or "*" with a non-zero quality).
func acceptsGzip(r *http.Request) bool {
	ok := false
	for _, h := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(h, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			q := 1.0
			if k, v, found := strings.Cut(strings.TrimSpace(params), "="); found && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
			if coding == "*" && ok {
				continue // an explicit gzip entry wins over the wildcard
			}
			ok = q > 0
			if coding != "*" {
				return ok
			}
		}
	}
	return ok
}

// Handler serves the built app. Files under assets/ carry a content hash in their name
// and are cached for a year; every other path that is not a file gets index.html (with
// no-cache), so client-side routes load the app. Text files are sent gzipped (compressed
// once, at first use) to clients that accept it.
func Handler() http.Handler {
	files := assets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		cache := "no-cache"
		a := files[name]
		switch {
		case a != nil && name != "index.html":
			if strings.HasPrefix(name, "assets/") {
				cache = "public, max-age=31536000, immutable"
			}
		case name != "" && name != "index.html" && (strings.HasPrefix(name, "assets/") || path.Ext(name) != ""):
			http.NotFound(w, r)
			return
		default:
			a = files["index.html"]
			if a == nil {
				http.Error(w, "web UI not built", http.StatusNotFound)
				return
			}
		}
		serve(w, r, a, cache)
	})
}

func serve(w http.ResponseWriter, r *http.Request, a *asset, cache string) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", cache)
	h.Set("X-Content-Type-Options", "nosniff")
	body, etag := a.body, a.etag
	if a.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
