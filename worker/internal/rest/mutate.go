package rest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
)

// readBody reads the request body up to the configured limit.
func (h *Handler) readBody(c *fiber.Ctx) ([]byte, error) {
	max := h.cfg.RestMaxBodyBytes
	var b []byte
	if s := c.Context().RequestBodyStream(); s != nil {
		var err error
		b, err = io.ReadAll(io.LimitReader(s, max+1))
		if err != nil {
			return nil, bodyErr("Could not read the request body")
		}
	} else {
		b = append([]byte(nil), c.Body()...)
	}
	if int64(len(b)) > max {
		return nil, newErr(413, codeBody, fmt.Sprintf("The request body is larger than %d bytes", max))
	}
	return b, nil
}

// mutationResult is what a mutation statement returns.
type mutationResult struct {
	affected int64
	updated  *int64
	body     []byte
	gucs     *responseGUCs
	plan     []byte // the plan, when one was asked for instead
}

// rangeTotal is the total of a mutation's Content-Range: the affected count
// when the client asked for one, else "*".
func (res *mutationResult) rangeTotal(rc *reqCtx) string {
	if rc.prefs.Count != "" {
		return fmt.Sprint(res.affected)
	}
	return "*"
}

// representation renders the final SELECT of a mutation: the affected
// count, and the body built from pgrst_mut through the select tree.
func (h *Handler) representation(rc *reqCtx, p *planner, t *Table, q *query, m media) (string, error) {
	// affected rows, and how many of them an upsert updated (NULL unless
	// known), lead every mutation's result.
	affected := "(SELECT pg_catalog.count(*) FROM pgrst_mut), NULL::int8"
	if strings.Contains(returning(rc), "pgrst_inserted") {
		affected = "(SELECT pg_catalog.count(*) FROM pgrst_mut), (SELECT pg_catalog.count(*) FROM pgrst_mut WHERE NOT \"pgrst_inserted\")"
	}
	switch rc.prefs.Return {
	case "representation":
		items := q.Select
		if !q.HasSelect {
			items = []*selectItem{{Kind: itemStar}}
		}
		alias := p.b.alias("t")
		n, err := p.root(t, "pgrst_mut AS "+quoteIdent(alias), alias, t.QName(), items)
		if err != nil {
			return "", err
		}
		return " SELECT " + affected + ", " + bodyExpr(m, false) + responseGUCsCols + " FROM (" + p.nodeSQL(n, true) + ") AS _postgrest_t", nil
	case "headers-only":
		if len(t.PK) == 0 {
			return " SELECT " + affected + ", NULL::text" + responseGUCsCols, nil
		}
		var cols []string
		for _, c := range t.PK {
			cols = append(cols, quoteIdent(c))
		}
		return " SELECT " + affected + ", coalesce(json_agg(_postgrest_t.*), '[]')::text" + responseGUCsCols + " FROM (SELECT " + strings.Join(cols, ", ") +
			" FROM pgrst_mut) AS _postgrest_t", nil
	}
	return " SELECT " + affected + ", NULL::text" + responseGUCsCols, nil
}

// returning is the RETURNING clause a mutation needs.
func returning(rc *reqCtx) string {
	switch rc.prefs.Return {
	case "representation", "headers-only":
		if rc.prefs.Resolution == "merge-duplicates" {
			// xmax is 0 in rows an upsert inserted, set in rows it updated
			return " RETURNING \"pgrst_t\".*, (\"pgrst_t\".xmax = 0) AS \"pgrst_inserted\""
		}
		return " RETURNING \"pgrst_t\".*"
	}
	return " RETURNING 1"
}

// queryAndMedia parses the query string and Accept of a read or a
// mutation (for a mutation, the planner skips top-level filters in the
// representation: they chose the rows).
func (h *Handler) queryAndMedia(rc *reqCtx) (*query, media, error) {
	q, err := parseQuery(rc.params)
	if err != nil {
		return nil, media{}, err
	}
	m, err := negotiate(rc.c.Get(fiber.HeaderAccept), false)
	if err != nil {
		return nil, media{}, err
	}
	if err := h.checkPlan(rc, m); err != nil {
		return nil, media{}, err
	}
	return q, m, nil
}

// whereFor compiles the top-level filters of a mutation on alias pgrst_t.
func (p *planner) whereFor(t *Table) ([]string, error) {
	n := &node{table: t, alias: "pgrst_t", rowType: t.QName()}
	np := p.q.Nodes[""]
	var where []string
	for _, f := range np.Filters {
		cond, err := p.filterCond(n, f)
		if err != nil {
			return nil, err
		}
		where = append(where, cond)
	}
	for _, tr := range np.Trees {
		cond, err := p.treeCond(n, tr)
		if err != nil {
			return nil, err
		}
		where = append(where, cond)
	}
	return where, nil
}

func (h *Handler) update(rc *reqCtx, t *Table) error {
	q, m, err := h.queryAndMedia(rc)
	if err != nil {
		return err
	}
	body, err := h.readBody(rc.c)
	if err != nil {
		return err
	}
	if body, err = patchBody(rc.c.Get(fiber.HeaderContentType), body); err != nil {
		return err
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		return bodyErr("Empty or invalid json").WithDetails("A PATCH body must be a single JSON object")
	}
	pl, err := parsePayload(body)
	if err != nil {
		return err
	}
	cols, err := mutationColumns(t, q, pl)
	if err != nil {
		return err
	}
	p, where, err := h.filtered(rc, q, t, "UPDATE", "update")
	if err != nil {
		return err
	}
	var sql string
	if len(cols) == 0 {
		// nothing to set: the matching rows, unchanged
		sql = "WITH pgrst_mut AS (SELECT \"pgrst_t\".* FROM " + t.QName() + " AS \"pgrst_t\" WHERE false)"
	} else {
		var sets []string
		for _, c := range cols {
			sets = append(sets, quoteIdent(c)+" = "+col("pgrst_r", c))
		}
		sql = fmt.Sprintf("WITH pgrst_mut AS (UPDATE %s AS \"pgrst_t\" SET %s FROM json_populate_record(NULL::%s, %s) AS \"pgrst_r\" WHERE %s%s)",
			t.QName(), strings.Join(sets, ", "), t.QName(), p.b.param(string(body), "json"), strings.Join(where, " AND "), returning(rc))
	}
	res, err := h.mutateFiltered(rc, p, t, q, m, sql)
	if err != nil {
		return err
	}
	tot := res.rangeTotal(rc)
	if res.affected > 0 {
		rc.c.Set("Content-Range", fmt.Sprintf("0-%d/%s", res.affected-1, tot))
	} else {
		rc.c.Set("Content-Range", "*/"+tot)
	}
	return h.respondMutation(rc, m, 200, res)
}

func (h *Handler) delete(rc *reqCtx, t *Table) error {
	q, m, err := h.queryAndMedia(rc)
	if err != nil {
		return err
	}
	p, where, err := h.filtered(rc, q, t, "DELETE", "delete")
	if err != nil {
		return err
	}
	sql := fmt.Sprintf("WITH pgrst_mut AS (DELETE FROM %s AS \"pgrst_t\" WHERE %s%s)", t.QName(), strings.Join(where, " AND "), returning(rc))
	res, err := h.mutateFiltered(rc, p, t, q, m, sql)
	if err != nil {
		return err
	}
	tot := res.rangeTotal(rc)
	rc.c.Set("Content-Range", "*/"+tot)
	return h.respondMutation(rc, m, 200, res)
}

// mutateFiltered runs an UPDATE or DELETE statement (sql, the pgrst_mut
// CTE) with the representation that reads it back.
func (h *Handler) mutateFiltered(rc *reqCtx, p *planner, t *Table, q *query, m media, sql string) (*mutationResult, error) {
	rep, err := h.representation(rc, p, t, q, m)
	if err != nil {
		return nil, err
	}
	return h.mutate(rc, m, sql+rep, p.b.args)
}

// filtered plans the WHERE of an UPDATE or DELETE (verb), which must have
// one: PostgREST refuses to change every row of a table by accident.
func (h *Handler) filtered(rc *reqCtx, q *query, t *Table, verb, what string) (*planner, []string, error) {
	p := newPlanner(rc.schema, q, h.cfg.DBAggregatesEnabled)
	p.mutation = true
	where, err := p.whereFor(t)
	if err != nil {
		return nil, nil, err
	}
	if len(where) == 0 {
		return nil, nil, newErr(400, sqlstateNoWhere, verb+" requires a WHERE clause").
			WithHint("Add a filter (for example id=eq.1) to choose the rows to " + what)
	}
	return p, where, nil
}

// mutate runs a mutation statement, enforcing .single() and max-affected
// (both roll the transaction back when violated).
func (h *Handler) mutate(rc *reqCtx, m media, sql string, args []any) (*mutationResult, error) {
	if rc.prefs.Return != "" {
		rc.prefs.apply("return=" + rc.prefs.Return)
	}
	if rc.prefs.Count != "" {
		rc.prefs.apply("count=" + rc.prefs.Count)
	}
	strictMax := rc.prefs.Handling == "strict" && rc.prefs.MaxAffected != nil
	if strictMax {
		rc.prefs.apply("handling=strict")
		rc.prefs.apply(fmt.Sprintf("max-affected=%d", *rc.prefs.MaxAffected))
	}
	res := &mutationResult{}
	err := h.run(rc, h.txFor(rc, false), func(ctx context.Context, tx pgx.Tx) error {
		if m.Kind == mediaPlan {
			var err error
			res.plan, err = queryPlan(ctx, tx, m.Plan, sql, args)
			return err
		}
		var hs, st *string
		if err := tx.QueryRow(ctx, sql, args...).Scan(&res.affected, &res.updated, &res.body, &hs, &st); err != nil {
			return err
		}
		var err error
		if res.gucs, err = parseResponseGUCs(hs, st); err != nil {
			return err
		}
		if m.Kind == mediaObject && res.affected != 1 {
			return singularErr(res.affected)
		}
		if strictMax && res.affected > *rc.prefs.MaxAffected {
			return newErr(400, codeMaxAffected, "Query result exceeds max-affected preference constraint").
				WithDetails(fmt.Sprintf("The query affects %d rows", res.affected))
		}
		return nil
	})
	if err != nil {
		return nil, noPostGIS(m, err)
	}
	return res, nil
}

// respondMutation writes the status and body of a mutation.
func (h *Handler) respondMutation(rc *reqCtx, m media, status int, res *mutationResult) error {
	finish(rc)
	if m.Kind == mediaPlan {
		return sendPlan(rc, m, res.plan)
	}
	if rc.prefs.Return != "representation" || res.body == nil {
		if status == 200 {
			status = 204
		}
		rc.c.Status(res.gucs.apply(rc, status))
		return nil
	}
	return send(rc, m, res.gucs.apply(rc, status), res.body)
}
