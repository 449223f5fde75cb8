// Package gatewaytest runs a real gateway node in process for end-to-end tests: Rocket.Chat
// is an rctest.Server, the node listens on a free loopback port, counts as started once
// /readyz answers 200, and is stopped and waited for when the test ends. It knows nothing of
// what the tests then do with the node.
package gatewaytest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/gateway"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// Node is one running gateway.
type Node struct {
	Base string // http://127.0.0.1:port
	stop func()
}

// Stop shuts the node down and waits for it (idempotent; also run when the test ends).
func (n *Node) Stop() { n.stop() }

// Config is the default configuration against rc: its admin account, user tokens minted
// with createTokenSecret, a 300 ms upstream linger and a 5 s shutdown.
func Config(rc *rctest.Server, createTokenSecret string) config.Config {
	cfg := config.Default()
	cfg.RocketChat.URL = rc.URL()
	u, p := rc.AdminCredentials()
	cfg.RocketChat.Admin.Username, cfg.RocketChat.Admin.Password = u, config.Secret(p)
	cfg.UserTokens.CreateTokenSecret = config.Secret(createTokenSecret)
	cfg.UserTokens.Linger = config.Duration(300 * time.Millisecond)
	cfg.Shutdown.Timeout = config.Duration(5 * time.Second)
	return cfg
}

// Start validates cfg and runs a node with it until the test ends. logAttrs tag its log
// lines, which go to stderr when RCGW_E2E_LOG is set and nowhere otherwise.
func Start(t *testing.T, cfg config.Config, logAttrs ...any) *Node {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logOut io.Writer = io.Discard
	if os.Getenv("RCGW_E2E_LOG") != "" {
		logOut = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug})).With(logAttrs...)
	srv, err := gateway.New(gateway.Options{Config: cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	n := &Node{Base: "http://" + ln.Addr().String()}
	n.stop = func() {
		once.Do(func() {
			cancel()
			timer := time.NewTimer(15 * time.Second)
			defer timer.Stop()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-timer.C:
				t.Error("gateway did not stop within 15 s")
			}
		})
	}
	t.Cleanup(n.stop)
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(n.Base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		select {
		case err := <-done:
			done <- err // for stop
			t.Fatalf("gateway stopped before it was ready: %v", err)
		case <-deadline.C:
			t.Fatal("gateway not ready after 20 s")
		case <-tick.C:
		}
	}
}
