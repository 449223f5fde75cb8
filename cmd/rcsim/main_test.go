package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rcgateway/rcgateway/rocketchat/rctest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunServesSeededSimulator(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *rctest.Server, 1)
	errc := make(chan error, 1)
	var out strings.Builder
	go func() {
		errc <- runReady(ctx, []string{"-addr", "127.0.0.1:0", "-version", "7.10.0", "-user-pass", "pw"}, &out, io.Discard, ready)
	}()
	var srv *rctest.Server
	select {
	case srv = <-ready:
	case err := <-errc:
		t.Fatalf("run ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("simulator did not start")
	}
	res, err := http.Post(srv.URL()+"/api/v1/login", "application/json", strings.NewReader(`{"user":"alice","password":"pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 200 || body["status"] != "success" {
		t.Fatalf("login as seeded alice: %d %v", res.StatusCode, body)
	}
	res, err = http.Get(srv.URL() + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if body["version"] != "7.10.0" {
		t.Fatalf("info: %v", body)
	}
	if len(srv.Messages("GENERAL")) != 1 {
		t.Fatalf("GENERAL not seeded: %v", srv.Messages("GENERAL"))
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	if !strings.Contains(out.String(), "Rocket.Chat 7.10.0 simulator on http://127.0.0.1:") || strings.Contains(out.String(), "pw") {
		t.Fatalf("banner: %q", out.String())
	}
}

func TestRunBadFlag(t *testing.T) {
	if err := run(context.Background(), []string{"-nope"}, io.Discard, io.Discard); err == nil {
		t.Fatal("bad flag accepted")
	}
}
