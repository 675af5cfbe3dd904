package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/madbase/madbase/shared/config"
)

func TestEmbedding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "to-one by fk column hint", URL: "/rest/v1/books?select=title,author:authors!author_id(name)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"title":"Invisible Cities","author":{"name":"Italo"}}]`},
		{Name: "to-one by fk name", URL: "/rest/v1/books?select=title,editor:books_editor_id_fkey(name)&id=in.(1,2)&order=id", WantStatus: 200,
			WantJSON: `[{"title":"The Dispossessed","editor":{"name":"Italo"}},{"title":"The Left Hand of Darkness","editor":null}]`},
		{Name: "to-one by column name", URL: "/rest/v1/books?select=title,author_id(name)&id=eq.1", WantStatus: 200,
			WantJSON: `[{"title":"The Dispossessed","author_id":{"name":"Ursula"}}]`},
		{Name: "ambiguous", URL: "/rest/v1/books?select=title,authors(name)", WantStatus: 300,
			WantContains: []string{`"PGRST201"`, "books_author_id_fkey", "books_editor_id_fkey", `"cardinality":"many-to-one"`}},
		{Name: "no relationship", URL: "/rest/v1/genres?select=*,employees(*)", WantStatus: 400,
			WantContains: []string{`"PGRST200"`, "Could not find a relationship between 'genres' and 'employees'"}},
		{Name: "to-many with order and limit", URL: "/rest/v1/authors?select=name,books!author_id(id)&books.order=id.desc&books.limit=1&order=id", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","books":[{"id":2}]},{"name":"Italo","books":[{"id":4}]},{"name":"Nobody","books":[]}]`},
		{Name: "to-many filter keeps parents", URL: "/rest/v1/authors?select=name,books!author_id(id)&books.pages=gt.300&order=id", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","books":[{"id":1},{"id":2}]},{"name":"Italo","books":[]},{"name":"Nobody","books":[]}]`},
		{Name: "inner drops parents", URL: "/rest/v1/authors?select=name,books!author_id!inner(id)&books.pages=gt.300&order=id", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","books":[{"id":1},{"id":2}]}]`},
		{Name: "inner with count", URL: "/rest/v1/authors?select=name,books!author_id!inner(id)&books.pages=lt.200", Headers: map[string]string{"Prefer": "count=exact"},
			WantStatus: 200, WantJSON: `[{"name":"Italo","books":[{"id":3}]}]`, WantHeaders: map[string]string{"Content-Range": "0-0/1"}},
		{Name: "is null on embed", URL: "/rest/v1/authors?select=name,books!author_id(id)&books=is.null", WantStatus: 200,
			WantJSON: `[{"name":"Nobody","books":[]}]`},
		{Name: "not is null on embed", URL: "/rest/v1/authors?select=name,books!author_id()&books=not.is.null&order=id", WantStatus: 200,
			WantJSON: `[{"name":"Ursula"},{"name":"Italo"}]`},
		{Name: "bad operator on embed", URL: "/rest/v1/authors?select=name,books!author_id(id)&books=eq.1", WantStatus: 400,
			WantContains: []string{`"PGRST120"`}},
		{Name: "filter on absent embed", URL: "/rest/v1/authors?select=name&books.id=eq.1", WantStatus: 400,
			WantContains: []string{`"PGRST108"`, "'books' is not an embedded resource in this request"}},
		{Name: "many-to-many", URL: "/rest/v1/books?select=title,genres(name)&genres.order=name&id=eq.1", WantStatus: 200,
			WantJSON: `[{"title":"The Dispossessed","genres":[{"name":"Classic"},{"name":"Science Fiction"}]}]`},
		{Name: "many-to-many reverse", URL: "/rest/v1/genres?select=name,books(id)&books.order=id&id=eq.1", WantStatus: 200,
			WantJSON: `[{"name":"Science Fiction","books":[{"id":1},{"id":2}]}]`},
		{Name: "junction embeds", URL: "/rest/v1/book_genres?select=books(title),genres(name)&book_id=eq.3&order=genre_id", WantStatus: 200,
			WantJSON: `[{"books":{"title":"Invisible Cities"},"genres":{"name":"Fable"}},{"books":{"title":"Invisible Cities"},"genres":{"name":"Classic"}}]`},
		{Name: "one-to-one both ways", URL: "/rest/v1/authors?select=name,profiles(website)&id=in.(1,2)&order=id", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","profiles":{"website":"https://ursula.example"}},{"name":"Italo","profiles":null}]`},
		{Name: "one-to-one reverse", URL: "/rest/v1/profiles?select=website,authors(name)", WantStatus: 200,
			WantJSON: `[{"website":"https://ursula.example","authors":{"name":"Ursula"}}]`},
		{Name: "self reference by fk column", URL: "/rest/v1/employees?select=name,manager:manager_id(name)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"name":"Low","manager":{"name":"Mid"}}]`},
		{Name: "nested embeds", URL: "/rest/v1/book_genres?select=books(title,author:authors!author_id(name,profiles(website)))&book_id=eq.1&genre_id=eq.1", WantStatus: 200,
			WantJSON: `[{"books":{"title":"The Dispossessed","author":{"name":"Ursula","profiles":{"website":"https://ursula.example"}}}}]`},
		{Name: "spread to-one", URL: "/rest/v1/books?select=title,...authors!author_id(author_name:name,country)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"title":"Invisible Cities","author_name":"Italo","country":"IT"}]`},
		{Name: "spread to-many", URL: "/rest/v1/authors?select=name,...books!author_id(titles:title)&books.order=id&id=eq.1", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","titles":["The Dispossessed","The Left Hand of Darkness"]}]`},
		{Name: "order by to-one embed column", URL: "/rest/v1/books?select=id,author:authors!author_id(name)&order=author(name).desc,id", WantStatus: 200,
			WantJSON: `[{"id":1,"author":{"name":"Ursula"}},{"id":2,"author":{"name":"Ursula"}},{"id":3,"author":{"name":"Italo"}},{"id":4,"author":{"name":"Italo"}}]`},
		{Name: "order by to-many refused", URL: "/rest/v1/authors?select=id,books!author_id(id)&order=books(id)", WantStatus: 400,
			WantContains: []string{`"PGRST118"`}},
		{Name: "legacy count", URL: "/rest/v1/authors?select=name,books!author_id(count)&order=id", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","books":[{"count":2}]},{"name":"Italo","books":[{"count":2}]},{"name":"Nobody","books":[{"count":0}]}]`},
		{Name: "embed or filter", URL: "/rest/v1/authors?select=name,books!author_id(id)&books.or=(id.eq.1,id.eq.3)&order=id", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","books":[{"id":1}]},{"name":"Italo","books":[{"id":3}]},{"name":"Nobody","books":[]}]`},
		{Name: "embed offset", URL: "/rest/v1/authors?select=name,books!author_id(id)&books.order=id&books.offset=1&id=eq.1", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","books":[{"id":2}]}]`},
		{Name: "computed relationship via function", URL: "/rest/v1/books?select=id,full_title&id=eq.1", WantStatus: 200,
			WantJSON: `[{"id":1,"full_title":"The Dispossessed (387)"}]`},
		{Name: "view to table", URL: "/rest/v1/books_v?select=name,authors(name)&id=eq.3", WantStatus: 200,
			WantJSON: `[{"name":"Invisible Cities","authors":{"name":"Italo"}}]`},
		{Name: "table to view", URL: "/rest/v1/authors?select=name,books_v(name)&books_v.order=id&id=eq.1", WantStatus: 200,
			WantJSON: `[{"name":"Ursula","books_v":[{"name":"The Dispossessed"},{"name":"The Left Hand of Darkness"}]}]`},
		{Name: "view to junction", URL: "/rest/v1/book_view?select=title,book_genres(genre_id)&book_genres.order=genre_id&id=eq.1", WantStatus: 200,
			WantJSON: `[{"title":"The Dispossessed","book_genres":[{"genre_id":1},{"genre_id":3}]}]`},
		{Name: "views over one table are not related", URL: "/rest/v1/book_view?select=title,books_v(name)&id=eq.2", WantStatus: 400,
			WantContains: []string{`"PGRST200"`}},
		{Name: "aggregates off", URL: "/rest/v1/books?select=pages.sum()", WantStatus: 400, WantContains: []string{`"PGRST123"`}},
	})
}

func TestAggregatesEnabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Rest) { c.DBAggregatesEnabled = true })
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "sum and count", URL: "/rest/v1/books?select=total:pages.sum(),count()", WantStatus: 200, WantJSON: `[{"total":1116,"count":4}]`},
		{Name: "group by", URL: "/rest/v1/books?select=author_id,pages.max()&author_id=not.is.null&order=author_id", WantStatus: 200,
			WantJSON: `[{"author_id":1,"max":387},{"author_id":2,"max":260}]`},
		{Name: "avg with cast", URL: "/rest/v1/books?select=pages.avg()::int", WantStatus: 200, WantJSON: `[{"avg":279}]`},
	})
}
