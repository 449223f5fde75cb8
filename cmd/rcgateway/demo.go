package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/gateway"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
	"github.com/rcgateway/rcgateway/session"
	"github.com/rcgateway/rcgateway/web"
)

// demoUsers are seeded in the simulator; their product ids are what the demo JWTs carry.
var demoUsers = []gateway.DemoUser{
	{UserID: "1001", Username: "alice", Name: "Alice Liddell"},
	{UserID: "1002", Username: "bob", Name: "Bob Builder"},
	{UserID: "1003", Username: "carol", Name: "Carol Danvers"},
	{UserID: "1004", Username: "dave", Name: "Dave Bowman"},
}

// demo runs the gateway against an in-process Rocket.Chat simulator with demo users, rooms
// and history, the dev-only token endpoint and the web UI.
func demo(ctx context.Context, args []string, cio cmdIO) error {
	stdout, stderr := cio.stdout, cio.stderr
	fs := cio.flags("demo", "[-listen host:port] [-log-level level]", "try it: the gateway with an embedded Rocket.Chat simulator, demo users and the web UI")
	listen := fs.String("listen", "localhost:8080", "listen address host:port")
	level := fs.String("log-level", "warn", "log level (debug, info, warn, error)")
	if err := cio.parse(fs, args); err != nil {
		return err
	}
	log := newLogger(stderr, *level, "text")

	secret := randomHex(16)
	rc := rctest.New(rctest.Options{CreateTokenSecret: secret, Logger: log.With("component", "rctest")})
	defer rc.Close()

	cfg := config.Default()
	seedDemo(rc, cfg.Identity.UsernamePrefix)
	cfg.RocketChat.URL = rc.URL()
	cfg.RocketChat.Admin.Username, cfg.RocketChat.Admin.Password = adminCreds(rc)
	cfg.UserTokens.CreateTokenSecret = config.Secret(secret)
	cfg.UserTokens.Linger = config.Duration(5 * time.Second)
	cfg.Auth.JWT.HS256Secret = config.Secret(randomHex(32)) // per run: demo tokens die with the process
	cfg.Auth.JWT.Audience = []string{"rcgateway-demo"}
	cfg.Auth.JWT.Issuer = "rcgateway-demo"
	cfg.HTTP.Listen = *listen
	cfg.Shutdown.Timeout = config.Duration(5 * time.Second)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	srv, err := gateway.New(gateway.Options{Config: cfg, Logger: log, Version: version, Revision: revision, Web: web.Handler(),
		Demo: &gateway.Demo{Users: demoUsers, SetStatus: rc.SetStatus}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		closeUnserved(ctx, srv, cfg)
		return fmt.Errorf("listen %s: %w", cfg.HTTP.Listen, err)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "rcgateway demo: an embedded Rocket.Chat simulator, the gateway and the web UI.\n")
	fmt.Fprintf(stdout, "Open %s/ in two browser windows and log in as two different users:\n", base)
	for _, u := range demoUsers {
		fmt.Fprintf(stdout, "  %-6s %s (product user id %s)\n", u.Username, u.Name, u.UserID)
	}
	fmt.Fprintf(stdout, "Rooms: #general, #random, #dev, a private group #team and a direct message alice↔bob.\n")
	fmt.Fprintf(stdout, "Product JWTs: POST %s/api/demo/token {\"username\":\"alice\"}; hub at %s%s\n", base, base, cfg.Hub.Path)
	fmt.Fprintf(stdout, "rcgateway demo: listening on %s\n", base)
	return srv.Serve(ctx, ln)
}

func adminCreds(rc *rctest.Server) (string, config.Secret) {
	u, p := rc.AdminCredentials()
	return u, config.Secret(p)
}

// seedDemo creates the demo users under the Rocket.Chat usernames the gateway derives from
// their product ids (docs/identity.md), so the gateway binds each to its own account.
func seedDemo(rc *rctest.Server, prefix string) {
	rcName := map[string]string{}
	for _, u := range demoUsers {
		rcName[u.Username] = session.RocketChatUsername(prefix, u.UserID)
		rc.AddUser(rctest.UserSpec{Username: rcName[u.Username], Name: u.Name, Password: randomHex(12)})
	}
	alice, bob, carol, dave := rcName["alice"], rcName["bob"], rcName["carol"], rcName["dave"]
	const general = "GENERAL" // every simulated user joins it, as on a fresh Rocket.Chat
	random := rc.AddRoom(rctest.RoomSpec{Type: "c", Name: "random", Owner: bob, Members: []string{alice, carol, dave}})
	dev := rc.AddRoom(rctest.RoomSpec{Type: "c", Name: "dev", Owner: carol, Members: []string{alice, dave}})
	team := rc.AddRoom(rctest.RoomSpec{Type: "p", Name: "team", Owner: alice, Members: []string{bob, carol}})
	dm := rc.DirectRoom(alice, bob)

	rc.PostMessage(general, alice, "Welcome to the rcgateway demo 👋")
	rc.PostMessage(general, bob, "Hi Alice! Messages here come from the embedded Rocket.Chat simulator.")
	rc.PostMessage(general, carol, "Open a second window as another user and say hello.")
	rc.PostMessage(random, dave, "Anyone up for lunch?")
	rc.PostMessage(dev, carol, "The gateway pushes over SignalR at /signalr.")
	rc.PostMessage(team, alice, "Private group: only alice, bob and carol see this.")
	rc.PostMessage(dm, bob, "Hey Alice, this is a direct message.")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
