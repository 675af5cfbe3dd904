package realtime

import (
	"context"
	"testing"
	"time"

	"github.com/madbase/madbase/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const changesSchema = `
create table items (id bigint primary key, name text, qty int not null default 0, tags text[], meta jsonb);
alter table items replica identity full;
grant select on items to anon, authenticated;
create table secrets (id bigint primary key, owner text not null, body text);
alter table secrets enable row level security;
create policy own on secrets for select to authenticated using (owner = auth.jwt()->>'sub');
grant select on secrets to anon, authenticated;
create table unpublished (id int primary key);
create table partial (id bigint primary key, pub text, secret text);
revoke all on partial from anon;
grant select (id, pub) on partial to anon;
create table nokey (v int);
alter publication supabase_realtime add table items, secrets, partial, nokey;
`

func (c *cluster) exec(t *testing.T, sql string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.pool.Exec(ctx, sql)
	require.NoError(t, err)
}

func waitLeader(t *testing.T, ws ...*testWorker) *testWorker {
	var leader *testWorker
	bustest.Eventually(t, 15*time.Second, func() bool {
		for _, w := range ws {
			if w.svc.leading.Load() {
				leader = w
				return true
			}
		}
		return false
	}, "a WAL reader")
	return leader
}

func pgJoin(c *client, topic string, token string, subs ...map[string]any) string {
	list := make([]any, len(subs))
	for i, s := range subs {
		list[i] = s
	}
	p := map[string]any{"config": map[string]any{"postgres_changes": list}}
	if token != "" {
		p["access_token"] = token
	}
	ref, rep := c.join(topic, p)
	require.Equal(c.t, "ok", rep["status"], "%v", rep)
	echo := rep["response"].(map[string]any)["postgres_changes"].([]any)
	require.Len(c.t, echo, len(subs))
	for i, e := range echo {
		for k, v := range subs[i] {
			assert.Equal(c.t, v, e.(map[string]any)[k])
		}
		assert.NotNil(c.t, e.(map[string]any)["id"])
	}
	return ref
}

func changeFrames(c *client, topic string) []map[string]any {
	var out []map[string]any
	for _, f := range c.frames(event(topic, "postgres_changes")) {
		out = append(out, f[4].(map[string]any))
	}
	return out
}

func TestPostgresChangesFiltersAndRLS(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, true)
	cl.exec(t, changesSchema)
	wa, wb := cl.worker("a"), cl.worker("b")
	waitLeader(t, wa, wb)
	key := anonKey(t)

	// One channel per filter, alternating between the workers.
	filters := []struct {
		filter string
		want   []string // names of rows delivered (INSERTs)
	}{
		{"", []string{"one", "two", "three"}},
		{"qty=eq.2", []string{"two"}},
		{"qty=neq.2", []string{"one", "three"}},
		{"qty=lt.2", []string{"one"}},
		{"qty=lte.2", []string{"one", "two"}},
		{"qty=gt.2", []string{"three"}},
		{"qty=gte.2", []string{"two", "three"}},
		{"name=in.(one,three)", []string{"one", "three"}},
	}
	clients := make([]*client, len(filters))
	for i, f := range filters {
		w := wa
		if i%2 == 1 {
			w = wb
		}
		clients[i] = dial(t, w, key)
		sub := map[string]any{"event": "INSERT", "schema": "public", "table": "items"}
		if f.filter != "" {
			sub["filter"] = f.filter
		}
		topic := "realtime:f" + itoa(i)
		pgJoin(clients[i], topic, "", sub)
		clients[i].wait("subscribed", func(fr []any) bool {
			return fr[3] == "system" && fr[4].(map[string]any)["status"] == "ok"
		})
	}
	// An "*" subscriber on worker b sees every kind of change.
	all := dial(t, wb, key)
	pgJoin(all, "realtime:all", "", map[string]any{"event": "*", "schema": "public", "table": "items"})
	all.wait("subscribed", event("realtime:all", "system"))

	cl.exec(t, `insert into items (id, name, qty, tags, meta) values (1, 'one', 1, '{a,b}', '{"k":1}'), (2, 'two', 2, null, null), (3, 'three', 3, null, null)`)
	cl.exec(t, `update items set qty = 10 where id = 1`)
	cl.exec(t, `delete from items where id = 2`)

	for i, f := range filters {
		c, topic := clients[i], "realtime:f"+itoa(i)
		bustest.Eventually(t, 10*time.Second, func() bool { return len(changeFrames(c, topic)) >= len(f.want) }, "changes for %q", f.filter)
		var names []string
		for _, p := range changeFrames(c, topic) {
			names = append(names, p["data"].(map[string]any)["record"].(map[string]any)["name"].(string))
			assert.Len(t, p["ids"], 1)
		}
		assert.ElementsMatch(t, f.want, names, f.filter)
	}
	bustest.Eventually(t, 10*time.Second, func() bool { return len(changeFrames(all, "realtime:all")) == 5 }, "five changes")
	got := changeFrames(all, "realtime:all")
	ins := got[0]["data"].(map[string]any)
	assert.Equal(t, "INSERT", ins["type"])
	assert.Equal(t, "public", ins["schema"])
	assert.Equal(t, "items", ins["table"])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`, ins["commit_timestamp"])
	assert.Equal(t, map[string]any{"id": float64(1), "name": "one", "qty": float64(1), "tags": "{a,b}", "meta": map[string]any{"k": float64(1)}}, ins["record"])
	assert.Contains(t, ins["columns"], map[string]any{"name": "tags", "type": "_text"})
	upd := got[3]["data"].(map[string]any)
	assert.Equal(t, "UPDATE", upd["type"])
	assert.Equal(t, float64(1), upd["old_record"].(map[string]any)["qty"])
	assert.Equal(t, float64(10), upd["record"].(map[string]any)["qty"])
	del := got[4]["data"].(map[string]any)
	assert.Equal(t, "DELETE", del["type"])
	assert.Equal(t, "two", del["old_record"].(map[string]any)["name"])

	// RLS: each user sees only their own secrets; service_role sees both.
	alice, bob, svc := dial(t, wa, key), dial(t, wb, key), dial(t, wa, key)
	sub := map[string]any{"event": "INSERT", "schema": "public", "table": "secrets"}
	pgJoin(alice, "realtime:s", token(t, map[string]any{"role": "authenticated", "sub": "alice"}), sub)
	pgJoin(bob, "realtime:s", token(t, map[string]any{"role": "authenticated", "sub": "bob"}), sub)
	pgJoin(svc, "realtime:s", token(t, map[string]any{"role": "service_role"}), sub)
	for _, c := range []*client{alice, bob, svc} {
		c.wait("subscribed", event("realtime:s", "system"))
	}
	cl.exec(t, `insert into secrets values (1, 'alice', 'a'), (2, 'bob', 'b')`)
	bustest.Eventually(t, 10*time.Second, func() bool { return len(changeFrames(svc, "realtime:s")) == 2 }, "service role sees both")
	bustest.Eventually(t, 10*time.Second, func() bool {
		return len(changeFrames(alice, "realtime:s")) == 1 && len(changeFrames(bob, "realtime:s")) == 1
	}, "one secret each")
	assert.Equal(t, "a", changeFrames(alice, "realtime:s")[0]["data"].(map[string]any)["record"].(map[string]any)["body"])
	assert.Equal(t, "b", changeFrames(bob, "realtime:s")[0]["data"].(map[string]any)["record"].(map[string]any)["body"])
}

func TestPostgresChangesSubscriptionErrors(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, true)
	cl.exec(t, changesSchema)
	w := cl.worker("a")
	c := dial(t, w, anonKey(t))
	for i, tc := range []struct {
		sub  map[string]any
		want string
	}{
		{map[string]any{"event": "*", "schema": "public", "table": "unpublished"}, "Unable to subscribe to changes"},
		{map[string]any{"event": "*", "schema": "public", "table": "items", "filter": "nope=eq.1"}, "Error parsing `filter` params"},
		{map[string]any{"event": "*", "schema": "public", "table": "items", "filter": "qty=like.1"}, "Error parsing `filter` params"},
	} {
		topic := "realtime:e" + itoa(i)
		pgJoin(c, topic, "", tc.sub)
		f := c.wait("system error", event(topic, "system"))
		assert.Equal(t, "error", f[4].(map[string]any)["status"])
		assert.Contains(t, f[4].(map[string]any)["message"], tc.want)
	}
}

func TestWALReaderTakeover(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, true)
	cl.exec(t, changesSchema)
	wa, wb := cl.worker("a"), cl.worker("b")
	leader := waitLeader(t, wa, wb)
	follower := wa
	if leader == wa {
		follower = wb
	}
	assert.False(t, follower.svc.leading.Load(), "only one reader")
	c := dial(t, follower, anonKey(t))
	pgJoin(c, "realtime:t", "", map[string]any{"event": "INSERT", "schema": "public", "table": "items"})
	c.wait("subscribed", event("realtime:t", "system"))
	cl.exec(t, `insert into items (id, name) values (1, 'before')`)
	bustest.Eventually(t, 10*time.Second, func() bool { return len(changeFrames(c, "realtime:t")) == 1 }, "change via the first reader")

	leader.cancel() // the reader's worker stops: its lock connection closes
	waitLeader(t, follower)
	cl.exec(t, `insert into items (id, name) values (2, 'after')`)
	bustest.Eventually(t, 10*time.Second, func() bool { return len(changeFrames(c, "realtime:t")) == 2 }, "change via the new reader")
}

func TestBroadcastFromDatabase(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, true)
	wa, wb := cl.worker("a"), cl.worker("b")
	waitLeader(t, wa, wb)
	pub, priv := dial(t, wa, anonKey(t)), dial(t, wb, anonKey(t))
	pub.mustJoin("realtime:db-room", map[string]any{})
	priv.mustJoin("realtime:db-room", map[string]any{"config": map[string]any{"private": true},
		"access_token": token(t, map[string]any{"role": "service_role"})})
	cl.exec(t, `select realtime.send('{"a":1}', 'public-ev', 'db-room', false)`)
	cl.exec(t, `select realtime.send('{"a":2}', 'private-ev', 'db-room')`)
	f := pub.wait("public database broadcast", event("realtime:db-room", "broadcast"))
	p := f[4].(map[string]any)
	assert.Equal(t, "public-ev", p["event"])
	assert.Equal(t, float64(1), p["payload"].(map[string]any)["a"])
	assert.NotEmpty(t, p["payload"].(map[string]any)["id"])
	f = priv.wait("private database broadcast", event("realtime:db-room", "broadcast"))
	assert.Equal(t, "private-ev", f[4].(map[string]any)["event"])
	assert.Len(t, pub.frames(event("realtime:db-room", "broadcast")), 1)
}

func TestPostgresChangesColumnPrivileges(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, true)
	cl.exec(t, changesSchema)
	w := cl.worker("a")
	waitLeader(t, w)
	anon, svc := dial(t, w, anonKey(t)), dial(t, w, anonKey(t))
	sub := map[string]any{"event": "*", "schema": "public", "table": "partial"}
	pgJoin(anon, "realtime:p", "", sub, map[string]any{"event": "INSERT", "schema": "public", "table": "nokey"})
	pgJoin(svc, "realtime:p", token(t, map[string]any{"role": "service_role"}), sub)
	cl.exec(t, `insert into partial values (1, 'p', 's'); insert into nokey values (1)`)
	bustest.Eventually(t, 10*time.Second, func() bool { return len(changeFrames(anon, "realtime:p")) == 2 }, "anon changes")
	bustest.Eventually(t, 10*time.Second, func() bool { return len(changeFrames(svc, "realtime:p")) == 1 }, "service change")
	a := changeFrames(anon, "realtime:p")[0]["data"].(map[string]any)
	assert.Equal(t, map[string]any{"id": float64(1), "pub": "p"}, a["record"])
	assert.Len(t, a["columns"], 2)
	assert.Nil(t, a["errors"])
	s := changeFrames(svc, "realtime:p")[0]["data"].(map[string]any)
	assert.Equal(t, "s", s["record"].(map[string]any)["secret"])
	nk := changeFrames(anon, "realtime:p")[1]["data"].(map[string]any)
	assert.Equal(t, []any{"Error 400: Bad Request, no primary key"}, nk["errors"])

	// select: only the listed columns plus the primary key.
	sel := dial(t, w, anonKey(t))
	pgJoin(sel, "realtime:sel", "", map[string]any{"event": "INSERT", "schema": "public", "table": "items", "select": []any{"name"}})
	f := sel.wait("subscribed", event("realtime:sel", "system"))
	require.Equal(t, "ok", f[4].(map[string]any)["status"])
	bad := dial(t, w, anonKey(t))
	pgJoin(bad, "realtime:sel", "", map[string]any{"event": "INSERT", "schema": "public", "select": []any{"name"}})
	f = bad.wait("select error", event("realtime:sel", "system"))
	assert.Equal(t, "error", f[4].(map[string]any)["status"])
	cl.exec(t, `insert into items (id, name, qty) values (5, 'five', 5)`)
	bustest.Eventually(t, 10*time.Second, func() bool { return len(changeFrames(sel, "realtime:sel")) == 1 }, "selected change")
	d := changeFrames(sel, "realtime:sel")[0]["data"].(map[string]any)
	assert.Equal(t, map[string]any{"id": float64(5), "name": "five"}, d["record"])
	assert.Len(t, d["columns"], 2)
}

// TestWALReaderDeathLosesNoChange: the reading worker dies in the middle of
// a stream of inserts, each its own transaction; a subscriber on the
// surviving worker gets every insert exactly once, those committed while no
// worker read the WAL included.
func TestWALReaderDeathLosesNoChange(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, true)
	cl.exec(t, changesSchema)
	wa, wb := cl.worker("a"), cl.worker("b")
	leader := waitLeader(t, wa, wb)
	survivor := wa
	if leader == wa {
		survivor = wb
	}
	c := dial(t, survivor, anonKey(t))
	pgJoin(c, "realtime:stream", "", map[string]any{"event": "INSERT", "schema": "public", "table": "items"})
	c.wait("subscribed", event("realtime:stream", "system"))

	// Insert, one transaction per row, until the survivor has read the WAL
	// for a while; kill the leader once the first changes arrived. At most
	// `window` inserts wait for delivery, so the stream goes on while no
	// worker reads (those are the inserts a takeover used to lose) without
	// flooding the subscriber.
	const window, maxRows = 200, 5000
	delivered := func() int { return len(changeFrames(c, "realtime:stream")) }
	inserted, killed, afterTakeover := 0, false, 0
	for afterTakeover < 50 {
		require.Less(t, inserted, maxRows, "the survivor never took over")
		cl.exec(t, `insert into items (id, name) values (`+itoa(inserted+1)+`, 'row')`)
		inserted++
		if !killed && delivered() >= 20 {
			leader.cancel() // the reader's worker dies: its sessions end
			killed = true
		}
		if killed && survivor.svc.leading.Load() {
			afterTakeover++
		}
		if inserted-delivered() >= window {
			bustest.Eventually(t, 30*time.Second, func() bool { return inserted-delivered() < window }, "deliveries to catch up (none lost?)")
		}
	}

	// A last insert, after all the others: once it arrived, every replayed
	// duplicate would have too (one reader publishes in commit order).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var end string
	require.NoError(t, cl.pool.QueryRow(ctx, `select pg_current_wal_lsn()::text`).Scan(&end))
	cl.exec(t, `insert into items (id, name) values (0, 'last')`)
	bustest.Eventually(t, 30*time.Second, func() bool {
		for _, p := range changeFrames(c, "realtime:stream") {
			if p["data"].(map[string]any)["record"].(map[string]any)["name"] == "last" {
				return true
			}
		}
		return false
	}, "the last insert")
	seen := map[int]int{}
	for _, p := range changeFrames(c, "realtime:stream") {
		seen[int(p["data"].(map[string]any)["record"].(map[string]any)["id"].(float64))]++
	}
	missing, twice := 0, 0
	for id := 0; id <= inserted; id++ {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	t.Logf("%d inserts, %d delivered, %d missing, %d more than once", inserted+1, len(changeFrames(c, "realtime:stream")), missing, twice)
	assert.Zero(t, missing, "inserts not delivered")
	assert.Zero(t, twice, "inserts delivered more than once")
	assert.Len(t, seen, inserted+1)

	// The survivor confirms what it delivered: the slot does not keep that
	// WAL (the last insert ends after `end`).
	bustest.Eventually(t, 20*time.Second, func() bool {
		var ok bool
		err := cl.pool.QueryRow(ctx, `select coalesce(bool_and(confirmed_flush_lsn >= $1::pg_lsn), false)
			from pg_replication_slots where database = current_database()`, end).Scan(&ok)
		return err == nil && ok
	}, "the slot confirmed past the last insert")
}

func TestWALMarkDropsReplays(t *testing.T) {
	h := func(v string) nats.Header { return nats.Header{walHeader: []string{v}} }
	var m walMark
	for _, tc := range []struct {
		pos  string
		want bool
	}{
		{"", true}, // not from the WAL
		{"s-1/10/0", true},
		{"s-1/10/1", true},
		{"s-1/10/1", false}, // replayed
		{"s-1/10/0", false},
		{"s-1/f/5", false},
		{"s-1/1a/0", true},
		{"garbage", true},
		{"s-1/1a/0", false},
		{"s-2/1/0", true}, // another timeline: positions start over
		{"s-2/2/0", true},
	} {
		assert.Equal(t, tc.want, m.admit(h(tc.pos)), tc.pos)
	}
	assert.True(t, m.admit(nil), "no header")

	// The reader writes positions in the format marks read.
	r := &walReader{origin: "7301-1"}
	assert.Equal(t, "7301-1/16b3a28/2", r.position(0x16b3a28, 2))
	p, ok := parseWALPos(r.position(0x16b3a28, 2))
	assert.True(t, ok)
	assert.Equal(t, walPos{"7301-1", 0x16b3a28, 2}, p)
}
