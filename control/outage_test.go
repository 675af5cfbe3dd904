package control_test

import (
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/control"
	"github.com/stretchr/testify/assert"
)

// Control starts and serves while NATS is away, and follows the workers'
// heartbeats once it is back.
func TestControlStartsWithNATSDown(t *testing.T) {
	t.Parallel()
	ns := bustest.RunRestartable(t)
	ns.Stop()
	in := startAt(t, ns.URL(), nil, control.Options{Dev: true})
	assert.Empty(t, in.workers(t).Workers, "the admin API answers while NATS is down")

	ns.Start()
	in.pub = bustest.Connect(t, ns.Server())
	beater(t, in, bus.Heartbeat{ID: "worker-a", URL: "http://127.0.0.1:9001", Version: "1"})
	bustest.Eventually(t, 10*time.Second, func() bool { return len(in.workers(t).Workers) == 1 }, "the worker is listed once NATS is back")
}
