// Package rest serves /rest/v1, the PostgREST-compatible API that
// supabase-js's from() and rpc() use (docs/api/rest.md).
//
// A schema cache built from the catalog (schema.go, views.go; reloaded by
// cache.go on NOTIFY pgrst, on bus.SchemaReload and at start) names what may
// appear in SQL. The query string is parsed into trees (parse_select.go,
// parse_filter.go, parse_query.go, prefer.go, media.go), planned against
// the cache (plan.go) and rendered by sqlbuild.go into one statement whose
// JSON PostgreSQL builds: read.go (GET/HEAD, counts, ranges), mutate.go
// (POST/PUT/PATCH/DELETE), rpc.go (functions), openapi.go (the root
// document). csv.go and response.go shape answers; errors.go renders every
// error in PostgREST's {code, message, details, hint}. Every statement runs
// as the request's role, through db.WithClaims, or db.Reader for reads
// (one statement, one round trip), so row-level security applies; values
// travel only as bind parameters and identifiers only come quoted from the
// cache. A table read of a shape seen before reuses its plan
// (plancache.go).
package rest

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/apikey"
)

// localAnon is the fiber Locals key saying the request runs as anon, which
// the error renderer needs (42501 is 401 for anon, 403 otherwise).
const localAnon = "rest_anon"

// Handler serves /rest/v1.
type Handler struct {
	cfg  config.Rest
	keys *apikey.Keys
	pool *pgxpool.Pool
	// reader runs reads at the wire protocol's level (db.Reader).
	reader *db.Reader
	cache  *Cache
	log    *slog.Logger
	// base is the parent of queries whose request context can never be
	// cancelled: the worker's BaseContext, which shutdown cancels once
	// requests had their grace.
	base context.Context
	// preRequest is the statement calling DB_PRE_REQUEST, "" without one.
	preRequest string
	// readPlans are the plans of table reads by their shape (plancache.go).
	readPlans atomic.Pointer[readPlans]
	// searchPaths are the search_path of each exposed schema, written once.
	searchPaths map[string]string
}

// carrySchema is the key of the schema in api.Deps.Carry.
const carrySchema = "rest.schema"

// Register mounts /rest/v1 and starts the schema cache, which lives until
// deps.BaseContext is cancelled.
func Register(r fiber.Router, deps api.Deps) {
	h := New(deps.Config.Rest, deps.Config.JWTSecret, deps.DB, deps.Log)
	if deps.BaseContext != nil {
		h.base = deps.BaseContext
	}
	h.Mount(r)
	if deps.DB != nil {
		ctx := h.base
		// Load the schema before the worker starts serving and announces
		// itself, so the edge never routes a request to a worker whose
		// cache is still empty (503 PGRST002). The LISTEN comes first, so
		// that no change made after the load goes unheard and Run need
		// not load again. If the database is not reachable yet, Run keeps
		// trying in the background.
		if deps.Carry != nil {
			if s, ok := deps.Carry.Load(carrySchema); ok {
				h.cache.Seed(s.(*Schema))
			}
			h.cache.onLoad = func(s *Schema) { deps.Carry.Store(carrySchema, s) }
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		h.cache.Listen(ctx)
		h.cache.WaitListening(lctx)
		if err := h.cache.LoadNow(lctx); err != nil {
			h.log.Warn("schema cache not loaded at start; retrying in the background", "error", err.Error())
		}
		cancel()
		go h.cache.Run(ctx, deps.NATS)
	}
}

// New makes a handler; its cache is empty until Cache().Run or LoadNow.
// cfg is taken as config.Load made and validated it: its defaults are
// config's.
func New(cfg config.Rest, jwtSecret string, pool *pgxpool.Pool, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "rest")
	h := &Handler{cfg: cfg, keys: apikey.New(jwtSecret), pool: pool, log: log, base: context.Background()}
	if cfg.DBPreRequest != "" {
		var parts []string
		for _, p := range strings.Split(cfg.DBPreRequest, ".") {
			parts = append(parts, quoteIdent(p))
		}
		h.preRequest = "SELECT " + strings.Join(parts, ".") + "()"
	}
	h.searchPaths = make(map[string]string, len(cfg.DBSchemas))
	for _, s := range cfg.DBSchemas {
		h.searchPaths[s] = h.searchPath(s)
	}
	if pool != nil {
		h.cache = NewCache(pool, cfg.DBSchemas, log)
		h.reader = db.NewReader(pool)
	}
	return h
}

// Cache is the handler's schema cache (nil without a database).
func (h *Handler) Cache() *Cache { return h.cache }

// Mount registers the routes on r.
func (h *Handler) Mount(r fiber.Router) {
	g := r.Group("/rest/v1", errorsMiddleware(h.log))
	g.All("/", h.root)
	g.All("/rpc/:fn", h.rpc)
	g.All("/:rel", h.relation)
}

// reqCtx is what every REST request resolves first.
type reqCtx struct {
	c       *fiber.Ctx
	schema  *Schema
	profile string
	claims  db.ClaimSet
	role    string
	prefs   prefs
	method  string
	params  []kv
}

// resolve reads what every REST request needs before its own work: the
// caller (key and token), the schema cache, the profile, the preferences
// and the query parameters.
func (h *Handler) resolve(c *fiber.Ctx) (*reqCtx, error) {
	rc := &reqCtx{c: c, method: c.Method()}
	key, authz := apikey.FromRequest(c)
	res, err := h.keys.Resolve(key, authz)
	if err != nil {
		return nil, authError(err)
	}
	if res.KeyRole == "" && res.Token == "" && h.cfg.APIKeyRequired {
		return nil, newErr(401, codeNoAnon, "No API key found in request").
			WithHint("No `apikey` request header or url param was found.")
	}
	rc.claims, rc.role = res.ClaimSet(), res.Role
	c.Locals(localAnon, rc.role == db.RoleAnon)
	if h.cache == nil {
		return nil, &apierr.Error{Status: 503, Code: codeConnection, Message: "Database connection error. Retrying the connection.",
			Headers: map[string]string{"Retry-After": "10"}}
	}
	rc.schema = h.cache.Get()
	if rc.schema == nil {
		return nil, &apierr.Error{Status: 503, Code: codeSchemaNotLoaded, Message: "Could not query the database for the schema cache. Retrying.",
			Headers: map[string]string{"Retry-After": "1"}}
	}
	hdr := "Accept-Profile"
	switch rc.method {
	case fiber.MethodGet, fiber.MethodHead:
	default:
		hdr = "Content-Profile"
	}
	rc.profile = strings.TrimSpace(c.Get(hdr))
	if rc.profile == "" {
		rc.profile = h.cfg.DBSchemas[0]
	} else if !contains(h.cfg.DBSchemas, rc.profile) {
		return nil, newErr(406, codeSchema, "Invalid schema: "+rc.profile).
			WithHint("Only the following schemas are exposed: " + strings.Join(h.cfg.DBSchemas, ", "))
	}
	rc.profile = strings.Clone(rc.profile)
	rc.prefs = parsePrefer(preferHeaders(c))
	if rc.prefs.Tx != "" && !strings.HasSuffix(h.cfg.DBTxEnd, "-allow-override") {
		// tx=… is only honoured when the server allows it
		rc.prefs.invalid = append(rc.prefs.invalid, "tx="+rc.prefs.Tx)
		rc.prefs.Tx = ""
	}
	if err := rc.prefs.strictErr(); err != nil {
		return nil, err
	}
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		rc.params = append(rc.params, kv{Key: string(k), Value: string(v)})
	})
	return rc, nil
}

func preferHeaders(c *fiber.Ctx) []string {
	var out []string
	c.Request().Header.VisitAll(func(k, v []byte) {
		if strings.EqualFold(string(k), "Prefer") {
			out = append(out, string(v))
		}
	})
	return out
}

func authError(err error) *apierr.Error {
	www := map[string]string{"WWW-Authenticate": `Bearer error="invalid_token", error_description="` + err.Error() + `"`}
	switch {
	case errors.Is(err, apikey.ErrNoKey):
		return newErr(401, codeNoAnon, "No API key found in request")
	case errors.Is(err, apikey.ErrBadKey):
		return newErr(401, codeJWT, "Invalid API key").WithHint("Double check your Supabase `anon` or `service_role` API key.")
	case errors.Is(err, apikey.ErrExpiredJWT):
		e := newErr(401, codeJWTClaims, "JWT expired")
		e.Headers = www
		return e
	case errors.Is(err, apikey.ErrBadRole):
		e := newErr(401, codeJWTClaims, "JWT role is not allowed").WithDetails("The role claim must be anon, authenticated or service_role")
		e.Headers = www
		return e
	}
	e := newErr(401, codeJWT, "JWSError JWSInvalidSignature")
	e.Headers = www
	return e
}

// pathName decodes a percent-encoded path parameter.
func pathName(c *fiber.Ctx, key string) string {
	raw := c.Params(key)
	if s, err := url.PathUnescape(raw); err == nil {
		return strings.Clone(s)
	}
	return strings.Clone(raw)
}

func (h *Handler) relation(c *fiber.Ctx) error {
	rc, err := h.resolve(c)
	if err != nil {
		return err
	}
	name := pathName(c, "rel")
	t := rc.schema.Table(rc.profile, name)
	if t == nil {
		return unknownTable(rc.profile, name)
	}
	switch rc.method {
	case fiber.MethodGet, fiber.MethodHead:
		return h.read(rc, t)
	case fiber.MethodPost:
		return h.insert(rc, t)
	case fiber.MethodPatch:
		return h.update(rc, t)
	case fiber.MethodDelete:
		return h.delete(rc, t)
	case fiber.MethodPut:
		return h.put(rc, t)
	}
	return newErr(405, codeMethod, "Unsupported HTTP method: "+rc.method)
}

// errRollback ends a transaction that succeeded but must not commit
// (Prefer: tx=rollback).
var errRollback = errors.New("rest: rollback requested")

// txOptions say how a request's transaction runs.
type txOptions struct {
	readOnly bool
	rollback bool
}

// txFor decides read-only and rollback for a request.
func (h *Handler) txFor(rc *reqCtx, readOnly bool) txOptions {
	o := txOptions{readOnly: readOnly}
	override := strings.HasSuffix(h.cfg.DBTxEnd, "-allow-override")
	o.rollback = strings.HasPrefix(h.cfg.DBTxEnd, "rollback")
	if override && rc.prefs.Tx != "" {
		o.rollback = rc.prefs.Tx == "rollback"
		rc.prefs.apply("tx=" + rc.prefs.Tx)
	}
	return o
}

// queryContext is the context of a request's database work, bounded by
// REST_REQUEST_TIMEOUT. It derives from the request's context (fiber's
// UserContext, which middleware may tie to the client's connection), so a
// request that ends cancels its query; a request context that can never
// end (fiber's default, Background) gives way to the worker's base
// context, as auth's does.
func (h *Handler) queryContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	parent := c.UserContext()
	if parent.Done() == nil {
		parent = h.base
	}
	return context.WithTimeout(parent, h.cfg.RestRequestTimeout)
}

// run executes fn in the request's RLS transaction; BEGIN, the role, the
// claims and the settings go with fn's first statement.
func (h *Handler) run(rc *reqCtx, o txOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := h.queryContext(rc.c)
	defer cancel()
	err := db.WithClaimsSettings(ctx, h.pool, rc.claims, h.settings(rc, o.readOnly), func(ctx context.Context, tx pgx.Tx) error {
		if h.preRequest != "" {
			if err := h.runPreRequest(ctx, tx); err != nil {
				return err
			}
		}
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if o.rollback {
			return errRollback
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// runPreRequest calls DB_PRE_REQUEST, in the round trip that begins the
// transaction (an argument-less Exec would travel alone).
func (h *Handler) runPreRequest(ctx context.Context, tx pgx.Tx) error {
	b := &pgx.Batch{}
	b.Queue(h.preRequest)
	br := tx.SendBatch(ctx, b)
	_, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// readText runs a read's one statement (GET and HEAD, whose statement is
// known before it runs): the role, the claims, the settings and the
// statement in one round trip through db.Reader, in PostgreSQL's implicit
// transaction, which the settings make read-only, so that whether it ends
// in commit or rollback (DB_TX_END, Prefer: tx) makes no difference. fn
// gets the statement's row in PostgreSQL's text format, valid only during
// the call; a statement that returns no row is an error.
func (h *Handler) readText(rc *reqCtx, q db.Query, fn func(values [][]byte) error) error {
	ctx, cancel := h.queryContext(rc.c)
	defer cancel()
	h.txFor(rc, true) // reports an applied Prefer: tx like every other request
	qs := []db.Query{q}
	if h.preRequest != "" {
		// DB_PRE_REQUEST goes first, in the same round trip.
		qs = []db.Query{{SQL: h.preRequest}, q}
	}
	last, rows := len(qs)-1, 0
	err := h.reader.Read(ctx, rc.claims, h.settings(rc, true), qs, func(i int, values [][]byte) error {
		if i != last {
			return nil
		}
		rows++
		return fn(values)
	})
	if err == nil && rows == 0 {
		err = pgx.ErrNoRows
	}
	return err
}

// settings are the request's transaction-local context, as PostgREST sets
// it: search_path, request.method/path/headers/cookies, the role's own
// settings, time zone, and read-only mode for GET/HEAD.
func (h *Handler) settings(rc *reqCtx, readOnly bool) []db.Setting {
	path, ok := h.searchPaths[rc.profile]
	if !ok {
		path = h.searchPath(rc.profile)
	}
	req := rc.c.Request()
	headers := jsonObject(req.Header.All(), true, len(req.Header.RawHeaders())+64)
	cookies := "{}"
	if n := len(req.Header.Peek(fiber.HeaderCookie)); n > 0 {
		cookies = jsonObject(req.Header.Cookies(), false, n)
	}
	roleSettings := rc.schema.RoleSettings(rc.role)
	settings := make([]db.Setting, 0, 7+len(roleSettings))
	settings = append(settings,
		db.Setting{Name: "search_path", Value: path},
		db.Setting{Name: "request.method", Value: rc.method},
		db.Setting{Name: "request.path", Value: string(req.URI().Path())},
		db.Setting{Name: "request.headers", Value: headers},
		db.Setting{Name: "request.cookies", Value: cookies})
	for _, kv := range roleSettings {
		settings = append(settings, db.Setting{Name: kv[0], Value: kv[1]})
	}
	if rc.prefs.Timezone != "" {
		settings = append(settings, db.Setting{Name: "timezone", Value: rc.prefs.Timezone})
	}
	if readOnly {
		settings = append(settings, db.Setting{Name: "transaction_read_only", Value: "on"})
	}
	return settings
}

// searchPath is the search_path of requests to profile: the profile, then
// DB_EXTRA_SEARCH_PATH.
func (h *Handler) searchPath(profile string) string {
	path := quoteIdent(profile)
	for _, s := range h.cfg.DBExtraSearchPath {
		if s != profile {
			path += ", " + quoteIdent(s)
		}
	}
	return path
}

// jsonObject writes pairs as a JSON object of strings, keys lower-cased
// when lowerKeys (header names), into a buffer of about sizeHint bytes. A
// repeated name stays repeated; PostgreSQL's JSON functions take the last
// one, as a map would.
func jsonObject(pairs iter.Seq2[[]byte, []byte], lowerKeys bool, sizeHint int) string {
	b := append(make([]byte, 0, sizeHint+16), '{')
	for k, v := range pairs {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k, lowerKeys)
		b = append(b, ':')
		b = appendJSONString(b, v, false)
	}
	b = append(b, '}')
	// The buffer is this string's alone from here on: no copy.
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendJSONString appends s as a JSON string, lower-cased when lower (a
// header name), with invalid UTF-8 replaced as encoding/json does: the text
// goes to PostgreSQL, which refuses invalid UTF-8. Runs of bytes that need
// nothing (most of a header) are copied at once.
func appendJSONString(b, s []byte, lower bool) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && jsonPlain[s[j]] && !(lower && 'A' <= s[j] && s[j] <= 'Z') {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default: // an upper-case letter of a name
				b = append(b, c+'a'-'A')
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// jsonPlain says which bytes appendJSONString copies as they are: ASCII
// but for control characters, quote and backslash.
var jsonPlain = func() (plain [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\'
	}
	return plain
}()

// finish writes the common response headers.
func finish(rc *reqCtx) {
	if len(rc.prefs.applied) > 0 {
		rc.c.Set("Preference-Applied", strings.Join(rc.prefs.applied, ", "))
	}
}
