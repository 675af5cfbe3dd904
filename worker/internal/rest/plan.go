package rest

import (
	"fmt"
	"strconv"
	"strings"
)

// node is one relation of a read: the top level or an embed. Its SQL is
// SELECT selects FROM from laterals WHERE where ORDER BY order LIMIT/OFFSET.
type node struct {
	table *Table
	alias string
	from  string // FROM item with its alias
	// rowType is the SQL type of the source row, for computed fields.
	rowType string
	path    string

	// explicit: the source has columns besides the table's (a mutation's
	// RETURNING), so "*" lists the table's columns by name.
	explicit bool

	selects  []string
	keys     []string // output keys, in order
	starKeys bool     // keys include a "*" expanded from the cache
	embeds   []*embed
	where    []string
	order    []string
	groupBy  []string
	hasAgg   bool
	// hoist: n is a to-one spread, whose aggregates PostgREST lifts into
	// the parent (docs: "Aggregates in To-One Spreads"): n selects each
	// aggregate's argument under a hidden name, and hoisted says which
	// output key it is and how the parent (or the parent's parent, when it
	// too is a to-one spread) aggregates it.
	hoist   bool
	hoisted map[string]hoistedAgg
	limit   *int64
	offset  *int64
}

// embed is an embedded resource of a node.
type embed struct {
	key       string // output key; "" for an empty select
	name      string // how parameters refer to it: alias, else name
	rel       *Relationship
	inner     bool
	spread    bool
	countOnly bool
	node      *node
	lateral   string
	// sel is the index of the embed's first select in its parent's.
	sel int
	// forCount: the count query needs this lateral (inner, or filtered on).
	forCount bool
}

// hoistedAgg is an aggregate of a to-one spread computed by an ancestor:
// fn(CAST?) over the spread's hidden column col.
type hoistedAgg struct {
	fn, cast, col string
}

// hoistAgg selects arg under a hidden column of n for key, to be
// aggregated with fn (and cast) by the ancestor that groups.
func (n *node) hoistAgg(key, fn, cast, arg string) {
	if n.hoisted == nil {
		n.hoisted = map[string]hoistedAgg{}
	}
	hidden := fmt.Sprintf("pgrst_agg_%d", len(n.hoisted)+1)
	n.hoisted[key] = hoistedAgg{fn: fn, cast: cast, col: hidden}
	n.selects = append(n.selects, arg+" AS "+quoteIdent(hidden))
	n.keys = append(n.keys, key)
}

// expr applies a hoisted aggregate to its column of lateral.
func (h hoistedAgg) expr(lateral string) string {
	e := "pg_catalog." + h.fn + "(" + col(lateral, h.col) + ")"
	if h.cast != "" {
		e = "CAST(" + e + " AS " + h.cast + ")"
	}
	return e
}

// planner resolves a parsed query against the schema cache into nodes.
type planner struct {
	s          *Schema
	b          *sqlb
	q          *query
	aggregates bool
	used       map[string]bool
	// mutation: top-level filters chose the rows to change, so the
	// representation does not filter again (nor page).
	mutation bool
}

func newPlanner(s *Schema, q *query, aggregates bool) *planner {
	return &planner{s: s, b: &sqlb{}, q: q, aggregates: aggregates, used: map[string]bool{}}
}

// root builds the top-level node reading from `from` (a table or a
// function call already aliased as alias).
func (p *planner) root(t *Table, from, alias, rowType string, items []*selectItem) (*node, error) {
	n := &node{table: t, alias: alias, from: from, rowType: rowType, explicit: p.mutation}
	if err := p.selectInto(n, items); err != nil {
		return nil, err
	}
	if err := p.applyParams(n); err != nil {
		return nil, err
	}
	for _, path := range p.q.paths {
		if !p.used[path] {
			name := path
			if i := strings.LastIndexByte(path, '.'); i >= 0 {
				name = path[i+1:]
			}
			return nil, newErr(400, codeNotEmbedded, fmt.Sprintf("'%s' is not an embedded resource in this request", name)).
				WithHint(fmt.Sprintf("Verify that '%s' is included in the 'select' query parameter.", name))
		}
	}
	return n, nil
}

// rowExpr is n's source row as a value of the table's row type, the
// argument of computed fields and relationships.
func (p *planner) rowExpr(n *node) string {
	if !n.explicit {
		return fmt.Sprintf("ROW(%s.*)::%s", quoteIdent(n.alias), n.rowType)
	}
	cols := make([]string, len(n.table.Columns))
	for i, c := range n.table.Columns {
		cols[i] = col(n.alias, c.Name)
	}
	return fmt.Sprintf("ROW(%s)::%s", strings.Join(cols, ", "), n.rowType)
}

// field resolves a column or computed field of n's table for output,
// filtering or ordering; c is nil for computed fields.
func (p *planner) field(n *node, name string) (expr string, c *Column, err error) {
	if c := n.table.Column(name); c != nil {
		return col(n.alias, name), c, nil
	}
	for _, f := range n.table.Computed {
		if f.Name == name && f.RetScalar && !f.RetSet && n.rowType != "" {
			return fmt.Sprintf("%s(%s)", f.QName(), p.rowExpr(n)),
				&Column{Name: name, Type: f.RetType, BaseType: strings.TrimPrefix(f.RetType, "pg_catalog.")}, nil
		}
	}
	return "", nil, undefinedColumn(n.table.Name, name)
}

func (p *planner) selectInto(n *node, items []*selectItem) error {
	for _, it := range items {
		switch it.Kind {
		case itemStar:
			if n.explicit {
				for _, c := range n.table.Columns {
					n.selects = append(n.selects, col(n.alias, c.Name)+" AS "+quoteIdent(c.Name))
				}
			} else {
				n.selects = append(n.selects, quoteIdent(n.alias)+".*")
			}
			for _, c := range n.table.Columns {
				n.keys = append(n.keys, c.Name)
			}
			n.starKeys = true
		case itemCount:
			if !p.aggregates {
				return aggregatesOff()
			}
			if n.hoist {
				n.hoistAgg(it.key(), "count", it.AggCast, "TRUE")
				continue
			}
			expr := "pg_catalog.count(*)"
			if it.AggCast != "" {
				expr = "CAST(" + expr + " AS " + it.AggCast + ")"
			}
			n.selects = append(n.selects, expr+" AS "+quoteIdent(it.key()))
			n.keys = append(n.keys, it.key())
			n.hasAgg = true
		case itemField:
			if embeddedCount(n, it) {
				if !p.aggregates {
					return aggregatesOff()
				}
				// rel(count): the number of related rows, as count() would
				// give, when the relation has no column "count".
				if n.hoist {
					n.hoistAgg(it.key(), "count", "", "TRUE")
					continue
				}
				n.selects = append(n.selects, "pg_catalog.count(*) AS "+quoteIdent(it.key()))
				n.keys = append(n.keys, it.key())
				n.hasAgg = true
				continue
			}
			if it.Agg != "" && !p.aggregates {
				// As PostgREST: the plan refuses the aggregate before
				// the column is looked up.
				return aggregatesOff()
			}
			expr, c, err := p.field(n, it.Name)
			if err != nil {
				return err
			}
			expr = p.b.jsonExpr(expr, it.JSON)
			if it.Cast != "" {
				expr = "CAST(" + expr + " AS " + it.Cast + ")"
			}
			_ = c
			if it.Agg != "" && n.hoist {
				n.hoistAgg(it.key(), it.Agg, it.AggCast, expr)
				continue
			}
			if it.Agg != "" {
				if !p.aggregates {
					return aggregatesOff()
				}
				expr = "pg_catalog." + it.Agg + "(" + expr + ")"
				if it.AggCast != "" {
					expr = "CAST(" + expr + " AS " + it.AggCast + ")"
				}
				n.hasAgg = true
			} else {
				n.groupBy = append(n.groupBy, expr)
			}
			n.selects = append(n.selects, expr+" AS "+quoteIdent(it.key()))
			n.keys = append(n.keys, it.key())
		case itemEmbed, itemSpread:
			if err := p.embed(n, it); err != nil {
				return err
			}
		}
	}
	if n.hasAgg {
		n.groupEmbeds()
	} else {
		n.groupBy = nil
	}
	return nil
}

// embeddedCount reports a bare "count" inside an embed whose relation has
// no such column or computed field: the aggregate, not a column.
func embeddedCount(n *node, it *selectItem) bool {
	if n.path == "" || it.Name != "count" || len(it.JSON) > 0 || it.Cast != "" || it.Agg != "" || n.table.Column("count") != nil {
		return false
	}
	for _, f := range n.table.Computed {
		if f.Name == "count" {
			return false
		}
	}
	return true
}

func aggregatesOff() error {
	return newErr(400, codeAggregates, "Use of aggregate functions is not allowed")
}

// applyParams attaches filters, logic trees, order and paging to n and,
// recursively, to its embeds.
func (p *planner) applyParams(n *node) error {
	if np := p.q.Nodes[n.path]; np != nil {
		p.used[n.path] = true
		top := n.path == "" && p.mutation
		for _, f := range np.Filters {
			if top {
				break
			}
			cond, err := p.filterCond(n, f)
			if err != nil {
				return err
			}
			n.where = append(n.where, cond)
		}
		for _, t := range np.Trees {
			if top {
				break
			}
			cond, err := p.treeCond(n, t)
			if err != nil {
				return err
			}
			n.where = append(n.where, cond)
		}
		for _, o := range np.Order {
			term, err := p.orderTerm(n, o)
			if err != nil {
				return err
			}
			n.order = append(n.order, term)
		}
		if !top {
			n.limit, n.offset = np.Limit, np.Offset
		}
	}
	for _, e := range n.embeds {
		if e.countOnly {
			p.used[e.node.path] = p.used[e.node.path] || p.q.Nodes[e.node.path] != nil
			if np := p.q.Nodes[e.node.path]; np != nil {
				if err := p.applyParams(e.node); err != nil {
					return err
				}
			}
			continue
		}
		if err := p.applyParams(e.node); err != nil {
			return err
		}
	}
	return nil
}

func (p *planner) embedByName(n *node, name string) *embed {
	for _, e := range n.embeds {
		if e.name == name {
			return e
		}
	}
	return nil
}

func (p *planner) filterCond(n *node, f filter) (string, error) {
	if len(f.Field.JSON) == 0 && n.table.Column(f.Field.Name) == nil {
		if e := p.embedByName(n, f.Field.Name); e != nil {
			if f.Op.Op != "is" || (f.Op.Value != "null" && f.Op.Value != "not_null") || e.spread && e.rel.ToOne() {
				return "", newErr(400, codeEmbedOperator, "Bad operator on the '"+f.Field.Name+"' embedded resource").
					WithDetails("Only is null or not is null filters are allowed on embedded resources")
			}
			e.forCount = true
			isNull := (f.Op.Value == "null") != f.Op.Not
			target := col(e.lateral, "pgrst_body")
			if e.spread {
				target = col(e.lateral, "pgrst_n")
				if isNull {
					return target + " = 0", nil
				}
				return target + " > 0", nil
			}
			if isNull {
				return target + " IS NULL", nil
			}
			return target + " IS NOT NULL", nil
		}
	}
	expr, c, err := p.field(n, f.Field.Name)
	if err != nil {
		return "", err
	}
	return p.b.condition(p.b.jsonExpr(expr, f.Field.JSON), c, f.Field.JSON, f.Op)
}

func (p *planner) treeCond(n *node, t *logicTree) (string, error) {
	var parts []string
	for _, it := range t.Items {
		var cond string
		var err error
		if it.Tree != nil {
			cond, err = p.treeCond(n, it.Tree)
		} else {
			cond, err = p.filterCond(n, *it.Filter)
		}
		if err != nil {
			return "", err
		}
		parts = append(parts, cond)
	}
	sep := " OR "
	if t.And {
		sep = " AND "
	}
	cond := "(" + strings.Join(parts, sep) + ")"
	if t.Not {
		cond = "NOT " + cond
	}
	return cond, nil
}

func (p *planner) orderTerm(n *node, o orderTerm) (string, error) {
	var expr string
	if o.Rel != "" {
		e := p.embedByName(n, o.Rel)
		if e == nil {
			return "", newErr(400, codeNotEmbedded, fmt.Sprintf("'%s' is not an embedded resource in this request", o.Rel)).
				WithHint(fmt.Sprintf("Verify that '%s' is included in the 'select' query parameter.", o.Rel))
		}
		if !e.rel.ToOne() {
			return "", newErr(400, codeRelatedOrder, fmt.Sprintf("A related order on '%s' is not possible", o.Rel)).
				WithHint(fmt.Sprintf("Note that an order on a to-many embedded resource ('%s') is not supported", o.Rel))
		}
		if e.spread {
			expr = p.b.jsonExpr(col(e.lateral, o.Field.Name), o.Field.JSON)
		} else {
			expr = p.b.jsonExpr("("+col(e.lateral, "pgrst_body")+"::jsonb)", append([]jsonStep{{Key: o.Field.Name}}, o.Field.JSON...))
		}
	} else {
		base, _, err := p.field(n, o.Field.Name)
		if err != nil {
			return "", err
		}
		expr = p.b.jsonExpr(base, o.Field.JSON)
	}
	if o.Desc {
		expr += " DESC"
	} else {
		expr += " ASC"
	}
	if o.NullsFirst != nil {
		if *o.NullsFirst {
			expr += " NULLS FIRST"
		} else {
			expr += " NULLS LAST"
		}
	}
	return expr, nil
}

// fromWhereSQL renders FROM … laterals … WHERE …; countOnly keeps only the
// laterals the conditions need.
func (p *planner) fromWhereSQL(n *node, countOnly bool) string {
	var sb strings.Builder
	sb.WriteString(" FROM ")
	sb.WriteString(n.from)
	for _, e := range n.embeds {
		if countOnly && !e.forCount {
			continue
		}
		sb.WriteString(p.lateralSQL(e))
	}
	if len(n.where) > 0 {
		sb.WriteString(" WHERE ")
		sb.WriteString(strings.Join(n.where, " AND "))
	}
	return sb.String()
}

// nodeSQL renders a node's SELECT; top says whether it is the top level,
// whose limit is applied by the caller.
func (p *planner) nodeSQL(n *node, top bool) string {
	var sb strings.Builder
	sb.WriteString("SELECT ")
	sb.WriteString(strings.Join(n.selects, ", "))
	sb.WriteString(p.fromWhereSQL(n, false))
	if len(n.groupBy) > 0 {
		sb.WriteString(" GROUP BY ")
		sb.WriteString(strings.Join(n.groupBy, ", "))
	}
	if len(n.order) > 0 {
		sb.WriteString(" ORDER BY ")
		sb.WriteString(strings.Join(n.order, ", "))
	}
	if !top {
		var offset int64
		if n.offset != nil {
			offset = *n.offset
		}
		sb.WriteString(limitSQL(n.limit, offset))
	}
	return sb.String()
}

// limitSQL writes LIMIT and OFFSET as literals rather than parameters, as
// PostgREST does. They are integers the parser produced, never user text;
// as parameters they would keep PostgreSQL from settling on a generic plan
// (it costs LIMIT $n as a tenth of the rows, more than the custom plans,
// so it would plan the statement again on every execution).
func limitSQL(limit *int64, offset int64) string {
	s := ""
	if limit != nil {
		s = " LIMIT " + strconv.FormatInt(*limit, 10)
	}
	if offset > 0 {
		s += " OFFSET " + strconv.FormatInt(offset, 10)
	}
	return s
}
