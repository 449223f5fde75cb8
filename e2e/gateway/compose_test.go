package gateway_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/internal/gatewaytest"
	"github.com/rcgateway/rcgateway/rocketchat/rctest"
)

// composeRocketChat reads how docker-compose.yml configures Rocket.Chat (image tag and
// environment, interpolated from deploy/env.example) and the environment of the first gateway.
func composeRocketChat(t *testing.T) (version string, rcEnv, gwEnv map[string]string) {
	t.Helper()
	root := filepath.Join("..", "..")
	vars := map[string]string{}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			if strings.HasPrefix(v, "change-me") {
				// As the file tells its reader: every example secret is replaced (the
				// gateway refuses them).
				v = "test-" + k + "-" + strings.Repeat("x", 32)
			}
			vars[k] = v
		}
	}
	ref := regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::[?-]([^}]*))?\}`)
	interp := func(s string) string {
		return ref.ReplaceAllStringFunc(s, func(m string) string {
			sub := ref.FindStringSubmatch(m)
			if v, ok := vars[sub[1]]; ok {
				return v
			}
			if strings.Contains(m, ":-") {
				return sub[2]
			}
			t.Fatalf("compose needs %s, which deploy/env.example does not set", sub[1])
			return ""
		})
	}
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	raw, err = os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	rc := c.Services["rocketchat"]
	_, version, _ = strings.Cut(rc.Image, ":")
	rcEnv, gwEnv = map[string]string{}, map[string]string{}
	for k, v := range rc.Environment {
		rcEnv[k] = interp(v)
	}
	for k, v := range c.Services["gateway-1"].Environment {
		gwEnv[k] = interp(v)
	}
	return version, rcEnv, gwEnv
}

// TestComposeStack drives the gateway, configured from deploy/rcgateway.yaml with the compose
// environment, against the simulator configured as docker-compose.yml configures Rocket.Chat
// (version from the image tag, admin from ADMIN_USERNAME/ADMIN_PASS, createToken secret, 2FA
// and rate limiter as the OVERWRITE_SETTING_ variables say): the agent logs in, a product user
// is provisioned and gets a token through users.createToken, and a message reaches the user's
// SignalR connection. Two things differ from the stack: Redis (one node, in-memory backplane)
// and the Rocket.Chat URL (the simulator's).
func TestComposeStack(t *testing.T) {
	version, rcEnv, gwEnv := composeRocketChat(t)
	if version == "" || rcEnv["CREATE_TOKENS_FOR_USERS_SECRET"] == "" {
		t.Fatalf("compose: version %q, env %v", version, rcEnv)
	}
	rc := rctest.New(rctest.Options{
		Version:           version,
		AdminUsername:     rcEnv["ADMIN_USERNAME"],
		AdminPassword:     rcEnv["ADMIN_PASS"],
		CreateTokenSecret: rcEnv["CREATE_TOKENS_FOR_USERS_SECRET"],
		TwoFactor:         rcEnv["OVERWRITE_SETTING_Accounts_TwoFactorAuthentication_Enabled"] != "false",
		RateLimit:         rcEnv["OVERWRITE_SETTING_API_Enable_Rate_Limiter"] != "false",
	})
	t.Cleanup(rc.Close)
	rc.AddUser(rctest.UserSpec{Username: "bob", Name: "Bob"})

	var environ []string
	for k, v := range gwEnv {
		environ = append(environ, k+"="+v)
	}
	cfg, err := config.Load(filepath.Join("..", "..", "deploy", "rcgateway.yaml"), environ)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RocketChat.URL = rc.URL()
	cfg.Redis.URL = ""
	n := gatewaytest.Start(t, cfg)
	e := &env{t: t, rc: rc, base: n.Base, cfg: cfg, stop: n.Stop}

	tok := token(t, "alice", nil, []byte(gwEnv["RCGW_AUTH__JWT__HS256_SECRET"]), nil)
	c := e.dial(tok)
	e.settle("alice", c)
	if rc.UserID(rcName("alice")) == "" {
		t.Fatal("alice was not provisioned")
	}
	mid := rc.PostMessage("GENERAL", "bob", "hello from the compose stack")
	got := nextTarget(t, c, "getRoomMessageNotification", withID(mid))
	if msgField(got, "msg") != "hello from the compose stack" {
		t.Fatalf("push %s", got)
	}
}
