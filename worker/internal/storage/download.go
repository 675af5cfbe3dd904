package storage

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// serve writes an object's bytes (or its headers for HEAD and 304s) with
// the caching and range headers of docs/api/storage.md §4.2, streaming from the backend.
func (h *Handler) serve(c *fiber.Ctx, o *object, extra map[string]string) error {
	size := o.Meta.Size
	etag := o.Meta.ETag
	lastMod := o.UpdatedAt.UTC().Format(http.TimeFormat)
	res := &c.Context().Response
	for k, v := range extra {
		res.Header.Set(k, v)
	}
	res.Header.Set(fiber.HeaderCacheControl, orDefault(o.Meta.CacheControl, "no-cache"))
	if etag != "" {
		res.Header.Set(fiber.HeaderETag, etag)
	}
	res.Header.Set(fiber.HeaderLastModified, lastMod)
	res.Header.Set(fiber.HeaderAcceptRanges, "bytes")
	if o.Meta.ContentEncoding != "" {
		res.Header.Set(fiber.HeaderContentEncoding, o.Meta.ContentEncoding)
	}
	if c.Request().URI().QueryArgs().Has("download") {
		name := c.Query("download")
		if name == "" {
			res.Header.Set(fiber.HeaderContentDisposition, "attachment;")
		} else {
			enc := url.PathEscape(name)
			res.Header.Set(fiber.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%s; filename*=UTF-8''%s", enc, enc))
		}
	}
	res.Header.SetContentType(orDefault(o.Meta.Mimetype, "application/octet-stream"))

	if notModified(c, etag, o.UpdatedAt) {
		c.Status(fiber.StatusNotModified)
		res.SkipBody = true
		return nil
	}

	off, length, status := int64(0), size, fiber.StatusOK
	if rng := c.Get(fiber.HeaderRange); rng != "" && ifRangeOK(c, etag, lastMod) {
		start, end, ok, satisfiable := parseRange(rng, size)
		if !satisfiable {
			res.Header.Set(fiber.HeaderContentRange, "bytes */"+strconv.FormatInt(size, 10))
			return newErrAsIs(416, codeInvalidRange, "Range Not Satisfiable", "The requested range is not satisfiable")
		}
		if ok {
			off, length, status = start, end-start+1, fiber.StatusPartialContent
			res.Header.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", start, end, size))
		}
	}
	c.Status(status)
	if c.Method() == fiber.MethodHead {
		res.SkipBody = true
		res.Header.SetContentLength(int(length))
		return nil
	}
	rc, err := h.backend.Get(h.base, blobKey(o.Version), off, length)
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			return errNoSuchKey()
		}
		return errStore(err)
	}
	res.SetBodyStream(rc, int(length))
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// notModified evaluates If-None-Match (preferred) and If-Modified-Since.
func notModified(c *fiber.Ctx, etag string, mod time.Time) bool {
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" {
		if etag == "" {
			return false
		}
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == etag {
				return true
			}
		}
		return false
	}
	if ims := c.Get(fiber.HeaderIfModifiedSince); ims != "" {
		if t, err := http.ParseTime(ims); err == nil {
			return !mod.Truncate(time.Second).After(t)
		}
	}
	return false
}

// ifRangeOK: a Range with an If-Range that no longer matches serves the
// whole object.
func ifRangeOK(c *fiber.Ctx, etag, lastMod string) bool {
	ir := c.Get(fiber.HeaderIfRange)
	return ir == "" || ir == etag || ir == lastMod
}

// parseRange reads a single "bytes=" range. ok is false when the header
// is to be ignored (malformed or several ranges: the whole object is
// served); satisfiable is false for a range wholly past the end.
func parseRange(h string, size int64) (start, end int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, true
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, true
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, true
		}
		if n == 0 || size == 0 {
			return 0, 0, false, false
		}
		if n > size {
			n = size
		}
		return size - n, size - 1, true, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, true
	}
	if s >= size {
		return 0, 0, false, false
	}
	e := size - 1
	if b != "" {
		v, err := strconv.ParseInt(b, 10, 64)
		if err != nil || v < s {
			return 0, 0, false, true
		}
		if v < e {
			e = v
		}
	}
	return s, e, true, true
}
