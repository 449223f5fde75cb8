package gateway

import (
	"bytes"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// TestFileThroughGateway: a message's /file-upload/<id>/<name> read through
// GET /api/im/files/<id>/<name> with the caller's own Rocket.Chat token. A member gets the
// bytes with Rocket.Chat's Content-Type, Content-Length and Content-Disposition (the
// simulator gzips when asked, as the GridFS store does, so the gateway must ask for the
// identity encoding to pass a length through); a non-member of the file's room gets 403
// (FileUpload_Restrict_to_room_members, on by default), an unknown id 404, and ids or
// names that could change the upstream path 400 before anything reaches Rocket.Chat.
func TestFileThroughGateway(t *testing.T) {
	f := newFixture(t, nil)
	f.rc.AddUser(rctest.UserSpec{Username: "carol", Name: "Carol", NoDefaultChannels: true})
	alice, carol := f.token("alice"), f.token("carol")
	// Noise, so the PNG is larger than the HTTP server's buffer: a body of unknown length
	// would then go out chunked, without Content-Length.
	pic := image.NewRGBA(image.Rect(0, 0, 60, 60))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range pic.Pix {
		pic.Pix[i] = byte(rng.Uint32())
	}
	var img bytes.Buffer
	if err := png.Encode(&img, pic); err != nil {
		t.Fatal(err)
	}
	st, out := uploadFile(t, f, alice, "GENERAL", "a picture.png", "image/png", img.Bytes())
	if st != 201 {
		t.Fatalf("upload: %d %v", st, out)
	}
	att := out["message"].(map[string]any)["attachments"].([]any)[0].(map[string]any)
	link, _ := att["image_url"].(string)
	if !strings.HasPrefix(link, "/file-upload/") {
		t.Fatalf("image_url %q", link)
	}
	path := "/api/im/files/" + strings.TrimPrefix(link, "/file-upload/")
	get := func(p, token string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.http.URL+p, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	res, body := get(path, alice)
	if res.StatusCode != 200 || !bytes.Equal(body, img.Bytes()) {
		t.Fatalf("member: %d, %d bytes (want %d)", res.StatusCode, len(body), img.Len())
	}
	for k, want := range map[string]string{
		"Content-Type": "image/png", "Content-Disposition": "inline; filename*=UTF-8''a%20picture.png",
		"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if res.Header.Get("Content-Length") != strconv.Itoa(img.Len()) {
		t.Errorf("Content-Length %q, want %d", res.Header.Get("Content-Length"), img.Len())
	}
	if res.Header.Get("Content-Encoding") != "" {
		t.Errorf("Content-Encoding %q: the upstream's gzip leaked through", res.Header.Get("Content-Encoding"))
	}
	if res, _ := get(path, carol); res.StatusCode != 403 {
		t.Fatalf("non-member: %d, want 403", res.StatusCode)
	}
	if res, _ := get(path, ""); res.StatusCode != 401 {
		t.Fatalf("no token: %d, want 401", res.StatusCode)
	}
	// A name with a literal percent sign: the link escapes it as %25, and the gateway must
	// decode it once ("50%2F.txt", not "50/.txt", which is no file name).
	st, out = uploadFile(t, f, alice, "GENERAL", "50%2F.txt", "text/plain", []byte("percent"))
	if st != 201 {
		t.Fatalf("upload: %d %v", st, out)
	}
	plink := out["message"].(map[string]any)["attachments"].([]any)[0].(map[string]any)["title_link"].(string)
	if res, body := get("/api/im/files/"+strings.TrimPrefix(plink, "/file-upload/"), alice); res.StatusCode != 200 || string(body) != "percent" {
		t.Fatalf("file named 50%%2F.txt through %s: %d %q", plink, res.StatusCode, body)
	}
	if res, _ := get("/api/im/files/NoSuchFile123/x.png", alice); res.StatusCode != 404 {
		t.Fatalf("unknown id: %d, want 404", res.StatusCode)
	}
	reached := func() int {
		n := 0
		for _, r := range f.rc.Requests() {
			if strings.HasPrefix(r.Path, "/file-upload/") {
				n++
			}
		}
		return n
	}
	before := reached()
	if before < 3 {
		t.Fatalf("the simulator logged %d /file-upload requests, want the 3 above", before)
	}
	for _, p := range []string{
		"/api/im/files/abc-def/x.png",
		"/api/im/files/abc%2F..%2Fx/x.png",
		"/api/im/files/abc/..",
		"/api/im/files/abc/%2E%2E",
		"/api/im/files/abc/a%2Fb",
		"/api/im/files/abc/a%5Cb",
		"/api/im/files/abc/a%00b",
	} {
		if res, body := get(p, alice); res.StatusCode != 400 && res.StatusCode != 404 {
			t.Errorf("%s: %d %s, want 400 (or 404 from the router)", p, res.StatusCode, body)
		}
	}
	if n := reached() - before; n != 0 {
		t.Errorf("%d refused ids or names reached Rocket.Chat", n)
	}
}
