package gateway

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rcgateway/rcgateway/internal/apitest"
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
	// And it is served, as written.
	st, body := apitest.Do(t, "GET", f.http.URL+"/openapi.yaml", "", nil, nil)
	if st != 200 || !bytes.Equal(body, OpenAPI()) {
		t.Fatalf("GET /openapi.yaml: %d, %d bytes; want the %d bytes of openapi.yaml", st, len(body), len(OpenAPI()))
	}
}

// TestImportGraph holds the package edges of ARCHITECTURE.md / house-style §6.1 for every
// package of each tree (push/..., session/..., rocketchat/..., config/..., web), and fails
// when a package does not load: a broken package must not pass for one with clean edges.
func TestImportGraph(t *testing.T) {
	const mod = "github.com/rcgateway/rcgateway/"
	type rule struct {
		tree, forbidden, why string
		direct               bool     // only direct imports (else every transitive dependency)
		except               []string // subpackages of tree the rule does not bind
	}
	rules := []rule{
		{tree: "config", forbidden: "github.com/labstack/echo", why: "config knows no HTTP framework"},
		{tree: "config", forbidden: mod, why: "config depends on no other package of the module"},
		{tree: "config", forbidden: "github.com/redis/rueidis", why: "config knows no Redis client"},
		{tree: "session", forbidden: "github.com/labstack/echo", why: "only gateway imports Echo"},
		{tree: "session", forbidden: mod + "config", why: "session gets Options, not the config file"},
		{tree: "session", forbidden: mod + "gateway", why: "session must not know HTTP"},
		{tree: "session", forbidden: "net/http", direct: true, why: "session must not know HTTP: Rocket.Chat calls go through rocketchat"},
		{tree: "session", forbidden: "github.com/redis/rueidis", why: "Redis lives in session/redisstore", except: []string{"session/redisstore"}},
		{tree: "push", forbidden: "github.com/labstack/echo", why: "only gateway imports Echo"},
		{tree: "push", forbidden: mod + "rocketchat", why: "push knows nothing of Rocket.Chat"},
		{tree: "push", forbidden: mod + "session", why: "push knows nothing of sessions"},
		{tree: "push", forbidden: mod + "config", why: "push gets Options, not the config file"},
		{tree: "push", forbidden: mod + "gateway", why: "push knows nothing of the gateway"},
		{tree: "push", forbidden: "github.com/redis/rueidis", why: "Redis lives in push/redisbackplane", except: []string{"push/redisbackplane"}},
		{tree: "rocketchat", forbidden: "github.com/labstack/echo", why: "only gateway imports Echo"},
		{tree: "rocketchat", forbidden: mod + "push", why: "rocketchat knows nothing of SignalR"},
		{tree: "rocketchat", forbidden: mod + "session", why: "rocketchat knows no session policy"},
		{tree: "rocketchat", forbidden: mod + "config", why: "rocketchat gets Options, not the config file"},
		{tree: "rocketchat", forbidden: mod + "gateway", why: "rocketchat knows nothing of the gateway"},
		{tree: "rocketchat/rctest", forbidden: mod + "rocketchat", why: "the simulator must not share the client's types"},
		{tree: "web", forbidden: mod, why: "web embeds the UI and imports nothing of the module"},
		{tree: "web", forbidden: "github.com/labstack/echo", why: "only gateway imports Echo"},
	}
	type pkg struct {
		ImportPath    string
		Imports, Deps []string
		Error         *struct{ Err string }
		DepsErrors    []struct{ Err string }
		Incomplete    bool
	}
	trees := map[string][]pkg{}
	for _, r := range rules {
		if _, done := trees[r.tree]; done {
			continue
		}
		out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,Error,DepsErrors,Incomplete", "../"+r.tree+"/...").Output()
		if err != nil {
			t.Fatalf("go list ../%s/...: %v", r.tree, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(out)))
		var list []pkg
		for dec.More() {
			var p pkg
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.Error != nil || len(p.DepsErrors) > 0 || p.Incomplete {
				t.Fatalf("package %s does not load: %+v %+v", p.ImportPath, p.Error, p.DepsErrors)
			}
			list = append(list, p)
		}
		if len(list) == 0 {
			t.Fatalf("go list ../%s/... found no package", r.tree)
		}
		trees[r.tree] = list
	}
	for _, r := range rules {
	pkgs:
		for _, p := range trees[r.tree] {
			for _, ex := range r.except {
				if p.ImportPath == mod+ex || strings.HasPrefix(p.ImportPath, mod+ex+"/") {
					continue pkgs
				}
			}
			deps := p.Deps
			if r.direct {
				deps = p.Imports
			}
			for _, d := range deps {
				if d == r.forbidden || strings.HasPrefix(d, r.forbidden) && (strings.HasSuffix(r.forbidden, "/") || strings.HasPrefix(d, r.forbidden+"/")) {
					if strings.HasPrefix(d, mod+r.tree+"/") || d == mod+r.tree {
						continue // its own tree
					}
					t.Errorf("%s imports %s: %s", p.ImportPath, d, r.why)
				}
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
