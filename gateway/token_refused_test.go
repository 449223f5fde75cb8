package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// TestNotAllowedIsNotARefusedToken: only a 401 for a dead session makes the facade mint a new
// token. The bodies are Rocket.Chat's (apps/meteor/app/api/server/ApiClass.ts): the
// authentication failure {status: "error", message: "You must be logged in to do this."}, and
// API.v1.unauthorized() {success: false, error: "unauthorized"} for a permission a user lacks.
func TestNotAllowedIsNotARefusedToken(t *testing.T) {
	for _, tc := range []struct {
		body    string
		refused bool
	}{
		{`{"status":"error","message":"You must be logged in to do this."}`, true},
		{`{"success":false,"error":"unauthorized"}`, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(tc.body))
		}))
		c, err := rocketchat.NewClient(rocketchat.ClientOptions{BaseURL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Me(context.Background(), rocketchat.Credentials{UserID: "u1", Token: "t1"})
		srv.Close()
		if err == nil {
			t.Fatalf("%s: no error", tc.body)
		}
		if got := isTokenRefused(err); got != tc.refused {
			t.Errorf("401 %s: token refused = %v, want %v (%v)", tc.body, got, tc.refused, err)
		}
	}
}

// TestHubAdmitsAtNegotiateOnly: the hub authenticates every request of a connection (negotiate,
// the WebSocket upgrade, each long poll and send); the user is admitted (its tombstone read,
// from Redis in a cluster) only at negotiate, the request without a connection id.
func TestHubAdmitsAtNegotiateOnly(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token("alice")
	fs := f.srv.sessions.(*fakeSessions)
	for _, tc := range []struct {
		url    string
		admits int64
	}{
		{"/signalr/negotiate?negotiateVersion=1", 1},
		{"/signalr?id=conn-token-1", 0},
		{"/signalr?id=conn-token-1&access_token=" + tok, 0},
	} {
		r := httptest.NewRequest(http.MethodPost, tc.url, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		before := fs.admits.Load()
		if _, _, err := f.srv.authenticate(r); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if n := fs.admits.Load() - before; n != tc.admits {
			t.Errorf("%s: %d admits, want %d", tc.url, n, tc.admits)
		}
	}
}
