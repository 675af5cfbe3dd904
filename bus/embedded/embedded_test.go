package embedded

import (
	"os"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartServesAndStopCleansUp(t *testing.T) {
	s, err := Start(Options{})
	require.NoError(t, err)
	dir := s.tempDir
	require.DirExists(t, dir)
	nc, err := nats.Connect(s.URL())
	require.NoError(t, err)
	js, err := nc.JetStream()
	require.NoError(t, err)
	_, err = js.AccountInfo()
	assert.NoError(t, err, "JetStream is on")
	nc.Close()
	s.Stop()
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "temporary store left behind")
}

func TestStoreDirIsKept(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(Options{StoreDir: dir})
	require.NoError(t, err)
	s.Stop()
	assert.DirExists(t, dir)
}
