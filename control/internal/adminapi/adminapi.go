// Package adminapi serves control's HTTP API: health and metrics for
// machines, and under /admin/v1 (password protected) the live workers and
// edges and the platform's logs for operators.
package adminapi

import (
	"bufio"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/bus"
	"github.com/madbase/madbase/control/internal/apirates"
	"github.com/madbase/madbase/control/internal/fleet"
	"github.com/madbase/madbase/control/internal/functions"
	"github.com/madbase/madbase/control/internal/logsink"
	"github.com/madbase/madbase/control/internal/outbox"
	"github.com/madbase/madbase/control/internal/projects"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/httpserver"
	"github.com/madbase/madbase/shared/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultKeepalive is how often an idle log stream sends a comment, so
// proxies keep it open and a departed client is noticed.
const DefaultKeepalive = 15 * time.Second

// Deps is what the admin API serves from.
type Deps struct {
	Log   *slog.Logger
	Fleet *fleet.Fleet
	// Rates is the history of request rates per API; nil answers an
	// empty one.
	Rates    *apirates.History
	Logs     *logsink.Sink
	Password string
	// Gatherer is exposed on /metrics.
	Gatherer prometheus.Gatherer
	// Metrics measures requests; nil leaves them unmeasured.
	Metrics *metrics.HTTP
	// Streams ends every open log stream when done, so shutdown never waits
	// on them. Nil: streams end only with their client or the sink.
	Streams context.Context
	// Keepalive overrides DefaultKeepalive.
	Keepalive time.Duration
	// Outbox is the dev outbox of auth mails; nil serves an empty list.
	Outbox *outbox.Outbox
	// Throttle limits failed admin sign-ins per client address; nil takes
	// the defaults.
	Throttle *Throttle
	// Projects stores the projects; nil answers 503 on /admin/v1/projects.
	Projects *projects.Store
	// Functions stores the edge functions and their secrets; nil answers
	// 503 on /admin/v1/functions and /admin/v1/secrets.
	Functions *functions.Store
	// Guard, when set, is the admin guard to use (shared with the
	// dashboard's sign-in); nil makes one from Password, Throttle and Log.
	Guard *Guard
	// Mount, when set, registers more routes (the dashboard's) before the
	// catch-all 404.
	Mount func(r fiber.Router)
}

// New returns control's fiber app with every route registered.
func New(d Deps) *fiber.App {
	app := httpserver.New(httpserver.Options{Log: d.Log, Metrics: d.Metrics})
	Register(app, d)
	return app
}

// Register adds the routes to r.
func Register(r fiber.Router, d Deps) {
	if d.Keepalive <= 0 {
		d.Keepalive = DefaultKeepalive
	}
	if d.Streams == nil {
		d.Streams = context.Background()
	}
	h := &handlers{d: d}
	r.Get("/health", h.health)
	if d.Gatherer != nil {
		r.Get("/metrics", httpserver.MetricsHandler(d.Gatherer))
	}
	guard := d.Guard
	if guard == nil {
		guard = NewGuard(Guard{Password: d.Password, Clients: d.Throttle, Log: d.Log})
	}
	if d.Mount != nil {
		d.Mount(r)
	}
	admin := r.Group("/admin/v1", guard.Require)
	admin.Get("/workers", h.workers)
	admin.Get("/edges", h.edges)
	admin.Get("/metrics/summary", h.metricsSummary)
	admin.Get("/logs", h.logs)
	admin.Get("/logs/stream", h.stream)
	admin.Get("/outbox", h.outbox)
	functions.Mount(admin, d.Functions)
	registerProjects(admin, d)
	r.Use(noRoute)
}

// noRoute answers what no route took with the edge's 404, so a client
// reads the same shape and words whichever tier answered.
func noRoute(c *fiber.Ctx) error {
	return apierr.NotFound("no route for " + c.Path())
}

type handlers struct{ d Deps }

func (h *handlers) health(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// workersBody is the answer of GET /admin/v1/workers (admin API contract).
type workersBody struct {
	Workers []fleet.Worker `json:"workers"`
}

func (h *handlers) workers(c *fiber.Ctx) error {
	return c.JSON(workersBody{Workers: h.d.Fleet.Workers()})
}

// edgesBody is the answer of GET /admin/v1/edges (admin API contract).
type edgesBody struct {
	Edges []fleet.Edge `json:"edges"`
}

func (h *handlers) edges(c *fiber.Ctx) error {
	return c.JSON(edgesBody{Edges: h.d.Fleet.Edges()})
}

// summaryBody is the answer of GET /admin/v1/metrics/summary (admin API
// contract): the platform's traffic per API over the last minutes, one
// point per interval, oldest first.
type summaryBody struct {
	IntervalSeconds float64          `json:"interval_seconds"`
	APIs            []string         `json:"apis"`
	Points          []apirates.Point `json:"points"`
}

func (h *handlers) metricsSummary(c *fiber.Ctx) error {
	body := summaryBody{IntervalSeconds: apirates.DefaultInterval.Seconds(), APIs: apirates.APIs, Points: []apirates.Point{}}
	if h.d.Rates != nil {
		body.Points = h.d.Rates.Points()
	}
	return c.JSON(body)
}

// filter reads the log filter from the query string. Values are copied:
// fiber reuses its buffers once the handler returns, and a stream keeps its
// filter for long.
func filter(c *fiber.Ctx) (logsink.Filter, error) {
	f, err := logsink.ParseFilter(func(k string) string { return strings.Clone(c.Query(k)) }, time.Now())
	if err != nil {
		return f, apierr.BadRequest(err.Error())
	}
	return f, nil
}

// logs answers {"logs":[...]} with the raw records, oldest first.
func (h *handlers) logs(c *fiber.Ctx) error {
	f, err := filter(c)
	if err != nil {
		return err
	}
	recs := h.d.Logs.Query(f)
	n := len(`{"logs":[]}`)
	for _, r := range recs {
		n += len(r.Raw) + 1
	}
	body := make([]byte, 0, n)
	body = append(body, `{"logs":[`...)
	for i, r := range recs {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, r.Raw...)
	}
	body = append(body, "]}"...)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(body)
}

// stream sends matching records as server-sent events as they arrive: one
// `data: <record>` event each, and a comment every Keepalive. It ends when
// the client goes away, the sink closes or Deps.Streams is done.
func (h *handlers) stream(c *fiber.Ctx) error {
	f, err := filter(c)
	if err != nil {
		return err
	}
	recs, stop := h.d.Logs.Watch(f, 0)
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	done := h.d.Streams.Done()
	keepalive := h.d.Keepalive
	// The writer runs on its own goroutine after the handler returns; it must
	// not touch c.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer stop()
		if _, err := w.WriteString(": connected\n\n"); err != nil || w.Flush() != nil {
			return
		}
		t := time.NewTicker(keepalive)
		defer t.Stop()
		for {
			select {
			case rec, ok := <-recs:
				if !ok {
					return
				}
				_, _ = w.WriteString("data: ")
				_, _ = w.Write(rec.Raw)
				_, _ = w.WriteString("\n\n")
				if w.Flush() != nil {
					return
				}
			case <-t.C:
				if _, err := w.WriteString(": keepalive\n\n"); err != nil || w.Flush() != nil {
					return
				}
			case <-done:
				return
			}
		}
	})
	return nil
}

// outboxBody is the answer of GET /admin/v1/outbox (admin API contract).
type outboxBody struct {
	Messages []bus.OutboxMail `json:"messages"`
}

// outbox lists the dev outbox, newest first: ?to= keeps one recipient's
// mails, ?limit= the newest n.
func (h *handlers) outbox(c *fiber.Ctx) error {
	limit := 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return apierr.BadRequest("limit must be a non-negative integer")
		}
		limit = n
	}
	msgs := []bus.OutboxMail{}
	if h.d.Outbox != nil {
		msgs = h.d.Outbox.List(c.Query("to"), limit)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(outboxBody{Messages: msgs})
}
