package lifecycle

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartHeldReportsExit(t *testing.T) {
	done := make(chan error, 1)
	require.NoError(t, StartHeld(exec.Command("sh", "-c", "exit 3"), func(err error) { done <- err }))
	err := <-done
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 3, ee.ExitCode())
}

func TestStartHeldReturnsStartError(t *testing.T) {
	called := false
	err := StartHeld(exec.Command("/nonexistent/madbase-no-such-binary"), func(error) { called = true })
	require.Error(t, err)
	assert.False(t, called)
}
