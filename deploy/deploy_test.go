// Package deploy holds the static checks of the container deployment: docker-compose.yml,
// the Dockerfile, deploy/nginx.conf and deploy/rcgateway.yaml. No container engine runs
// where the tests run, so the files are parsed and cross-checked instead: images pinned,
// every variable the gateway needs set, the mounted gateway config valid, nginx -t clean.
package deploy

import (
	"bufio"
	"compress/gzip"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rcgateway/rcgateway/config"
)

type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   any               `yaml:"depends_on"`
	Ports       []string          `yaml:"ports"`
}

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return b
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(read(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

// envExample reads deploy/env.example (KEY=value lines).
func envExample(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(read(t, "deploy/env.example"))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("deploy/env.example: bad line %q", line)
		}
		out[k] = v
	}
	return out
}

// operatorEnv is deploy/env.example as an operator fills it in: every example secret
// ("change-me-...") replaced by `openssl rand -hex 32`'s equivalent.
func operatorEnv(t *testing.T) map[string]string {
	t.Helper()
	vars := envExample(t)
	for k, v := range vars {
		if strings.HasPrefix(v, "change-me") {
			vars[k] = rand.Text() + rand.Text()
		}
	}
	return vars
}

var interpRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate resolves compose's ${VAR}, ${VAR:-default} and ${VAR:?error} against vars.
// A required variable missing from vars is a test failure.
func interpolate(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	return interpRE.ReplaceAllStringFunc(s, func(m string) string {
		g := interpRE.FindStringSubmatch(m)
		v, ok := vars[g[1]]
		switch {
		case ok && v != "":
			return v
		case strings.HasSuffix(g[2], "-"):
			return g[3]
		case strings.HasSuffix(g[2], "?"):
			t.Errorf("required variable %s is not in deploy/env.example (%s)", g[1], g[3])
			return ""
		default:
			return v
		}
	})
}

func gatewayServices(c composeFile) []string {
	var names []string
	for name, s := range c.Services {
		if slices.Contains(s.Command, "serve") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func TestComposeImagesPinned(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Image == "" {
			t.Errorf("service %s: no image", name)
			continue
		}
		_, tag, ok := strings.Cut(s.Image[strings.LastIndex(s.Image, "/")+1:], ":")
		if !ok || tag == "" || tag == "latest" || strings.Contains(tag, "$") {
			t.Errorf("service %s: image %q is not pinned to a version tag", name, s.Image)
		}
	}
	for _, line := range strings.Split(string(read(t, "Dockerfile")), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		img := f[1]
		_, tag, ok := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
		if !ok || tag == "latest" {
			t.Errorf("Dockerfile: base image %q is not pinned", img)
		}
	}
}

func TestDockerfileRunsAsNonRoot(t *testing.T) {
	df := string(read(t, "Dockerfile"))
	stages := strings.Split(df, "\nFROM ")
	final := stages[len(stages)-1]
	m := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(final, -1)
	if len(m) == 0 {
		t.Fatal("Dockerfile: final stage has no USER")
	}
	if u := m[len(m)-1][1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Fatalf("Dockerfile: final stage runs as %q", u)
	}
	if !strings.Contains(df, "CGO_ENABLED=0") || !strings.Contains(final, "distroless/static") {
		t.Fatal("Dockerfile: want a static binary on a distroless/static base")
	}
}

func TestComposeStackShape(t *testing.T) {
	c := loadCompose(t)
	for _, want := range []string{"mongodb", "mongodb-init", "rocketchat", "redis", "nginx"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	if gws := gatewayServices(c); len(gws) != 2 {
		t.Errorf("want two gateway replicas, got %v", gws)
	}
	if init := c.Services["mongodb-init"]; !strings.Contains(strings.Join(init.Command, " "), "rs.initiate") {
		t.Error("mongodb-init does not initiate the replica set")
	}
	if !slices.Contains(c.Services["mongodb"].Command, "--replSet") {
		t.Error("mongodb does not start with --replSet")
	}
	rc := c.Services["rocketchat"].Environment
	if !strings.Contains(rc["MONGO_URL"], "replicaSet=rs0") {
		t.Errorf("rocketchat MONGO_URL %q lacks replicaSet=rs0", rc["MONGO_URL"])
	}
	want := map[string]string{
		"OVERWRITE_SETTING_Show_Setup_Wizard":                                     "completed",
		"OVERWRITE_SETTING_API_Enable_Rate_Limiter":                               "false",
		"OVERWRITE_SETTING_Accounts_TwoFactorAuthentication_Enabled":              "false",
		"OVERWRITE_SETTING_Accounts_TwoFactorAuthentication_By_Email_Auto_Opt_In": "false",
	}
	for k, v := range want {
		if rc[k] != v {
			t.Errorf("rocketchat %s = %q, want %q", k, rc[k], v)
		}
	}
	for _, k := range []string{"ADMIN_USERNAME", "ADMIN_PASS", "CREATE_TOKENS_FOR_USERS_SECRET", "ROOT_URL"} {
		if rc[k] == "" {
			t.Errorf("rocketchat %s not set", k)
		}
	}
}

// TestGatewayConfigValidates loads the mounted deploy/rcgateway.yaml with exactly the
// environment compose gives each replica (interpolated from deploy/env.example), and
// checks it validates, that every RCGW_ variable is one the gateway reads, and that the
// gateway and Rocket.Chat agree on the agent and the createToken secret.
func TestGatewayConfigValidates(t *testing.T) {
	c := loadCompose(t)
	vars := operatorEnv(t)
	known := map[string]bool{config.EnvConfigPath: true}
	for _, k := range config.Keys() {
		known[k[1]] = true
		known[k[1]+"_FILE"] = true
	}
	rcEnv := map[string]string{}
	for k, v := range c.Services["rocketchat"].Environment {
		rcEnv[k] = interpolate(t, v, vars)
	}
	for _, name := range gatewayServices(c) {
		s := c.Services[name]
		var mounted string
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && strings.HasSuffix(parts[0], ".yaml") {
				mounted = filepath.Join(root(t), filepath.FromSlash(strings.TrimPrefix(parts[0], "./")))
				if i := slices.Index(s.Command, "-config"); i < 0 || i+1 >= len(s.Command) || s.Command[i+1] != parts[1] {
					t.Errorf("%s: command %v does not read the mounted config %s", name, s.Command, parts[1])
				}
			}
		}
		if mounted == "" {
			t.Fatalf("%s: no config file mounted", name)
		}
		var environ []string
		for k, v := range s.Environment {
			if strings.HasPrefix(k, config.EnvPrefix) && !known[k] {
				t.Errorf("%s: %s is not a variable the gateway reads", name, k)
			}
			environ = append(environ, k+"="+interpolate(t, v, vars))
		}
		cfg, err := config.Load(mounted, environ)
		if err != nil {
			t.Fatalf("%s: load %s: %v", name, mounted, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: config does not validate:\n%v", name, err)
		}
		if cfg.Redis.URL == "" {
			t.Errorf("%s: replicas need redis.url", name)
		}
		if cfg.RocketChat.Admin.Username != rcEnv["ADMIN_USERNAME"] {
			t.Errorf("%s: agent %q, Rocket.Chat creates %q", name, cfg.RocketChat.Admin.Username, rcEnv["ADMIN_USERNAME"])
		}
		if cfg.RocketChat.Admin.Password.Value() != rcEnv["ADMIN_PASS"] {
			t.Errorf("%s: agent password differs from Rocket.Chat's ADMIN_PASS", name)
		}
		if cfg.UserTokens.CreateTokenSecret.Value() != rcEnv["CREATE_TOKENS_FOR_USERS_SECRET"] {
			t.Errorf("%s: create_token_secret differs from CREATE_TOKENS_FOR_USERS_SECRET", name)
		}
		// The file alone must not carry secrets.
		bare, err := config.Load(mounted, nil)
		if err != nil {
			t.Fatalf("load %s without env: %v", mounted, err)
		}
		if bare.RocketChat.Admin.Password.IsSet() || bare.Auth.JWT.HS256Secret.IsSet() || bare.UserTokens.CreateTokenSecret.IsSet() {
			t.Errorf("%s holds a secret; pass secrets through the environment", mounted)
		}
	}
}

// TestConfigCheckCommand runs `rcgateway config check` on the mounted file with one
// replica's environment, as an operator would before `docker compose up`.
func TestConfigCheckCommand(t *testing.T) {
	c := loadCompose(t)
	vars := operatorEnv(t)
	gws := gatewayServices(c)
	if len(gws) == 0 {
		t.Fatal("no gateway service")
	}
	s := c.Services[gws[0]]
	bin := filepath.Join(t.TempDir(), "rcgateway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rcgateway")
	build.Dir = root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/rcgateway: %v\n%s", err, out)
	}
	check := func(vars map[string]string) (string, error) {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, config.EnvPrefix) {
				env = append(env, kv)
			}
		}
		for k, v := range s.Environment {
			env = append(env, k+"="+interpolate(t, v, vars))
		}
		cmd := exec.Command(bin, "config", "check", "-config", filepath.Join(root(t), "deploy", "rcgateway.yaml"))
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// deploy/env.example copied unedited is refused, each example secret named by key.
	example := envExample(t)
	out, err := check(example)
	if err == nil {
		t.Fatalf("rcgateway config check accepts the example secrets of deploy/env.example:\n%s", out)
	}
	for _, key := range []string{"rocketchat.admin.password", "user_tokens.create_token_secret", "auth.jwt.hs256_secret", "auth.api_keys[0]"} {
		if !strings.Contains(out, key+": "+config.ErrExampleSecret.Error()) {
			t.Errorf("config check does not name %s as an example value:\n%s", key, out)
		}
	}
	for _, k := range []string{"RC_ADMIN_PASS", "RCGW_JWT_SECRET", "RC_CREATE_TOKENS_SECRET", "RCGW_API_KEY"} {
		if strings.Contains(out, example[k]) {
			t.Fatalf("rcgateway config check printed the example secret %s:\n%s", k, out)
		}
	}
	out, err = check(vars)
	if err != nil {
		t.Fatalf("rcgateway config check: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "configuration OK") {
		t.Fatalf("rcgateway config check did not say OK:\n%s", out)
	}
	for _, secret := range []string{vars["RC_ADMIN_PASS"], vars["RCGW_JWT_SECRET"], vars["RC_CREATE_TOKENS_SECRET"], vars["RCGW_API_KEY"]} {
		if strings.Contains(string(out), secret) {
			t.Fatalf("rcgateway config check printed a secret:\n%s", out)
		}
	}
}

// TestNginxConfig checks the proxy settings SignalR needs and runs nginx -t on a copy
// whose upstream host names point at 127.0.0.1 (compose's service names do not resolve
// here), with a temporary prefix.
func TestNginxConfig(t *testing.T) {
	conf := string(read(t, "deploy/nginx.conf"))
	for _, want := range []string{
		"proxy_set_header Upgrade $http_upgrade;",
		"proxy_set_header Connection $connection_upgrade;",
		"proxy_http_version 1.1;",
		"ip_hash;",
		"proxy_buffering off;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("deploy/nginx.conf lacks %q", want)
		}
	}
	c := loadCompose(t)
	for _, gw := range gatewayServices(c) {
		if !strings.Contains(conf, "server "+gw+":8080") {
			t.Errorf("deploy/nginx.conf does not proxy to %s:8080", gw)
		}
	}
	for _, v := range c.Services["nginx"].Volumes {
		if !strings.HasPrefix(v, "./deploy/nginx.conf:") {
			t.Errorf("nginx mounts %q; want ./deploy/nginx.conf", v)
		}
	}

	nginx := nginxBinary(t)
	dir := t.TempDir()
	path := localNginxConf(t, conf, dir, c, "127.0.0.1:8080", "")
	cmd := exec.Command(nginx, "-t", "-p", dir, "-c", path,
		"-g", "pid "+filepath.Join(dir, "nginx.pid")+"; error_log "+filepath.Join(dir, "error.log")+";")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t did not report success:\n%s", out)
	}
}

func nginxBinary(t *testing.T) string {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/bin/nginx"} {
			if _, err := os.Stat(p); err == nil {
				nginx = p
			}
		}
	}
	if nginx == "" {
		t.Fatal("nginx not found: run `make deps` (apt-get install nginx)")
	}
	if _, err := os.Stat("/etc/nginx/mime.types"); err != nil {
		t.Fatal("/etc/nginx/mime.types missing: run `make deps` (apt-get install nginx)")
	}
	return nginx
}

// localNginxConf writes a copy of conf into dir that runs here: the gateway replicas
// (compose service names do not resolve here) become upstream, temp paths and the access
// log go under dir, and, when listen is set, the server listens there instead of port 80.
func localNginxConf(t *testing.T, conf, dir string, c composeFile, upstream, listen string) string {
	t.Helper()
	local := conf
	for _, gw := range gatewayServices(c) {
		local = strings.ReplaceAll(local, "server "+gw+":8080", "server "+upstream)
	}
	if !strings.Contains(local, "access_log /var/log/nginx/access.log rcgw;") {
		t.Fatal("deploy/nginx.conf: want `access_log /var/log/nginx/access.log rcgw;`")
	}
	local = strings.Replace(local, "access_log /var/log/nginx/access.log rcgw;", "access_log "+filepath.Join(dir, "access.log")+" rcgw;", 1)
	if listen != "" {
		if !strings.Contains(local, "listen 80;") {
			t.Fatal("deploy/nginx.conf: want `listen 80;`")
		}
		local = strings.Replace(local, "listen 80;", "listen "+listen+";", 1)
	}
	// Temp paths under the prefix so nginx needs no write access to /var.
	temp := "http {\n"
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		temp += "    " + p + "_temp_path " + filepath.Join(dir, p) + ";\n"
	}
	local = strings.Replace(local, "http {\n", temp, 1)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNginxKeepsTokensAndOperationsInside runs deploy/nginx.conf in a real nginx in front
// of a stand-in gateway: /metrics and /version are not reachable through it, the hub still
// gets its access_token, the access log never records the token, JS assets are gzipped
// on request and SSE is not.
func TestNginxKeepsTokensAndOperationsInside(t *testing.T) {
	jsAsset := strings.Repeat("export const answer = () => 42;\n", 200)
	nginx := nginxBinary(t)
	conf := string(read(t, "deploy/nginx.conf"))
	c := loadCompose(t)
	var mu sync.Mutex
	var seen []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI())
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, ".js"):
			w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
			_, _ = io.WriteString(w, jsAsset)
		case r.Header.Get("Accept") == "text/event-stream":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: "+strings.Repeat("x", 4096)+"\n\n")
		default:
			_, _ = io.WriteString(w, "gateway")
		}
	}))
	defer upstream.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	path := localNginxConf(t, conf, dir, c, strings.TrimPrefix(upstream.URL, "http://"), addr)
	cmd := exec.Command(nginx, "-p", dir, "-c", path,
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+"; error_log "+filepath.Join(dir, "error.log")+";")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: finishes and logs what it has
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	defer stop()
	// Wait until nginx accepts, or fail if it exits.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nginx exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not accept on %s: %v\n%s", addr, err, stderr.String())
		}
	}

	const token = "eyJhbGciOiJIUzI1NiJ9.secret-jwt-payload.signature"
	get := func(p string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get("/signalr?id=c1&access_token=" + token); st != 200 || body != "gateway" {
		t.Fatalf("hub request through nginx: %d %q", st, body)
	}
	if st, body := get("/api/im/me?access_token=" + token); st != 200 || body != "gateway" {
		t.Fatalf("API request through nginx: %d %q", st, body)
	}
	for _, p := range []string{"/metrics", "/version", "/metrics?name=x", "//metrics", "/%6detrics"} {
		if st, body := get(p); st != http.StatusNotFound || body == "gateway" {
			t.Errorf("GET %s through nginx: %d %q, want nginx's 404", p, st, body)
		}
	}
	// A JS asset the upstream sent uncompressed comes back gzipped when asked for; an SSE
	// stream never does (gzip would buffer it).
	fetch := func(p, accept string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+p, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	js := fetch("/assets/index-abc123.js", "")
	if js.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(js.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("JS asset through nginx: Content-Encoding %q, Vary %q; want gzip, Accept-Encoding", js.Header.Get("Content-Encoding"), js.Header.Get("Vary"))
	} else if zr, err := gzip.NewReader(js.Body); err != nil {
		t.Errorf("JS asset: %v", err)
	} else if b, _ := io.ReadAll(zr); string(b) != jsAsset {
		t.Errorf("JS asset gunzipped to %d bytes, want the upstream's %d", len(b), len(jsAsset))
	}
	if sse := fetch("/signalr?id=c2", "text/event-stream"); sse.Header.Get("Content-Encoding") != "" {
		t.Errorf("SSE through nginx: Content-Encoding %q, want none", sse.Header.Get("Content-Encoding"))
	}

	mu.Lock()
	gotToken := false
	for _, u := range seen {
		gotToken = gotToken || strings.Contains(u, "access_token="+token)
		if strings.Contains(u, "metrics") || strings.Contains(u, "version") {
			t.Errorf("nginx passed %s to the gateway", u)
		}
	}
	mu.Unlock()
	if !gotToken {
		t.Errorf("the gateway did not get the hub's access_token: %v", seen)
	}
	stop()
	logged, err := os.ReadFile(filepath.Join(dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "GET /signalr HTTP/1.1") {
		t.Errorf("access log lacks the hub request:\n%s", logged)
	}
	if strings.Contains(string(logged), "secret-jwt-payload") || strings.Contains(string(logged), "access_token") {
		t.Errorf("access log records the token:\n%s", logged)
	}
}
