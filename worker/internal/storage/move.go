package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// moveBody is move()'s and copy()'s request.
type moveBody struct {
	BucketID          string          `json:"bucketId"`
	SourceKey         string          `json:"sourceKey"`
	DestinationKey    string          `json:"destinationKey"`
	DestinationBucket string          `json:"destinationBucket"`
	CopyMetadata      *bool           `json:"copyMetadata"`
	Metadata          json.RawMessage `json:"metadata"`
}

func (h *Handler) parseMove(c *fiber.Ctx) (*moveBody, error) {
	raw, err := readSmallBody(c)
	if err != nil {
		return nil, err
	}
	var b moveBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, errBadRequest("Invalid JSON body")
	}
	if b.DestinationBucket == "" {
		b.DestinationBucket = b.BucketID
	}
	if !validBucketName(b.BucketID) || !validBucketName(b.DestinationBucket) {
		return nil, errInvalidBucket()
	}
	if _, e := cleanKey(b.SourceKey); e != nil {
		return nil, e
	}
	if _, e := cleanKey(b.DestinationKey); e != nil {
		return nil, e
	}
	return &b, nil
}

// move renames the row (SELECT + UPDATE under RLS); the bytes stay under
// their version key, so there is nothing to move on the backend.
func (h *Handler) move(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	b, err := h.parseMove(c)
	if err != nil {
		return err
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	if _, err := h.bucket(ctx, b.BucketID); err != nil {
		return err
	}
	if _, err := h.bucket(ctx, b.DestinationBucket); err != nil {
		return err
	}
	var n int64
	err = h.withClaims(ctx, cl, "storage.object.move", func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `update storage.objects set bucket_id = $3, name = $4, last_accessed_at = now()
where bucket_id = $1 and name = $2`, b.BucketID, b.SourceKey, b.DestinationBucket, b.DestinationKey)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return dbError(err, errKeyExists())
	}
	if n == 0 {
		return errNoSuchKey()
	}
	return c.JSON(fiber.Map{"message": "Successfully moved"})
}

// copy duplicates the bytes to a fresh version, then inserts (or with
// x-upsert upserts) the destination row as the caller.
func (h *Handler) copy(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	b, err := h.parseMove(c)
	if err != nil {
		return err
	}
	upsert := strings.EqualFold(c.Get("x-upsert"), "true")
	ctx, cancel := dbCtx(c)
	defer cancel()
	if _, err := h.bucket(ctx, b.BucketID); err != nil {
		return err
	}
	dst, err := h.bucket(ctx, b.DestinationBucket)
	if err != nil {
		return err
	}
	var src *object
	err = h.withClaims(ctx, cl, "storage.object.copy", func(ctx context.Context, tx pgx.Tx) error {
		var err error
		src, err = loadObject(ctx, tx, b.BucketID, b.SourceKey)
		return err
	})
	if err != nil {
		return dbError(err, nil)
	}
	if src.Meta.Size > h.limit(dst) {
		return errTooLarge()
	}
	if !mimeAllowed(src.Meta.Mimetype, dst.AllowedMimeTypes) {
		return newErr(415, codeInvalidMime, "invalid_mime_type", "mime type "+src.Meta.Mimetype+" is not supported")
	}
	userMeta := src.UserMeta
	if b.CopyMetadata != nil && !*b.CopyMetadata {
		userMeta = nil
	}
	if len(b.Metadata) > 0 && string(b.Metadata) != "null" {
		userMeta = b.Metadata
	}
	if m := c.Get("x-metadata"); m != "" {
		if raw, err := base64.StdEncoding.DecodeString(m); err == nil && json.Valid(raw) {
			userMeta = raw
		}
	}
	w := &write{cl: cl, owner: cl, bucket: dst, key: b.DestinationKey, upsert: upsert, op: "storage.object.copy"}
	if err := h.check(ctx, w, src.Meta.Mimetype, src.Meta.Size); err != nil {
		return err
	}
	version := uuid.NewString()
	if err := h.backend.Copy(h.base, blobKey(src.Version), blobKey(version)); err != nil {
		_ = h.backend.Delete(context.WithoutCancel(h.base), blobKey(version))
		if errors.Is(err, ErrNotExist) {
			return errNoSuchKey()
		}
		return errStore(err)
	}
	// The copy has the source's bytes, so its ETag (their MD5).
	meta := src.Meta
	meta.LastModified = time.Now().UTC().Format(time.RFC3339Nano)
	var id, old string
	err = h.withClaims(ctx, cl, "storage.object.copy", func(ctx context.Context, tx pgx.Tx) error {
		var err error
		id, old, err = putRow(ctx, tx, w, version, &meta, userMeta)
		return err
	})
	if err != nil {
		_ = h.backend.Delete(context.WithoutCancel(h.base), blobKey(version))
		return err
	}
	if old != "" {
		h.deleteBlobs([]string{old})
	}
	return c.JSON(fiber.Map{"Id": id, "Key": b.DestinationBucket + "/" + b.DestinationKey, "name": b.DestinationKey,
		"bucket_id": b.DestinationBucket})
}
