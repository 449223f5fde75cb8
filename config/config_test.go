package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validBase() Config {
	c := Default()
	c.RocketChat.URL = "https://chat.example.com"
	c.RocketChat.Admin.Username = "agent"
	c.RocketChat.Admin.Password = "s3cret-admin-pass"
	c.Auth.JWT.HS256Secret = "0123456789abcdef0123456789abcdef"
	return c
}

func TestDefaultsAreDocumentedValues(t *testing.T) {
	c := Default()
	if c.UserTokens.Strategy != "create_token" || c.UserTokens.TTL.D() != time.Hour {
		t.Fatalf("user_tokens defaults: %+v", c.UserTokens)
	}
	if c.Hub.Path != "/signalr" || !c.RocketChat.TLSVerify || c.Auth.FrontendAuth {
		t.Fatalf("defaults: hub %q tls %v frontend_auth %v", c.Hub.Path, c.RocketChat.TLSVerify, c.Auth.FrontendAuth)
	}
	if c.Auth.JWT.UserIDClaim != "sub" || c.HTTP.Listen != ":8080" {
		t.Fatalf("defaults: %q %q", c.Auth.JWT.UserIDClaim, c.HTTP.Listen)
	}
	if err := validBase().Validate(); err != nil {
		t.Fatalf("valid base config rejected: %v", err)
	}
}

func TestLoadFileThenEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	yml := `
rocketchat:
  url: http://rc.local:3000/
  admin:
    username: super
    password: 123qwe
user_tokens:
  strategy: default_password
  default_password: 123qwe
  ttl: 2h
auth:
  jwt:
    hs256_secret: file-secret-file-secret-file-secret
    audience: [im-gateway]
http:
  upload_limit: 5MB
hub:
  keepalive: 10
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(secretFile, []byte("from-file-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=/bin",
		"RCGW_CONFIG=/ignored",
		"RCGW_ROCKETCHAT__URL=https://chat.example.com",
		"RCGW_USER_TOKENS__TTL=90m",
		"RCGW_AUTH__JWT__AUDIENCE=a, b",
		"RCGW_AUTH__API_KEYS=key-one-0123456789,key-two-0123456789",
		"RCGW_ROCKETCHAT__ADMIN__PASSWORD_FILE=" + secretFile,
		"RCGW_AUTH__FRONTEND_AUTH=true",
		"RCGW_HTTP__BODY_LIMIT=2MB",
	}
	c, err := Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.RocketChat.URL != "https://chat.example.com" {
		t.Errorf("url = %q", c.RocketChat.URL)
	}
	if c.RocketChat.WebSocketURL() != "wss://chat.example.com/websocket" {
		t.Errorf("ws url = %q", c.RocketChat.WebSocketURL())
	}
	if c.UserTokens.TTL.D() != 90*time.Minute || c.UserTokens.Strategy != StrategyDefaultPassword {
		t.Errorf("user_tokens = %+v", c.UserTokens)
	}
	if fmt.Sprint(c.Auth.JWT.Audience) != "[a b]" || len(c.Auth.APIKeys) != 2 || c.Auth.APIKeys[1].Value() != "key-two-0123456789" {
		t.Errorf("lists: %v %d", c.Auth.JWT.Audience, len(c.Auth.APIKeys))
	}
	if c.RocketChat.Admin.Password.Value() != "from-file-password" {
		t.Errorf("password from _FILE not applied")
	}
	if !c.Auth.FrontendAuth || c.HTTP.BodyLimit != 2<<20 || c.HTTP.UploadLimit != 5<<20 || c.Hub.KeepAlive.D() != 10*time.Second {
		t.Errorf("frontend_auth %v body %d upload %d keepalive %s", c.Auth.FrontendAuth, c.HTTP.BodyLimit, c.HTTP.UploadLimit, c.Hub.KeepAlive)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

func TestEnvNames(t *testing.T) {
	for path, env := range map[string]string{
		"rocketchat.url":            "RCGW_ROCKETCHAT__URL",
		"rocketchat.admin.password": "RCGW_ROCKETCHAT__ADMIN__PASSWORD",
		"user_tokens.ttl":           "RCGW_USER_TOKENS__TTL",
		"auth.jwt.hs256_secret":     "RCGW_AUTH__JWT__HS256_SECRET",
		"redis.url":                 "RCGW_REDIS__URL",
	} {
		if got := EnvName(path); got != env {
			t.Errorf("EnvName(%q) = %q, want %q", path, got, env)
		}
	}
}

func TestEnvErrors(t *testing.T) {
	c := Default()
	err := ApplyEnv(&c, []string{
		"RCGW_ROCKETCHAT__URLL=x",
		"RCGW_HTTP__LISTEN_FILE=/x",
		"RCGW_USER_TOKENS__TTL=soon",
		"RCGW_AUTH__FRONTEND_AUTH=maybe",
		"RCGW_AUTH__JWT__HS256_SECRET_FILE=/does/not/exist",
	}, os.ReadFile)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"RCGW_ROCKETCHAT__URLL", "RCGW_HTTP__LISTEN_FILE", "user_tokens.ttl", "auth.frontend_auth", "HS256_SECRET_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestUnknownYAMLKey(t *testing.T) {
	c := Default()
	err := Parse([]byte("rocketchat:\n  urll: x\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "urll") {
		t.Fatalf("err = %v", err)
	}
	if err := Parse([]byte("hub:\n  keepalive: [1]\n"), &c); err == nil {
		t.Fatal("sequence accepted as duration")
	}
	if err := Parse([]byte("http:\n  body_limit: lots\n"), &c); err == nil {
		t.Fatal("bad size accepted")
	}
}

func TestValidateReportsEveryProblemWithPath(t *testing.T) {
	c := Default()
	c.RocketChat.WSURL = "http://wrong"
	c.UserTokens.Strategy = "guess"
	c.UserTokens.TTL = 0
	c.Auth.JWT.UserIDClaim = ""
	c.Auth.APIKeys = []Secret{"short"}
	c.HTTP.Listen = "8080"
	c.HTTP.CORSOrigins = []string{"https://ok.example", "not a url"}
	c.Hub.Path = "signalr"
	c.Hub.ClientTimeout = c.Hub.KeepAlive
	c.Log.Level = "loud"
	c.Log.Format = "xml"
	c.Redis.URL = "http://redis"
	c.Redis.LeaseTTL = Duration(9 * time.Second) // < 2 × redis.timeout (5 s)
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"rocketchat.url", "rocketchat.ws_url", "rocketchat.admin", "user_tokens.strategy", "user_tokens.ttl",
		"auth.jwt", "auth.jwt.user_id_claim", "auth.api_keys[0]", "http.listen", "http.cors_origins[1]",
		"hub.path", "hub.client_timeout", "log.level", "log.format", "redis.url", "redis.lease_ttl",
	}
	var paths []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("not a FieldError: %v", e)
		}
		paths = append(paths, fe.Path)
	}
	got := strings.Join(paths, " ")
	for _, w := range want {
		if !strings.Contains(" "+got+" ", " "+w+" ") {
			t.Errorf("missing %s in %s", w, got)
		}
	}
	if errors.Is(err, ErrRequired) == false {
		t.Error("sentinel not reachable with errors.Is")
	}
}

func TestValidateCredentialPairs(t *testing.T) {
	c := validBase()
	c.RocketChat.Admin.UserID = "uid"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("both pairs: %v", err)
	}
	c = validBase()
	c.RocketChat.Admin = Admin{UserID: "uid", Token: "pat-token"}
	if err := c.Validate(); err != nil {
		t.Fatalf("PAT pair: %v", err)
	}
	if c.RocketChat.Admin.UsesPassword() {
		t.Fatal("PAT reported as password")
	}
	c.UserTokens.Strategy = StrategyDefaultPassword
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "user_tokens.default_password") {
		t.Fatalf("default_password without password: %v", err)
	}
	c = validBase()
	c.Auth.JWT.HS256Secret = "short"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "auth.jwt.hs256_secret") {
		t.Fatalf("short hs256: %v", err)
	}
}

func TestRedactionEverywhere(t *testing.T) {
	c := validBase()
	c.RocketChat.Admin.Password = "admin-plaintext-pw"
	c.UserTokens.CreateTokenSecret = "create-token-plaintext"
	c.Auth.APIKeys = []Secret{"api-key-plaintext-123"}
	c.Redis.URL = "redis://user:redis-url-pw@redis:6379/0"
	c.Redis.Password = "redis-plaintext-pw"
	secrets := []string{"admin-plaintext-pw", "create-token-plaintext", "api-key-plaintext-123", "redis-url-pw", "redis-plaintext-pw", string(c.Auth.JWT.HS256Secret)}

	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("cfg", "config", c, "pw", c.RocketChat.Admin.Password)
	outputs := map[string]string{
		"YAML": c.YAML(),
		"%v":   fmt.Sprintf("%v", c),
		"%+v":  fmt.Sprintf("%+v", c),
		"%#v":  fmt.Sprintf("%#v", c.RocketChat.Admin.Password),
		"slog": logBuf.String(),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s leaks %q:\n%s", name, s, out)
			}
		}
	}
	if !strings.Contains(c.YAML(), Redacted) {
		t.Error("YAML shows no REDACTED marker")
	}
	if c.Redis.URL != "redis://user:redis-url-pw@redis:6379/0" {
		t.Error("Redacted modified the original")
	}
	if c.RocketChat.Admin.Password.Value() != "admin-plaintext-pw" {
		t.Error("Value lost the plaintext")
	}
}

func TestWebSocketURLDerivation(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:3000":     "ws://localhost:3000/websocket",
		"https://chat.example.com/": "wss://chat.example.com/websocket",
		"https://example.com/chat":  "wss://example.com/chat/websocket",
		"https://u:p@example.com/":  "wss://example.com/websocket",
	} {
		if got := (RocketChat{URL: in}).WebSocketURL(); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
	if got := (RocketChat{URL: "x", WSURL: "ws://explicit/websocket"}).WebSocketURL(); got != "ws://explicit/websocket" {
		t.Errorf("explicit: %s", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("rocketchat:\n  url: http://x\n"))
	f.Add([]byte("http:\n  body_limit: 10MB\nhub:\n  keepalive: 15s\n"))
	f.Add([]byte("auth:\n  api_keys: [a, b]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		if err := Parse(b, &c); err != nil {
			return
		}
		_ = c.Validate()
		_ = c.YAML()
	})
}

func FuzzEnv(f *testing.F) {
	f.Add("RCGW_HTTP__BODY_LIMIT", "10MB")
	f.Add("RCGW_HUB__KEEPALIVE", "15s")
	f.Add("RCGW_AUTH__API_KEYS", "a,b,,c")
	f.Fuzz(func(t *testing.T, k, v string) {
		c := Default()
		_ = ApplyEnv(&c, []string{k + "=" + v}, func(string) ([]byte, error) { return []byte(v), nil })
		_ = c.Validate()
	})
}

// TestYAMLErrorsNameKeyPathLineAndNearestKey: a mistake in the file is reported by its key
// path and line, not by Go type names, and an unknown key with the known key it is closest to.
func TestYAMLErrorsNameKeyPathLineAndNearestKey(t *testing.T) {
	c := Default()
	err := Parse([]byte("rocketchat:\n  ulr: http://x\nhub:\n  keepalive: fast\nurl: x\nlog: [1]\n"), &c)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"line 2: rocketchat.ulr: unknown key (did you mean rocketchat.url?)",
		`line 4: hub.keepalive: invalid duration "fast"`,
		"line 5: url: unknown key (known as rocketchat.url, redis.url)",
		"line 6: log: want a mapping, got a sequence",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "config.") || strings.Contains(err.Error(), "time.Duration") {
		t.Errorf("error names Go types:\n%v", err)
	}
}

func TestIdentityDefaultsAndValidation(t *testing.T) {
	c := Default()
	if c.Identity.UsernamePrefix != "u-" || c.Identity.EmailDomain != "users.rcgateway.invalid" || c.Identity.TombstoneTTL.D() != 24*time.Hour {
		t.Fatalf("identity defaults: %+v", c.Identity)
	}
	for _, tc := range []struct {
		mod  func(*Identity)
		path string
	}{
		{func(i *Identity) { i.UsernamePrefix = "" }, "identity.username_prefix"},
		{func(i *Identity) { i.UsernamePrefix = "u." }, "identity.username_prefix"}, // '.' would break injectivity
		{func(i *Identity) { i.UsernamePrefix = "U-" }, "identity.username_prefix"}, // Rocket.Chat ignores case
		{func(i *Identity) { i.UsernamePrefix = strings.Repeat("u", 33) }, "identity.username_prefix"},
		{func(i *Identity) { i.EmailDomain = "a@b.c" }, "identity.email_domain"},
		{func(i *Identity) { i.TombstoneTTL = 0 }, "identity.tombstone_ttl"},
	} {
		c := Default()
		tc.mod(&c.Identity)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.path+":") {
			t.Errorf("%+v: err = %v, want a problem at %s", c.Identity, err, tc.path)
		}
	}
}
