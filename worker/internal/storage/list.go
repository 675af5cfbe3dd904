package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// v2Object is an object of list-v2's reply (a contract with storage-js);
// Key, the entry's name at the listed level, comes with a delimiter only,
// as upstream's search_v2 gives it.
type v2Object struct {
	Key            string          `json:"key,omitempty"`
	Name           string          `json:"name"`
	ID             string          `json:"id"`
	UpdatedAt      jsTime          `json:"updated_at"`
	CreatedAt      jsTime          `json:"created_at"`
	LastAccessedAt jsTime          `json:"last_accessed_at"`
	Metadata       json.RawMessage `json:"metadata"`
}

// v2Folder is a folder of list-v2's reply: its full name ending in '/' and
// its key, the folder's own name ("a/b/" under "a/" is "b").
type v2Folder struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

// v2Entry is one listed entry: an object, or a folder (ID empty).
type v2Entry struct {
	name, id                     string
	updated, created, lastAccess time.Time
	meta                         json.RawMessage
}

// v2Sort is list-v2's order: a column (name, updated_at or created_at) and
// a direction; entries that tie on a timestamp are ordered by name.
type v2Sort struct{ column, order string }

var v2SortColumns = map[string]bool{"name": true, "updated_at": true, "created_at": true}

// v2Cursor is list-v2's continuation, in upstream's shape: base64 of
// "l:<last name>", "o:<order>", "c:<column>" and "a:<the last entry's
// column value>" lines. It carries the order it was made for, which wins
// over the request's.
type v2Cursor struct {
	after    string
	sort     v2Sort
	colAfter string
}

var v2CursorParts = []byte{'l', 'o', 'c', 'a'}

func (k v2Cursor) encode() string {
	var lines []string
	for _, p := range v2CursorParts {
		if v := k.part(p); v != "" {
			lines = append(lines, string(p)+":"+v)
		}
	}
	return base64.StdEncoding.EncodeToString([]byte(strings.Join(lines, "\n")))
}

func (k *v2Cursor) part(p byte) string {
	switch p {
	case 'l':
		return k.after
	case 'o':
		return k.sort.order
	case 'c':
		return k.sort.column
	}
	return k.colAfter
}

func decodeV2Cursor(s string) (v2Cursor, error) {
	var k v2Cursor
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return k, errBadRequest("Invalid cursor")
	}
	for _, line := range strings.Split(string(raw), "\n") {
		p, v, ok := strings.Cut(line, ":")
		if !ok || len(p) != 1 {
			return k, errBadRequest("Invalid cursor")
		}
		switch p[0] {
		case 'l':
			k.after = v
		case 'o':
			k.sort.order = v
		case 'c':
			k.sort.column = v
		case 'a':
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return k, errBadRequest("Invalid cursor")
			}
			k.colAfter = v
		default:
			return k, errBadRequest("Invalid cursor")
		}
	}
	if (k.sort.order != "" && k.sort.order != "asc" && k.sort.order != "desc") ||
		(k.sort.column != "" && !v2SortColumns[k.sort.column]) {
		return k, errBadRequest("Invalid cursor")
	}
	return k, nil
}

// v2Request is list-v2's body.
type v2Request struct {
	Prefix        string `json:"prefix"`
	Limit         int    `json:"limit"`
	Cursor        string `json:"cursor"`
	WithDelimiter bool   `json:"with_delimiter"`
	SortBy        *struct {
		Column string `json:"column"`
		Order  string `json:"order"`
	} `json:"sortBy"`
}

// plan reads the body into the listing to run: the sort (the cursor's,
// else the body's, else by name ascending), the cursor and the limit.
func (b v2Request) plan() (v2Sort, v2Cursor, int, error) {
	sort := v2Sort{column: "name", order: "asc"}
	if b.SortBy != nil {
		if b.SortBy.Column != "" {
			if !v2SortColumns[b.SortBy.Column] {
				return sort, v2Cursor{}, 0, errBadRequest("sortBy.column must be one of name, updated_at, created_at")
			}
			sort.column = b.SortBy.Column
		}
		if b.SortBy.Order != "" {
			if b.SortBy.Order != "asc" && b.SortBy.Order != "desc" {
				return sort, v2Cursor{}, 0, errBadRequest("sortBy.order must be asc or desc")
			}
			sort.order = b.SortBy.Order
		}
	}
	var cur v2Cursor
	if b.Cursor != "" {
		var err error
		if cur, err = decodeV2Cursor(b.Cursor); err != nil {
			return sort, cur, 0, err
		}
		if cur.sort.column != "" {
			sort.column = cur.sort.column
		}
		if cur.sort.order != "" {
			sort.order = cur.sort.order
		}
	}
	limit := b.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return sort, cur, limit, nil
}

// listV2 serves POST /object/list-v2 (docs/api/storage.md §4.4): a flat listing, or one
// level with sub-folders as entries (with_delimiter), in the order sortBy
// asks, paged by an opaque cursor that keeps that order.
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
	var body v2Request
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return errBadRequest("Invalid JSON body")
		}
	}
	sort, cur, limit, err := body.plan()
	if err != nil {
		return err
	}
	prefix := strings.TrimPrefix(body.Prefix, "/")
	ctx, cancel := dbCtx(c)
	defer cancel()
	var entries []v2Entry
	err = h.withClaims(ctx, cl, "storage.object.list", func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if sort.column == "name" {
			entries, err = listByName(ctx, tx, bucketID, prefix, body.WithDelimiter, sort.order == "desc", cur.after, limit+1)
		} else {
			entries, err = listByTime(ctx, tx, bucketID, prefix, body.WithDelimiter, sort, cur, limit+1)
		}
		return err
	})
	if err != nil {
		return dbError(err, nil)
	}
	return c.JSON(v2Reply(entries, prefix, body.WithDelimiter, sort, limit))
}

// v2Reply renders the first limit entries; one more means another page,
// whose cursor starts after the last one rendered.
func v2Reply(entries []v2Entry, prefix string, delimited bool, sort v2Sort, limit int) fiber.Map {
	level := len(strings.Split(prefix, "/"))
	keyOf := func(name string) string {
		if parts := strings.Split(name, "/"); len(parts) >= level {
			return parts[level-1]
		}
		return ""
	}
	hasNext := len(entries) > limit
	if hasNext {
		entries = entries[:limit]
	}
	objects, folders := []v2Object{}, []v2Folder{}
	for _, e := range entries {
		if e.id == "" {
			folders = append(folders, v2Folder{Key: keyOf(e.name), Name: e.name})
			continue
		}
		o := v2Object{Name: e.name, ID: e.id, UpdatedAt: jsTime(e.updated), CreatedAt: jsTime(e.created),
			LastAccessedAt: jsTime(e.lastAccess), Metadata: e.meta}
		if delimited {
			o.Key = keyOf(e.name)
		}
		objects = append(objects, o)
	}
	res := fiber.Map{"hasNext": hasNext, "folders": folders, "objects": objects}
	if hasNext {
		last := entries[len(entries)-1]
		next := v2Cursor{after: last.name, sort: sort}
		switch sort.column {
		case "updated_at":
			next.colAfter = last.updated.UTC().Format(jsTimeLayout)
		case "created_at":
			next.colAfter = last.created.UTC().Format(jsTimeLayout)
		}
		res["nextCursor"] = next.encode()
	}
	return res
}

// afterFolder is a name past every key in a folder (f ends in '/'), for
// an ascending scan to resume after it.
func afterFolder(f string) string { return f + "\U0010FFFF" }

// listByName reads up to n entries in name order (byte order) after the
// name after. With a delimiter, the keys below a sub-folder collapse into
// one folder entry and the scan jumps past them, so a page costs its own
// rows, not the folders' contents.
func listByName(ctx context.Context, tx pgx.Tx, bucketID, prefix string, delimited, desc bool, after string, n int) ([]v2Entry, error) {
	q := `select name, id::text, updated_at, created_at, last_accessed_at, coalesce(metadata, 'null')
from storage.objects where bucket_id = $1 and starts_with(name, $2) and name collate "C" > $3
order by name collate "C" limit $4`
	if desc {
		q = `select name, id::text, updated_at, created_at, last_accessed_at, coalesce(metadata, 'null')
from storage.objects where bucket_id = $1 and starts_with(name, $2) and ($3 = '' or name collate "C" < $3)
order by name collate "C" desc limit $4`
	}
	cursor := after
	if delimited && !desc && strings.HasSuffix(cursor, "/") {
		cursor = afterFolder(cursor)
	}
	var out []v2Entry
	for len(out) < n {
		rows, err := tx.Query(ctx, q, bucketID, prefix, cursor, n)
		if err != nil {
			return nil, err
		}
		read := 0
		jumped := false
		for rows.Next() && len(out) < n {
			read++
			var e v2Entry
			if err := rows.Scan(&e.name, &e.id, &e.updated, &e.created, &e.lastAccess, &e.meta); err != nil {
				rows.Close()
				return nil, err
			}
			cursor = e.name
			if delimited {
				if i := strings.Index(e.name[len(prefix):], "/"); i >= 0 {
					f := e.name[:len(prefix)+i+1]
					out = append(out, v2Entry{name: f})
					// Skip the rest of the folder with a new query.
					cursor = f
					if !desc {
						cursor = afterFolder(f)
					}
					jumped = true
					break
				}
			}
			out = append(out, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if !jumped && read < n {
			break
		}
	}
	return out, nil
}

// listByTimeSQL lists the entries under $2 ordered by a timestamp column
// (%[1]s) and then name, both in direction %[2]s, after the entry ($4, $5)
// by comparison %[3]s. With a delimiter ($3) the keys below a sub-folder
// make one folder entry whose timestamps are its oldest key's created_at,
// as upstream dates them. Timestamps compare at millisecond precision, the
// precision the cursor carries.
const listByTimeSQL = `with o as (
  select name, id, updated_at, created_at, last_accessed_at, metadata,
    case when $3 then strpos(substr(name, length($2) + 1), '/') else 0 end as slash
  from storage.objects where bucket_id = $1 and starts_with(name, $2)
), items as (
  select left(name, length($2) + slash) as name, null::text as id, min(created_at) as updated_at,
    min(created_at) as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata
  from o where slash > 0 group by 1
  union all
  select name, id::text, updated_at, created_at, last_accessed_at, metadata from o where slash = 0
)
select name, coalesce(id, ''), updated_at, created_at, coalesce(last_accessed_at, 'epoch'), coalesce(metadata, 'null')
from items
where $4 = '' or (date_trunc('milliseconds', %[1]s), name collate "C") %[3]s (coalesce(nullif($5, '')::timestamptz, 'epoch'), $4)
order by date_trunc('milliseconds', %[1]s) %[2]s, name collate "C" %[2]s
limit $6`

// listByTime reads up to n entries in a timestamp column's order after
// the cursor's entry.
func listByTime(ctx context.Context, tx pgx.Tx, bucketID, prefix string, delimited bool, sort v2Sort, cur v2Cursor, n int) ([]v2Entry, error) {
	col := "updated_at"
	if sort.column == "created_at" {
		col = "created_at"
	}
	dir, op := "asc", ">"
	if sort.order == "desc" {
		dir, op = "desc", "<"
	}
	rows, err := tx.Query(ctx, fmt.Sprintf(listByTimeSQL, col, dir, op), bucketID, prefix, delimited, cur.after, cur.colAfter, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []v2Entry
	for rows.Next() {
		var e v2Entry
		if err := rows.Scan(&e.name, &e.id, &e.updated, &e.created, &e.lastAccess, &e.meta); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
