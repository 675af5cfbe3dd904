package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// bucketJSON is a bucket as listBuckets returns it (a contract with
// storage-js): upstream's columns and nothing more, timestamps as
// JavaScript's Date gives them. getBucket's reply has no type (bucketOne).
type bucketJSON struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Owner            string   `json:"owner"`
	Public           bool     `json:"public"`
	Type             string   `json:"type,omitempty"`
	FileSizeLimit    *int64   `json:"file_size_limit"`
	AllowedMimeTypes []string `json:"allowed_mime_types"`
	CreatedAt        jsTime   `json:"created_at"`
	UpdatedAt        jsTime   `json:"updated_at"`
}

const bucketCols = `id, name, coalesce(owner_id, owner::text, ''), public, type::text, file_size_limit, allowed_mime_types, created_at, updated_at`

func scanBucket(row pgx.Row) (*bucketJSON, error) {
	b := &bucketJSON{}
	var created, updated time.Time
	err := row.Scan(&b.ID, &b.Name, &b.Owner, &b.Public, &b.Type, &b.FileSizeLimit, &b.AllowedMimeTypes, &created, &updated)
	b.CreatedAt, b.UpdatedAt = jsTime(created), jsTime(updated)
	return b, err
}

// jsTime is a timestamp as storage-api's JSON carries it: JavaScript's
// Date.toISOString, UTC with milliseconds ("2024-05-01T10:20:30.123Z").
type jsTime time.Time

// jsTimeLayout is Date.toISOString's layout.
const jsTimeLayout = "2006-01-02T15:04:05.000Z"

func (t jsTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(jsTimeLayout) + `"`), nil
}

func (t *jsTime) UnmarshalJSON(b []byte) error {
	var v time.Time
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = jsTime(v)
	return nil
}

var bucketSortColumns = map[string]string{"id": "id", "name": "name", "created_at": "created_at", "updated_at": "updated_at"}

func (h *Handler) listBuckets(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	col := bucketSortColumns[c.Query("sortColumn", "name")]
	if col == "" {
		col = "name"
	}
	order := "asc"
	if strings.EqualFold(c.Query("sortOrder"), "desc") {
		order = "desc"
	}
	limit, offset := c.QueryInt("limit", 0), c.QueryInt("offset", 0)
	q := `select ` + bucketCols + ` from storage.buckets where ($1 = '' or name ilike '%' || $1 || '%') order by ` + col + ` ` + order
	args := []any{likeEscape(c.Query("search"))}
	if limit > 0 {
		q += ` limit ` + strconv.Itoa(limit)
	}
	if offset > 0 {
		q += ` offset ` + strconv.Itoa(offset)
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	out := []*bucketJSON{}
	err = h.withClaims(ctx, cl, "storage.bucket.list", func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBucket(rows)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	if err != nil {
		return dbError(err, nil)
	}
	return c.JSON(out)
}

func (h *Handler) getBucket(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	ctx, cancel := dbCtx(c)
	defer cancel()
	var b *bucketJSON
	err = h.withClaims(ctx, cl, "storage.bucket.get", func(ctx context.Context, tx pgx.Tx) error {
		var err error
		b, err = scanBucket(tx.QueryRow(ctx, `select `+bucketCols+` from storage.buckets where id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoSuchBucket()
	}
	if err != nil {
		return dbError(err, nil)
	}
	// Upstream's getBucket selects no type column (its listBuckets does).
	b.Type = ""
	return c.JSON(b)
}

// bucketBody is createBucket/updateBucket's request; pointers tell a key
// that was sent from one that was not.
type bucketBody struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	Public           *bool            `json:"public"`
	FileSizeLimit    json.RawMessage  `json:"file_size_limit"`
	AllowedMimeTypes *json.RawMessage `json:"allowed_mime_types"`
	Type             string           `json:"type"`
}

// readBucketBody reads a bucket create or update body.
func readBucketBody(c *fiber.Ctx) (bucketBody, error) {
	var body bucketBody
	raw, err := readSmallBody(c)
	if err != nil {
		return body, err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return body, errBadRequest("Invalid JSON body")
	}
	return body, nil
}

// bucketLimits are a body's file_size_limit and allowed_mime_types, each
// with whether it was sent at all.
type bucketLimits struct {
	setSize, setMimes bool
	size              *int64
	mimes             []string
}

// limits reads the body's limits. file_size_limit is absent, null, a number
// of bytes, or a string "<n><unit>" with unit B/KB/MB/GB (sizeRE).
func (b bucketBody) limits() (bucketLimits, error) {
	var l bucketLimits
	var err error
	if l.setSize, l.size, err = sizeLimit(b.FileSizeLimit); err != nil {
		return l, err
	}
	l.setMimes, l.mimes, err = mimeList(b.AllowedMimeTypes)
	return l, err
}

func sizeLimit(raw json.RawMessage) (set bool, v *int64, err error) {
	if len(raw) == 0 {
		return false, nil, nil
	}
	if string(raw) == "null" {
		return true, nil, nil
	}
	var n float64
	if json.Unmarshal(raw, &n) == nil {
		if n < 0 {
			return true, nil, errBadRequest("file_size_limit must not be negative")
		}
		i := int64(n)
		return true, &i, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return true, nil, errBadRequest("Invalid file_size_limit")
	}
	i, perr := parseSize(s)
	if perr != nil {
		return true, nil, errBadRequest("Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")
	}
	return true, &i, nil
}

// sizeRE is a size with its unit as storage-api reads file_size_limit:
// digits, an optional fraction, then the unit, nothing else.
var sizeRE = regexp.MustCompile(`(?i)^([0-9]+(?:\.[0-9]+)?)(gb|mb|kb|b)$`)

// sizeUnits are storage-api's units, decimal ("20mb" is 20000000 bytes).
var sizeUnits = map[string]float64{"GB": 1e9, "MB": 1e6, "KB": 1e3, "B": 1}

// parseSize reads a size with a unit as storage-api does: decimal units,
// rounded to the nearest byte.
func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("bad size %q", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q", s)
	}
	v := math.Round(f * sizeUnits[strings.ToUpper(m[2])])
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return int64(v), nil
}

func mimeList(raw *json.RawMessage) (set bool, v []string, err error) {
	if raw == nil {
		return false, nil, nil
	}
	if string(*raw) == "null" {
		return true, nil, nil
	}
	var list []string
	if json.Unmarshal(*raw, &list) != nil {
		return true, nil, errBadRequest("allowed_mime_types must be a list of strings")
	}
	out := []string{}
	for _, m := range list {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return true, out, nil
}

func (h *Handler) createBucket(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	body, err := readBucketBody(c)
	if err != nil {
		return err
	}
	name := body.Name
	if name == "" {
		name = body.ID
	}
	id := body.ID
	if id == "" {
		id = name
	}
	if !validBucketName(id) || !validBucketName(name) {
		return errInvalidBucket()
	}
	if body.Type != "" && body.Type != "STANDARD" {
		return errBadRequest("Only STANDARD buckets are supported")
	}
	lim, err := body.limits()
	if err != nil {
		return err
	}
	limit, mimes := lim.size, lim.mimes
	public := body.Public != nil && *body.Public
	ctx, cancel := dbCtx(c)
	defer cancel()
	err = h.withClaims(ctx, cl, "storage.bucket.create", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types)
values ($1, $2, $3, $4, $5, $6, $7)`, id, name, cl.ownerUUID(), cl.ownerID(), public, limit, mimes)
		return err
	})
	if err != nil {
		return dbError(err, newErr(409, codeBucketExists, "Duplicate", "The resource already exists"))
	}
	return c.JSON(fiber.Map{"name": name})
}

func (h *Handler) updateBucket(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	body, err := readBucketBody(c)
	if err != nil {
		return err
	}
	lim, err := body.limits()
	if err != nil {
		return err
	}
	setLimit, limit, setMimes, mimes := lim.setSize, lim.size, lim.setMimes, lim.mimes
	if body.Public == nil && !setLimit && !setMimes {
		return errBadRequest("Nothing to update: send public, file_size_limit or allowed_mime_types")
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	var n int64
	err = h.withClaims(ctx, cl, "storage.bucket.update", func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `update storage.buckets set
public = coalesce($2, public),
file_size_limit = case when $3 then $4 else file_size_limit end,
allowed_mime_types = case when $5 then $6 else allowed_mime_types end,
updated_at = now()
where id = $1`, id, body.Public, setLimit, limit, setMimes, mimes)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return dbError(err, nil)
	}
	if n == 0 {
		return errNoSuchBucket()
	}
	return c.JSON(fiber.Map{"message": "Successfully updated"})
}

// bucketVisible checks the caller can see the bucket through RLS.
func (h *Handler) bucketVisible(ctx context.Context, cl *caller, id string) error {
	return h.withClaims(ctx, cl, "storage.bucket.get", func(ctx context.Context, tx pgx.Tx) error {
		var x string
		err := tx.QueryRow(ctx, `select id from storage.buckets where id = $1`, id).Scan(&x)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoSuchBucket()
		}
		return err
	})
}

// emptyMessage is emptyBucket's reply. Upstream queues the work and says
// so; this handler has finished it when it answers, but clients (and apps
// that compare the message) read upstream's words.
const emptyMessage = "Empty bucket has been queued. Completion may take up to an hour."

// emptyBucket deletes every object the caller may delete, synchronously.
func (h *Handler) emptyBucket(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	ctx, cancel := context.WithTimeout(c.UserContext(), 10*requestTimeout)
	defer cancel()
	if err := h.bucketVisible(ctx, cl, id); err != nil {
		return dbError(err, nil)
	}
	for {
		var versions []string
		err := h.withClaims(ctx, cl, "storage.bucket.empty", func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `delete from storage.objects where id in
(select id from storage.objects where bucket_id = $1 limit 1000) returning coalesce(version, '')`, id)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					return err
				}
				versions = append(versions, v)
			}
			return rows.Err()
		})
		if err != nil {
			return dbError(err, nil)
		}
		h.deleteBlobs(versions)
		if len(versions) < 1000 {
			break
		}
	}
	return c.JSON(fiber.Map{"message": emptyMessage})
}

func (h *Handler) deleteBucket(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	ctx, cancel := dbCtx(c)
	defer cancel()
	var n int64
	err = h.withClaims(ctx, cl, "storage.bucket.delete", func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `delete from storage.buckets where id = $1`, id)
		n = tag.RowsAffected()
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return newErr(409, codeNotEmpty, codeNotEmpty, "The bucket you tried to delete is not empty")
	}
	if err != nil {
		return dbError(err, nil)
	}
	if n == 0 {
		return errNoSuchBucket()
	}
	return c.JSON(fiber.Map{"message": "Successfully deleted"})
}

// likeEscape escapes LIKE wildcards in user text.
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}
