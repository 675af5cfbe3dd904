package realtime

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/bus/bustest"
	"github.com/madbase/madbase/shared/config"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// projectWorker is a worker serving a created project (Options.Tenant).
func (c *cluster) projectWorker(t *testing.T, id, ref string) *testWorker {
	nc, err := nats.Connect(c.ns.URL())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	svc := New(Options{Config: config.Realtime{}, JWTSecret: testSecret, Pool: c.pool, NATS: nc,
		BaseContext: ctx, WorkerID: id, Tenant: ref})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	svc.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	w := &testWorker{svc: svc, addr: ln.Addr().String(), nc: nc, cancel: cancel}
	t.Cleanup(func() {
		cancel()
		_ = app.ShutdownWithTimeout(2 * time.Second)
		svc.Wait()
		nc.Close()
	})
	return w
}

// A created project's WAL reader runs only while some worker has channels:
// it follows the subscribers across the fleet, stops when the last one
// leaves (slot inactive, lock free), and a later reader resumes from the
// persistent slot without losing what was committed meanwhile.
func TestProjectWALReaderFollowsSubscribers(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, true)
	cl.exec(t, `create table notes (id int primary key, body text);
		grant select on notes to anon;
		alter publication supabase_realtime add table notes`)
	w1, w2 := cl.projectWorker(t, "w1", "rtlife"), cl.projectWorker(t, "w2", "rtlife")
	ctx := context.Background()
	activeSlots := func() int {
		var n int
		require.NoError(t, cl.pool.QueryRow(ctx, `select count(*) from pg_replication_slots
			where database = current_database() and active`).Scan(&n))
		return n
	}
	lockHeld := func() bool {
		var n int
		require.NoError(t, cl.pool.QueryRow(ctx, `select count(*) from pg_locks where locktype = 'advisory'
			and database = (select oid from pg_database where datname = current_database())
			and ((classid::bigint << 32) | objid::bigint) = $1`, walLockKey).Scan(&n))
		return n > 0
	}
	sub := map[string]any{"event": "INSERT", "schema": "public", "table": "notes"}
	key := anonKey(t)
	// got waits for the insert of note id on c's topic.
	got := func(c *client, topic string, id int) {
		c.wait("note "+itoa(id), func(f []any) bool {
			if f[2] != topic || f[3] != "postgres_changes" {
				return false
			}
			rec, _ := f[4].(map[string]any)["data"].(map[string]any)["record"].(map[string]any)
			return rec["id"] == float64(id)
		})
	}
	stopped := func(what string) {
		bustest.Eventually(t, 15*time.Second, func() bool {
			return activeSlots() == 0 && !lockHeld() && !w1.svc.leading.Load() && !w2.svc.leading.Load()
		}, "%s", what)
	}

	// Nobody subscribed: nothing reads.
	require.Zero(t, activeSlots())
	require.False(t, lockHeld())

	// A subscriber on w1: w1 reads.
	c1 := dial(t, w1, key)
	r1 := pgJoin(c1, "realtime:a", "", sub)
	bustest.Eventually(t, 15*time.Second, func() bool { return w1.svc.leading.Load() && activeSlots() == 1 && lockHeld() },
		"w1's reader did not start")
	require.False(t, w2.svc.leading.Load())
	cl.exec(t, `insert into notes values (1, 'one')`)
	got(c1, "realtime:a", 1)

	// A subscriber on w2 too: w1 keeps reading, w2 gets the changes over NATS.
	c2 := dial(t, w2, key)
	pgJoin(c2, "realtime:b", "", sub)
	cl.exec(t, `insert into notes values (2, 'two')`)
	got(c2, "realtime:b", 2)
	got(c1, "realtime:a", 2)
	require.True(t, w1.svc.leading.Load())

	// w1's last channel leaves: the reader moves to w2, which still has one.
	lv := c1.send(r1, "realtime:a", "phx_leave", map[string]any{})
	require.Equal(t, "ok", c1.reply(lv)["status"])
	bustest.Eventually(t, 15*time.Second, func() bool { return w2.svc.leading.Load() && !w1.svc.leading.Load() },
		"the reader did not move to w2")
	cl.exec(t, `insert into notes values (3, 'three')`)
	got(c2, "realtime:b", 3)

	// The last subscriber of the fleet goes (its socket closes): nobody reads,
	// the slot stays.
	require.NoError(t, c2.conn.Close())
	stopped("the reader did not stop after the last subscriber left")
	var slots int
	require.NoError(t, cl.pool.QueryRow(ctx, `select count(*) from pg_replication_slots
		where database = current_database()`).Scan(&slots))
	require.Equal(t, 1, slots, "the persistent slot is kept")

	// Committed while nobody reads, delivered once a subscriber is back.
	cl.exec(t, `insert into notes values (4, 'four')`)
	c3 := dial(t, w1, key)
	pgJoin(c3, "realtime:c", "", sub)
	got(c3, "realtime:c", 4)
	cl.exec(t, `insert into notes values (5, 'five')`)
	got(c3, "realtime:c", 5)
	require.True(t, w1.svc.leading.Load())
	// What the earlier readers published is not delivered again.
	bustest.Eventually(t, 10*time.Second, func() bool { return len(changeFrames(c3, "realtime:c")) >= 2 }, "changes")
	require.Len(t, changeFrames(c3, "realtime:c"), 2, "only notes 4 and 5")

	// A presence- or broadcast-only channel also wants the reader: a
	// database broadcast reaches it.
	require.NoError(t, c3.conn.Close())
	stopped("the reader did not stop again")
	c4 := dial(t, w2, key)
	c4.mustJoin("realtime:room", map[string]any{})
	cl.exec(t, `select realtime.send('{"n":6}', 'ev', 'room', false)`)
	c4.wait("database broadcast", event("realtime:room", "broadcast"))
}
