package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEListsEveryVar keeps the README's configuration table in step
// with the structs: every variable a tier reads is documented with its
// default, and the table names no variable that nothing reads.
func TestREADMEListsEveryVar(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
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
			t.Errorf("README's configuration table lacks %s", v.Name)
			continue
		}
		want := v.Default
		if want == "" {
			want = "—"
		}
		if def != want {
			t.Errorf("README says %s defaults to %q; the code says %q", v.Name, def, want)
		}
		if v.Desc == "" {
			t.Errorf("%s has no desc tag", v.Name)
		}
	}
	for name := range documented {
		if !known[name] {
			t.Errorf("README documents %s, which no tier reads", name)
		}
	}
}
