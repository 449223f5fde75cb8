package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rcgateway/rcgateway/rocketchat"
)

// TestMapUpstreamNotAllowedBodies has the Rocket.Chat client decode the bodies Rocket.Chat's ApiClass.ts
// (apps/meteor/app/api/server/ApiClass.ts) sends when a route refuses an authenticated user,
// per release line, and the bodies of a missing session; only the latter are upstream_auth.
func TestMapUpstreamNotAllowedBodies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   int
	}{
		// 9.x: Meteor.Error('error-unauthorized', ...) from a permission check goes through
		// API.v1.unauthorized(e.message) once applyBreakingChanges (shouldBreakInVersion('9.0.0')) is on.
		{"9.x thrown permission check", 401, `{"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"}`, 403},
		// 7.x/8.x: the same error through API.v1.forbidden(e.message).
		{"7.x/8.x thrown permission check", 403, `{"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"}`, 403},
		// 9.x permissionsRequired: Meteor.Error('error-forbidden', ...) through API.v1.forbidden(e.message).
		{"9.x permissionsRequired", 403, `{"success":false,"error":"User does not have the permissions required for this action [error-forbidden]"}`, 403},
		{"7.x/8.x API.v1.forbidden()", 403, `{"success":false,"error":"unauthorized"}`, 403},
		{"9.x API.v1.forbidden()", 403, `{"success":false,"error":"forbidden"}`, 403},
		// A missing or dead session: 8.x keeps status/message, 9.x drops them.
		{"8.x not logged in", 401, `{"success":false,"status":"error","message":"You must be logged in to do this.","error":"You must be logged in to do this."}`, 502},
		{"9.x not logged in", 401, `{"success":false,"error":"You must be logged in to do this."}`, 502},
		{"9.x permissionsRequired without a user", 401, `{"success":false,"error":"You must be logged in to do this [error-unauthorized]"}`, 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			rc, err := rocketchat.NewClient(rocketchat.ClientOptions{BaseURL: srv.URL, HTTPClient: srv.Client(), RetryMax: -1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = rc.Me(context.Background(), rocketchat.Credentials{UserID: "u", Token: "t"})
			if err == nil {
				t.Fatal("the client accepted a failure")
			}
			ae := mapUpstream(err)
			if ae == nil || ae.Status != tc.want {
				t.Fatalf("mapUpstream(%s %s) = %+v, want status %d", http.StatusText(tc.status), tc.body, ae, tc.want)
			}
		})
	}
}
