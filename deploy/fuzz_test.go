package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJustFuzzRunsEveryTarget keeps `just fuzz` in step with the code: every
// fuzz target of the repository is run, from the package that holds it, and
// the recipe names no target that no longer exists.
func TestJustFuzzRunsEveryTarget(t *testing.T) {
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	want := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(b), -1) {
			want["./"+filepath.ToSlash(rel)+" "+m[1]] = true
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, want)

	b, err := os.ReadFile(filepath.Join(root, "justfile"))
	require.NoError(t, err)
	recipeLine := regexp.MustCompile(`go test (\S+) -run '\^\$' -fuzz '\^(Fuzz\w+)\$'`)
	got := map[string]bool{}
	for _, m := range recipeLine.FindAllStringSubmatch(string(b), -1) {
		got[m[1]+" "+m[2]] = true
	}
	for target := range want {
		assert.True(t, got[target], "`just fuzz` does not run %s", target)
	}
	for target := range got {
		assert.True(t, want[target], "`just fuzz` runs %s, which does not exist", target)
	}
}
