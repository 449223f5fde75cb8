// Package readme keeps README.md true to the code: its configuration table must list
// exactly the config package's keys, with their environment variables and defaults.
package readme

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rcgateway/rcgateway/config"
)

type row struct{ key, env, def string }

func readmeTable(t *testing.T) []row {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatalf("read README.md: %v", err)
	}
	s := string(b)
	start := strings.Index(s, "<!-- config-table:start -->")
	end := strings.Index(s, "<!-- config-table:end -->")
	if start < 0 || end < start {
		t.Fatal("README.md: config-table markers missing")
	}
	var rows []row
	for _, line := range strings.Split(s[start:end], "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 4 {
			t.Fatalf("README.md: config row %q has %d cells, want 4", line, len(cells))
		}
		clean := func(c string) string {
			c = strings.TrimSpace(c)
			if c == "—" || c == "-" {
				return ""
			}
			return strings.Trim(c, "`")
		}
		rows = append(rows, row{clean(cells[0]), clean(cells[1]), clean(cells[2])})
	}
	if len(rows) == 0 {
		t.Fatal("README.md: config table is empty")
	}
	return rows
}

func TestReadmeConfigKeysAndVariables(t *testing.T) {
	rows := readmeTable(t)
	inReadme := map[string]string{}
	for _, r := range rows {
		if _, dup := inReadme[r.key]; dup {
			t.Errorf("README.md lists %s twice", r.key)
		}
		inReadme[r.key] = r.env
	}
	inCode := map[string]bool{}
	for _, k := range config.Keys() {
		inCode[k[0]] = true
		env, ok := inReadme[k[0]]
		switch {
		case !ok:
			t.Errorf("README.md does not document %s (%s)", k[0], k[1])
		case env != k[1]:
			t.Errorf("README.md: %s variable %s, code reads %s", k[0], env, k[1])
		}
	}
	for _, r := range rows {
		if !inCode[r.key] {
			t.Errorf("README.md documents %s, which the config package does not have", r.key)
		}
	}
}

// TestReadmeConfigDefaults builds a Config from nothing but the README's default column
// (applied as environment variables, so "1h" and "60s" compare by value) and requires it
// to equal config.Default().
func TestReadmeConfigDefaults(t *testing.T) {
	var environ []string
	for _, r := range readmeTable(t) {
		if r.def != "" && r.env != "" {
			environ = append(environ, r.env+"="+r.def)
		}
	}
	var got config.Config
	if err := config.ApplyEnv(&got, environ, func(string) ([]byte, error) {
		return nil, os.ErrNotExist
	}); err != nil {
		t.Fatalf("README.md defaults do not parse: %v", err)
	}
	want := config.Default()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("README.md defaults differ from config.Default():\nREADME:\n%s\ncode:\n%s", got.YAML(), want.YAML())
	}
}
