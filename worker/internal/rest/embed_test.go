package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/config"
)

func TestEmbedding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runScenarios(t, e, []scenario{
		{name: "to-one by fk column hint", url: "/rest/v1/books?select=title,author:authors!author_id(name)&id=eq.3", wantStatus: 200,
			wantJSON: `[{"title":"Invisible Cities","author":{"name":"Italo"}}]`},
		{name: "to-one by fk name", url: "/rest/v1/books?select=title,editor:books_editor_id_fkey(name)&id=in.(1,2)&order=id", wantStatus: 200,
			wantJSON: `[{"title":"The Dispossessed","editor":{"name":"Italo"}},{"title":"The Left Hand of Darkness","editor":null}]`},
		{name: "to-one by column name", url: "/rest/v1/books?select=title,author_id(name)&id=eq.1", wantStatus: 200,
			wantJSON: `[{"title":"The Dispossessed","author_id":{"name":"Ursula"}}]`},
		{name: "ambiguous", url: "/rest/v1/books?select=title,authors(name)", wantStatus: 300,
			wantContains: []string{`"PGRST201"`, "books_author_id_fkey", "books_editor_id_fkey", `"cardinality":"many-to-one"`}},
		{name: "no relationship", url: "/rest/v1/genres?select=*,employees(*)", wantStatus: 400,
			wantContains: []string{`"PGRST200"`, "Could not find a relationship between 'genres' and 'employees'"}},
		{name: "to-many with order and limit", url: "/rest/v1/authors?select=name,books!author_id(id)&books.order=id.desc&books.limit=1&order=id", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","books":[{"id":2}]},{"name":"Italo","books":[{"id":4}]},{"name":"Nobody","books":[]}]`},
		{name: "to-many filter keeps parents", url: "/rest/v1/authors?select=name,books!author_id(id)&books.pages=gt.300&order=id", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","books":[{"id":1},{"id":2}]},{"name":"Italo","books":[]},{"name":"Nobody","books":[]}]`},
		{name: "inner drops parents", url: "/rest/v1/authors?select=name,books!author_id!inner(id)&books.pages=gt.300&order=id", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","books":[{"id":1},{"id":2}]}]`},
		{name: "inner with count", url: "/rest/v1/authors?select=name,books!author_id!inner(id)&books.pages=lt.200", headers: map[string]string{"Prefer": "count=exact"},
			wantStatus: 200, wantJSON: `[{"name":"Italo","books":[{"id":3}]}]`, wantHeaders: map[string]string{"Content-Range": "0-0/1"}},
		{name: "is null on embed", url: "/rest/v1/authors?select=name,books!author_id(id)&books=is.null", wantStatus: 200,
			wantJSON: `[{"name":"Nobody","books":[]}]`},
		{name: "not is null on embed", url: "/rest/v1/authors?select=name,books!author_id()&books=not.is.null&order=id", wantStatus: 200,
			wantJSON: `[{"name":"Ursula"},{"name":"Italo"}]`},
		{name: "bad operator on embed", url: "/rest/v1/authors?select=name,books!author_id(id)&books=eq.1", wantStatus: 400,
			wantContains: []string{`"PGRST120"`}},
		{name: "filter on absent embed", url: "/rest/v1/authors?select=name&books.id=eq.1", wantStatus: 400,
			wantContains: []string{`"PGRST108"`, "'books' is not an embedded resource in this request"}},
		{name: "many-to-many", url: "/rest/v1/books?select=title,genres(name)&genres.order=name&id=eq.1", wantStatus: 200,
			wantJSON: `[{"title":"The Dispossessed","genres":[{"name":"Classic"},{"name":"Science Fiction"}]}]`},
		{name: "many-to-many reverse", url: "/rest/v1/genres?select=name,books(id)&books.order=id&id=eq.1", wantStatus: 200,
			wantJSON: `[{"name":"Science Fiction","books":[{"id":1},{"id":2}]}]`},
		{name: "junction embeds", url: "/rest/v1/book_genres?select=books(title),genres(name)&book_id=eq.3&order=genre_id", wantStatus: 200,
			wantJSON: `[{"books":{"title":"Invisible Cities"},"genres":{"name":"Fable"}},{"books":{"title":"Invisible Cities"},"genres":{"name":"Classic"}}]`},
		{name: "one-to-one both ways", url: "/rest/v1/authors?select=name,profiles(website)&id=in.(1,2)&order=id", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","profiles":{"website":"https://ursula.example"}},{"name":"Italo","profiles":null}]`},
		{name: "one-to-one reverse", url: "/rest/v1/profiles?select=website,authors(name)", wantStatus: 200,
			wantJSON: `[{"website":"https://ursula.example","authors":{"name":"Ursula"}}]`},
		{name: "self reference with hints", url: "/rest/v1/employees?select=name,manager:employees!manager_id(name)&id=eq.3", wantStatus: 200,
			wantJSON: `[{"name":"Low","manager":{"name":"Mid"}}]`},
		{name: "nested embeds", url: "/rest/v1/book_genres?select=books(title,author:authors!author_id(name,profiles(website)))&book_id=eq.1&genre_id=eq.1", wantStatus: 200,
			wantJSON: `[{"books":{"title":"The Dispossessed","author":{"name":"Ursula","profiles":{"website":"https://ursula.example"}}}}]`},
		{name: "spread to-one", url: "/rest/v1/books?select=title,...authors!author_id(author_name:name,country)&id=eq.3", wantStatus: 200,
			wantJSON: `[{"title":"Invisible Cities","author_name":"Italo","country":"IT"}]`},
		{name: "spread to-many", url: "/rest/v1/authors?select=name,...books!author_id(titles:title)&books.order=id&id=eq.1", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","titles":["The Dispossessed","The Left Hand of Darkness"]}]`},
		{name: "order by to-one embed column", url: "/rest/v1/books?select=id,author:authors!author_id(name)&order=author(name).desc,id", wantStatus: 200,
			wantJSON: `[{"id":1,"author":{"name":"Ursula"}},{"id":2,"author":{"name":"Ursula"}},{"id":3,"author":{"name":"Italo"}},{"id":4,"author":{"name":"Italo"}}]`},
		{name: "order by to-many refused", url: "/rest/v1/authors?select=id,books!author_id(id)&order=books(id)", wantStatus: 400,
			wantContains: []string{`"PGRST118"`}},
		{name: "legacy count", url: "/rest/v1/authors?select=name,books!author_id(count)&order=id", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","books":[{"count":2}]},{"name":"Italo","books":[{"count":2}]},{"name":"Nobody","books":[{"count":0}]}]`},
		{name: "embed or filter", url: "/rest/v1/authors?select=name,books!author_id(id)&books.or=(id.eq.1,id.eq.3)&order=id", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","books":[{"id":1}]},{"name":"Italo","books":[{"id":3}]},{"name":"Nobody","books":[]}]`},
		{name: "embed offset", url: "/rest/v1/authors?select=name,books!author_id(id)&books.order=id&books.offset=1&id=eq.1", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","books":[{"id":2}]}]`},
		{name: "computed relationship via function", url: "/rest/v1/books?select=id,full_title&id=eq.1", wantStatus: 200,
			wantJSON: `[{"id":1,"full_title":"The Dispossessed (387)"}]`},
		{name: "view to table", url: "/rest/v1/books_v?select=name,authors(name)&id=eq.3", wantStatus: 200,
			wantJSON: `[{"name":"Invisible Cities","authors":{"name":"Italo"}}]`},
		{name: "table to view", url: "/rest/v1/authors?select=name,books_v(name)&books_v.order=id&id=eq.1", wantStatus: 200,
			wantJSON: `[{"name":"Ursula","books_v":[{"name":"The Dispossessed"},{"name":"The Left Hand of Darkness"}]}]`},
		{name: "view to junction", url: "/rest/v1/book_view?select=title,book_genres(genre_id)&book_genres.order=genre_id&id=eq.1", wantStatus: 200,
			wantJSON: `[{"title":"The Dispossessed","book_genres":[{"genre_id":1},{"genre_id":3}]}]`},
		{name: "views over one table are not related", url: "/rest/v1/book_view?select=title,books_v(name)&id=eq.2", wantStatus: 400,
			wantContains: []string{`"PGRST200"`}},
		{name: "aggregates off", url: "/rest/v1/books?select=pages.sum()", wantStatus: 400, wantContains: []string{`"PGRST123"`}},
	})
}

func TestAggregatesEnabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Rest) { c.DBAggregatesEnabled = true })
	runScenarios(t, e, []scenario{
		{name: "sum and count", url: "/rest/v1/books?select=total:pages.sum(),count()", wantStatus: 200, wantJSON: `[{"total":1116,"count":4}]`},
		{name: "group by", url: "/rest/v1/books?select=author_id,pages.max()&author_id=not.is.null&order=author_id", wantStatus: 200,
			wantJSON: `[{"author_id":1,"max":387},{"author_id":2,"max":260}]`},
		{name: "avg with cast", url: "/rest/v1/books?select=pages.avg()::int", wantStatus: 200, wantJSON: `[{"avg":279}]`},
	})
}
