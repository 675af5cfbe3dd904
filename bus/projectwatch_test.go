package bus_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// watchLog records what WatchProjects hands over.
type watchLog struct {
	mu     sync.Mutex
	events []string
}

func (l *watchLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, s)
}

func (l *watchLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e == s {
			return true
		}
	}
	return false
}

// TestWatchProjects: no bucket is told as such; the current values come
// as initial puts (an undecodable one skipped but present) before Synced;
// later puts and deletes follow.
func TestWatchProjects(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t)
	nc := bustest.Connect(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &watchLog{}
	ev := bus.ProjectEvents{
		Put: func(pc bus.ProjectConfig, initial bool) {
			log.add(map[bool]string{true: "initial ", false: ""}[initial] + "put " + pc.Ref)
		},
		Delete: func(ref string, initial bool) { log.add("delete " + ref) },
		Synced: func(present map[string]bool, noJetStream bool) {
			switch {
			case noJetStream:
				log.add("no jetstream")
			case present == nil:
				log.add("no bucket")
			default:
				log.add("synced " + map[bool]string{true: "alpha+broken", false: "?"}[present["alpha"] && present["broken"] && len(present) == 2])
			}
		},
	}
	done := make(chan error, 1)
	go func() { done <- bus.WatchProjects(ctx, nc, nil, ev) }()
	bustest.Eventually(t, 10*time.Second, func() bool { return log.has("no bucket") }, "no bucket not told")

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.ProjectsBucket})
	require.NoError(t, err)
	put := func(ref string) {
		b, err := json.Marshal(bus.ProjectConfig{ID: "id-" + ref, Ref: ref, Revision: 1})
		require.NoError(t, err)
		_, err = kv.Put(ctx, bus.ProjectKey(ref), b)
		require.NoError(t, err)
	}
	put("alpha")
	_, err = kv.Put(ctx, bus.ProjectKey("broken"), []byte("{"))
	require.NoError(t, err)
	bustest.Eventually(t, 10*time.Second, func() bool { return log.has("synced alpha+broken") }, "bucket not read")
	require.True(t, log.has("initial put alpha"))
	require.False(t, log.has("initial put broken"), "an undecodable value is skipped")

	put("beta")
	bustest.Eventually(t, 10*time.Second, func() bool { return log.has("put beta") }, "beta not put")
	require.NoError(t, kv.Delete(ctx, bus.ProjectKey("alpha")))
	bustest.Eventually(t, 10*time.Second, func() bool { return log.has("delete alpha") }, "alpha not deleted")

	cancel()
	require.NoError(t, <-done)
}
