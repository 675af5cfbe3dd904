package storage

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
)

// object is a storage.objects row as the handlers use it.
type object struct {
	ID           string
	Name         string
	BucketID     string
	Owner        *string
	Version      string
	Meta         objMeta
	UserMeta     json.RawMessage
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastAccessed time.Time
}

const objectCols = `id::text, name, bucket_id, owner_id, coalesce(version, ''), coalesce(metadata, '{}'), user_metadata,
created_at, updated_at, last_accessed_at`

func scanObject(row pgx.Row) (*object, error) {
	o := &object{}
	var meta []byte
	err := row.Scan(&o.ID, &o.Name, &o.BucketID, &o.Owner, &o.Version, &meta, &o.UserMeta, &o.CreatedAt, &o.UpdatedAt, &o.LastAccessed)
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal(meta, &o.Meta)
	return o, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func loadObject(ctx context.Context, q querier, bucket, key string) (*object, error) {
	o, err := scanObject(q.QueryRow(ctx, `select `+objectCols+` from storage.objects where bucket_id = $1 and name = $2`, bucket, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoSuchKey()
	}
	return o, err
}

// visibleObject loads an object the caller may read: any object of a
// public bucket; in a private one, what RLS lets the caller select.
func (h *Handler) visibleObject(c *fiber.Ctx, cl *caller, bucketID, key string, op string) (*object, error) {
	ctx, cancel := dbCtx(c)
	defer cancel()
	b, err := h.bucket(ctx, bucketID)
	if err != nil {
		return nil, err
	}
	if b.Public {
		return loadObject(ctx, h.svc(), bucketID, key)
	}
	if !hasCredentials(c) {
		return nil, errNoSuchBucket()
	}
	var o *object
	err = h.withClaims(ctx, cl, op, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		o, err = loadObject(ctx, tx, bucketID, key)
		return err
	})
	return o, err
}

func hasCredentials(c *fiber.Ctx) bool {
	return c.Get(fiber.HeaderAuthorization) != "" || c.Get("apikey") != ""
}

func (h *Handler) getAuthenticated(c *fiber.Ctx) error {
	cl, bucketID, key, err := h.objectRequest(c, true)
	if err != nil {
		return err
	}
	o, err := h.visibleObject(c, cl, bucketID, key, "storage.object.get_authenticated")
	if err != nil {
		return err
	}
	return h.serve(c, o, nil)
}

func (h *Handler) getPublic(c *fiber.Ctx) error {
	o, err := h.publicObject(c)
	if err != nil {
		return err
	}
	return h.serve(c, o, nil)
}

// publicObject loads the object the path names from a public bucket, with
// no credentials: a private (or unknown) bucket is NoSuchBucket.
func (h *Handler) publicObject(c *fiber.Ctx) (*object, error) {
	bucketID, key, perr := parseObjectPath(tail(c))
	if perr != nil {
		return nil, perr
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	b, err := h.bucket(ctx, bucketID)
	if err != nil {
		return nil, err
	}
	if !b.Public {
		return nil, errNoSuchBucket()
	}
	return loadObject(ctx, h.svc(), bucketID, key)
}

// infoJSON is GET /object/info's reply (a contract with storage-js).
type infoJSON struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Version      string          `json:"version"`
	BucketID     string          `json:"bucket_id"`
	Size         int64           `json:"size"`
	ContentType  string          `json:"content_type"`
	CacheControl string          `json:"cache_control"`
	ETag         string          `json:"etag"`
	Metadata     json.RawMessage `json:"metadata"`
	LastModified time.Time       `json:"last_modified"`
	CreatedAt    time.Time       `json:"created_at"`
}

// infoOf is o as info() answers it; metadata (the user's) is {} when the
// object has none, as upstream answers it, never null.
func infoOf(o *object) infoJSON {
	um := o.UserMeta
	if len(um) == 0 || string(um) == "null" {
		um = json.RawMessage("{}")
	}
	return infoJSON{ID: o.ID, Name: o.Name, Version: o.Version, BucketID: o.BucketID, Size: o.Meta.Size,
		ContentType: o.Meta.Mimetype, CacheControl: o.Meta.CacheControl, ETag: o.Meta.ETag, Metadata: um,
		LastModified: o.UpdatedAt, CreatedAt: o.CreatedAt}
}

func (h *Handler) info(c *fiber.Ctx) error {
	cl, bucketID, key, err := h.objectRequest(c, true)
	if err != nil {
		return err
	}
	o, err := h.visibleObject(c, cl, bucketID, key, "storage.object.info")
	if err != nil {
		return err
	}
	return c.JSON(infoOf(o))
}

func (h *Handler) infoPublic(c *fiber.Ctx) error {
	o, err := h.publicObject(c)
	if err != nil {
		return err
	}
	return c.JSON(infoOf(o))
}

// deletedRowSQL renders a deleted row as remove() returns it.
const deletedRowSQL = `jsonb_build_object('id', id, 'name', name, 'bucket_id', bucket_id, 'owner', owner, 'owner_id', owner_id,
'version', version, 'created_at', created_at, 'updated_at', updated_at, 'last_accessed_at', last_accessed_at,
'metadata', metadata, 'user_metadata', user_metadata)`

// deleteObjects serves DELETE /object/{bucket} (remove many, body
// {prefixes}) and DELETE /object/{bucket}/{key} (one).
func (h *Handler) deleteObjects(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	t := tail(c)
	if dec, err := url.PathUnescape(t); err == nil && !strings.Contains(strings.TrimSuffix(dec, "/"), "/") {
		return h.removeMany(c, cl, strings.TrimSuffix(dec, "/"))
	}
	bucketID, key, perr := parseObjectPath(t)
	if perr != nil {
		return perr
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	if _, err := h.bucket(ctx, bucketID); err != nil {
		return err
	}
	rows, err := h.deleteRows(ctx, cl, bucketID, []string{key})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return errNoSuchKey()
	}
	return c.JSON(fiber.Map{"message": "Successfully deleted"})
}

func (h *Handler) removeMany(c *fiber.Ctx, cl *caller, bucketID string) error {
	if !validBucketName(bucketID) {
		return errInvalidBucket()
	}
	raw, err := readSmallBody(c)
	if err != nil {
		return err
	}
	var body struct {
		Prefixes []json.RawMessage `json:"prefixes"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return errBadRequest("body must have prefixes")
	}
	if len(body.Prefixes) < 1 || len(body.Prefixes) > 1000 {
		return errBadRequest("prefixes must have 1 to 1000 items")
	}
	keys := make([]string, 0, len(body.Prefixes))
	for _, p := range body.Prefixes {
		var s string
		if json.Unmarshal(p, &s) != nil {
			var item struct {
				Path string `json:"path"`
			}
			if json.Unmarshal(p, &item) != nil {
				return errBadRequest("prefixes must be strings")
			}
			s = item.Path
		}
		keys = append(keys, s)
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	if _, err := h.bucket(ctx, bucketID); err != nil {
		return err
	}
	rows, err := h.deleteRows(ctx, cl, bucketID, keys)
	if err != nil {
		return err
	}
	out := make([]json.RawMessage, 0, len(rows))
	out = append(out, rows...)
	return c.JSON(out)
}

// deleteRows deletes the rows the caller may delete (and select) and then
// their bytes; bytes a failure leaves are the cleaner's.
func (h *Handler) deleteRows(ctx context.Context, cl *caller, bucketID string, keys []string) ([]json.RawMessage, error) {
	var rows []json.RawMessage
	var versions []string
	err := h.withClaims(ctx, cl, "storage.object.delete", func(ctx context.Context, tx pgx.Tx) error {
		r, err := tx.Query(ctx, `delete from storage.objects where bucket_id = $1 and name = any($2)
returning `+deletedRowSQL+`, coalesce(version, '')`, bucketID, keys)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var j []byte
			var v string
			if err := r.Scan(&j, &v); err != nil {
				return err
			}
			rows = append(rows, j)
			versions = append(versions, v)
		}
		return r.Err()
	})
	if err != nil {
		return nil, dbError(err, nil)
	}
	h.deleteBlobs(versions)
	return rows, nil
}

// deleteBlobs removes the bytes of versions no row points to any more.
func (h *Handler) deleteBlobs(versions []string) {
	ctx := context.WithoutCancel(h.base)
	for _, v := range versions {
		if v == "" {
			continue
		}
		if err := h.backend.Delete(ctx, blobKey(v)); err != nil {
			h.log.Warn("storage: bytes left for the cleaner", "error", err.Error())
		}
	}
}
