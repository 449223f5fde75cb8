package web

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fence matches a fenced code block of docs/vue-guide.md: the info string (language and,
// for code, the example file it comes from) and the body.
var fence = regexp.MustCompile("(?ms)^```([^\\n]*)\\n(.*?)^```\\s*$")

// TestVueGuideSnippetsAreTheExample keeps the guide honest: every code snippet of
// docs/vue-guide.md (other than shell commands) names an example file and is a verbatim
// part of it, so the code TestMinimalExampleInChromium runs is the code the guide shows.
func TestVueGuideSnippetsAreTheExample(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join("..", "docs", "vue-guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := fence.FindAllStringSubmatch(string(guide), -1)
	checked := 0
	for _, b := range blocks {
		info := strings.Fields(b[1])
		if len(info) > 0 && info[0] == "sh" {
			continue
		}
		if len(info) != 2 || !strings.HasPrefix(info[1], "web/examples/minimal/") {
			t.Errorf("snippet %q names no example file (want ```lang web/examples/minimal/<file>)", b[1])
			continue
		}
		src, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(info[1])))
		if err != nil {
			t.Errorf("snippet from %s: %v", info[1], err)
			continue
		}
		if !strings.Contains(string(src), b[2]) {
			t.Errorf("snippet is not part of %s:\n%s", info[1], b[2])
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d snippets checked; the guide should show the example's code", checked)
	}
}
