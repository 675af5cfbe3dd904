package rest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sent is what a request sent to PostgreSQL and answered.
type sent struct {
	SQL, Args string
	Status    int
	Body      string
	Range     string
}

// A read of a shape seen before reuses its plan with its own values: the
// statement, the arguments and the answer are exactly what planning it
// afresh gives. Each pair is two query strings of one shape; the second is
// read with the first's plan remembered, then again with nothing
// remembered.
func TestPlanCacheReusesPlansOfTheSameShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pairs := []struct {
		first, second string
		headers       map[string]string
	}{
		{first: "/rest/v1/books?id=eq.1", second: "/rest/v1/books?id=eq.3"},
		{first: "/rest/v1/books?select=id,title&id=gt.1&id=lte.3&order=id", second: "/rest/v1/books?select=id,title&id=gt.2&id=lte.4&order=id"},
		{first: "/rest/v1/books?select=id&title=like.*a*", second: "/rest/v1/books?select=id&title=like.*o*"},
		{first: "/rest/v1/books?select=id&title=ilike(any).{*a*,*z*}", second: "/rest/v1/books?select=id&title=ilike(any).{*cities*}"},
		{first: "/rest/v1/books?select=id&id=in.(1,2)", second: "/rest/v1/books?select=id&id=in.(3,3,4)"},
		{first: "/rest/v1/books?select=id&id=not.in.(1,2)", second: "/rest/v1/books?select=id&id=not.in.(4)"},
		{first: "/rest/v1/books?select=id&title=fts(english).cities", second: "/rest/v1/books?select=id&title=fts(english).left"},
		{first: "/rest/v1/books?select=id&tags=cs.{sf}", second: "/rest/v1/books?select=id&tags=cs.{}"},
		{first: "/rest/v1/authors?select=name,born:bio->born&bio->>born=eq.1929", second: "/rest/v1/authors?select=name,born:bio->born&bio->>born=eq.1923"},
		{first: "/rest/v1/authors?select=name,books!author_id(id,title)&books.pages=gt.100&books.order=id", second: "/rest/v1/authors?select=name,books!author_id(id,title)&books.pages=gt.300&books.order=id"},
		{first: "/rest/v1/books?select=id&order=id&limit=2&offset=1&pages=gte.1", second: "/rest/v1/books?select=id&order=id&limit=2&offset=1&pages=gte.200"},
		{first: "/rest/v1/books?select=id&id=eq.1", second: "/rest/v1/books?select=id&id=eq.2", headers: map[string]string{"Accept": "application/vnd.pgrst.object+json"}},
		{first: "/rest/v1/books?select=id&id=gt.0", second: "/rest/v1/books?select=id&id=gt.2", headers: map[string]string{"Prefer": "count=exact", "Range": "0-1"}},
		{first: "/rest/v1/books?select=id&id=eq.abc", second: "/rest/v1/books?select=id&id=eq.1"}, // the first fails in PostgreSQL, after planning
	}
	read := func(url string, headers map[string]string) sent {
		t.Helper()
		e.rec.take()
		res := e.api.Do(t, apitest.Request{URL: url, Headers: headers})
		stmts := e.rec.take()
		require.Len(t, stmts, 1, "%s: one statement", url)
		args, err := json.Marshal(stmts[0].Args)
		require.NoError(t, err)
		return sent{SQL: stmts[0].SQL, Args: string(args), Status: res.Status, Body: string(res.Body), Range: res.Header.Get("Content-Range")}
	}
	for _, p := range pairs {
		e.h.readPlans.Store(nil)
		first := read(p.first, p.headers)
		remembered := read(p.second, p.headers)
		assert.EqualValues(t, 1, e.h.readPlans.Load().hits.Load(), "%s took the plan of %s", p.second, p.first)
		e.h.readPlans.Store(nil)
		planned := read(p.second, p.headers)
		assert.Equal(t, planned, remembered, "%s after %s", p.second, p.first)
		assert.Equal(t, first.SQL, remembered.SQL, "%s and %s are one shape", p.first, p.second)
		assert.NotEqual(t, first.Args, remembered.Args, "%s: its own values", p.second)
	}
}

// What the SQL depends on besides filter values makes another shape: the
// value of is, an empty in.(), the select list, the page, the method, the
// media, the count, the Range header.
func TestPlanCacheTellsShapesApart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	variants := []struct {
		url     string
		method  string
		headers map[string]string
	}{
		{url: "/rest/v1/books?select=id&price=is.null"},
		{url: "/rest/v1/books?select=id&price=is.not_null"},
		{url: "/rest/v1/books?select=id&price=not.is.null"},
		{url: "/rest/v1/books?select=id&id=in.()"},
		{url: "/rest/v1/books?select=id&id=in.(1)"},
		{url: "/rest/v1/books?select=id&id=eq(any).{1,2}"},
		{url: "/rest/v1/books?select=id&id=eq.1"},
		{url: "/rest/v1/books?select=id&id=neq.1"},
		{url: "/rest/v1/books?select=title&id=eq.1"},
		{url: "/rest/v1/books?select=id&id=eq.1&limit=1"},
		{url: "/rest/v1/books?select=id&id=eq.1&offset=1"},
		{url: "/rest/v1/books?select=id&id=eq.1", method: "HEAD"},
		{url: "/rest/v1/books?select=id&id=eq.1", headers: map[string]string{"Accept": "text/csv"}},
		{url: "/rest/v1/books?select=id&id=eq.1", headers: map[string]string{"Accept": "application/vnd.pgrst.array+json;nulls=stripped"}},
		{url: "/rest/v1/books?select=id&id=eq.1", headers: map[string]string{"Prefer": "count=exact"}},
		{url: "/rest/v1/books?select=id&id=eq.1", headers: map[string]string{"Range": "1-2"}},
		{url: "/rest/v1/books_v?select=id&id=eq.1"},
		{url: "/rest/v1/books?select=id&title=eq.1"},
		{url: "/rest/v1/books?select=id&title->x=eq.1"},
	}
	e.h.readPlans.Store(nil)
	for _, v := range variants {
		res := e.api.Do(t, apitest.Request{Method: v.method, URL: v.url, Headers: v.headers})
		require.Less(t, res.Status, 500, "%s %v: %s", v.url, v.headers, res.Body)
	}
	plans := e.h.readPlans.Load()
	require.NotNil(t, plans)
	plans.mu.RLock()
	defer plans.mu.RUnlock()
	assert.Len(t, plans.byKey, len(variants), "one shape per variant")
	assert.Zero(t, plans.hits.Load())
}

// The remembered plans are bounded, and those of a schema no longer
// current are dropped with it.
func TestPlanCacheBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.h.readPlans.Store(nil)
	for i := range 3 {
		res := e.api.Do(t, apitest.Request{URL: fmt.Sprintf("/rest/v1/books?select=id&id=eq.1&limit=%d", i)})
		require.Equal(t, 200, res.Status)
	}
	plans := e.h.readPlans.Load()
	require.NotNil(t, plans)
	assert.Len(t, plans.byKey, 3)
	assert.Positive(t, plans.size)

	// Past the bound, what was remembered is forgotten first.
	plans.mu.Lock()
	plans.size = readPlansMaxBytes - 1
	plans.mu.Unlock()
	res := e.api.Do(t, apitest.Request{URL: "/rest/v1/books?select=id&id=eq.1&limit=9"})
	require.Equal(t, 200, res.Status)
	assert.Len(t, plans.byKey, 1)

	// A reloaded schema starts with nothing remembered.
	require.NoError(t, e.h.Cache().LoadNow(testCtx(t)))
	res = e.api.Do(t, apitest.Request{URL: "/rest/v1/books?select=id&id=eq.1"})
	require.Equal(t, 200, res.Status)
	fresh := e.h.readPlans.Load()
	require.NotSame(t, plans, fresh)
	assert.Len(t, fresh.byKey, 1)
}
