package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsListEveryVar keeps the configuration reference
// (docs/configuration.md) in step with the structs: every variable a tier
// reads is documented with its default, and the table names no variable that
// nothing reads.
func TestDocsListEveryVar(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("read docs/configuration.md: %v", err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\| ([^|]*) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = strings.Trim(strings.TrimSpace(m[2]), "`")
	}
	known := map[string]bool{}
	for _, v := range Vars() {
		known[v.Name] = true
		def, ok := documented[v.Name]
		if !ok {
			t.Errorf("docs/configuration.md's table lacks %s", v.Name)
			continue
		}
		want := v.Default
		if want == "" {
			want = "—"
		}
		if def != want {
			t.Errorf("docs/configuration.md says %s defaults to %q; the code says %q", v.Name, def, want)
		}
		if v.Desc == "" {
			t.Errorf("%s has no desc tag", v.Name)
		}
	}
	for name := range documented {
		if !known[name] {
			t.Errorf("docs/configuration.md documents %s, which no tier reads", name)
		}
	}
}
