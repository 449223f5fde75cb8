// Command rcsim serves the rctest Rocket.Chat simulator on a port, seeded with a few users and
// rooms, so people can try the gateway and the web UI, and benchmarks have an upstream, without
// a real Rocket.Chat.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rcsim:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, if not nil, receives the server once it listens (tests).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runReady(ctx, args, stdout, stderr, nil)
}

func runReady(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- *rctest.Server) error {
	fs := flag.NewFlagSet("rcsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:3000", "listen address")
	port := fs.Int("port", 0, "listen port on 127.0.0.1 (overrides -addr)")
	ping := fs.Duration("ping-interval", 15*time.Second, "DDP: ping after this much client silence, close after as much again")
	version := fs.String("version", "8.0.1", "Rocket.Chat version to imitate (6.x, 7.x, 8.x)")
	rateLimit := fs.Bool("ratelimit", false, "enable the REST rate limiter (10 calls/60 s per route and client)")
	twoFactor := fs.Bool("2fa", false, "enable 2FA behaviour")
	secret := fs.String("create-token-secret", "", "CREATE_TOKENS_FOR_USERS_SECRET (8.x users.createToken)")
	adminUser := fs.String("admin-user", "admin", "admin username")
	adminPass := fs.String("admin-pass", "admin-pass", "admin password")
	userPass := fs.String("user-pass", "pass", "password of the seeded users")
	users := fs.Int("users", 3, "number of seeded users (alice, bob, carol, user4, ...)")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}
	if *port > 0 {
		*addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(*port))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := rctest.Start(rctest.Options{Addr: *addr, Version: *version, RateLimit: *rateLimit,
		TwoFactor: *twoFactor, CreateTokenSecret: *secret, AdminUsername: *adminUser,
		AdminPassword: *adminPass, PingInterval: *ping, PingTimeout: *ping, Logger: log})
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer srv.Close()

	names := []string{"alice", "bob", "carol"}
	for i := len(names); i < *users; i++ {
		names = append(names, fmt.Sprintf("user%d", i+1))
	}
	names = names[:max(0, min(*users, len(names)))]
	for _, n := range names {
		srv.AddUser(rctest.UserSpec{Username: n, Name: n, Password: *userPass})
	}
	if len(names) >= 2 {
		rid := srv.AddRoom(rctest.RoomSpec{Type: "c", Name: "random", Owner: names[0], Members: names[1:]})
		srv.AddRoom(rctest.RoomSpec{Type: "p", Name: "team", Owner: names[0], Members: names[1:2]})
		srv.DirectRoom(names[0], names[1])
		srv.PostMessage(rid, names[0], "welcome to #random")
		srv.PostMessage("GENERAL", names[1], "hello everyone")
	}
	fmt.Fprintf(stdout, "rcsim: Rocket.Chat %s simulator on %s (DDP %s)\n", *version, srv.URL(), srv.WebSocketURL())
	fmt.Fprintf(stdout, "rcsim: admin %q; users %v (password from -user-pass); rooms general, random, team\n", *adminUser, names)
	if ready != nil {
		ready <- srv
	}
	<-ctx.Done()
	return nil
}
