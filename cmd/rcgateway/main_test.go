package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runCmd(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	err := run(context.Background(), args, func(k string) string { return env[k] }, environ, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestVersion(t *testing.T) {
	out, _, err := runCmd(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "rcgateway dev (revision ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	_, errOut, err := runCmd(t, nil, "frobnicate")
	if !errors.Is(err, errUsage) || !strings.Contains(errOut, "usage:") {
		t.Fatalf("err = %v, stderr %q", err, errOut)
	}
	if _, _, err := runCmd(t, nil, "config"); !errors.Is(err, errUsage) {
		t.Fatalf("config without check: %v", err)
	}
	if _, _, err := runCmd(t, nil, "serve", "-nope"); !errors.Is(err, errUsage) {
		t.Fatalf("bad flag: %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	yml := "rocketchat:\n  url: https://chat.example.com\n  admin:\n    username: agent\n    password: plaintext-admin-pw\nauth:\n  jwt:\n    hs256_secret: plaintext-hs256-secret-0123456789abcdef\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, map[string]string{"RCGW_CONFIG": path, "RCGW_AUTH__API_KEYS": "plaintext-api-key-123456"}, "config", "check")
	if err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	for _, secret := range []string{"plaintext-admin-pw", "plaintext-hs256", "plaintext-api-key"} {
		if strings.Contains(out, secret) {
			t.Fatalf("config check prints a secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "REDACTED") || !strings.Contains(out, "configuration OK") || !strings.Contains(out, "https://chat.example.com") {
		t.Fatalf("config check output:\n%s", out)
	}

	// Every problem is reported with its key path, and serve refuses to start.
	out, _, err = runCmd(t, map[string]string{"RCGW_HUB__PATH": "nope", "RCGW_LOG__LEVEL": "loud"}, "config", "check", "-config", path)
	if err == nil || !strings.Contains(err.Error(), "hub.path") || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("invalid config: %v\n%s", err, out)
	}
	_, _, err = runCmd(t, map[string]string{"RCGW_HUB__PATH": "nope"}, "serve", "-config", path)
	if err == nil || !strings.Contains(err.Error(), "hub.path") {
		t.Fatalf("serve with invalid config: %v", err)
	}
	_, _, err = runCmd(t, nil, "serve", "-config", filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("serve with missing file: %v", err)
	}
}

// TestHelp: every way of asking for help prints to stdout and succeeds (exit status 0),
// and a topic prints that command's own usage and flags.
func TestHelp(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"usage:", "rcgateway demo", "rcgateway help [command]"}},
		{[]string{"-h"}, []string{"usage:", "rcgateway config check"}},
		{[]string{"help"}, []string{"usage:", "rcgateway version"}},
		{[]string{"help", "help"}, []string{"usage:", "rcgateway version"}},
		{[]string{"help", "serve"}, []string{"usage: rcgateway serve", "-config", "-pprof"}},
		{[]string{"serve", "--help"}, []string{"usage: rcgateway serve", "-pprof"}},
		{[]string{"help", "demo"}, []string{"usage: rcgateway demo", "-listen", "localhost:8080"}},
		{[]string{"demo", "-h"}, []string{"usage: rcgateway demo", "-log-level"}},
		{[]string{"help", "config"}, []string{"usage: rcgateway config check", "-config"}},
		{[]string{"config", "check", "-h"}, []string{"usage: rcgateway config check"}},
		{[]string{"config", "--help"}, []string{"usage: rcgateway config check"}},
		{[]string{"help", "version"}, []string{"usage: rcgateway version"}},
		{[]string{"--version"}, []string{"rcgateway dev"}},
		{[]string{"-version"}, []string{"rcgateway dev"}},
	}
	for _, tc := range cases {
		out, errOut, err := runCmd(t, nil, tc.args...)
		if err != nil {
			t.Errorf("%v: err = %v (stderr %q)", tc.args, err, errOut)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tc.args, w, out)
			}
		}
		if strings.Contains(out, "usage: rcgateway serve") && strings.Contains(tc.args[len(tc.args)-1], "demo") {
			t.Errorf("%v printed serve's usage", tc.args)
		}
	}
	// Mistakes still go to stderr with status 2.
	_, errOut, err := runCmd(t, nil, "help", "nope")
	if !errors.Is(err, errUsage) || !strings.Contains(errOut, `unknown command "nope"`) {
		t.Fatalf("help nope: %v %q", err, errOut)
	}
	_, errOut, err = runCmd(t, nil, "demo", "-nope")
	if !errors.Is(err, errUsage) || !strings.Contains(errOut, "usage: rcgateway demo") {
		t.Fatalf("demo -nope: %v %q", err, errOut)
	}
}
