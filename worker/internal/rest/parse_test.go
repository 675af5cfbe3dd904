package rest

import (
	"encoding/json"
	"testing"

	"github.com/madbase/madbase/shared/apierr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSelect(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string // JSON of the tree, or "" when an error is expected
		wantErr string
	}{
		{in: "", want: `[{"Kind":1}]`},
		{in: "id,alias:name", want: `[{"Kind":0,"Name":"id"},{"Kind":0,"Alias":"alias","Name":"name"}]`},
		{in: `"my col",x::text`, want: `[{"Kind":0,"Name":"my col"},{"Kind":0,"Name":"x","Cast":"text"}]`},
		{in: "data->a->>b", want: `[{"Kind":0,"Name":"data","JSON":[{"Key":"a"},{"Text":true,"Key":"b"}]}]`},
		{in: "data->0->-1", want: `[{"Kind":0,"Name":"data","JSON":[{"Key":"0"},{"Key":"-1"}]}]`},
		{in: "first-name", want: `[{"Kind":0,"Name":"first-name"}]`},
		{in: "a:rel!fk!inner(x,sub(*))", want: `[{"Kind":2,"Alias":"a","Name":"rel","Hint":"fk","JoinType":"inner","Children":[{"Kind":0,"Name":"x"},{"Kind":2,"Name":"sub","Children":[{"Kind":1}]}]}]`},
		{in: "rel!inner()", want: `[{"Kind":2,"Name":"rel","JoinType":"inner"}]`},
		{in: "...rel(a,b)", want: `[{"Kind":3,"Name":"rel","Children":[{"Kind":0,"Name":"a"},{"Kind":0,"Name":"b"}]}]`},
		{in: "total:amount.sum()::int,count()", want: `[{"Kind":0,"Alias":"total","Name":"amount","Agg":"sum","AggCast":"int"},{"Kind":4,"Name":"count"}]`},
		{in: "id,(", wantErr: "failed to parse select parameter"},
		{in: "rel(a", wantErr: `expecting \")\"`},
		{in: "a!b!c(x)", wantErr: "more than one relationship hint"},
		{in: "a::text);drop", wantErr: "PGRST100"},
		{in: "x.foo()", wantErr: "an aggregate"},
		{in: "...rel()", wantErr: "a select list inside the spread"},
		{in: "alias:...rel(a)", wantErr: "a spread cannot have an alias"},
	} {
		items, err := parseSelect(tc.in)
		if tc.wantErr != "" {
			require.Error(t, err, tc.in)
			b, _ := json.Marshal(err.(*apierr.Error))
			assert.Contains(t, err.Error()+string(b)+detailsOf(err), tc.wantErr, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		got, _ := json.Marshal(items)
		assert.JSONEq(t, tc.want, string(got), tc.in)
	}
}

func detailsOf(err error) string {
	if e, ok := err.(*apierr.Error); ok {
		if s, ok := e.Details.(string); ok {
			return s
		}
	}
	return ""
}

func TestParseOpExpr(t *testing.T) {
	for _, tc := range []struct {
		in     string
		tree   bool
		want   opExpr
		errHas string
	}{
		{in: "eq.5", want: opExpr{Op: "eq", Value: "5"}},
		{in: "eq.", want: opExpr{Op: "eq", Value: ""}},
		{in: "eq.a.b", want: opExpr{Op: "eq", Value: "a.b"}},
		{in: "not.like.*x*", want: opExpr{Not: true, Op: "like", Value: "*x*"}},
		{in: "in.(1,\"a,b\",\" c \", d )", want: opExpr{Op: "in", Value: "(1,\"a,b\",\" c \", d )", List: []string{"1", "a,b", " c ", "d"}, ListSet: true}},
		{in: `in.("a\"b")`, want: opExpr{Op: "in", Value: `("a\"b")`, List: []string{`a"b`}, ListSet: true}},
		{in: "in.()", want: opExpr{Op: "in", Value: "()", List: []string{}, ListSet: true}},
		{in: "is.NULL", want: opExpr{Op: "is", Value: "null"}},
		{in: "fts(english).cat", want: opExpr{Op: "fts", Config: "english", Value: "cat"}},
		{in: "like(any).{a*,b*}", want: opExpr{Op: "like", Quant: "any", Value: "{a*,b*}"}},
		{in: `eq."quoted, value"`, tree: true, want: opExpr{Op: "eq", Value: "quoted, value"}},
		{in: `eq."kept"`, want: opExpr{Op: "eq", Value: `"kept"`}},
		{in: "bogus.1", errHas: "unknown operator"},
		{in: "is.maybe", errHas: "unknown value for is"},
		{in: "eq(any).1", errHas: "expecting a {…} list"},
		{in: "fts(.x", errHas: "missing"},
		{in: "in.1,2", errHas: "expecting a (…) list"},
		{in: "eq", errHas: "expecting an operator"},
		{in: "neq(all).{1}", errHas: "unexpected modifier"},
	} {
		got, err := parseOpExpr(tc.in, tc.tree)
		if tc.errHas != "" {
			require.Error(t, err, tc.in)
			assert.Contains(t, err.Error(), tc.errHas, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestParseLogicAndOrder(t *testing.T) {
	tree, err := parseLogic("(a.eq.1, not.and(b.gt.2,c.in.(1,2)),d.cs.{x,y},e.eq.\"a,b)\")", false, true, 0)
	require.NoError(t, err)
	assert.True(t, tree.Not)
	assert.False(t, tree.And)
	require.Len(t, tree.Items, 4)
	assert.Equal(t, "a", tree.Items[0].Filter.Field.Name)
	assert.True(t, tree.Items[1].Tree.Not && tree.Items[1].Tree.And)
	assert.Equal(t, []string{"1", "2"}, tree.Items[1].Tree.Items[1].Filter.Op.List)
	assert.Equal(t, "{x,y}", tree.Items[2].Filter.Op.Value)
	assert.Equal(t, "a,b)", tree.Items[3].Filter.Op.Value)

	for _, bad := range []string{"a.eq.1", "(a.eq.1", "()", "(a)", "(a.eq.1,,b.eq.2)", "(a.nope.1)"} {
		_, err := parseLogic(bad, false, false, 0)
		assert.Error(t, err, bad)
	}

	terms, err := parseOrder("a,b.desc,c.asc.nullsfirst,d.nullslast,data->>k.desc,rel(x).desc")
	require.NoError(t, err)
	require.Len(t, terms, 6)
	assert.True(t, terms[1].Desc)
	assert.True(t, *terms[2].NullsFirst)
	assert.False(t, *terms[3].NullsFirst)
	assert.Equal(t, []jsonStep{{Text: true, Key: "k"}}, terms[4].Field.JSON)
	assert.Equal(t, "rel", terms[5].Rel)
	assert.Equal(t, "x", terms[5].Field.Name)
	for _, bad := range []string{"a.up", "a.desc.asc", "a.nullsfirst.desc", "", "rel(x"} {
		_, err := parseOrder(bad)
		assert.Error(t, err, bad)
	}
}

func TestParsePreferAndMedia(t *testing.T) {
	p := parsePrefer([]string{"return=representation, count=exact,resolution=merge-duplicates", "missing=default, handling=strict, max-affected=5, tx=rollback, timezone=Europe/Paris, foo=bar, count=weird"})
	assert.Equal(t, "representation", p.Return)
	assert.Equal(t, "exact", p.Count)
	assert.Equal(t, "merge-duplicates", p.Resolution)
	assert.Equal(t, "default", p.Missing)
	assert.Equal(t, "strict", p.Handling)
	assert.EqualValues(t, 5, *p.MaxAffected)
	assert.Equal(t, "rollback", p.Tx)
	assert.Equal(t, "Europe/Paris", p.Timezone)
	assert.Equal(t, []string{"foo=bar", "count=weird"}, p.invalid)
	assert.Error(t, p.strictErr())

	for accept, want := range map[string]media{
		"":                                  {Kind: mediaJSON},
		"*/*":                               {Kind: mediaJSON},
		"application/json, text/plain":      {Kind: mediaJSON},
		"application/vnd.pgrst.object+json": {Kind: mediaObject},
		"application/vnd.pgrst.object+json;nulls=stripped": {Kind: mediaObject, StripNulls: true},
		"application/vnd.pgrst.array+json;nulls=stripped":  {Kind: mediaJSON, StripNulls: true},
		"text/csv":                                    {Kind: mediaCSV},
		"text/html;q=0.9, text/csv;q=0.5":             {Kind: mediaCSV},
		"application/xml;q=1, application/json;q=0.1": {Kind: mediaJSON},
	} {
		got, err := negotiate(accept, false)
		require.NoError(t, err, accept)
		assert.Equal(t, want, got, accept)
	}
	// a plan is negotiated here and refused later unless DB_PLAN_ENABLED (TestPlanIsOffByDefault)
	plan, err := negotiate(`application/vnd.pgrst.plan+text; for="text/csv"; options=verbose|bogus|analyze`, false)
	require.NoError(t, err)
	assert.Equal(t, media{Kind: mediaPlan, Plan: &planMedia{For: media{Kind: mediaCSV}, Options: []string{"analyze", "verbose"}}}, plan)
	for _, accept := range []string{"application/xml", `application/vnd.pgrst.plan+text; for="application/xml"`} {
		_, err := negotiate(accept, false)
		assert.Error(t, err, accept)
	}
	m, err := negotiate("application/openapi+json", true)
	require.NoError(t, err)
	assert.Equal(t, mediaOpenAPI, m.Kind)
}

func TestCompactParams(t *testing.T) {
	sql, args := compactParams(`SELECT $3::int, "col$1" , '$2', $3, $5`, []any{"a", "b", "c", "d", "e"})
	assert.Equal(t, `SELECT $1::int, "col$1" , '$2', $1, $2`, sql)
	assert.Equal(t, []any{"c", "e"}, args)
}

func TestViewColumnSources(t *testing.T) {
	tree := `({QUERY :commandType 1 :rtable ({RANGETBLENTRY :subquery {QUERY :targetList ({TARGETENTRY :resno 1 :resorigtbl 99 :resorigcol 9 :resjunk false})}}) ` +
		`:targetList ({TARGETENTRY :expr {VAR :varno 1} :resno 1 :resname id :resorigtbl 16400 :resorigcol 1 :resjunk false} ` +
		`{TARGETENTRY :expr {FUNCEXPR :args ({CONST :constvalue 4 [ 40 41 0 0 ]})} :resno 2 :resname x :resorigtbl 0 :resorigcol 0 :resjunk false} ` +
		`{TARGETENTRY :expr {VAR :varno 2} :resno 3 :resname \(odd\) :resorigtbl 16410 :resorigcol 2 :resjunk false}) :groupClause <>})`
	got := viewColumnSources(tree)
	assert.Equal(t, map[int]colSource{1: {table: 16400, column: 1}, 3: {table: 16410, column: 2}}, got)
	assert.Empty(t, viewColumnSources("garbage"))
}
