package storage

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// placeholderSuffix marks Studio's empty "folder" objects, which skip the
// mime check and must be empty.
const placeholderSuffix = ".emptyFolderPlaceholder"

// objMeta is storage.objects.metadata, as upstream writes it (a contract:
// list() and info() return it).
type objMeta struct {
	ETag            string `json:"eTag"`
	Size            int64  `json:"size"`
	Mimetype        string `json:"mimetype"`
	CacheControl    string `json:"cacheControl"`
	LastModified    string `json:"lastModified"`
	ContentLength   int64  `json:"contentLength"`
	HTTPStatusCode  int    `json:"httpStatusCode"`
	ContentEncoding string `json:"contentEncoding,omitempty"`
}

// write is one object write: who writes (claims for RLS), who owns the
// result, where, and whether an existing object is replaced.
type write struct {
	cl     *caller
	owner  *caller
	bucket *bucketInfo
	key    string
	upsert bool
	op     string
}

// errChecked ends the rolled-back permission check.
var errChecked = errors.New("storage: permission checked")

// insertSQL has no RETURNING: a plain upload needs only the INSERT
// policy (RETURNING would apply the SELECT policies to the new row too).
const insertSQL = `insert into storage.objects (id, bucket_id, name, owner, owner_id, metadata, user_metadata, version)
values ($8, $1, $2, $3, $4, $5, $6, $7)`

// upsertSQL replaces an existing object (INSERT + UPDATE + SELECT
// policies) and returns the version it replaced.
const upsertSQL = `with old as (select version from storage.objects where bucket_id = $1 and name = $2)
insert into storage.objects (id, bucket_id, name, owner, owner_id, metadata, user_metadata, version)
values ($8, $1, $2, $3, $4, $5, $6, $7)
on conflict (bucket_id, name) do update set owner = excluded.owner, owner_id = excluded.owner_id,
metadata = excluded.metadata, user_metadata = excluded.user_metadata, version = excluded.version, last_accessed_at = now()
returning id::text, (select version from old)`

// putRow inserts (or upserts) the row in tx and returns its id and the
// version it replaced.
func putRow(ctx context.Context, tx pgx.Tx, w *write, version string, meta *objMeta, userMeta json.RawMessage) (string, string, error) {
	var um any
	if len(userMeta) > 0 {
		um = string(userMeta)
	}
	mj, _ := json.Marshal(meta)
	id := uuid.NewString()
	args := []any{w.bucket.ID, w.key, w.owner.ownerUUID(), w.owner.ownerID(), string(mj), um, version, id}
	if !w.upsert {
		if _, err := tx.Exec(ctx, insertSQL, args...); err != nil {
			return "", "", dbError(err, errKeyExists())
		}
		return id, "", nil
	}
	var old *string
	if err := tx.QueryRow(ctx, upsertSQL, args...).Scan(&id, &old); err != nil {
		return "", "", dbError(err, errKeyExists())
	}
	if old != nil {
		return id, *old, nil
	}
	return id, "", nil
}

// check runs the write's statement in a rolled-back transaction, so a
// caller without the right gets its error before a byte is read.
func (h *Handler) check(ctx context.Context, w *write, mime string, size int64) error {
	meta := &objMeta{Mimetype: mime, ContentLength: max(size, 0), Size: max(size, 0)}
	err := h.withClaims(ctx, w.cl, w.op, func(ctx context.Context, tx pgx.Tx) error {
		if _, _, err := putRow(ctx, tx, w, uuid.NewString(), meta, nil); err != nil {
			return err
		}
		return errChecked
	})
	if errors.Is(err, errChecked) {
		return nil
	}
	return err
}

// store streams r to a fresh version and points the row at it (the order
// described in the package comment). It returns the row id.
func (h *Handler) store(c *fiber.Ctx, w *write, u *upload) (string, error) {
	limit := h.limit(w.bucket)
	if cl := c.Request().Header.ContentLength(); u.raw && cl > 0 && int64(cl) > limit {
		return "", errTooLarge()
	}
	isPlaceholder := strings.HasSuffix(w.key, placeholderSuffix)
	if !isPlaceholder && !mimeAllowed(u.mime, w.bucket.AllowedMimeTypes) {
		return "", newErr(415, codeInvalidMime, "invalid_mime_type", "mime type "+u.mime+" is not supported")
	}
	if isPlaceholder {
		limit = 0
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	if err := h.check(ctx, w, u.mime, -1); err != nil {
		return "", err
	}

	version := uuid.NewString()
	key := blobKey(version)
	body := &readTracker{r: u.file}
	cr := &countingReader{r: body, max: limit}
	sum := md5.New()
	n, err := h.backend.Put(h.base, key, io.TeeReader(cr, sum), u.mime)
	if err != nil {
		_ = h.backend.Delete(context.WithoutCancel(h.base), key)
		return "", putError(err, cr, body)
	}
	if err := u.finish(); err != nil {
		_ = h.backend.Delete(context.WithoutCancel(h.base), key)
		return "", err
	}
	now := time.Now().UTC()
	meta := &objMeta{
		ETag: contentETag(sum), Size: n, Mimetype: u.mime, CacheControl: u.cacheControl,
		LastModified: now.Format(time.RFC3339Nano), ContentLength: n, HTTPStatusCode: 200, ContentEncoding: u.contentEncoding,
	}
	ctx2, cancel2 := dbCtx(c)
	defer cancel2()
	var id, old string
	err = h.withClaims(ctx2, w.cl, w.op, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		id, old, err = putRow(ctx, tx, w, version, meta, u.userMeta)
		return err
	})
	if err != nil {
		_ = h.backend.Delete(context.WithoutCancel(h.base), key)
		return "", err
	}
	if old != "" && old != version {
		if err := h.backend.Delete(context.WithoutCancel(h.base), blobKey(old)); err != nil {
			h.log.Warn("storage: old version left for the cleaner", "error", err.Error())
		}
	}
	return id, nil
}

// contentETag is the ETag of bytes whose MD5 is sum: the hex digest in
// quotes, as S3 gives it for an object written in one piece. Every upload
// is hashed as it streams to the backend, so the ETag is the same on both
// backends and for resumable uploads (which S3 would give an ETag of its
// parts, "<md5 of the parts' MD5s>-<n>"), and a client can check it
// against the bytes it sent.
func contentETag(sum hash.Hash) string {
	return `"` + hex.EncodeToString(sum.Sum(nil)) + `"`
}

// putError tells the client's failures (a body over the limit, a body cut
// or malformed) from the backend's.
func putError(err error, cr *countingReader, body *readTracker) error {
	switch {
	case errors.Is(err, errOverLimit) || cr.n > cr.max:
		return errTooLarge()
	case body.err != nil:
		return errBadRequest("The upload was interrupted")
	}
	return errStore(err)
}

// readTracker remembers the error reading the request body gave, so a
// failed Put can be blamed on the right side.
type readTracker struct {
	r   io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		t.err = err
	}
	return n, err
}

func (h *Handler) uploadPost(c *fiber.Ctx) error {
	return h.upload(c, strings.EqualFold(c.Get("x-upsert"), "true"), "storage.object.upload")
}

func (h *Handler) uploadPut(c *fiber.Ctx) error {
	return h.upload(c, true, "storage.object.update")
}

func (h *Handler) upload(c *fiber.Ctx, upsert bool, op string) error {
	cl, bucketID, key, err := h.objectRequest(c, false)
	if err != nil {
		return err
	}
	ctx, cancel := dbCtx(c)
	b, err := h.bucket(ctx, bucketID)
	cancel()
	if err != nil {
		return err
	}
	if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > h.limit(b)+64<<10 {
		return errTooLarge()
	}
	u, err := openUpload(c)
	if err != nil {
		return err
	}
	defer u.close()
	id, err := h.store(c, &write{cl: cl, owner: cl, bucket: b, key: key, upsert: upsert, op: op}, u)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"Id": id, "Key": bucketID + "/" + key})
}
