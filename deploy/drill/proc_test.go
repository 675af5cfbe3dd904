package drill

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Start counts the process's output and reports its exit once Done closes.
func TestStartCountsOutputAndExit(t *testing.T) {
	dir := t.TempDir()
	p, err := Start("child", nil, exec.Command("sh", "-c", "echo one; echo two; exit 2"), filepath.Join(dir, "child.log"))
	require.NoError(t, err)
	<-p.Done()
	assert.True(t, p.Exited())
	var ee *exec.ExitError
	require.ErrorAs(t, p.ExitErr(), &ee)
	assert.Equal(t, 2, ee.ExitCode())
	lines, size := p.Log.Counts()
	assert.Equal(t, int64(2), lines)
	assert.Equal(t, int64(len("one\ntwo\n")), size)
	assert.Equal(t, []string{"two"}, p.Log.Grep("two"))
}

func TestStartNamesTheProcessOnFailure(t *testing.T) {
	_, err := Start("ghost", nil, exec.Command(filepath.Join(t.TempDir(), "missing")), filepath.Join(t.TempDir(), "ghost.log"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ghost: ")
}
