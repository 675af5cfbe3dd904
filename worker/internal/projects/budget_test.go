package projects

import (
	"context"
	"testing"
	"time"

	"github.com/madbase/madbase/bus/bustest"
	"github.com/stretchr/testify/require"
)

// connsTo counts the connections MadBase (application_name madbase) holds
// to the database named db.
func connsTo(t *testing.T, admin string, db string) int {
	t.Helper()
	var n int
	require.NoError(t, poolOf(t, admin).QueryRow(context.Background(),
		`select count(*) from pg_stat_activity where datname = $1 and application_name = 'madbase'`, db).Scan(&n))
	return n
}

func dbName(t *testing.T, url string) string {
	t.Helper()
	var name string
	require.NoError(t, poolOf(t, url).QueryRow(context.Background(), `select current_database()`).Scan(&name))
	return name
}

// TestConnectionBudget: with PROJECT_DB_TOTAL_CONNS room for one project,
// opening a second closes the first (idle) one, whose connections go away;
// a project whose request is in flight is not closed: the other waits for
// it to end, and is refused with 503 when it does not end in time.
func TestConnectionBudget(t *testing.T) {
	f := newFixtureOn(t, bustest.RunServer(t).URL(), map[string]string{
		"PROJECT_DB_MAX_CONNS": "2", "PROJECT_DB_TOTAL_CONNS": "3",
	})
	a, b := f.newProject("alpha"), f.newProject("beta")
	// slow() waits for the advisory lock the test holds in alpha's
	// database: a request in flight for as long as the test wants.
	_, err := poolOf(t, a.dbURL).Exec(context.Background(),
		`create function public.slow() returns int language sql as $$ select pg_advisory_lock(42); select pg_advisory_unlock(42)::int $$`)
	require.NoError(t, err)
	f.publish(a)
	f.publish(b)
	w := f.startWorker()
	w.waitRevision(t, "alpha", 1)
	w.waitRevision(t, "beta", 1)
	anonA, anonB := key(t, a.secret, "alpha", "anon"), key(t, b.secret, "beta", "anon")
	aDB, bDB := dbName(t, a.dbURL), dbName(t, b.dbURL)

	res := w.do(t, "GET", "/rest/v1/items?select=owner", "", anonA, nil)
	require.Equal(t, 200, res.status, res.body)
	require.True(t, w.m.Active("alpha"))
	res = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonB, nil)
	require.Equal(t, 200, res.status, res.body)
	require.JSONEq(t, `[{"owner":"beta"}]`, res.body)
	require.True(t, w.m.Active("beta"))
	require.False(t, w.m.Active("alpha"), "the least recently used idle project is closed")
	bustest.Eventually(t, 10*time.Second, func() bool { return connsTo(t, f.cfg.DatabaseURL, aDB) == 0 },
		"alpha's connections not closed")
	used, limit, evictions := w.m.budget.snapshot()
	require.Equal(t, 3, used)
	require.Equal(t, 3, limit)
	require.Equal(t, int64(1), evictions)
	require.LessOrEqual(t, connsTo(t, f.cfg.DatabaseURL, bDB), 3)
	fams := gather(t, w.reg)
	require.Equal(t, 3.0, fams.value(t, "madbase_worker_project_db_budget_used_conns"))
	require.Equal(t, 1.0, fams.value(t, "madbase_worker_project_db_budget_evictions_total"))

	// A table made while alpha is closed (nothing listens for its
	// NOTIFY) is served when alpha opens again: the schema it kept is
	// checked against the catalog, not taken blindly.
	_, err = poolOf(t, a.dbURL).Exec(context.Background(), `create table public.later (id int); grant select on public.later to anon`)
	require.NoError(t, err)
	res = w.do(t, "GET", "/rest/v1/later", "", anonA, nil)
	require.Equal(t, 200, res.status, res.body)
	require.Equal(t, "[]", res.body)

	// alpha holds a request in flight (beta, opened again, is closed).
	res = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonB, nil)
	require.Equal(t, 200, res.status, res.body)
	lock, err := poolOf(t, a.dbURL).Acquire(context.Background())
	require.NoError(t, err)
	defer lock.Release()
	_, err = lock.Exec(context.Background(), `select pg_advisory_lock(42)`)
	require.NoError(t, err)
	slow := make(chan reply, 1)
	go func() { slow <- w.do(t, "POST", "/rest/v1/rpc/slow", "", anonA, nil) }()
	bustest.Eventually(t, 10*time.Second, func() bool {
		rt := w.m.state.Load().projects["alpha"].rt.Load()
		return rt != nil && rt.inFlight.Load() == 1
	}, "alpha's request not in flight")
	require.False(t, w.m.Active("beta"))

	// beta waits for alpha's request, then opens.
	waited := make(chan reply, 1)
	go func() { waited <- w.do(t, "GET", "/rest/v1/items?select=owner", "", anonB, nil) }()
	bustest.Eventually(t, 10*time.Second, func() bool { return w.m.budget.waiting.Load() == 1 }, "beta does not wait")
	require.True(t, w.m.Active("alpha"), "a project with a request in flight is not closed")
	_, err = lock.Exec(context.Background(), `select pg_advisory_unlock(42)`)
	require.NoError(t, err)
	res = <-slow
	require.Equal(t, 200, res.status, res.body)
	require.Equal(t, "1", res.body)
	res = <-waited
	require.Equal(t, 200, res.status, res.body)
	require.JSONEq(t, `[{"owner":"beta"}]`, res.body)
	require.False(t, w.m.Active("alpha"))

	// Nothing ends in time: 503.
	budgetWait.Store(int64(200 * time.Millisecond))
	t.Cleanup(func() { budgetWait.Store(0) })
	_, err = lock.Exec(context.Background(), `select pg_advisory_lock(42)`)
	require.NoError(t, err)
	go func() { slow <- w.do(t, "POST", "/rest/v1/rpc/slow", "", anonA, nil) }()
	bustest.Eventually(t, 10*time.Second, func() bool {
		rt := w.m.state.Load().projects["alpha"].rt.Load()
		return rt != nil && rt.inFlight.Load() == 1
	}, "alpha's request not in flight")
	res = w.do(t, "GET", "/rest/v1/items?select=owner", "", anonB, nil)
	require.Equal(t, 503, res.status, res.body)
	require.Contains(t, res.body, "PROJECT_DB_TOTAL_CONNS=3")
	_, err = lock.Exec(context.Background(), `select pg_advisory_unlock(42)`)
	require.NoError(t, err)
	res = <-slow
	require.Equal(t, 200, res.status, res.body)
}
