package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
	"github.com/stretchr/testify/require"
)

// embedMoreSQL adds, to the fixture, views over the tables that foreign
// keys point to (which must not make those keys ambiguous) and computed
// relationships of every result shape.
const embedMoreSQL = `
create view authors_v as select id, name from authors;
create view employees_v as select id, name, manager_id from employees;
create function first_book(authors) returns setof books rows 1 language sql stable as
  $$ select * from books where author_id = $1.id order by id limit 1 $$;
create function latest_book(authors) returns books language sql stable as
  $$ select * from books where author_id = $1.id order by id desc limit 1 $$;
create function all_books(authors) returns setof books language sql stable as
  $$ select * from books where author_id = $1.id order by id $$;`

// newEmbedEnv is newEnv with embedMoreSQL applied and the schema cache
// reloaded.
func newEmbedEnv(t *testing.T, opts ...envOption) *env {
	e := newEnv(t, opts...)
	ctx := testCtx(t)
	_, err := e.pool.Exec(ctx, embedMoreSQL)
	require.NoError(t, err)
	require.NoError(t, e.h.Cache().LoadNow(ctx))
	return e
}

func TestEmbedDisambiguation(t *testing.T) {
	t.Parallel()
	e := newEmbedEnv(t)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "fk column picks the table over views on it", URL: "/rest/v1/books?select=title,author_id(name)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"title":"Invisible Cities","author_id":{"name":"Italo"}}]`},
		{Name: "constraint picks the table over views on it", URL: "/rest/v1/books?select=title,books_editor_id_fkey(name)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"title":"Invisible Cities","books_editor_id_fkey":{"name":"Ursula"}}]`},
		{Name: "a view is still embedded by its name", URL: "/rest/v1/books?select=title,authors_v!author_id(name)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"title":"Invisible Cities","authors_v":{"name":"Italo"}}]`},
		{Name: "self: the table's name is the children", URL: "/rest/v1/employees?select=name,employees(name)&id=eq.1", WantStatus: 200,
			WantJSON: `[{"name":"Boss","employees":[{"name":"Mid"}]}]`},
		{Name: "self: the fk column is the parent", URL: "/rest/v1/employees?select=name,manager_id(name)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"name":"Low","manager_id":{"name":"Mid"}}]`},
		{Name: "self: parent and children together", URL: "/rest/v1/employees?select=name,boss:manager_id(name),reports:employees!manager_id(name)&id=eq.2",
			WantStatus: 200, WantJSON: `[{"name":"Mid","boss":{"name":"Boss"},"reports":[{"name":"Low"}]}]`},
		{Name: "self: constraint hint is the children", URL: "/rest/v1/employees?select=name,reports:employees!employees_manager_id_fkey(name)&id=eq.3",
			WantStatus: 200, WantJSON: `[{"name":"Low","reports":[]}]`},
		{Name: "unknown hint", URL: "/rest/v1/books?select=title,authors!nope(name)", WantStatus: 400,
			WantContains: []string{`"PGRST200"`, "Could not find a relationship between 'books' and 'authors'", "'books' and 'authors!nope'"}},
		{Name: "duplicate alias", URL: "/rest/v1/books?select=title,a:authors!author_id(name),a:authors!editor_id(name)", WantStatus: 400,
			WantContains: []string{`"42712"`, `table name \"a\" specified more than once`}},
		{Name: "aggregates off: refused before the column is looked up", URL: "/rest/v1/books?select=nope.sum()", WantStatus: 400,
			WantContains: []string{`"PGRST123"`}},
		{Name: "aggregates off: count inside an embed", URL: "/rest/v1/books?select=id,authors!author_id(count)", WantStatus: 400,
			WantContains: []string{`"PGRST123"`}},
		{Name: "duplicate embed", URL: "/rest/v1/employees?select=name,employees(name),employees(id)", WantStatus: 400,
			WantContains: []string{`"42712"`}},
	})
}

func TestEmbedAggregates(t *testing.T) {
	t.Parallel()
	e := newEmbedEnv(t, func(c *config.Rest) { c.DBAggregatesEnabled = true })
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "count next to a to-one embed", URL: "/rest/v1/books?select=count(),authors!author_id(name)&author_id=eq.2",
			WantStatus: 200, WantJSON: `[{"count":2,"authors":{"name":"Italo"}}]`},
		{Name: "sum next to a to-many embed", URL: "/rest/v1/authors?select=pages:id.sum(),books!author_id(id)&books.order=id&id=eq.1",
			WantStatus: 200, WantJSON: `[{"pages":1,"books":[{"id":1},{"id":2}]}]`},
		{Name: "count next to a to-one spread", URL: "/rest/v1/books?select=count(),...authors!author_id(name)&author_id=eq.1",
			WantStatus: 200, WantJSON: `[{"count":2,"name":"Ursula"}]`},
		{Name: "count inside a to-one embed is the aggregate", URL: "/rest/v1/books?select=id,authors!author_id(count)&id=eq.1", WantStatus: 200,
			WantJSON: `[{"id":1,"authors":{"count":1}}]`},
		{Name: "count inside a to-many embed next to a column", URL: "/rest/v1/authors?select=name,books!author_id(mood,count)&books.mood=not.is.null&books.order=mood&id=eq.1",
			WantStatus: 200, WantJSON: `[{"name":"Ursula","books":[{"mood":"happy","count":1},{"mood":"neutral","count":1}]}]`},
		{Name: "count next to a to-many spread", URL: "/rest/v1/authors?select=count(),...books!author_id(title)&books.order=id&id=eq.2",
			WantStatus: 200, WantJSON: `[{"count":1,"title":["Invisible Cities","If on a winter's night a traveler"]}]`},
		// Aggregates inside a to-one spread are lifted to the top level,
		// grouped by its other columns, as PostgREST hoists them.
		{Name: "aggregate inside a to-one spread is lifted", URL: "/rest/v1/books?select=author_id,...authors!editor_id(editors:id.count())&order=author_id",
			WantStatus: 200, WantJSON: `[{"author_id":1,"editors":1},{"author_id":2,"editors":1}]`},
		{Name: "count inside a to-one spread is lifted", URL: "/rest/v1/books?select=...authors!author_id(country,count)&author_id=eq.1",
			WantStatus: 200, WantJSON: `[{"country":"US","count":2}]`},
		{Name: "count() inside a to-one spread is lifted", URL: "/rest/v1/books?select=...authors!author_id(country,n:count())&author_id=eq.2",
			WantStatus: 200, WantJSON: `[{"country":"IT","n":2}]`},
		{Name: "a lifted aggregate keeps its cast", URL: "/rest/v1/books?select=...authors!author_id(id.sum()::text)&author_id=eq.2",
			WantStatus: 200, WantJSON: `[{"sum":"4"}]`},
		{Name: "lifted through two to-one spreads", URL: "/rest/v1/books?select=...authors!author_id(...profiles(website.count()))&author_id=eq.1",
			WantStatus: 200, WantJSON: `[{"count":2}]`},
		{Name: "aggregate inside a to-many spread", URL: "/rest/v1/authors?select=name,...books!author_id(pages.sum())", WantStatus: 400,
			WantContains: []string{`"PGRST127"`, "Aggregates are not implemented for one-to-many or many-to-many spreads."}},
		{Name: "aggregate on a missing column", URL: "/rest/v1/books?select=nope.sum()", WantStatus: 400,
			WantContains: []string{`"42703"`, "column books.nope does not exist"}},
		{Name: "aggregate on a missing column of an embed", URL: "/rest/v1/authors?select=books!author_id(nope.max())", WantStatus: 400,
			WantContains: []string{`"42703"`, "column books.nope does not exist"}},
	})
}

func TestComputedRelationshipToOne(t *testing.T) {
	t.Parallel()
	e := newEmbedEnv(t)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "setof rows 1 is an object", URL: "/rest/v1/authors?select=name,first_book(id)&order=id", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","first_book":{"id":1}},{"name":"Italo","first_book":{"id":3}},{"name":"Nobody","first_book":null}]`},
		{Name: "a single row is an object", URL: "/rest/v1/authors?select=name,latest_book(id)&order=id", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","latest_book":{"id":2}},{"name":"Italo","latest_book":{"id":4}},{"name":"Nobody","latest_book":null}]`},
		{Name: "setof is an array", URL: "/rest/v1/authors?select=name,all_books(id)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"name":"Nobody","all_books":[]}]`},
	})
}
