package projects

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/bus/embedded"
	"github.com/madbase/madbase/shared/logging"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOrigins(t *testing.T) {
	for _, c := range []struct {
		settings map[string]string
		want     []string
	}{
		{nil, nil},
		{map[string]string{"DB_MAX_ROWS": "5"}, nil},
		{map[string]string{"ALLOWED_ORIGINS": ""}, nil},
		{map[string]string{"ALLOWED_ORIGINS": "  "}, nil},
		{map[string]string{"ALLOWED_ORIGINS": "*"}, []string{"*"}},
		{map[string]string{"ALLOWED_ORIGINS": " https://a.example, ,https://b.example "}, []string{"https://a.example", "https://b.example"}},
	} {
		assert.Equal(t, c.want, Origins(c.settings), "%v", c.settings)
	}
}

// applied records what a watcher hands over.
type applied struct {
	mu   sync.Mutex
	last map[string][]string
	n    int
}

func (a *applied) apply(m map[string][]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last, a.n = m, a.n+1
}

func (a *applied) get() (map[string][]string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last, a.n
}

// A NATS server without JetStream holds no projects: the edge forgets the
// ones it had when the server it reconnects to has no JetStream.
func TestNoJetStreamNoProjects(t *testing.T) {
	ns, err := embedded.Start(embedded.Options{})
	require.NoError(t, err)
	port := ns.Addr().(*net.TCPAddr).Port
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			ns.Stop()
		}
	})
	nc, err := bus.Connect(ns.ClientURL(), "test edge", logging.Discard())
	require.NoError(t, err)
	t.Cleanup(nc.Close)

	var got applied
	w := New(nc, nil, "default", got.apply)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	kv, err := js.CreateOrUpdateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: bus.ProjectsBucket, History: 1})
	require.NoError(t, err)
	b, _ := json.Marshal(bus.ProjectConfig{ID: "id-a", Ref: "alpha", Revision: 1, Settings: map[string]string{"ALLOWED_ORIGINS": "https://a.example"}})
	_, err = kv.Put(context.Background(), "alpha", b)
	require.NoError(t, err)
	b, _ = json.Marshal(bus.ProjectConfig{ID: "id-d", Ref: "default", Revision: 1, Settings: map[string]string{"ALLOWED_ORIGINS": "https://d.example"}})
	_, err = kv.Put(context.Background(), "default", b)
	require.NoError(t, err)
	bustest.Eventually(t, 30*time.Second, func() bool {
		m, _ := got.get()
		return len(m["alpha"]) == 1
	}, "alpha's origins applied")
	m, _ := got.get()
	assert.Equal(t, map[string][]string{"alpha": {"https://a.example"}}, m, "the default project's ref is never taken")

	ns.Stop()
	stopped = true
	plain, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go plain.Start()
	t.Cleanup(plain.Shutdown)
	require.True(t, plain.ReadyForConnections(10*time.Second))
	bustest.Eventually(t, 30*time.Second, func() bool {
		m, n := got.get()
		return n > 1 && len(m) == 0
	}, "no projects without JetStream")
}
