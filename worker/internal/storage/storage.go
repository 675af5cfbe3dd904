// Package storage serves /storage/v1, the Supabase Storage API that
// supabase-js's storage client uses (docs/api/storage.md): buckets, objects,
// signed URLs and resumable uploads.
//
// Rows in storage.buckets and storage.objects say what exists; a Backend
// (local disk or S3) keeps the bytes, one key per written version of an
// object (blobKey). The order of every write keeps the two consistent:
//
//  1. the caller's right to write is checked in a rolled-back RLS
//     transaction before any byte is read;
//  2. the bytes stream to a fresh version key (the backends make them
//     visible only once complete, so a cut upload leaves nothing);
//  3. the row is inserted or updated to point at that version, in the
//     caller's RLS transaction; if that fails the new bytes are deleted;
//  4. after the commit the bytes of the version the row pointed to before
//     (upsert) are deleted.
//
// So a row never points at missing bytes. A crash between 2 and 3 or 3 and 4
// leaves bytes no row points to; the cleaner (cleaner.go) deletes those once
// they are older than an hour. Deletes remove rows first, then bytes; moves
// only change the row.
package storage

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/shared/config"
	"github.com/madbase/madbase/shared/db"
	"github.com/madbase/madbase/worker/internal/api"
	"github.com/madbase/madbase/worker/internal/apikey"
)

// requestTimeout bounds the database work of one request (not its bytes).
const requestTimeout = 30 * time.Second

// Handler serves /storage/v1.
type Handler struct {
	cfg     config.Storage
	secret  []byte
	keys    *apikey.Keys
	pool    *pgxpool.Pool
	backend Backend
	log     *slog.Logger
	maxBody int64
	base    context.Context
	// project is the created project's ref, empty for the default project.
	project string
	// img bounds image transformations (render.go).
	img *renderLimits
}

// Options configure New.
type Options struct {
	Config    config.Storage
	JWTSecret string
	Pool      *pgxpool.Pool
	Backend   Backend
	Log       *slog.Logger
	// MaxBodyBytes is the global object size limit (MAX_BODY_BYTES).
	MaxBodyBytes int64
	// Base is cancelled at shutdown; background work (the cleaner) stops.
	Base context.Context
}

// Register mounts /storage/v1 with the configured backend and starts the
// orphan cleaner. Without a database or a usable backend the routes answer
// 500s (logged) rather than stopping the worker.
func Register(r fiber.Router, deps api.Deps) {
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	be, err := NewBackend(deps.Config.Storage)
	if err != nil {
		log.Error("storage backend unavailable", "component", "storage", "error", err.Error())
	}
	if deps.Project != "" {
		be = WithPrefix(be, ProjectPrefix(deps.Project))
	}
	if s3, ok := unprefixed(be).(*S3); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s3.EnsureBucket(ctx, deps.Config.S3Region); err != nil {
			log.Warn("storage: cannot check the S3 bucket", "component", "storage", "error", err.Error())
		}
		cancel()
	}
	h := New(Options{Config: deps.Config.Storage, JWTSecret: deps.Config.JWTSecret, Pool: deps.DB,
		Backend: be, Log: log, MaxBodyBytes: deps.Config.MaxBodyBytes, Base: deps.BaseContext})
	h.project = deps.Project
	h.Mount(r)
	if deps.DB != nil && be != nil {
		go h.RunCleaner(h.base)
	}
}

// New makes a handler.
func New(o Options) *Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Base == nil {
		o.Base = context.Background()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 5 << 30
	}
	if o.Config.SignedUploadTTL <= 0 {
		o.Config.SignedUploadTTL = 2 * time.Hour
	}
	if o.Config.OrphanAge <= 0 {
		o.Config.OrphanAge = time.Hour
	}
	if o.Config.TUSExpiry <= 0 {
		o.Config.TUSExpiry = time.Hour
	}
	h := &Handler{cfg: o.Config, secret: []byte(o.JWTSecret), keys: apikey.New(o.JWTSecret), pool: o.Pool,
		backend: o.Backend, log: o.Log.With("component", "storage"), maxBody: o.MaxBodyBytes, base: o.Base,
		img: newRenderLimits(o.Config.ImageMaxInputBytes, o.Config.ImageMaxPixels, o.Config.ImageMaxDimension, o.Config.ImageConcurrency)}
	return h
}

// Mount registers the routes on r. Specific routes come before the
// wildcard object routes.
func (h *Handler) Mount(r fiber.Router) {
	// Uploads parse their own multipart stream (body.go): the worker's app
	// has fasthttp's pre-parsing of multipart bodies off (shared/httpserver),
	// which would buffer them and drop the part with an empty field name
	// that storage-js gives a Blob.
	g := r.Group("/storage/v1", errorsMiddleware(h.log), h.ready)
	g.Get("/health", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"healthy": true}) })

	g.Get("/bucket", h.listBuckets)
	g.Post("/bucket", h.createBucket)
	g.Get("/bucket/:id", h.getBucket)
	g.Put("/bucket/:id", h.updateBucket)
	g.Post("/bucket/:id/empty", h.emptyBucket)
	g.Delete("/bucket/:id", h.deleteBucket)

	g.Post("/object/list/:bucket", h.list)
	g.Post("/object/list-v2/:bucket", h.listV2)
	g.Post("/object/move", h.move)
	g.Post("/object/copy", h.copy)

	g.Post("/object/sign/*", h.sign)
	g.Get("/object/sign/*", h.getSigned)
	g.Head("/object/sign/*", h.getSigned)
	g.Post("/object/upload/sign/*", h.createUploadURL)
	g.Put("/object/upload/sign/*", h.uploadSigned)

	g.Get("/object/public/*", h.getPublic)
	g.Head("/object/public/*", h.getPublic)
	g.Get("/object/authenticated/*", h.getAuthenticated)
	g.Head("/object/authenticated/*", h.getAuthenticated)
	g.Get("/object/info/public/*", h.infoPublic)
	g.Get("/object/info/authenticated/*", h.info)
	g.Get("/object/info/*", h.info)

	g.Post("/object/*", h.uploadPost)
	g.Put("/object/*", h.uploadPut)
	g.Get("/object/*", h.getAuthenticated)
	g.Head("/object/*", h.getAuthenticated)
	g.Delete("/object/*", h.deleteObjects)

	g.Get("/render/image/public/*", h.renderPublic)
	g.Get("/render/image/authenticated/*", h.renderAuthenticated)
	g.Get("/render/image/sign/*", h.renderSigned)

	g.Delete("/cdn/*", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"message": "success"}) })

	g.Post("/upload/resumable", h.tusCreate)
	g.Post("/upload/resumable/sign", h.tusCreate)
	g.Head("/upload/resumable/*", h.tusHead)
	g.Patch("/upload/resumable/*", h.tusPatch)
	g.Delete("/upload/resumable/*", h.tusDelete)
	g.Options("/upload/resumable*", h.tusOptions)

	g.All("/*", func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}

func (h *Handler) ready(c *fiber.Ctx) error {
	if h.pool == nil || h.backend == nil {
		return errInternal(errors.New("storage: no database or backend configured"))
	}
	return c.Next()
}

// caller is who a request acts as, and the request settings its
// transactions expose to policies (request.method, request.path,
// request.headers, as upstream sets them).
type caller struct {
	claims db.Claims
	role   string
	sub    string
	method string
	path   string
	// headers is the request's headers as JSON, credentials left out.
	headers string
}

// withRequest records the request settings on cl.
func withRequest(c *fiber.Ctx, cl *caller) *caller {
	cl.method = strings.Clone(c.Method())
	cl.path = strings.Clone(c.Path())
	hs := map[string]string{}
	c.Request().Header.VisitAll(func(k, v []byte) {
		name := strings.ToLower(string(k))
		switch name {
		case "authorization", "apikey", "cookie":
			return
		}
		hs[name] = string(v)
	})
	b, _ := json.Marshal(hs)
	cl.headers = string(b)
	return cl
}

// ownerUUID is the caller's sub when it is a UUID (the deprecated owner
// column is uuid), else nil.
func (cl *caller) ownerUUID() any {
	if isUUID(cl.sub) {
		return cl.sub
	}
	return nil
}

func (cl *caller) ownerID() any {
	if cl.sub == "" {
		return nil
	}
	return cl.sub
}

// auth resolves the caller from the Authorization bearer, as storage-api
// does, in front of which Supabase's gateway checks the apikey:
//
//   - an apikey that is not one of the project's keys is refused with the
//     gateway's 401 (errBadAPIKey), whatever the route;
//   - a request with no Authorization runs as its apikey's role when that
//     is an opaque key (sb_…, for which the gateway makes the bearer);
//     otherwise storage-api refuses it for the missing header;
//   - a bearer that is not a valid JWT is refused with the JWT's error.
//
// anonFallback makes a missing or bad bearer act as anon instead (object
// reads, whose public buckets need none).
func (h *Handler) auth(c *fiber.Ctx, anonFallback bool) (*caller, error) {
	return h.authenticate(c, anonFallback, errNoAuthorization)
}

// errNoAuthorization is storage-api's answer to a request without an
// Authorization header on a route whose schema requires one (its request
// validation's 400).
func errNoAuthorization() *apierr.Error {
	return newErr(400, codeInvalidRequest, "Bad Request", "headers must have required property 'authorization'")
}

// errNoJWT is storage-api's answer to a request without a bearer on a
// route with no header schema (resumable uploads): the JWT check's.
func errNoJWT() *apierr.Error {
	return newErr(403, codeAccessDenied, "Unauthorized", "jwt must be provided")
}

// authenticate is auth with missing as the answer to a request with no
// Authorization (and no opaque apikey).
func (h *Handler) authenticate(c *fiber.Ctx, anonFallback bool, missing func() *apierr.Error) (*caller, error) {
	key, authz := apikey.FromRequest(c)
	if key != "" {
		if _, err := h.keys.KeyRole(key); err != nil {
			return nil, errBadAPIKey()
		}
	}
	if strings.TrimSpace(authz) == "" {
		switch {
		case strings.HasPrefix(key, "sb_"):
			authz = "Bearer " + key
		case anonFallback:
			return withRequest(c, &caller{claims: db.Claims{"role": db.RoleAnon}, role: db.RoleAnon}), nil
		default:
			return nil, missing()
		}
	}
	res, err := h.keys.Resolve("", authz)
	if err != nil {
		if anonFallback {
			return withRequest(c, &caller{claims: db.Claims{"role": db.RoleAnon}, role: db.RoleAnon}), nil
		}
		msg := "invalid signature"
		switch {
		case errors.Is(err, apikey.ErrExpiredJWT):
			msg = "jwt expired"
		case errors.Is(err, apikey.ErrBadRole):
			msg = "invalid role"
		case errors.Is(err, apikey.ErrBadKey):
			msg = "invalid API key"
		}
		return nil, newErr(403, codeAccessDenied, "Unauthorized", msg)
	}
	return withRequest(c, &caller{claims: res.Claims, role: res.Role, sub: strings.Clone(res.Claims.Subject())}), nil
}

// objectRequest authenticates a request on /object/.../{bucket}/{key}
// (see auth for anonFallback) and reads the bucket and key from its path.
func (h *Handler) objectRequest(c *fiber.Ctx, anonFallback bool) (cl *caller, bucketID, key string, err error) {
	if cl, err = h.auth(c, anonFallback); err != nil {
		return nil, "", "", err
	}
	bucketID, key, perr := parseObjectPath(tail(c))
	if perr != nil {
		return nil, "", "", perr
	}
	return cl, bucketID, key, nil
}

var serviceClaims = db.Claims{"role": db.RoleServiceRole}

// dbCtx is the context of a request's database work.
func dbCtx(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), requestTimeout)
}

// withClaims runs fn as the caller, setting storage.operation and the
// request settings Supabase policies may read.
func (h *Handler) withClaims(ctx context.Context, cl *caller, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return db.WithClaims(ctx, h.pool, cl.claims, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select set_config('storage.operation', $1, true), set_config('request.method', $2, true),
set_config('request.path', $3, true), set_config('request.headers', $4, true)`, op, cl.method, cl.path, orDefault(cl.headers, "{}")); err != nil {
			return err
		}
		return fn(ctx, tx)
	})
}

// bucketInfo is what uploads and public reads need about a bucket, read as
// the worker's own (superuser) role.
type bucketInfo struct {
	ID               string
	Public           bool
	FileSizeLimit    *int64
	AllowedMimeTypes []string
}

func (h *Handler) bucket(ctx context.Context, id string) (*bucketInfo, error) {
	b := &bucketInfo{}
	err := h.svc().QueryRow(ctx, `select id, public, file_size_limit, allowed_mime_types from storage.buckets where id = $1`, id).
		Scan(&b.ID, &b.Public, &b.FileSizeLimit, &b.AllowedMimeTypes)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoSuchBucket()
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// limit is the largest object the bucket takes.
func (h *Handler) limit(b *bucketInfo) int64 {
	l := h.maxBody
	if b.FileSizeLimit != nil && *b.FileSizeLimit > 0 && *b.FileSizeLimit < l {
		l = *b.FileSizeLimit
	}
	return l
}

// tail is the decoded-later wildcard of an object route.
func tail(c *fiber.Ctx) string { return strings.Clone(c.Params("*")) }

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return false
			}
		}
	}
	return true
}

// asService runs fn as service_role: the worker's own reads and writes
// (bucket limits, public and signed objects, resumable-upload state) bypass
// RLS without depending on the role the pool connects as.
func (h *Handler) asService(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return db.WithClaims(ctx, h.pool, serviceClaims, fn)
}

// svc is a querier whose every QueryRow runs in its own service_role
// transaction.
func (h *Handler) svc() querier { return svcQuerier{h} }

type svcQuerier struct{ h *Handler }

func (s svcQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return svcRow{h: s.h, ctx: ctx, sql: sql, args: args}
}

type svcRow struct {
	h    *Handler
	ctx  context.Context
	sql  string
	args []any
}

func (r svcRow) Scan(dest ...any) error {
	return r.h.asService(r.ctx, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, r.sql, r.args...).Scan(dest...)
	})
}

// svcExec runs one statement as service_role.
func (h *Handler) svcExec(ctx context.Context, sql string, args ...any) error {
	return h.asService(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
}
