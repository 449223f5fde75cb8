package rctest

import (
	"bytes"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
)

// TestUploadMimeTypeFromFileName: Rocket.Chat stores getMimeType(partType, fileName)
// (apps/meteor/lib/mimeTypes.ts via apps/meteor/server/api/lib/getUploadFormData.ts): an
// application/octet-stream or unknown part type is replaced by the file name's type, and an
// image then gets image_* attachment fields; a specific known type is kept.
func TestUploadMimeTypeFromFileName(t *testing.T) {
	var pngBytes bytes.Buffer
	if err := png.Encode(&pngBytes, image.NewRGBA(image.Rect(0, 0, 3, 2))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		part, name string
		data       []byte
		want       string
		image      bool
	}{
		{"application/octet-stream", "pic.png", pngBytes.Bytes(), "image/png", true},
		{"application/x-rcgateway-unknown", "report.pdf", []byte("%PDF-1.4"), "application/pdf", false},
		{"text/plain", "notes.png", []byte("not an image"), "text/plain", false},
		{"application/octet-stream", "blob.rcgwunknown", []byte("x"), "application/octet-stream", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range contractVersions {
				s := newTestServer(t, Options{Version: v})
				uid, tok := s.LoginToken("admin")
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				h := textproto.MIMEHeader{}
				h.Set("Content-Disposition", `form-data; name="file"; filename="`+tc.name+`"`)
				h.Set("Content-Type", tc.part)
				fw, err := mw.CreatePart(h)
				if err != nil {
					t.Fatal(err)
				}
				fw.Write(tc.data)
				mw.Close()
				req, _ := http.NewRequest("POST", s.URL()+"/api/v1/rooms.media/GENERAL", &buf)
				req.Header.Set("Content-Type", mw.FormDataContentType())
				req.Header.Set("X-User-Id", uid)
				req.Header.Set("X-Auth-Token", tok)
				r := send(t, req).want(t, 200)
				fid, _ := path(r.body, "file", "_id").(string)
				r = do(t, s, "POST", "/api/v1/rooms.mediaConfirm/GENERAL/"+fid, uid, tok, map[string]any{}).want(t, 200)
				if got := path(r.body, "message", "file", "type"); got != tc.want {
					t.Fatalf("%s: %s part %q stored as %v, want %s; %s", v, tc.part, tc.name, got, tc.want, r.raw)
				}
				att, _ := path(r.body, "message", "attachments").([]any)[0].(map[string]any)
				if _, has := att["image_type"]; has != tc.image {
					t.Fatalf("%s: image_type present %v, want %v: %v", v, has, tc.image, att)
				}
			}
		})
	}
}
