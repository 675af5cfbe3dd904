package rest

import (
	"testing"

	"github.com/madbase/madbase/shared/apitest"
)

// One scenario per operator (docs/api/rest.md §4).
func TestFilterOperators(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := func(s string) string { return s }
	apitest.Run(t, e.api, []apitest.Scenario{
		{Name: "eq", URL: "/rest/v1/books?select=id&pages=eq.165", WantStatus: 200, WantJSON: ids(`[{"id":3}]`)},
		{Name: "neq", URL: "/rest/v1/books?select=id&author_id=neq.1&order=id", WantStatus: 200, WantJSON: `[{"id":3},{"id":4}]`},
		{Name: "gt", URL: "/rest/v1/books?select=id&pages=gt.300&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2}]`},
		{Name: "gte", URL: "/rest/v1/books?select=id&pages=gte.304&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2}]`},
		{Name: "lt", URL: "/rest/v1/books?select=id&pages=lt.200", WantStatus: 200, WantJSON: `[{"id":3}]`},
		{Name: "lte", URL: "/rest/v1/books?select=id&pages=lte.260&order=id", WantStatus: 200, WantJSON: `[{"id":3},{"id":4}]`},
		{Name: "repeated keys are ANDed", URL: "/rest/v1/books?select=id&pages=gt.200&pages=lt.300", WantStatus: 200, WantJSON: `[{"id":4}]`},
		{Name: "like with star", URL: "/rest/v1/books?select=id&title=like.The*&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2}]`},
		{Name: "ilike", URL: "/rest/v1/books?select=id&title=ilike.*CITIES*", WantStatus: 200, WantJSON: `[{"id":3}]`},
		{Name: "like on a number", URL: "/rest/v1/books?select=id&pages=like.3*&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2}]`},
		{Name: "match", URL: "/rest/v1/books?select=id&title=match.^Inv", WantStatus: 200, WantJSON: `[{"id":3}]`},
		{Name: "imatch", URL: "/rest/v1/books?select=id&title=imatch.^inv", WantStatus: 200, WantJSON: `[{"id":3}]`},
		{Name: "in", URL: "/rest/v1/books?select=id&id=in.(1,3,3)&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":3}]`},
		{Name: "in with quotes", URL: `/rest/v1/genres?select=id&name=in.(%22Science%20Fiction%22,Fable)&order=id`, WantStatus: 200, WantJSON: `[{"id":1},{"id":2}]`},
		{Name: "in with a comma inside quotes", URL: `/rest/v1/genres?select=id&name=in.(%22a,b%22)`, WantStatus: 200, WantJSON: `[]`},
		{Name: "empty in", URL: "/rest/v1/books?select=id&id=in.()", WantStatus: 200, WantJSON: `[]`},
		{Name: "not in", URL: "/rest/v1/books?select=id&id=not.in.(1,2)&order=id", WantStatus: 200, WantJSON: `[{"id":3},{"id":4}]`},
		{Name: "is null", URL: "/rest/v1/books?select=id&price=is.null", WantStatus: 200, WantJSON: `[{"id":4}]`},
		{Name: "is not null", URL: "/rest/v1/books?select=id&editor_id=not.is.null&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":3}]`},
		{Name: "is not_null", URL: "/rest/v1/books?select=id&editor_id=is.not_null&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":3}]`},
		{Name: "is true", URL: "/rest/v1/notes?select=id&secret=is.false", Headers: map[string]string{"apikey": "", "Authorization": ""}, WantStatus: 401},
		{Name: "is bad value", URL: "/rest/v1/books?select=id&price=is.nothing", WantStatus: 400, WantContains: []string{`"PGRST100"`}},
		{Name: "isdistinct", URL: "/rest/v1/books?select=id&editor_id=isdistinct.1&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2},{"id":4}]`},
		{Name: "cs array", URL: "/rest/v1/books?select=id&tags=cs.{classic}&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":3}]`},
		{Name: "cd array", URL: "/rest/v1/books?select=id&tags=cd.{sf,classic}&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2},{"id":4}]`},
		{Name: "ov array", URL: "/rest/v1/books?select=id&tags=ov.{fable,sf}&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2},{"id":3}]`},
		{Name: "cs jsonb", URL: `/rest/v1/books?select=id&meta=cs.{"rating":5}&order=id`, WantStatus: 200, WantJSON: `[{"id":1},{"id":4}]`},
		{Name: "cs range", URL: "/rest/v1/books?select=id&during=cs.[1974,1974]", WantStatus: 200, WantJSON: `[{"id":1}]`},
		{Name: "sl range", URL: "/rest/v1/books?select=id&during=sl.[1971,1980)", WantStatus: 200, WantJSON: `[{"id":2}]`},
		{Name: "sr range", URL: "/rest/v1/books?select=id&during=sr.[1960,1973)", WantStatus: 200, WantJSON: `[{"id":1}]`},
		{Name: "nxr range", URL: "/rest/v1/books?select=id&during=nxr.[1960,1970)", WantStatus: 200, WantJSON: `[{"id":2}]`},
		{Name: "nxl range", URL: "/rest/v1/books?select=id&during=nxl.[1974,1980)&order=id", WantStatus: 200, WantJSON: `[{"id":1}]`},
		{Name: "adj range", URL: "/rest/v1/books?select=id&during=adj.[1975,1980)", WantStatus: 200, WantJSON: `[{"id":1}]`},
		{Name: "fts on tsvector", URL: "/rest/v1/books?select=id&fts=fts.dispossessed", WantStatus: 200, WantJSON: `[{"id":1}]`},
		{Name: "fts with config on text", URL: "/rest/v1/books?select=id&title=fts(english).cities", WantStatus: 200, WantJSON: `[{"id":3}]`},
		{Name: "plfts", URL: "/rest/v1/books?select=id&fts=plfts.left%20hand", WantStatus: 200, WantJSON: `[{"id":2}]`},
		{Name: "phfts", URL: "/rest/v1/books?select=id&fts=phfts(english).left%20hand", WantStatus: 200, WantJSON: `[{"id":2}]`},
		{Name: "wfts", URL: "/rest/v1/books?select=id&fts=wfts.%22invisible%20cities%22%20or%20darkness&order=id", WantStatus: 200, WantJSON: `[{"id":2},{"id":3}]`},
		{Name: "eq any", URL: "/rest/v1/books?select=id&pages=eq(any).{165,260}&order=id", WantStatus: 200, WantJSON: `[{"id":3},{"id":4}]`},
		{Name: "like all", URL: "/rest/v1/books?select=id&title=like(all).{The*,*Hand*}", WantStatus: 200, WantJSON: `[{"id":2}]`},
		{Name: "ilike any", URL: "/rest/v1/books?select=id&title=ilike(any).{*cities*,*WINTER*}&order=id", WantStatus: 200, WantJSON: `[{"id":3},{"id":4}]`},
		{Name: "enum eq", URL: "/rest/v1/books?select=id&mood=eq.sad", WantStatus: 200, WantJSON: `[{"id":3}]`},
		{Name: "json path filter text", URL: "/rest/v1/books?select=id&meta->>isbn=eq.0-06-051275-7", WantStatus: 200, WantJSON: `[{"id":1}]`},
		{Name: "json path filter jsonb", URL: "/rest/v1/books?select=id&meta->rating=eq.4", WantStatus: 200, WantJSON: `[{"id":2}]`},
		{Name: "date filter", URL: "/rest/v1/books?select=id&published=gte.1974-01-01&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":4}]`},
		{Name: "or", URL: "/rest/v1/books?select=id&or=(id.eq.1,pages.lt.200)&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":3}]`},
		{Name: "or with nested and", URL: "/rest/v1/books?select=id&or=(id.eq.4,and(author_id.eq.1,pages.lt.350))&order=id", WantStatus: 200, WantJSON: `[{"id":2},{"id":4}]`},
		{Name: "not.or", URL: "/rest/v1/books?select=id&not.or=(id.eq.1,id.eq.2)&order=id", WantStatus: 200, WantJSON: `[{"id":3},{"id":4}]`},
		{Name: "and", URL: "/rest/v1/books?select=id&and=(pages.gt.200,pages.lt.350)&order=id", WantStatus: 200, WantJSON: `[{"id":2},{"id":4}]`},
		{Name: "or with not and in", URL: "/rest/v1/books?select=id&or=(id.not.in.(1,2,3),title.eq.%22Invisible%20Cities%22)&order=id", WantStatus: 200, WantJSON: `[{"id":3},{"id":4}]`},
		{Name: "or with spaces", URL: "/rest/v1/books?select=id&or=(%20id.eq.1%20,%20id.eq.2%20)&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2}]`},
		{Name: "or with is and arrays", URL: "/rest/v1/books?select=id&or=(price.is.null,tags.cs.{fable})&order=id", WantStatus: 200, WantJSON: `[{"id":3},{"id":4}]`},
		{Name: "or with not.and", URL: "/rest/v1/books?select=id&or=(not.and(id.gt.1,id.lt.4),id.eq.2)&order=id", WantStatus: 200, WantJSON: `[{"id":1},{"id":2},{"id":4}]`},
		{Name: "or repeated", URL: "/rest/v1/books?select=id&or=(id.eq.1,id.eq.2)&or=(id.eq.2,id.eq.3)", WantStatus: 200, WantJSON: `[{"id":2}]`},
		{Name: "varchar values are not truncated", URL: "/rest/v1/codes?c=eq.abcd", WantStatus: 200, WantJSON: `[]`},
		{Name: "varchar eq", URL: "/rest/v1/codes?select=c&c=eq.abc", WantStatus: 200, WantJSON: `[{"c":"abc"}]`},
		{Name: "char eq", URL: "/rest/v1/codes?select=f&f=eq.xy", WantStatus: 200, WantJSON: `[{"f":"xy"}]`},
		{Name: "char not truncated", URL: "/rest/v1/codes?select=f&f=eq.xyz", WantStatus: 200, WantJSON: `[]`},
		{Name: "numeric not rounded", URL: "/rest/v1/codes?select=n&n=eq.1.54", WantStatus: 200, WantJSON: `[]`},
		{Name: "or unbalanced", URL: "/rest/v1/books?or=(id.eq.1", WantStatus: 400, WantContains: []string{`"PGRST100"`}},
		{Name: "or missing op", URL: "/rest/v1/books?or=(id)", WantStatus: 400, WantContains: []string{`"PGRST100"`}},
	})
}
