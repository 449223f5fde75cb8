package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/rocketchat"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

type orderHub struct {
	fakeHub
	order *[]string
	mu    *sync.Mutex
}

func (h *orderHub) Shutdown(context.Context) error {
	h.mu.Lock()
	*h.order = append(*h.order, "hub: close browsers (allowReconnect)")
	h.mu.Unlock()
	return nil
}

type orderSessions struct {
	fakeSessions
	order *[]string
	mu    *sync.Mutex
}

func (s *orderSessions) Shutdown(context.Context) error {
	s.mu.Lock()
	*s.order = append(*s.order, "sessions: stop upstreams, log out tokens and agent")
	s.mu.Unlock()
	return nil
}

// TestShutdownOrder: readiness goes off first (503 during drain_delay), then the listener
// closes, then browsers are told to reconnect, then upstreams stop, within the deadline.
func TestShutdownOrder(t *testing.T) {
	rc := rctest.New(rctest.Options{})
	defer rc.Close()
	cfg := baseConfig(rc)
	cfg.Shutdown.DrainDelay = config.Duration(300 * time.Millisecond)
	cfg.Shutdown.Timeout = config.Duration(5 * time.Second)
	var mu sync.Mutex
	var order []string
	hub := &orderHub{order: &order, mu: &mu}
	ses := &orderSessions{fakeSessions: fakeSessions{rc: rc, cr: map[string]rocketchat.Credentials{}}, order: &order, mu: &mu}
	srv, err := New(Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), Hub: hub, Sessions: ses})
	if err != nil {
		t.Fatal(err)
	}
	hub.auth = srv.authenticate
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(p string) int {
		resp, err := client.Get(base + p)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get("/readyz"); st != 200 {
		t.Fatalf("readyz before shutdown: %d", st)
	}
	start := time.Now()
	cancel()
	// During the drain delay the listener still answers, with 503 on /readyz.
	deadline := time.After(2 * time.Second)
	for {
		st := get("/readyz")
		if st == 503 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("readyz never went 503 (last %d)", st)
		default:
		}
	}
	if st := get("/healthz"); st != 200 {
		t.Fatalf("healthz during drain: %d", st)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("Serve did not return within shutdown.timeout")
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("drain delay not honoured: %s", took)
	}
	if get("/healthz") != -1 {
		t.Fatal("listener still open after Serve returned")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 2 || order[0][:3] != "hub" || order[1][:8] != "sessions" {
		t.Fatalf("shutdown order: %v", order)
	}
}

// TestCloseWhenListenFails: listening fails after New (the port is taken); Close stops the
// hub's and the session manager's goroutines New started, and a second Close is a no-op.
func TestCloseWhenListenFails(t *testing.T) {
	rc := rctest.New(rctest.Options{})
	defer rc.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	cfg := baseConfig(rc)
	cfg.HTTP.Listen = taken.Addr().String()
	srv, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	// The composed hub's closes are exported per reason.
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if body := rec.Body.String(); !strings.Contains(body, `rcgw_hub_closes_total{reason="slow_consumer"} 0`) || !strings.Contains(body, `rcgw_hub_closes_total{reason="kicked"} 0`) {
		t.Errorf("/metrics lacks rcgw_hub_closes_total by reason")
	}
	if ln, err := net.Listen("tcp", cfg.HTTP.Listen); err == nil {
		ln.Close()
		t.Fatal("listening on a taken port succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
