package drill

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A run killed by go test's timeout runs no cleanup; the next run deletes
// its namespaces and links, and leaves alone those of a live process.
func TestNewNetworkRemovesWhatDeadRunsLeft(t *testing.T) {
	ip, err := LookIP()
	if err != nil {
		t.Skip(err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A pid that no process has any more.
	exited := exec.Command("true")
	require.NoError(t, exited.Run())
	dead := strconv.Itoa(exited.Process.Pid)

	staleNS, staleBridge := nsPrefix+dead+"a-worker-1", bridgePrefix+dead+"a"
	require.NoError(t, runIP(ctx, ip, "netns", "add", staleNS))
	require.NoError(t, runIP(ctx, ip, "link", "add", staleBridge, "type", "bridge"))
	t.Cleanup(func() {
		_ = runIP(context.Background(), ip, "netns", "del", staleNS)
		_ = runIP(context.Background(), ip, "link", "del", staleBridge)
	})

	n, err := NewNetwork(ctx, ip)
	require.NoError(t, err)
	t.Cleanup(n.Close)
	h, err := n.AddHost(ctx, "probe", 2)
	require.NoError(t, err)

	list := func(args ...string) string {
		out, err := exec.CommandContext(ctx, ip, args...).Output()
		require.NoError(t, err)
		return string(out)
	}
	require.NotContains(t, list("netns", "list"), staleNS)
	require.NotContains(t, list("-o", "link"), staleBridge+":")
	require.Contains(t, list("netns", "list"), h.NS, "the live run's namespace stays")
	require.Contains(t, list("-o", "link"), n.Bridge+":")

	n.Close()
	require.NotContains(t, list("netns", "list"), h.NS)
	require.NotContains(t, list("-o", "link"), n.Bridge+":")
	require.False(t, strings.Contains(list("-o", "link"), h.Veth+"@"), "the veth went with its namespace")
}
