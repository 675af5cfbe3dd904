package rest

import (
	"fmt"
	"strings"
)

// Embedding: resolving rel(…) to a relationship and rendering it as a
// lateral join (docs/api/rest.md §3).

// sqlstateDuplicateAlias is PostgreSQL's duplicate_alias: one select
// embedding two resources under the same name.
const sqlstateDuplicateAlias = "42712"

// findRel resolves an embed name (and hint) from table t (docs/api/rest.md §3).
func (p *planner) findRel(t *Table, name, hint string) (*Relationship, error) {
	var cands []*Relationship
	for _, r := range t.Rels {
		if relNamed(r, name, hint) {
			cands = append(cands, r)
		}
	}
	if hint != "" && len(cands) > 1 {
		cands = bestHinted(cands, hint)
	}
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		target := name
		if hint != "" {
			target = name + "!" + hint
		}
		return nil, newErr(400, codeNoRelationship, fmt.Sprintf("Could not find a relationship between '%s' and '%s' in the schema cache", t.Name, name)).
			WithDetails(fmt.Sprintf("Searched for a foreign key relationship between '%s' and '%s' in the schema '%s', but no matches were found.", t.Name, target, t.Schema))
	}
	var details []map[string]string
	var opts []string
	for _, r := range cands {
		details = append(details, describeRel(r))
		h := r.Constraint
		if r.Kind == ManyToMany {
			h = r.Junction.Name
		}
		opts = append(opts, fmt.Sprintf("'%s!%s'", name, h))
	}
	return nil, newErr(300, codeAmbiguousRel, fmt.Sprintf("Could not embed because more than one relationship was found for '%s' and '%s'", t.Name, name)).
		WithDetails(details).
		WithHint(fmt.Sprintf("Try changing '%s' to one of the following: %s. Find the desired relationship in the 'details' key.", name, strings.Join(opts, ", ")))
}

// relNamed reports whether an embed "name!hint" names r. A constraint or
// a foreign key column names a relationship to a table only, so views
// over a table do not make it ambiguous. One foreign key of a table on
// itself gives two relationships: the table's name (with a hint naming
// the key's column or constraint) is the children, the key's column the
// parent.
func relNamed(r *Relationship, name, hint string) bool {
	if r.Kind == ComputedRel {
		return r.Func.Name == name
	}
	if r.From == r.To && (r.Kind == ManyToOne || r.Kind == OneToMany) {
		if hint == "" {
			return r.Kind == OneToMany && name == r.To.Name || r.Kind == ManyToOne && single(r.FromCols, name)
		}
		return r.Kind == OneToMany && name == r.To.Name && (single(r.ToCols, hint) || r.Constraint == hint)
	}
	if hint == "" {
		return name == r.To.Name || !r.To.IsView() && r.Kind != ManyToMany &&
			(r.Constraint == name || r.Kind != OneToMany && single(r.FromCols, name))
	}
	if name != r.To.Name {
		return false
	}
	if r.Kind == ManyToMany {
		return r.Junction.Name == hint || r.Constraint == hint || r.JConstraint == hint
	}
	return r.Constraint == hint || single(r.FromCols, hint) || single(r.ToCols, hint)
}

// bestHinted keeps, of the relationships a hint names, those it names
// best: by constraint or junction, then by a column of the embedding
// table, then by a column of the embedded one.
func bestHinted(cands []*Relationship, hint string) []*Relationship {
	best, bestRank := []*Relationship(nil), 99
	for _, r := range cands {
		rank := 3
		switch {
		case r.Kind == ComputedRel, r.Constraint == hint, r.Kind == ManyToMany:
			rank = 1
		case single(r.FromCols, hint):
			rank = 2
		}
		switch {
		case rank < bestRank:
			best, bestRank = []*Relationship{r}, rank
		case rank == bestRank:
			best = append(best, r)
		}
	}
	return best
}

func single(cols []string, name string) bool { return len(cols) == 1 && cols[0] == name }

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// embed plans an embedded relation of n: find the relationship → join
// the child to its parent → plan the child's select → select its body
// into the parent.
func (p *planner) embed(n *node, it *selectItem) error {
	rel, err := p.findRel(n.table, it.Name, it.Hint)
	if err != nil {
		return err
	}
	e := newEmbed(rel, it)
	if prev := p.embedByName(n, e.name); prev != nil && !prev.spread && !e.spread {
		return newErr(400, sqlstateDuplicateAlias, fmt.Sprintf("table name \"%s\" specified more than once", e.name))
	}
	path := e.name
	if n.path != "" {
		path = n.path + "." + e.name
	}
	child := &node{table: rel.To, alias: p.b.alias("t"), path: path, rowType: rel.To.QName(), hoist: e.spread && rel.ToOne()}
	child.from = rel.To.QName() + " AS " + quoteIdent(child.alias)
	if err := p.joinChild(n, child, rel, it.Name); err != nil {
		return err
	}
	if legacyCount(it, rel) {
		e.countOnly = true
	} else if err := p.selectInto(child, it.Children); err != nil {
		return err
	}
	if child.hasAgg && e.spread && !rel.ToOne() {
		return newErr(400, codeNotImplemented, "Aggregates are not implemented for one-to-many or many-to-many spreads.")
	}
	e.node = child
	e.lateral = p.b.alias("e")
	n.embeds = append(n.embeds, e)
	n.selectEmbed(e)
	return nil
}

// newEmbed names an embed by its alias or relation, and gives it the key
// its body goes under (none for a bare filter-only embed, "rel()").
func newEmbed(rel *Relationship, it *selectItem) *embed {
	e := &embed{rel: rel, inner: it.JoinType == "inner", spread: it.Kind == itemSpread}
	e.name = it.Name
	if it.Alias != "" {
		e.name = it.Alias
	}
	if len(it.Children) > 0 || e.spread {
		e.key = e.name
	}
	e.forCount = e.inner
	return e
}

// joinChild ties the child's rows to its parent's: by the foreign key's
// columns, through the junction table, or as the computed relationship's
// function called with the parent's row.
func (p *planner) joinChild(n, child *node, rel *Relationship, name string) error {
	switch rel.Kind {
	case ManyToOne, OneToMany, OneToOne:
		for i := range rel.FromCols {
			child.where = append(child.where, col(child.alias, rel.ToCols[i])+" = "+col(n.alias, rel.FromCols[i]))
		}
	case ManyToMany:
		j := p.b.alias("j")
		var conds []string
		for i := range rel.JToCols {
			conds = append(conds, col(j, rel.JToCols[i])+" = "+col(child.alias, rel.ToCols[i]))
		}
		for i := range rel.JFromCols {
			conds = append(conds, col(j, rel.JFromCols[i])+" = "+col(n.alias, rel.FromCols[i]))
		}
		child.where = append(child.where, fmt.Sprintf("EXISTS (SELECT 1 FROM %s AS %s WHERE %s)",
			rel.Junction.QName(), quoteIdent(j), strings.Join(conds, " AND ")))
	case ComputedRel:
		if n.rowType == "" {
			return newErr(400, codeNoRelationship, fmt.Sprintf("Could not find a relationship between '%s' and '%s' in the schema cache", n.table.Name, name))
		}
		child.from = fmt.Sprintf("%s(%s) AS %s", rel.Func.QName(), p.rowExpr(n), quoteIdent(child.alias))
		if !rel.Func.RetSet {
			// A function of one row that found none gives a row of
			// nulls: the embed is null, not an object of nulls.
			child.where = append(child.where, "NOT ("+quoteIdent(child.alias)+" IS NULL)")
		}
	}
	return nil
}

// legacyCount reports the legacy rel(count): the number of related rows,
// as [{"count": n}], when the related table has no column "count".
func legacyCount(it *selectItem, rel *Relationship) bool {
	if len(it.Children) != 1 || it.Kind == itemSpread || rel.ToOne() || rel.To.Column("count") != nil {
		return false
	}
	c := it.Children[0]
	return c.Kind == itemField && c.Name == "count" && c.Alias == "" && len(c.JSON) == 0 && c.Cast == "" && c.Agg == ""
}

// selectEmbed selects an embed's body into n under its key, or spreads
// its columns into n's.
func (n *node) selectEmbed(e *embed) {
	child, rel := e.node, e.rel
	e.sel = len(n.selects)
	switch {
	case e.spread && rel.ToOne() && len(child.hoisted) > 0:
		// Its aggregates are computed here, or lifted further up when n
		// is a to-one spread itself.
		for _, k := range child.keys {
			h, ok := child.hoisted[k]
			switch {
			case !ok:
				n.selects = append(n.selects, col(e.lateral, k)+" AS "+quoteIdent(k))
				n.keys = append(n.keys, k)
			case n.hoist:
				n.hoistAgg(k, h.fn, h.cast, col(e.lateral, h.col))
			default:
				n.selects = append(n.selects, h.expr(e.lateral)+" AS "+quoteIdent(k))
				n.keys = append(n.keys, k)
				n.hasAgg = true
			}
		}
	case e.spread && rel.ToOne():
		n.selects = append(n.selects, quoteIdent(e.lateral)+".*")
		n.keys = append(n.keys, child.keys...)
	case e.spread:
		for _, k := range child.keys {
			n.selects = append(n.selects, fmt.Sprintf("coalesce(%s, '[]'::json) AS %s", col(e.lateral, k), quoteIdent(k)))
		}
		n.keys = append(n.keys, child.keys...)
	case e.key == "":
	case rel.ToOne():
		n.selects = append(n.selects, col(e.lateral, "pgrst_body")+" AS "+quoteIdent(e.key))
		n.keys = append(n.keys, e.key)
	default:
		n.selects = append(n.selects, fmt.Sprintf("coalesce(%s, '[]'::json) AS %s", col(e.lateral, "pgrst_body"), quoteIdent(e.key)))
		n.keys = append(n.keys, e.key)
	}
}

// groupEmbeds makes n's embeds groupable next to aggregates: json has no
// equality, so a body is grouped by as text and selected back as json;
// the columns of a to-one spread are grouped by themselves.
func (n *node) groupEmbeds() {
	for _, e := range n.embeds {
		switch {
		case e.spread && e.rel.ToOne():
			for _, k := range e.node.keys {
				if _, hoisted := e.node.hoisted[k]; !hoisted {
					n.groupBy = append(n.groupBy, col(e.lateral, k))
				}
			}
		case e.spread:
			for i, k := range e.node.keys {
				text := col(e.lateral, k) + "::text"
				n.groupBy = append(n.groupBy, text)
				n.selects[e.sel+i] = fmt.Sprintf("coalesce(CAST(%s AS json), '[]'::json) AS %s", text, quoteIdent(k))
			}
		case e.key == "":
		case e.rel.ToOne():
			text := col(e.lateral, "pgrst_body") + "::text"
			n.groupBy = append(n.groupBy, text)
			n.selects[e.sel] = fmt.Sprintf("CAST(%s AS json) AS %s", text, quoteIdent(e.key))
		default:
			text := col(e.lateral, "pgrst_body") + "::text"
			n.groupBy = append(n.groupBy, text)
			n.selects[e.sel] = fmt.Sprintf("coalesce(CAST(%s AS json), '[]'::json) AS %s", text, quoteIdent(e.key))
		}
	}
}

// lateralSQL renders the JOIN LATERAL of an embed.
func (p *planner) lateralSQL(e *embed) string {
	child := p.nodeSQL(e.node, false)
	join := "LEFT JOIN LATERAL"
	on := "TRUE"
	var inner string
	switch {
	case e.countOnly:
		inner = "SELECT json_build_array(json_build_object('count', pg_catalog.count(*))) AS \"pgrst_body\" FROM (" + child + ") AS \"pgrst_x\""
	case e.spread && e.rel.ToOne():
		inner = child
		if e.inner {
			join = "INNER JOIN LATERAL"
		}
	case e.spread:
		var cols []string
		for _, k := range e.node.keys {
			cols = append(cols, fmt.Sprintf("json_agg(%s) AS %s", col("pgrst_x", k), quoteIdent(k)))
		}
		cols = append(cols, "pg_catalog.count(*) AS \"pgrst_n\"")
		inner = "SELECT " + strings.Join(cols, ", ") + " FROM (" + child + ") AS \"pgrst_x\""
		if e.inner {
			join, on = "INNER JOIN LATERAL", col(e.lateral, "pgrst_n")+" > 0"
		}
	case e.rel.ToOne():
		inner = "SELECT row_to_json(\"pgrst_x\".*) AS \"pgrst_body\" FROM (" + child + ") AS \"pgrst_x\""
		if e.inner {
			join = "INNER JOIN LATERAL"
		}
	default:
		inner = "SELECT json_agg(\"pgrst_x\".*) AS \"pgrst_body\" FROM (" + child + ") AS \"pgrst_x\""
		if e.inner {
			join, on = "INNER JOIN LATERAL", col(e.lateral, "pgrst_body")+" IS NOT NULL"
		}
	}
	return fmt.Sprintf(" %s (%s) AS %s ON %s", join, inner, quoteIdent(e.lateral), on)
}
