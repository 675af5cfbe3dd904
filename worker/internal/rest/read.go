package rest

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unsafe"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/db"
)

// readPlan is a translated read: the SQL and what the response needs.
type readPlan struct {
	sql    string
	args   []any
	srcs   []argSrc // where each of args comes from (plancache.go)
	offset int64
	media  media
	count  string
	// countSQL and countArgs estimate the total (count=planned/estimated).
	countSQL  string
	countArgs []any
	exactSQL  string // count(*) of the filtered relation
}

var rangeRE = regexp.MustCompile(`^\s*(?:items=)?(\d+)-(\d*)\s*$`)

// pageBounds combines limit/offset, the Range header and db-max-rows.
func (h *Handler) pageBounds(rc *reqCtx, top *nodeParams, useRange bool) (offset int64, limit *int64, err error) {
	if top.Offset != nil {
		offset = *top.Offset
	}
	limit = top.Limit
	if useRange {
		if r := rc.c.Get(fiber.HeaderRange); r != "" {
			m := rangeRE.FindStringSubmatch(r)
			if m != nil {
				lo, err1 := strconv.ParseInt(m[1], 10, 64)
				var hi int64 = -1
				var err2 error
				if m[2] != "" {
					hi, err2 = strconv.ParseInt(m[2], 10, 64)
				}
				if err1 != nil || err2 != nil || (hi >= 0 && lo > hi) {
					return 0, nil, newErr(416, codeRange, "Requested range not satisfiable").
						WithDetails("The lower boundary must be lower than or equal to the upper boundary in the Range header.")
				}
				// intersect [lo, hi] with [offset, offset+limit-1]
				end := int64(-1)
				if limit != nil {
					end = offset + *limit - 1
				}
				if lo > offset {
					offset = lo
				}
				if hi >= 0 && (end < 0 || hi < end) {
					end = hi
				}
				if end >= 0 {
					l := end - offset + 1
					if l < 0 {
						l = 0
					}
					limit = &l
				}
			}
		}
	}
	if max := h.cfg.DBMaxRows; max > 0 && (limit == nil || *limit > max) {
		limit = &max
	}
	return offset, limit, nil
}

// planRead translates a GET/HEAD on a table or view, or takes the plan of
// an earlier read of the same shape (plancache.go). Plans with a planned or
// estimated count, which are written after the estimate, and execution
// plans are made anew each time.
func (h *Handler) planRead(rc *reqCtx, t *Table, q *query, m media) (*readPlan, error) {
	if m.Kind == mediaPlan || rc.prefs.Count == "planned" || rc.prefs.Count == "estimated" {
		return h.makeReadPlan(rc, t, q, m)
	}
	plans := h.plans(rc.schema)
	key := readKey(rc, t, q, m, rc.c.Get(fiber.HeaderRange))
	if rp := plans.get(key, q); rp != nil {
		return rp, nil
	}
	rp, err := h.makeReadPlan(rc, t, q, m)
	if err != nil {
		return nil, err
	}
	plans.put(key, rp)
	return rp, nil
}

// makeReadPlan plans a read.
func (h *Handler) makeReadPlan(rc *reqCtx, t *Table, q *query, m media) (*readPlan, error) {
	p := newPlanner(rc.schema, q, h.cfg.DBAggregatesEnabled)
	items := q.Select
	if !q.HasSelect {
		items = []*selectItem{{Kind: itemStar}}
	}
	alias := p.b.alias("t")
	n, err := p.root(t, t.QName()+" AS "+quoteIdent(alias), alias, t.QName(), items)
	if err != nil {
		return nil, err
	}
	offset, limit, err := h.pageBounds(rc, q.Nodes[""], true)
	if err != nil {
		return nil, err
	}
	rp := &readPlan{offset: offset, media: m, count: rc.prefs.Count}
	src := p.nodeSQL(n, true)
	src += limitSQL(limit, offset)
	total := "NULL::int8"
	if rc.prefs.Count != "" {
		rp.exactSQL = "SELECT pg_catalog.count(*)" + p.fromWhereSQL(n, true)
		if rc.prefs.Count == "exact" {
			total = "(" + rp.exactSQL + ")"
		}
	}
	rp.sql = "WITH pgrst_source AS (" + src + ") SELECT " + total + " AS total, pg_catalog.count(*) AS page_total, " +
		bodyExpr(m, rc.method == fiber.MethodHead) + " AS body" + responseGUCsCols + " FROM pgrst_source AS _postgrest_t"
	rp.args, rp.srcs = p.b.args, p.b.srcs
	if rc.prefs.Count == "planned" || rc.prefs.Count == "estimated" {
		rp.countSQL, rp.countArgs = compactParams("EXPLAIN (FORMAT JSON) SELECT 1"+strings.TrimPrefix(rp.exactSQL, "SELECT pg_catalog.count(*)"), p.b.args)
	}
	return rp, nil
}

// bodyExpr aggregates the rows of _postgrest_t into the response body.
func bodyExpr(m media, head bool) string {
	if head {
		return "NULL::text"
	}
	m = m.inner()
	switch m.Kind {
	case mediaCSV:
		return csvBody
	case mediaGeoJSON:
		return geoJSONBody
	}
	row := "_postgrest_t.*"
	if m.StripNulls {
		row = "json_strip_nulls(row_to_json(_postgrest_t.*))"
	}
	if m.Kind == mediaObject {
		return "coalesce(json_agg(" + row + ")->0, 'null')::text"
	}
	return "coalesce(json_agg(" + row + "), '[]')::text"
}

// read serves GET and HEAD on a table or view: parse → plan → run →
// answer.
func (h *Handler) read(rc *reqCtx, t *Table) error {
	q, m, err := h.queryAndMedia(rc)
	if err != nil {
		return err
	}
	rp, err := h.planRead(rc, t, q, m)
	if err != nil {
		return err
	}
	if m.Kind == mediaPlan {
		return h.explain(rc, m, rp.sql, rp.args, true)
	}
	if rc.prefs.Count != "" {
		rc.prefs.apply("count=" + rc.prefs.Count)
	}
	var res readResult
	if err := h.runReadPlan(rc, rp, &res); err != nil {
		return noPostGIS(m, err)
	}
	return h.respondRead(rc, m, res.gucs.apply(rc, 200), rp.offset, res.pageTotal, res.total, res.body)
}

// readResult is what a read's statement returned.
type readResult struct {
	total     *int64 // with Prefer: count
	pageTotal int64
	body      []byte
	gucs      *responseGUCs
}

// scan reads the statement's row; an object Accept wants exactly one row.
func (res *readResult) scan(row pgx.Row, m media) error {
	if err := res.scanRow(row); err != nil {
		return err
	}
	return res.check(m)
}

// check refuses a result that does not fit m: an object Accept wants
// exactly one row.
func (res *readResult) check(m media) error {
	if m.Kind == mediaObject && res.pageTotal != 1 {
		return singularErr(res.pageTotal)
	}
	return nil
}

// scanRow reads the columns a read-shaped statement (a table read, a call)
// returns: the totals, the body and the response GUCs.
func (res *readResult) scanRow(row pgx.Row) error {
	var hs, st *string
	if err := row.Scan(&res.total, &res.pageTotal, &res.body, &hs, &st); err != nil {
		return err
	}
	var err error
	res.gucs, err = parseResponseGUCs(hs, st)
	return err
}

// readColumns is how many columns a read-shaped statement returns.
const readColumns = 5

// scanText reads the row of a read-shaped statement from the values
// db.Reader hands over (PostgreSQL's text format, valid only during the
// call). The body is copied into c's response at once, and res.body is left
// nil: the response already holds it.
func (res *readResult) scanText(c *fiber.Ctx, values [][]byte) error {
	if len(values) != readColumns {
		return fmt.Errorf("rest: a read returned %d columns, not %d", len(values), readColumns)
	}
	if values[0] != nil {
		n, err := parseInt8(values[0])
		if err != nil {
			return err
		}
		res.total = &n
	}
	n, err := parseInt8(values[1])
	if err != nil {
		return err
	}
	res.pageTotal = n
	if values[2] != nil {
		c.Response().SetBody(values[2])
	}
	if values[3] != nil || values[4] != nil {
		res.gucs, err = parseResponseGUCs(textOrNil(values[3]), textOrNil(values[4]))
	}
	return err
}

func parseInt8(b []byte) (int64, error) {
	n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(b), len(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("rest: a read's count %q is not an integer", b)
	}
	return n, nil
}

func textOrNil(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

// runReadPlan runs a read. The common one sends its settings and query in
// one round trip; a planned or estimated count needs the plan's estimate
// before the query can be written.
func (h *Handler) runReadPlan(rc *reqCtx, rp *readPlan, res *readResult) error {
	if rp.countSQL == "" {
		return h.readText(rc, db.Query{SQL: rp.sql, Args: rp.args}, func(values [][]byte) error {
			if err := res.scanText(rc.c, values); err != nil {
				return err
			}
			return res.check(rp.media)
		})
	}
	return h.run(rc, h.txFor(rc, true), func(ctx context.Context, tx pgx.Tx) error {
		est, err := h.estimate(ctx, tx, rp)
		if err != nil {
			return err
		}
		return res.scan(tx.QueryRow(ctx, h.withEstimate(rc, rp, est), rp.args...), rp.media)
	})
}

// withEstimate is the read's statement with its total: the exact count
// when estimated and the estimate is within db-max-rows, else the
// estimate itself.
func (h *Handler) withEstimate(rc *reqCtx, rp *readPlan, est int64) string {
	if rc.prefs.Count == "estimated" && (h.cfg.DBMaxRows == 0 || est <= h.cfg.DBMaxRows) {
		return strings.Replace(rp.sql, "NULL::int8 AS total", "("+rp.exactSQL+") AS total", 1)
	}
	return strings.Replace(rp.sql, "NULL::int8 AS total", strconv.FormatInt(est, 10)+"::int8 AS total", 1)
}

// estimate runs the EXPLAIN of the count query, returning the planner's
// row estimate.
func (h *Handler) estimate(ctx context.Context, tx pgx.Tx, rp *readPlan) (int64, error) {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := tx.QueryRow(ctx, rp.countSQL, rp.countArgs...).Scan(&plan); err != nil {
		return 0, err
	}
	if len(plan) == 0 {
		return 0, fmt.Errorf("rest: empty plan")
	}
	return int64(plan[0].Plan.Rows), nil
}

// respondRead writes a read's status, Content-Range and body.
func (h *Handler) respondRead(rc *reqCtx, m media, status int, offset, pageTotal int64, total *int64, body []byte) error {
	if total != nil {
		switch {
		case offset > *total && *total >= 0 && rc.prefs.Count == "exact":
			return newErr(416, codeRange, "Requested range not satisfiable").
				WithDetails(fmt.Sprintf("An offset of %d was requested, but there are only %d rows.", offset, *total))
		case pageTotal < *total && status == 200:
			status = 206
		}
	}
	var buf [48]byte
	rc.c.Response().Header.SetBytesV("Content-Range", appendContentRange(buf[:0], offset, pageTotal, total))
	finish(rc)
	return send(rc, m, status, body)
}

// send writes a body in the negotiated format.
func send(rc *reqCtx, m media, status int, body []byte) error {
	c := rc.c
	c.Set(fiber.HeaderContentType, m.contentType())
	c.Status(status)
	if rc.method == fiber.MethodHead || body == nil {
		return nil
	}
	return c.Send(body)
}

// contentRange is "first-last/total" of a page, "*" for an empty page or
// an unknown total.
func contentRange(offset, pageTotal int64, total *int64) string {
	return string(appendContentRange(nil, offset, pageTotal, total))
}

// appendContentRange appends contentRange's text to b.
func appendContentRange(b []byte, offset, pageTotal int64, total *int64) []byte {
	if pageTotal > 0 && (total == nil || *total != 0) {
		b = strconv.AppendInt(b, offset, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, offset+pageTotal-1, 10)
	} else {
		b = append(b, '*')
	}
	b = append(b, '/')
	if total == nil {
		return append(b, '*')
	}
	return strconv.AppendInt(b, *total, 10)
}
