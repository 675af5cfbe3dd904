package rest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInjectionIsInert sends SQL through every parameter and header a
// request has. Each must either fail with a client error or run as a
// harmless query: the text never reaches the SQL (values travel as bind
// parameters, names only from the schema cache), nothing is dropped, and
// no error shows SQL.
func TestInjectionIsInert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.pool.Exec(testCtx(t), `create table canary (id int primary key); insert into canary values (1), (2);`)
	require.NoError(t, err)
	require.NoError(t, e.h.Cache().LoadNow(testCtx(t)))

	const drop = `drop table canary`
	payloads := []string{
		`x'; ` + drop + `; --`,
		`x"; ` + drop + `; --`,
		`x); ` + drop + `; --`,
		`x')); ` + drop + `; --`,
		`1 or 1=1; ` + drop,
		`$$; ` + drop + `; $$`,
		`\'; ` + drop + `; --`,
		"x\x00; " + drop,
	}
	q := url.QueryEscape
	type attempt struct {
		method, url, body string
		headers           map[string]string
	}
	var attempts []attempt
	for _, p := range payloads {
		attempts = append(attempts,
			attempt{method: "GET", url: "/rest/v1/books?select=" + q(p)},
			attempt{method: "GET", url: "/rest/v1/books?select=" + q("id,"+p)},
			attempt{method: "GET", url: "/rest/v1/books?select=" + q("id::"+p)},
			attempt{method: "GET", url: "/rest/v1/books?select=" + q("id:"+p)},
			attempt{method: "GET", url: "/rest/v1/books?select=" + q("id,authors!"+p+"(name)")},
			attempt{method: "GET", url: "/rest/v1/books?select=" + q("meta->"+p)},
			attempt{method: "GET", url: "/rest/v1/books?select=" + q("meta->>"+p)},
			attempt{method: "GET", url: "/rest/v1/books?title=eq." + q(p)},
			attempt{method: "GET", url: "/rest/v1/books?" + q(p) + "=eq.1"},
			attempt{method: "GET", url: "/rest/v1/books?meta->>" + q(p) + "=eq.1"},
			attempt{method: "GET", url: "/rest/v1/books?title=in.(" + q(p) + ")"},
			attempt{method: "GET", url: "/rest/v1/books?title=in.(%22" + q(p) + "%22)"},
			attempt{method: "GET", url: "/rest/v1/books?title=like." + q(p)},
			attempt{method: "GET", url: "/rest/v1/books?title=fts(" + q(p) + ").x"},
			attempt{method: "GET", url: "/rest/v1/books?title=fts(english)." + q(p)},
			attempt{method: "GET", url: "/rest/v1/books?tags=cs." + q(p)},
			attempt{method: "GET", url: "/rest/v1/books?title=eq(any)." + q("{"+p+"}")},
			attempt{method: "GET", url: "/rest/v1/books?or=(" + q("title.eq."+p) + ")"},
			attempt{method: "GET", url: "/rest/v1/books?or=(" + q(p) + ")"},
			attempt{method: "GET", url: "/rest/v1/books?order=" + q(p)},
			attempt{method: "GET", url: "/rest/v1/books?order=" + q("id."+p)},
			attempt{method: "GET", url: "/rest/v1/books?limit=" + q(p)},
			attempt{method: "GET", url: "/rest/v1/books?offset=" + q(p)},
			attempt{method: "GET", url: "/rest/v1/" + url.PathEscape(p)},
			attempt{method: "GET", url: "/rest/v1/rpc/" + url.PathEscape(p)},
			attempt{method: "GET", url: "/rest/v1/rpc/add?a=" + q(p) + "&b=1"},
			attempt{method: "POST", url: "/rest/v1/rpc/add", body: `{"a":` + jsonString(p) + `,"b":1}`},
			attempt{method: "POST", url: "/rest/v1/rpc/echo_json", body: `{"k":` + jsonString(p) + `}`},
			attempt{method: "POST", url: "/rest/v1/genres", body: `{"id":100,"name":` + jsonString(p) + `}`},
			attempt{method: "POST", url: "/rest/v1/genres", body: `{` + jsonString(p) + `:1}`},
			attempt{method: "POST", url: "/rest/v1/genres?columns=" + q(p), body: `[{"id":101}]`},
			attempt{method: "POST", url: "/rest/v1/genres?on_conflict=" + q(p), body: `{"id":102,"name":"x"}`,
				headers: map[string]string{"Prefer": "resolution=merge-duplicates"}},
			attempt{method: "PATCH", url: "/rest/v1/genres?id=eq.1", body: `{"name":` + jsonString(p) + `}`},
			attempt{method: "PATCH", url: "/rest/v1/genres?name=eq." + q(p), body: `{"name":"y"}`},
			attempt{method: "DELETE", url: "/rest/v1/genres?name=eq." + q(p)},
		)
		if strings.ContainsRune(p, 0) {
			continue // not a valid header value: HTTP clients refuse to send it
		}
		attempts = append(attempts,
			attempt{method: "GET", url: "/rest/v1/books", headers: map[string]string{"Prefer": "count=" + p + ", timezone=" + p}},
			attempt{method: "GET", url: "/rest/v1/books", headers: map[string]string{"Prefer": "timezone=UTC'; " + drop}},
			attempt{method: "GET", url: "/rest/v1/books", headers: map[string]string{"Accept": p}},
			attempt{method: "GET", url: "/rest/v1/books", headers: map[string]string{"Accept-Profile": p}},
			attempt{method: "POST", url: "/rest/v1/genres", body: `{"id":103,"name":"z"}`, headers: map[string]string{"Content-Profile": p}},
			attempt{method: "GET", url: "/rest/v1/books", headers: map[string]string{"Range": p}},
			attempt{method: "GET", url: "/rest/v1/books", headers: map[string]string{"Authorization": "Bearer " + p}},
			attempt{method: "GET", url: "/rest/v1/books", headers: map[string]string{"apikey": p}},
			attempt{method: "GET", url: "/rest/v1/books?select=id", headers: map[string]string{"X-Anything": p, "Cookie": "a=" + url.QueryEscape(p)}},
		)
	}
	for _, a := range attempts {
		e.rec.take()
		res := e.api.Do(t, apitest.Request{Method: a.method, URL: a.url, Headers: a.headers, Body: a.body})
		assert.Less(t, res.Status, 500, "%s %s: %s", a.method, a.url, res.Body)
		for _, st := range e.rec.take() {
			assert.NotContains(t, strings.ToLower(st.SQL), drop, "%s %s: user text reached the SQL: %s", a.method, a.url, st.SQL)
		}
		for _, leak := range []string{"pgrst_", "json_agg", "SELECT ", `"public"."`} {
			assert.NotContains(t, res.String(), leak, "%s %s: SQL in the response", a.method, a.url)
		}
	}
	var n int
	require.NoError(t, e.pool.QueryRow(testCtx(t), "select count(*) from canary").Scan(&n))
	assert.Equal(t, 2, n)
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestQuoteIdentMatchesSanitize: the fast path for plain names quotes
// exactly as pgx.Identifier.Sanitize does, and names with quotes or NUL
// bytes still go through it.
func TestQuoteIdentMatchesSanitize(t *testing.T) {
	for _, name := range []string{"id", "Todo Items", "ünïcode", "", `a"b`, `"`, `""x""`, "nul\x00byte", `x"; drop table t; --`} {
		assert.Equal(t, pgx.Identifier{name}.Sanitize(), quoteIdent(name), "%q", name)
	}
}
