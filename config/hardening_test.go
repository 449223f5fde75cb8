package config

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestValidateRejectsShippedExampleSecrets loads deploy/env.example the way
// docker-compose.yml passes it to the gateway and expects Validate to name every secret
// that still holds its example value.
func TestValidateRejectsShippedExampleSecrets(t *testing.T) {
	f, err := os.Open("../deploy/env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	example := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			example[k] = v
		}
	}
	// The mapping docker-compose.yml's gateway environment makes.
	compose := map[string]string{
		"RC_ADMIN_PASS":           "RCGW_ROCKETCHAT__ADMIN__PASSWORD",
		"RC_CREATE_TOKENS_SECRET": "RCGW_USER_TOKENS__CREATE_TOKEN_SECRET",
		"RCGW_JWT_SECRET":         "RCGW_AUTH__JWT__HS256_SECRET",
		"RCGW_API_KEY":            "RCGW_AUTH__API_KEYS",
	}
	want := map[string]bool{
		"rocketchat.admin.password":       true,
		"user_tokens.create_token_secret": true,
		"auth.jwt.hs256_secret":           true,
		"auth.api_keys[0]":                true,
	}
	var env []string
	for from, to := range compose {
		v, ok := example[from]
		if !ok || v == "" {
			t.Fatalf("deploy/env.example has no %s", from)
		}
		env = append(env, to+"="+v)
	}
	c := validBase()
	if err := ApplyEnv(&c, env, os.ReadFile); err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	got := map[string]bool{}
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) && errors.Is(fe, ErrExampleSecret) {
			got[fe.Path] = true
			for _, v := range example {
				if strings.Contains(fe.Error(), v) {
					t.Errorf("%s: the message prints the secret: %v", fe.Path, fe)
				}
			}
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("Validate does not report the example value of %s; got %v", p, err)
		}
	}
	// A real value passes.
	c = validBase()
	c.Auth.APIKeys = []Secret{"9f86d081884c7d659a2feaa0c55ad015"}
	if err := c.Validate(); err != nil {
		t.Fatalf("real secrets rejected: %v", err)
	}
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestValidateHardeningKeys(t *testing.T) {
	c := validBase()
	c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.168.1.7", "::1", "not-an-ip"}
	c.HTTP.AdminListen = c.HTTP.Listen
	c.Limits.RESTPerSecond, c.Limits.RESTBurst = 5, 0
	c.Limits.MaxConnectionsPerUser = -1
	err := c.Validate()
	paths := map[string]bool{}
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			paths[fe.Path] = true
		}
	}
	for _, p := range []string{"http.trusted_proxies[3]", "http.admin_listen", "limits.rest_burst", "limits.max_connections_per_user"} {
		if !paths[p] {
			t.Errorf("no problem reported at %s: %v", p, err)
		}
	}
	for _, p := range []string{"http.trusted_proxies[0]", "http.trusted_proxies[1]", "http.trusted_proxies[2]"} {
		if paths[p] {
			t.Errorf("valid entry reported at %s", p)
		}
	}
	if n, err := ParseTrustedProxy("192.168.1.7"); err != nil || n.String() != "192.168.1.7/32" {
		t.Fatalf("single address: %v %v", n, err)
	}
}
