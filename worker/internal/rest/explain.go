package rest

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
)

// planMedia is what an Accept of application/vnd.pgrst.plan asks for
// (supabase-js explain()): the plan's format, the media type whose query is
// explained (for=, application/json when absent) and EXPLAIN's options.
type planMedia struct {
	JSON    bool     // +json; +text or no suffix is text
	For     media    // never itself a plan
	Options []string // of analyze, verbose, settings, buffers, wal, in that order
}

// planOptions are the EXPLAIN options a plan request may name.
var planOptions = []string{"analyze", "verbose", "settings", "buffers", "wal"}

// parsePlanMedia reads the parameters of a plan media type; ok is false
// when for= names a type that has no plan.
func parsePlanMedia(suffix string, params map[string]string) (planMedia, bool) {
	pm := planMedia{JSON: suffix == "json", For: media{Kind: mediaJSON}}
	if f := params["for"]; f != "" {
		m, err := negotiate(f, false)
		if err != nil || m.Kind == mediaPlan {
			return planMedia{}, false
		}
		pm.For = m
	}
	given := strings.Split(params["options"], "|")
	for _, o := range planOptions {
		if contains(given, o) {
			pm.Options = append(pm.Options, o)
		}
	}
	return pm, true
}

// mimeType is the media type without charset, as the plan's for= names it.
func (m media) mimeType() string {
	ct := m.contentType()
	return strings.TrimSuffix(strings.ReplaceAll(ct, "; charset=utf-8", ""), ";")
}

// planContentType is the Content-Type of a plan answer.
func (pm *planMedia) contentType() string {
	format := "text"
	if pm.JSON {
		format = "json"
	}
	ct := "application/vnd.pgrst.plan+" + format + `; for="` + pm.For.mimeType() + `"`
	if len(pm.Options) > 0 {
		ct += "; options=" + strings.Join(pm.Options, "|")
	}
	return ct + "; charset=utf-8"
}

// explainSQL wraps a request's statement in EXPLAIN with the asked options.
func (pm *planMedia) explainSQL(sql string) string {
	opts := []string{"FORMAT TEXT"}
	if pm.JSON {
		opts[0] = "FORMAT JSON"
	}
	for _, o := range pm.Options {
		opts = append(opts, strings.ToUpper(o))
	}
	return "EXPLAIN (" + strings.Join(opts, ", ") + ") " + sql
}

// checkPlan refuses a plan request unless DB_PLAN_ENABLED, as PostgREST
// does: the type is then simply not offered.
func (h *Handler) checkPlan(rc *reqCtx, m media) error {
	if m.Kind == mediaPlan && !h.cfg.DBPlanEnabled {
		return newErr(406, codeMediaType, "None of these media types are available: "+strings.Join(typesOf(rc.c.Get(fiber.HeaderAccept)), ", "))
	}
	return nil
}

// queryPlan runs EXPLAIN of a statement in tx: its lines, each ended by a
// newline (FORMAT JSON gives one).
func queryPlan(ctx context.Context, tx pgx.Tx, pm *planMedia, sql string, args []any) ([]byte, error) {
	rows, err := tx.Query(ctx, pm.explainSQL(sql), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var line []byte
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		out = append(append(out, line...), '\n')
	}
	return out, rows.Err()
}

// explain answers a plan request: the plan of the statement the request
// would have run, in the request's transaction (with analyze, a mutation
// runs and ends as the request would have).
func (h *Handler) explain(rc *reqCtx, m media, sql string, args []any, readOnly bool) error {
	var plan []byte
	err := h.run(rc, h.txFor(rc, readOnly), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		plan, err = queryPlan(ctx, tx, m.Plan, sql, args)
		return err
	})
	if err != nil {
		return noPostGIS(m, err)
	}
	finish(rc)
	return sendPlan(rc, m, plan)
}

// sendPlan writes a plan answer.
func sendPlan(rc *reqCtx, m media, plan []byte) error {
	rc.c.Set(fiber.HeaderContentType, m.Plan.contentType())
	rc.c.Status(200)
	if rc.method == fiber.MethodHead {
		return nil
	}
	return rc.c.Send(plan)
}
