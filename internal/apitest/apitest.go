// Package apitest sends JSON requests for the tests of the gateway's HTTP API. It knows
// nothing about the routes; it only saves each test file its own request plumbing.
package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Do sends method url with token as its Bearer (when set), body as JSON (a []byte is sent
// as it is) and hdr as name/value pairs, and decodes a JSON answer into out (when non-nil).
// It returns the status and the answer's bytes. A failed request or an answer that does not
// decode ends the test.
func Do(t testing.TB, method, url, token string, body, out any, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if b, ok := body.([]byte); ok {
		rd = bytes.NewReader(b)
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("%s %s: encode body: %v", method, url, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, url, err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d, answer does not decode (%v): %s", method, url, resp.StatusCode, err, b)
		}
	}
	return resp.StatusCode, b
}
