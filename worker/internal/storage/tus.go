package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/db"
)

// TUS 1.0.0 resumable uploads (docs/api/storage.md §4.8). The state of an unfinished
// upload lives in storage.tus_uploads, so any worker can take the next
// PATCH; each PATCH's bytes are stored in the backend as one chunk
// (tus/<id>/<offset>). When the last byte arrives the chunks are streamed
// into the object's version key, the row is written as the creator (RLS),
// and the chunks are deleted. The cleaner removes expired uploads.
const tusVersion = "1.0.0"

func tusHeaders(c *fiber.Ctx) {
	c.Set("Tus-Resumable", tusVersion)
	c.Set("Cache-Control", "no-store")
}

func (h *Handler) tusOptions(c *fiber.Ctx) error {
	c.Set("Tus-Resumable", tusVersion)
	c.Set("Tus-Version", tusVersion)
	c.Set("Tus-Extension", "creation,creation-defer-length,termination,expiration")
	c.Set("Tus-Max-Size", strconv.FormatInt(h.maxBody, 10))
	return c.SendStatus(fiber.StatusNoContent)
}

// parseTUSMetadata reads "key base64,key base64".
func parseTUSMetadata(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), " ")
		if k == "" {
			continue
		}
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		out[k] = string(dec)
	}
	return out
}

// uploadURL is the externally reachable base of this request.
func uploadURL(c *fiber.Ctx, id string) string {
	proto := c.Get("X-Forwarded-Proto")
	if proto == "" {
		proto = c.Protocol()
	}
	host := c.Get("X-Forwarded-Host")
	if host == "" {
		host = string(c.Request().Host())
	}
	return proto + "://" + host + "/storage/v1/upload/resumable/" + id
}

func (h *Handler) tusCreate(c *fiber.Ctx) error {
	tusHeaders(c)
	meta := parseTUSMetadata(c.Get("Upload-Metadata"))
	bucketID, key := meta["bucketName"], meta["objectName"]
	if !validBucketName(bucketID) {
		return errInvalidBucket()
	}
	if !validKey(key) {
		return errInvalidKey(printable(key))
	}
	var cl *caller
	upsert := strings.EqualFold(c.Get("x-upsert"), "true")
	if strings.HasSuffix(c.Path(), "/sign") {
		claims, err := h.verifyToken(c.Get("x-signature"), bucketID, key, scopeUpload)
		if err != nil {
			return err
		}
		upsert, _ = claims["upsert"].(bool)
		owner, _ := claims["owner"].(string)
		cl = &caller{claims: db.Claims{"role": db.RoleServiceRole, "sub": owner}, role: db.RoleServiceRole, sub: owner}
	} else {
		var err error
		if cl, err = h.authenticate(c, false, errNoJWT); err != nil {
			return err
		}
	}
	length, err := creationLength(c)
	if err != nil {
		return err
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	b, err := h.bucket(ctx, bucketID)
	if err != nil {
		return err
	}
	if length > h.limit(b) {
		return errTooLarge()
	}
	mt := orDefault(meta["contentType"], "application/octet-stream")
	if !strings.HasSuffix(key, placeholderSuffix) && !mimeAllowed(mt, b.AllowedMimeTypes) {
		return newErr(415, codeInvalidMime, "invalid_mime_type", "mime type "+mt+" is not supported")
	}
	cc := "no-cache"
	if v := meta["cacheControl"]; v != "" {
		cc = "max-age=" + v
		if strings.Contains(v, "=") {
			cc = v
		}
	}
	var um any
	if v := meta["metadata"]; v != "" && json.Valid([]byte(v)) {
		um = v
	}
	w := &write{cl: cl, owner: cl, bucket: b, key: key, upsert: upsert, op: "storage.object.upload"}
	if err := h.check(ctx, w, mt, length); err != nil {
		return err
	}
	id := strings.ReplaceAll(uuid.NewString(), "-", "")
	claimsJSON, _ := json.Marshal(cl.claims)
	expires := time.Now().Add(h.cfg.TUSExpiry)
	var dbLength any
	if length >= 0 {
		dbLength = length
	}
	err = h.svcExec(ctx, `insert into storage.tus_uploads (id, bucket_id, name, upload_length, upsert, owner_id, claims,
content_type, cache_control, user_metadata, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		id, bucketID, key, dbLength, upsert, cl.ownerID(), string(claimsJSON), mt, cc, um, expires)
	if err != nil {
		return errInternal(err)
	}
	c.Set("Location", uploadURL(c, id))
	c.Set("Upload-Expires", expires.UTC().Format(time.RFC1123))
	if length == 0 {
		if err := h.tusFinish(c, id); err != nil {
			return err
		}
	}
	return c.SendStatus(fiber.StatusCreated)
}

// creationLength is the Upload-Length of a creation request, or -1 when it
// defers the length (Upload-Defer-Length: 1, tus's creation-defer-length):
// a later PATCH gives it.
func creationLength(c *fiber.Ctx) (int64, error) {
	if v := c.Get("Upload-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, errBadRequest("Invalid Upload-Length")
		}
		return n, nil
	}
	if c.Get("Upload-Defer-Length") == "1" {
		return -1, nil
	}
	return 0, errBadRequest("Upload-Length or Upload-Defer-Length: 1 is required")
}

// tusUpload is a row of storage.tus_uploads; Length is -1 while the upload
// defers it.
type tusUpload struct {
	ID, Bucket, Name, ContentType, CacheControl string
	Length, Offset                              int64
	Chunks                                      []int64
	Upsert                                      bool
	Claims                                      db.Claims
	UserMeta                                    json.RawMessage
	Expires                                     time.Time
}

func (h *Handler) tusLoad(ctx context.Context, q querier, id string, forUpdate bool) (*tusUpload, error) {
	u := &tusUpload{}
	var claims []byte
	sql := `select id, bucket_id, name, content_type, cache_control, upload_length, upload_offset, chunks, upsert, claims,
user_metadata, expires_at from storage.tus_uploads where id = $1 and expires_at > now()`
	if forUpdate {
		sql += ` for update`
	}
	var length *int64
	err := q.QueryRow(ctx, sql, id).Scan(&u.ID, &u.Bucket, &u.Name, &u.ContentType, &u.CacheControl, &length, &u.Offset,
		&u.Chunks, &u.Upsert, &claims, &u.UserMeta, &u.Expires)
	u.Length = -1
	if length != nil {
		u.Length = *length
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, newErrAsIs(404, codeNoSuchKey, "not_found", "Upload not found")
	}
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal(claims, &u.Claims)
	return u, nil
}

func (h *Handler) tusHead(c *fiber.Ctx) error {
	tusHeaders(c)
	ctx, cancel := dbCtx(c)
	defer cancel()
	u, err := h.tusLoad(ctx, h.svc(), tail(c), false)
	if err != nil {
		return err
	}
	if err := h.tusAuthorize(c, u); err != nil {
		return err
	}
	c.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	if u.Length < 0 {
		c.Set("Upload-Defer-Length", "1")
	} else {
		c.Set("Upload-Length", strconv.FormatInt(u.Length, 10))
	}
	c.Set("Upload-Expires", u.Expires.UTC().Format(time.RFC1123))
	return c.SendStatus(fiber.StatusOK)
}

// tusAuthorize lets only the creator of an upload continue it, look at it or
// cancel it, as on creation: the request carries the signature of the
// signed upload URL it was created with (x-signature), or credentials of
// the same role and user, or the service role. The upload's id alone is
// not enough: it travels in URLs and logs.
func (h *Handler) tusAuthorize(c *fiber.Ctx, u *tusUpload) error {
	if sig := c.Get("x-signature"); sig != "" {
		_, err := h.verifyToken(sig, u.Bucket, u.Name, scopeUpload)
		return err
	}
	cl, err := h.authenticate(c, false, errNoJWT)
	if err != nil {
		return err
	}
	if cl.role == db.RoleServiceRole || (cl.role == u.Claims.Role() && cl.sub == u.Claims.Subject()) {
		return nil
	}
	return newErr(403, codeAccessDenied, "Unauthorized", "the upload was created by someone else")
}

func tusChunkKey(id string, off int64) string { return fmt.Sprintf("tus/%s/%020d", id, off) }

func (h *Handler) tusPatch(c *fiber.Ctx) error {
	tusHeaders(c)
	id := tail(c)
	if ct := c.Get(fiber.HeaderContentType); !strings.HasPrefix(ct, "application/offset+octet-stream") {
		return newErrAsIs(415, codeInvalidRequest, codeInvalidRequest, "Content-Type must be application/offset+octet-stream")
	}
	off, err := strconv.ParseInt(c.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 {
		return errBadRequest("Upload-Offset is required")
	}
	ctx, cancel := dbCtx(c)
	u, err := h.tusLoad(ctx, h.svc(), id, false)
	cancel()
	if err != nil {
		return err
	}
	if err := h.tusAuthorize(c, u); err != nil {
		return err
	}
	if off != u.Offset {
		return newErrAsIs(409, codeInvalidRequest, "Conflict", "Upload-Offset does not match the upload's offset")
	}
	if err := h.tusSetLength(c, u); err != nil {
		return err
	}
	limit := u.Length
	if limit < 0 {
		// The length is still deferred: this PATCH may bring up to the
		// bucket's limit.
		ctx, cancel := dbCtx(c)
		b, err := h.bucket(ctx, u.Bucket)
		cancel()
		if err != nil {
			return err
		}
		limit = h.limit(b)
	}
	key := tusChunkKey(id, off)
	body := &readTracker{r: bodyStream(c)}
	cr := &countingReader{r: body, max: limit - off}
	n, err := h.backend.Put(h.base, key, cr, "")
	if err != nil {
		_ = h.backend.Delete(context.WithoutCancel(h.base), key)
		return putError(err, cr, body)
	}
	ctx, cancel = dbCtx(c)
	defer cancel()
	var newOff int64
	err = h.svc().QueryRow(ctx, `update storage.tus_uploads set upload_offset = upload_offset + $3, chunks = chunks || $2::bigint
where id = $1 and upload_offset = $2 returning upload_offset`, id, off, n).Scan(&newOff)
	if errors.Is(err, pgx.ErrNoRows) {
		_ = h.backend.Delete(context.WithoutCancel(h.base), key)
		return newErrAsIs(409, codeInvalidRequest, "Conflict", "Upload-Offset does not match the upload's offset")
	}
	if err != nil {
		_ = h.backend.Delete(context.WithoutCancel(h.base), key)
		return errInternal(err)
	}
	if u.Length >= 0 && newOff == u.Length {
		if err := h.tusFinish(c, id); err != nil {
			return err
		}
	}
	c.Set("Upload-Offset", strconv.FormatInt(newOff, 10))
	return c.SendStatus(fiber.StatusNoContent)
}

// tusSetLength records the Upload-Length a PATCH gives an upload that
// deferred it; an upload whose length is known must be sent the same one,
// or none.
func (h *Handler) tusSetLength(c *fiber.Ctx, u *tusUpload) error {
	v := c.Get("Upload-Length")
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < u.Offset {
		return errBadRequest("Invalid Upload-Length")
	}
	if u.Length >= 0 {
		if n != u.Length {
			return errBadRequest("Upload-Length cannot change")
		}
		return nil
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	b, err := h.bucket(ctx, u.Bucket)
	if err != nil {
		return err
	}
	if n > h.limit(b) {
		return errTooLarge()
	}
	var got int64
	err = h.svc().QueryRow(ctx, `update storage.tus_uploads set upload_length = coalesce(upload_length, $2)
where id = $1 returning upload_length`, u.ID, n).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return newErrAsIs(404, codeNoSuchKey, "not_found", "Upload not found")
	}
	if err != nil {
		return err
	}
	if got != n {
		return errBadRequest("Upload-Length cannot change")
	}
	u.Length = n
	return nil
}

// chunkReader streams the chunks of an upload one after the other.
type chunkReader struct {
	ctx  context.Context
	be   Backend
	keys []string
	cur  io.ReadCloser
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.keys) == 0 {
				return 0, io.EOF
			}
			rc, err := r.be.Get(r.ctx, r.keys[0], 0, -1)
			if err != nil {
				return 0, err
			}
			r.cur, r.keys = rc, r.keys[1:]
		}
		n, err := r.cur.Read(p)
		if errors.Is(err, io.EOF) {
			_ = r.cur.Close()
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *chunkReader) Close() {
	if r.cur != nil {
		_ = r.cur.Close()
	}
}

// tusFinish assembles a complete upload into its object.
func (h *Handler) tusFinish(c *fiber.Ctx, id string) error {
	ctx, cancel := dbCtx(c)
	defer cancel()
	u, err := h.tusLoad(ctx, h.svc(), id, false)
	if err != nil {
		return err
	}
	b, err := h.bucket(ctx, u.Bucket)
	if err != nil {
		return err
	}
	keys := make([]string, len(u.Chunks))
	for i, off := range u.Chunks {
		keys[i] = tusChunkKey(id, off)
	}
	cr := &chunkReader{ctx: h.base, be: h.backend, keys: keys}
	defer cr.Close()
	cl := &caller{claims: u.Claims, role: u.Claims.Role(), sub: u.Claims.Subject()}
	up := &upload{mime: u.ContentType, cacheControl: u.CacheControl, userMeta: u.UserMeta, file: cr,
		finish: func() error { return nil }, close: func() {}}
	// The creator's right was checked at creation and is checked again by
	// the row write in store.
	if _, err := h.store(c, &write{cl: cl, owner: cl, bucket: b, key: u.Name, upsert: u.Upsert, op: "storage.object.upload"}, up); err != nil {
		return err
	}
	h.tusDrop(ctx, id, keys)
	return nil
}

func (h *Handler) tusDrop(ctx context.Context, id string, keys []string) {
	_ = h.svcExec(ctx, `delete from storage.tus_uploads where id = $1`, id)
	for _, k := range keys {
		_ = h.backend.Delete(context.WithoutCancel(ctx), k)
	}
}

func (h *Handler) tusDelete(c *fiber.Ctx) error {
	tusHeaders(c)
	ctx, cancel := dbCtx(c)
	defer cancel()
	id := tail(c)
	u, err := h.tusLoad(ctx, h.svc(), id, false)
	if err != nil {
		return err
	}
	if err := h.tusAuthorize(c, u); err != nil {
		return err
	}
	keys := make([]string, len(u.Chunks))
	for i, off := range u.Chunks {
		keys[i] = tusChunkKey(id, off)
	}
	h.tusDrop(ctx, id, keys)
	return c.SendStatus(fiber.StatusNoContent)
}
