package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// payload is a parsed JSON body: the raw JSON (always an array for
// inserts) and each object's key set.
type payload struct {
	raw     []byte
	objects []map[string]json.RawMessage
	isArray bool
}

func parsePayload(body []byte) (*payload, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return &payload{raw: []byte("[{}]"), objects: []map[string]json.RawMessage{{}}}, nil
	}
	p := &payload{}
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &p.objects); err != nil {
			return nil, bodyErr("Empty or invalid json").WithDetails(jsonErrDetail(err))
		}
		p.isArray = true
		p.raw = body
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, bodyErr("Empty or invalid json").WithDetails(jsonErrDetail(err))
		}
		p.objects = []map[string]json.RawMessage{obj}
		p.raw = append(append([]byte("["), body...), ']')
	default:
		return nil, bodyErr("Empty or invalid json")
	}
	for _, o := range p.objects {
		if o == nil {
			return nil, bodyErr("Empty or invalid json").WithDetails("every element of the array must be a JSON object")
		}
	}
	return p, nil
}

func jsonErrDetail(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	}
	return "the body must be a JSON object or an array of objects"
}

// mutationColumns decides the columns an insert or update writes: the
// columns= list, else the payload's keys (which must then agree).
func mutationColumns(t *Table, q *query, p *payload) ([]string, error) {
	if q.HasColumns {
		seen := map[string]bool{}
		var cols []string
		for _, c := range q.Columns {
			if t.Column(c) == nil {
				return nil, unknownPayloadColumn(t.Name, c)
			}
			if !seen[c] {
				seen[c] = true
				cols = append(cols, c)
			}
		}
		return cols, nil
	}
	if len(p.objects) == 0 {
		return nil, nil
	}
	first := p.objects[0]
	for k := range first {
		if t.Column(k) == nil {
			return nil, unknownPayloadColumn(t.Name, k)
		}
	}
	for _, o := range p.objects[1:] {
		if len(o) != len(first) {
			return nil, bodyErr("All object keys must match")
		}
		for k := range o {
			if _, ok := first[k]; !ok {
				return nil, bodyErr("All object keys must match")
			}
		}
	}
	cols := make([]string, 0, len(first))
	for _, c := range t.Columns {
		if _, ok := first[c.Name]; ok {
			cols = append(cols, c.Name)
		}
	}
	return cols, nil
}

func (h *Handler) insert(rc *reqCtx, t *Table) error { return h.insertWith(rc, t, false) }

// put is PostgREST's single-row upsert: PUT /t?pk=eq.v with the whole row.
func (h *Handler) put(rc *reqCtx, t *Table) error { return h.insertWith(rc, t, true) }

// checkPut enforces PUT's rules: the filters are exactly the primary key
// with eq, and the payload is one object agreeing with them.
func checkPut(t *Table, q *query, pl *payload) error {
	np := q.Nodes[""]
	bad := newErr(405, codePutFilters, "Filters must include all and only primary key columns with 'eq' operators")
	if len(t.PK) == 0 || len(np.Trees) > 0 || len(np.Filters) != len(t.PK) || np.Limit != nil || np.Offset != nil {
		return bad
	}
	want := map[string]string{}
	for _, f := range np.Filters {
		if f.Op.Op != "eq" || f.Op.Not || f.Op.Quant != "" || len(f.Field.JSON) > 0 || !contains(t.PK, f.Field.Name) {
			return bad
		}
		want[f.Field.Name] = f.Op.Value
	}
	if len(want) != len(t.PK) {
		return bad
	}
	if pl.isArray || len(pl.objects) != 1 {
		return bodyErr("Empty or invalid json").WithDetails("PUT takes a single JSON object")
	}
	for c, v := range want {
		raw, ok := pl.objects[0][c]
		if !ok || jsonText(raw) != v {
			return newErr(400, codePutPayload, "Payload values do not match URL in primary key column(s)")
		}
	}
	return nil
}

// jsonText is a JSON scalar as the text a filter would compare it with.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// insertWith serves POST (and PUT, put): read the payload → plan the
// INSERT → run it → answer.
func (h *Handler) insertWith(rc *reqCtx, t *Table, put bool) error {
	in, err := h.readInsert(rc, t, put)
	if err != nil {
		return err
	}
	sql, args, err := h.planInsert(rc, t, in, put)
	if err != nil {
		return err
	}
	res, err := h.mutate(rc, in.m, sql, args)
	if err != nil {
		return err
	}
	return h.respondInsert(rc, t, in.m, res, put)
}

// insertInput is what an insert writes and how it answers.
type insertInput struct {
	q    *query
	m    media
	pl   *payload
	cols []string
}

// readInsert parses the query, Accept and body of an insert; a PUT is an
// upsert on the primary key, whose filters must name the payload's row.
func (h *Handler) readInsert(rc *reqCtx, t *Table, put bool) (*insertInput, error) {
	q, m, err := h.queryAndMedia(rc)
	if err != nil {
		return nil, err
	}
	body, err := h.readBody(rc.c)
	if err != nil {
		return nil, err
	}
	if body, _, err = bodyAsJSON(rc.c.Get(fiber.HeaderContentType), body); err != nil {
		return nil, err
	}
	pl, err := parsePayload(body)
	if err != nil {
		return nil, err
	}
	if put {
		if err := checkPut(t, q, pl); err != nil {
			return nil, err
		}
		rc.prefs.Resolution, q.OnConflict = "merge-duplicates", t.PK
	}
	cols, err := mutationColumns(t, q, pl)
	if err != nil {
		return nil, err
	}
	return &insertInput{q: q, m: m, pl: pl, cols: cols}, nil
}

// planInsert writes the INSERT (one per group of rows, see insertGroups)
// as the CTE pgrst_mut, followed by the representation.
func (h *Handler) planInsert(rc *reqCtx, t *Table, in *insertInput, put bool) (string, []any, error) {
	p := newPlanner(rc.schema, in.q, h.cfg.DBAggregatesEnabled)
	p.mutation = true
	conflict, err := onConflict(rc.prefs.Resolution, t, in.q.OnConflict, in.cols)
	if err != nil {
		return "", nil, err
	}
	if rc.prefs.Resolution != "" && !put {
		rc.prefs.apply("resolution=" + rc.prefs.Resolution)
	}
	groups := insertGroups(rc, in)
	sql := insertCTEs(p, t, in.pl, groups, conflict+returning(rc))
	rep, err := h.representation(rc, p, t, in.q, in.m)
	if err != nil {
		return "", nil, err
	}
	if len(groups) == 0 {
		// an empty array: nothing to insert
		sql = "WITH pgrst_mut AS (SELECT " + quoteIdent("pgrst_t") + ".* FROM " + t.QName() + " AS \"pgrst_t\" WHERE false)"
	}
	return sql + rep, p.b.args, nil
}

// onConflict renders an upsert's ON CONFLICT clause on target (else the
// primary key), updating cols on merge; "" without Prefer: resolution.
func onConflict(resolution string, t *Table, target, cols []string) (string, error) {
	if resolution == "" {
		return "", nil
	}
	if len(target) == 0 {
		target = t.PK
	}
	var qt []string
	for _, c := range target {
		if t.Column(c) == nil {
			return "", undefinedColumn(t.Name, c)
		}
		qt = append(qt, quoteIdent(c))
	}
	switch {
	case resolution == "ignore-duplicates" && len(qt) == 0:
		return " ON CONFLICT DO NOTHING", nil
	case resolution == "ignore-duplicates":
		return " ON CONFLICT (" + strings.Join(qt, ", ") + ") DO NOTHING", nil
	case len(qt) == 0:
		return "", newErr(400, sqlstateNoConflictIndex, "there is no unique or exclusion constraint matching the ON CONFLICT specification").
			WithHint("Give on_conflict the columns of a unique constraint")
	case len(cols) == 0:
		return " ON CONFLICT (" + strings.Join(qt, ", ") + ") DO NOTHING", nil
	}
	sets := make([]string, 0, len(cols))
	for _, c := range cols {
		sets = append(sets, quoteIdent(c)+" = EXCLUDED."+quoteIdent(c))
	}
	return " ON CONFLICT (" + strings.Join(qt, ", ") + ") DO UPDATE SET " + strings.Join(sets, ", "), nil
}

// insertGroup is the rows one INSERT writes and the columns it lists.
type insertGroup struct {
	cols []string
	// rows are the group's objects when rows are grouped; nil means the
	// whole payload.
	rows []map[string]json.RawMessage
}

// insertGroups groups the rows by the columns they have when
// missing=default (with columns=), so that each INSERT lists only those
// and the others take their DEFAULT; otherwise one INSERT writes every
// row, a missing key being NULL.
func insertGroups(rc *reqCtx, in *insertInput) []insertGroup {
	if rc.prefs.Missing != "default" || !in.q.HasColumns {
		return []insertGroup{{cols: in.cols}}
	}
	rc.prefs.apply("missing=default")
	var groups []insertGroup
	idx := map[string]int{}
	for _, o := range in.pl.objects {
		var present []string
		for _, c := range in.cols {
			if _, ok := o[c]; ok {
				present = append(present, c)
			}
		}
		key := strings.Join(present, "\x00")
		i, ok := idx[key]
		if !ok {
			i = len(groups)
			idx[key] = i
			groups = append(groups, insertGroup{cols: present})
		}
		groups[i].rows = append(groups[i].rows, o)
	}
	return groups
}

// insertCTEs writes one INSERT … tail CTE per group; several are united
// into pgrst_mut.
func insertCTEs(p *planner, t *Table, pl *payload, groups []insertGroup, tail string) string {
	var sb strings.Builder
	sb.WriteString("WITH ")
	var parts []string
	for gi, g := range groups {
		raw := pl.raw
		if g.rows != nil {
			raw, _ = json.Marshal(g.rows)
		}
		name := "pgrst_mut"
		if len(groups) > 1 {
			name = fmt.Sprintf("pgrst_mut%d", gi+1)
			parts = append(parts, "SELECT * FROM "+name)
		}
		var qc, sel []string
		for _, c := range g.cols {
			qc = append(qc, quoteIdent(c))
			sel = append(sel, col("pgrst_r", c))
		}
		colList := ""
		if len(qc) > 0 {
			colList = " (" + strings.Join(qc, ", ") + ")"
		}
		fmt.Fprintf(&sb, "%s AS (INSERT INTO %s AS \"pgrst_t\"%s SELECT %s FROM json_populate_recordset(NULL::%s, %s) AS \"pgrst_r\"%s), ",
			name, t.QName(), colList, strings.Join(sel, ", "), t.QName(), p.b.param(string(raw), "json"), tail)
	}
	if len(groups) > 1 {
		sb.WriteString("pgrst_mut AS (" + strings.Join(parts, " UNION ALL ") + "), ")
	}
	return strings.TrimSuffix(sb.String(), ", ")
}

// respondInsert answers 201, or 200 for a PUT and for an upsert that only
// updated rows; headers-only answers with Location instead of a body.
func (h *Handler) respondInsert(rc *reqCtx, t *Table, m media, res *mutationResult, put bool) error {
	if rc.prefs.Return == "headers-only" {
		if loc := location(t, res.body); loc != "" {
			rc.c.Set(fiber.HeaderLocation, loc)
		}
		res.body = nil
	}
	rc.c.Set("Content-Range", "*/"+res.rangeTotal(rc))
	if put || res.updated != nil && res.affected > 0 && *res.updated == res.affected {
		return h.respondMutation(rc, m, 200, res)
	}
	return h.respondMutation(rc, m, 201, res)
}

// location renders Location for a single inserted row from its key.
func location(t *Table, body []byte) string {
	var rows []map[string]any
	if json.Unmarshal(body, &rows) != nil || len(rows) != 1 {
		return ""
	}
	var parts []string
	for _, c := range t.PK {
		v := rows[0][c]
		s := ""
		switch x := v.(type) {
		case string:
			s = x
		case nil:
			s = "null"
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		parts = append(parts, url.QueryEscape(c)+"=eq."+url.QueryEscape(s))
	}
	return "/" + url.PathEscape(t.Name) + "?" + strings.Join(parts, "&")
}
