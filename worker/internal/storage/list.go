package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
)

// listItem is one row of list() (a contract with storage-js): folders have
// null id, timestamps and metadata.
type listItem struct {
	Name           string          `json:"name"`
	ID             *string         `json:"id"`
	UpdatedAt      *time.Time      `json:"updated_at"`
	CreatedAt      *time.Time      `json:"created_at"`
	LastAccessedAt *time.Time      `json:"last_accessed_at"`
	Metadata       json.RawMessage `json:"metadata"`
}

var listSortColumns = map[string]string{"name": "name", "updated_at": "updated_at", "created_at": "created_at", "last_accessed_at": "last_accessed_at"}

// listSQL lists one level under $2 (a folder prefix ending in '/', or ”):
// files directly in it and the names of its sub-folders, with names
// relative to the prefix, filtered by a case-insensitive prefix $3.
const listSQL = `with o as (
  select substr(name, length($2) + 1) as rest, id, updated_at, created_at, last_accessed_at, metadata
  from storage.objects
  where bucket_id = $1 and starts_with(name, $2) and starts_with(lower(substr(name, length($2) + 1)), lower($3))
), items as (
  select distinct split_part(rest, '/', 1) as name, null::uuid as id, null::timestamptz as updated_at,
    null::timestamptz as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata
  from o where strpos(rest, '/') > 0
  union all
  select rest, id, updated_at, created_at, last_accessed_at, metadata from o where strpos(rest, '/') = 0
)
select name, id::text, updated_at, created_at, last_accessed_at, metadata from items `

func (h *Handler) list(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	bucketID := strings.Clone(c.Params("bucket"))
	raw, err := readSmallBody(c)
	if err != nil {
		return err
	}
	var body struct {
		Prefix string `json:"prefix"`
		Limit  *int   `json:"limit"`
		Offset int    `json:"offset"`
		Search string `json:"search"`
		SortBy struct {
			Column string `json:"column"`
			Order  string `json:"order"`
		} `json:"sortBy"`
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return errBadRequest("Invalid JSON body")
		}
	}
	prefix := strings.TrimPrefix(body.Prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	limit := 100
	if body.Limit != nil && *body.Limit > 0 {
		limit = min(*body.Limit, 1500)
	}
	offset := max(body.Offset, 0)
	col := listSortColumns[body.SortBy.Column]
	if col == "" {
		col = "name"
	}
	order := "asc"
	if strings.EqualFold(body.SortBy.Order, "desc") {
		order = "desc"
	}
	orderBy := `order by name collate "C" ` + order
	if col != "name" {
		orderBy = `order by (id is null) desc, ` + col + ` ` + order + `, name collate "C" asc`
	}
	q := listSQL + orderBy + ` limit $4 offset $5`
	ctx, cancel := dbCtx(c)
	defer cancel()
	out := []listItem{}
	err = h.withClaims(ctx, cl, "storage.object.list", func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, bucketID, prefix, body.Search, limit, offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it listItem
			var meta []byte
			if err := rows.Scan(&it.Name, &it.ID, &it.UpdatedAt, &it.CreatedAt, &it.LastAccessedAt, &meta); err != nil {
				return err
			}
			if meta != nil {
				it.Metadata = meta
			} else {
				it.Metadata = json.RawMessage("null")
			}
			out = append(out, it)
		}
		return rows.Err()
	})
	if err != nil {
		return dbError(err, nil)
	}
	return c.JSON(out)
}

// listV2 serves POST /object/list-v2 (spec §4.4): flat or delimited
// listing with an opaque cursor (base64 of the last name).
func (h *Handler) listV2(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	bucketID := strings.Clone(c.Params("bucket"))
	raw, err := readSmallBody(c)
	if err != nil {
		return err
	}
	var body struct {
		Prefix        string `json:"prefix"`
		Limit         int    `json:"limit"`
		Cursor        string `json:"cursor"`
		WithDelimiter bool   `json:"with_delimiter"`
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return errBadRequest("Invalid JSON body")
		}
	}
	limit := body.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	after := ""
	if body.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(body.Cursor)
		if err != nil {
			return errBadRequest("Invalid cursor")
		}
		after = string(b)
	}
	prefix := strings.TrimPrefix(body.Prefix, "/")
	type v2obj struct {
		Name           string          `json:"name"`
		ID             string          `json:"id"`
		UpdatedAt      time.Time       `json:"updated_at"`
		CreatedAt      time.Time       `json:"created_at"`
		LastAccessedAt time.Time       `json:"last_accessed_at"`
		Metadata       json.RawMessage `json:"metadata"`
	}
	type v2folder struct {
		Name string `json:"name"`
	}
	objects, folders := []v2obj{}, []v2folder{}
	// entries are fetched in name order; with a delimiter, keys below a
	// sub-folder collapse into one folder entry.
	var names []string
	ctx, cancel := dbCtx(c)
	defer cancel()
	hasNext, last := false, ""
	err = h.withClaims(ctx, cl, "storage.object.list", func(ctx context.Context, tx pgx.Tx) error {
		cursor := after
		for len(names) < limit+1 {
			rows, err := tx.Query(ctx, `select name, id::text, updated_at, created_at, last_accessed_at, coalesce(metadata, 'null')
from storage.objects where bucket_id = $1 and starts_with(name, $2) and name collate "C" > $3
order by name collate "C" limit $4`, bucketID, prefix, cursor, limit+1)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				n++
				var o v2obj
				var meta []byte
				if err := rows.Scan(&o.Name, &o.ID, &o.UpdatedAt, &o.CreatedAt, &o.LastAccessedAt, &meta); err != nil {
					rows.Close()
					return err
				}
				o.Metadata = meta
				cursor = o.Name
				if len(names) == limit {
					hasNext = true
					continue
				}
				if body.WithDelimiter {
					rest := strings.TrimPrefix(o.Name, prefix)
					if i := strings.Index(rest, "/"); i >= 0 {
						f := prefix + rest[:i+1]
						if len(folders) == 0 || folders[len(folders)-1].Name != f {
							folders = append(folders, v2folder{Name: f})
							names = append(names, f)
						}
						cursor = f + "\U0010FFFF"
						last = cursor
						continue
					}
				}
				objects = append(objects, o)
				names = append(names, o.Name)
				last = o.Name
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if n < limit+1 || hasNext {
				break
			}
		}
		return nil
	})
	if err != nil {
		return dbError(err, nil)
	}
	res := fiber.Map{"hasNext": hasNext, "folders": folders, "objects": objects}
	if hasNext {
		res["nextCursor"] = base64.RawURLEncoding.EncodeToString([]byte(last))
	}
	return c.JSON(res)
}
