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
