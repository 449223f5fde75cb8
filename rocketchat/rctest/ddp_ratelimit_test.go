package rctest

import (
	"fmt"
	"testing"
	"time"
)

// TestDDPSubRateLimitDefaults: with Rocket.Chat's defaults (rateLimiter.ts + rate.ts) a
// connection gets 40 stream-notify-room subscriptions per window; the 41st is refused with
// Meteor's too-many-requests nosub; other publication names keep their own budget; a user gets
// 80 per name over all connections.
func TestDDPSubRateLimitDefaults(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddUser(UserSpec{Username: "alice"})
	_, tok := s.LoginToken("alice")
	conns := []*ddpClient{dialDDP(t, s), dialDDP(t, s), dialDDP(t, s)}
	for _, c := range conns {
		c.login(tok)
	}
	for i, c := range conns[:2] {
		for j := range 40 {
			id := fmt.Sprintf("c%d-%d", i, j)
			if f := c.sub(id, "stream-notify-room", "GENERAL/deleteMessage"); f["msg"] != "ready" {
				t.Fatalf("sub %s: %v", id, f)
			}
		}
	}
	// Connection 0 is over its per-connection limit (41st), connection 2 over the user's (81st).
	for _, c := range []*ddpClient{conns[0], conns[2]} {
		f := c.sub("over", "stream-notify-room", "GENERAL/deleteMessage")
		if f["msg"] != "nosub" || path(f, "error", "error") != "too-many-requests" ||
			path(f, "error", "errorType") != "Meteor.Error" || path(f, "error", "isClientSafe") != true {
			t.Fatalf("41st/81st sub: %v", f)
		}
		ms, _ := path(f, "error", "details", "timeToReset").(float64)
		if ms <= 0 || ms > 40_000 {
			t.Fatalf("timeToReset %v, want within the 40 s window", ms)
		}
		secs := int((ms + 999) / 1000)
		reason := fmt.Sprintf("Error, too many requests. Please slow down. You must wait %d seconds before trying again.", secs)
		if path(f, "error", "reason") != reason || path(f, "error", "message") != reason+" [too-many-requests]" {
			t.Fatalf("error %v, want reason %q", f["error"], reason)
		}
	}
	// Another publication name has its own counters.
	if f := conns[0].sub("user", "stream-notify-user", s.UserID("alice")+"/notification"); f["msg"] != "ready" {
		t.Fatalf("stream-notify-user after the room limit: %v", f)
	}
}

// TestDDPSubRateLimitWindowResets: the window is fixed; once it has passed, subscriptions
// are allowed again. Disabled turns the limiter off.
func TestDDPSubRateLimitWindowResets(t *testing.T) {
	s := newTestServer(t, Options{DDPRateLimit: DDPRateLimit{
		// A window long enough that 20 round trips fit in one even on a loaded machine.
		ConnectionByMethod: RateRule{Calls: 2, Interval: 400 * time.Millisecond},
		UserByMethod:       RateRule{Calls: 1000, Interval: 400 * time.Millisecond}}})
	s.AddUser(UserSpec{Username: "alice"})
	_, tok := s.LoginToken("alice")
	c := dialDDP(t, s)
	c.login(tok)
	n := 0
	for ; n < 20; n++ {
		if f := c.sub(fmt.Sprint("s", n), "stream-notify-room", "GENERAL/deleteMessage"); f["msg"] != "ready" {
			break
		}
	}
	if n < 8 || n > 16 {
		t.Fatalf("%d subscriptions before the first refusal, want 8 per 1.6 s window (2 x factor 4)", n)
	}
	// Retry every 50 ms: refused attempts count too, and the connection-wide rule (600 a
	// minute) must not be what keeps refusing.
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if f := c.sub(fmt.Sprint("r", i), "stream-notify-room", "GENERAL/deleteMessage"); f["msg"] == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still refused after the window")
		}
		<-tick.C
	}

	off := newTestServer(t, Options{DDPRateLimit: DDPRateLimit{Disabled: true}})
	off.AddUser(UserSpec{Username: "bob"})
	_, tok = off.LoginToken("bob")
	c = dialDDP(t, off)
	c.login(tok)
	for i := range 100 {
		if f := c.sub(fmt.Sprint("s", i), "stream-notify-room", "GENERAL/deleteMessage"); f["msg"] != "ready" {
			t.Fatalf("sub %d with the limiter off: %v", i, f)
		}
	}
}
