package gateway

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIMatchesRoutes keeps openapi.yaml equal to the routes Echo serves. Left out on
// purpose: the SignalR hub (its own protocol), the web UI catch-all and the /api/* 404.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t, nil)
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	spec := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			spec[strings.ToUpper(m)+" "+p] = true
		}
	}
	param := regexp.MustCompile(`:([A-Za-z]+)`)
	served := map[string]bool{}
	for _, r := range f.srv.echo().Routes() {
		p := r.Path
		if strings.HasPrefix(p, f.cfg.Hub.Path) || p == "/*" || p == "/api/*" || r.Method == "echo_route_not_found" {
			continue
		}
		p = param.ReplaceAllString(p, "{$1}")
		p = strings.Replace(p, "/api/v1/*", "/api/v1/{endpoint}", 1)
		served[r.Method+" "+p] = true
	}
	var missing, extra []string
	for k := range served {
		if !spec[k] {
			missing = append(missing, k)
		}
	}
	for k := range spec {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("openapi.yaml out of date:\n served but not documented: %v\n documented but not served: %v", missing, extra)
	}
	if len(served) < 25 {
		t.Fatalf("only %d routes seen", len(served))
	}
	// And it is served.
	var out map[string]any
	if st := f.do("GET", "/openapi.yaml", "", nil, nil); st != 200 {
		t.Fatalf("GET /openapi.yaml: %d", st)
	}
	_ = out
}

// TestImportGraph holds the package edges of ARCHITECTURE.md / house-style §6.1.
func TestImportGraph(t *testing.T) {
	const mod = "github.com/rcgateway/rcgateway/"
	type rule struct {
		pkg, forbidden, why string
	}
	rules := []rule{
		{"config", "github.com/labstack/echo", "config knows no HTTP framework"},
		{"config", mod, "config depends on no other package of the module"},
		{"config", "github.com/redis/rueidis", "config knows no Redis client"},
		{"session", "github.com/labstack/echo", "only gateway imports Echo"},
		{"session", mod + "config", "session gets Options, not the config file"},
		{"session", mod + "gateway", "session must not know HTTP"},
		{"session", "github.com/redis/rueidis", "Redis lives in session/redisstore"},
		{"push", "github.com/labstack/echo", "only gateway imports Echo"},
		{"push", mod + "rocketchat", "push knows nothing of Rocket.Chat"},
		{"push", mod + "session", "push knows nothing of sessions"},
		{"push", mod + "config", "push gets Options, not the config file"},
		{"push", "github.com/redis/rueidis", "Redis lives in push/redisbackplane"},
		{"rocketchat", "github.com/labstack/echo", "only gateway imports Echo"},
		{"rocketchat", mod + "push", "rocketchat knows nothing of SignalR"},
		{"rocketchat", mod + "session", "rocketchat knows no session policy"},
		{"rocketchat", mod + "config", "rocketchat gets Options, not the config file"},
		{"rocketchat/rctest", mod + "rocketchat", "the simulator must not share the client's types"},
		{"web", mod, "web embeds the UI and imports nothing of the module"},
		{"web", "github.com/labstack/echo", "only gateway imports Echo"},
	}
	deps := map[string][]string{}
	for _, r := range rules {
		if _, done := deps[r.pkg]; done {
			continue
		}
		out, err := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Error", "./"+r.pkg).Output()
		if err != nil {
			t.Fatalf("go list ./%s: %v", r.pkg, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(out)))
		var list []string
		exists := false
		for dec.More() {
			var p struct {
				ImportPath string
				Error      *struct{ Err string }
			}
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.ImportPath == mod+r.pkg {
				exists = p.Error == nil
				continue
			}
			list = append(list, p.ImportPath)
		}
		if !exists {
			list = nil // package not written yet (or broken): nothing to hold
		}
		deps[r.pkg] = list
	}
	for _, r := range rules {
		for _, d := range deps[r.pkg] {
			if d == r.forbidden || strings.HasPrefix(d, r.forbidden) && (strings.HasSuffix(r.forbidden, "/") || strings.HasPrefix(d, r.forbidden+"/")) {
				if strings.HasPrefix(d, mod+r.pkg+"/") {
					continue // own subpackage
				}
				t.Errorf("%s imports %s: %s", r.pkg, d, r.why)
			}
		}
	}
	// Echo is imported by gateway only.
	out, err := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "../...").Output()
	if err != nil {
		t.Fatalf("go list ../...: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] == mod+"gateway" {
			continue
		}
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, "github.com/labstack/echo") {
				t.Errorf("%s imports %s: only gateway imports Echo", fields[0], imp)
			}
		}
	}
}
