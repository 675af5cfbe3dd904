package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/worker/internal/imaging"
)

// Image transformations (docs/api/storage.md, "Image transformations"):
// GET /render/image/{authenticated|public|sign}/{bucket}/{key} serves an
// image object resized and re-encoded. A render is cached on the backend
// under the object's version and the options (renderKey), so the next
// request for it is a plain read; the cleaner deletes the renders of
// versions no row points to any more.

// renderLimits bounds the work transformations cause on one worker.
type renderLimits struct {
	maxInput  int64
	maxPixels int64
	maxDim    int
	// slots holds one token per transformation decoding at once: the
	// source bytes and decoded pixels of at most cap(slots) images are in
	// memory, whatever the number of requests.
	slots chan struct{}
}

func newRenderLimits(maxInput, maxPixels int64, maxDim, concurrency int) *renderLimits {
	if maxInput <= 0 {
		maxInput = 25 << 20
	}
	if maxPixels <= 0 {
		maxPixels = 50_000_000
	}
	if maxDim <= 0 {
		maxDim = 2500
	}
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	return &renderLimits{maxInput: maxInput, maxPixels: maxPixels, maxDim: maxDim, slots: make(chan struct{}, concurrency)}
}

// Errors of a source a transformation cannot use, worded as storage-api
// words imgproxy's refusals.
func errNotAnImage() *apierr.Error {
	return newErr(400, codeInvalidRequest, codeInvalidRequest, "The source image is invalid or unsupported for rendering")
}
func errSourceTooLarge() *apierr.Error {
	return newErr(400, codeInvalidRequest, codeInvalidRequest, "The source image file is too large to process")
}
func errSourceTooManyPixels() *apierr.Error {
	return newErr(400, codeInvalidRequest, codeInvalidRequest, "The source image resolution is too large to process")
}
func errRenderBusy() *apierr.Error {
	return newErrAsIs(429, codeInvalidRequest, codeInvalidRequest, "Too many requests")
}

// queryTransform reads a render route's transformation options.
func queryTransform(c *fiber.Ctx) (transform, error) {
	args := c.Request().URI().QueryArgs()
	return parseTransform(func(name string) (string, bool) {
		v := args.Peek(name)
		if v == nil {
			return "", false
		}
		return string(v), true
	}, "querystring")
}

func (h *Handler) renderAuthenticated(c *fiber.Ctx) error {
	if !h.cfg.ImageTransformation {
		return fiber.ErrNotFound
	}
	t, err := queryTransform(c)
	if err != nil {
		return err
	}
	cl, bucketID, key, err := h.objectRequest(c, true)
	if err != nil {
		return err
	}
	o, err := h.visibleObject(c, cl, bucketID, key, "storage.object.render_authenticated")
	if err != nil {
		return err
	}
	return h.renderImage(c, o, t, nil)
}

func (h *Handler) renderPublic(c *fiber.Ctx) error {
	if !h.cfg.ImageTransformation {
		return fiber.ErrNotFound
	}
	t, err := queryTransform(c)
	if err != nil {
		return err
	}
	o, err := h.publicObject(c)
	if err != nil {
		return err
	}
	return h.renderImage(c, o, t, nil)
}

// renderSigned serves a signed render URL: the transformation is the
// token's, whatever the query says, so a token serves only the render it
// was made for.
func (h *Handler) renderSigned(c *fiber.Ctx) error {
	if !h.cfg.ImageTransformation {
		return fiber.ErrNotFound
	}
	claims, o, extra, err := h.signedObject(c, true)
	if err != nil {
		return err
	}
	s, _ := claims["transformations"].(string)
	t := parseTransformString(s)
	return h.renderImage(c, o, t, extra)
}

// renderImage answers with o transformed by t: from the render cache when
// it holds the render, else made now (one of a bounded number at once) and
// cached.
func (h *Handler) renderImage(c *fiber.Ctx, o *object, t transform, extra map[string]string) error {
	opts := t.options(t.outputFormat(c.Get(fiber.HeaderAccept)), h.img.maxDim)
	key := renderKey(o.Version, opts)
	res := &c.Context().Response
	for k, v := range extra {
		res.Header.Set(k, v)
	}
	if extra["Expires"] == "" {
		res.Header.Set(fiber.HeaderCacheControl, orDefault(o.Meta.CacheControl, "no-cache"))
	}
	// Each render of a version is its own entity: its tag is the object's
	// with the render's key appended.
	etag := `"` + strings.Trim(strings.TrimPrefix(o.Meta.ETag, "W/"), `"`) + "-" + key[strings.LastIndexByte(key, '/')+1:][:12] + `"`
	res.Header.Set(fiber.HeaderETag, etag)
	res.Header.Set(fiber.HeaderLastModified, o.UpdatedAt.UTC().Format(http.TimeFormat))
	if s := t.String(); s != "" {
		res.Header.Set("X-Transformations", s)
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
	if notModified(c, etag, o.UpdatedAt) {
		c.Status(fiber.StatusNotModified)
		res.SkipBody = true
		return nil
	}
	ctx, cancel := context.WithTimeout(h.base, requestTimeout)
	defer cancel()
	data, err := h.cachedRender(ctx, key)
	if err != nil {
		return err
	}
	if data == nil {
		if data, err = h.makeRender(ctx, o, opts, key); err != nil {
			return err
		}
	}
	res.Header.SetContentType(http.DetectContentType(data))
	return c.Status(fiber.StatusOK).Send(data)
}

// cachedRender is the cached render under key, nil when there is none.
func (h *Handler) cachedRender(ctx context.Context, key string) ([]byte, error) {
	rc, err := h.backend.Get(ctx, key, 0, -1)
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errStore(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, errStore(err)
	}
	return data, nil
}

// makeRender transforms o's bytes with opts, within the limits, and
// caches the result under key.
func (h *Handler) makeRender(ctx context.Context, o *object, opts imaging.Options, key string) ([]byte, error) {
	if o.Meta.Size > h.img.maxInput {
		return nil, errSourceTooLarge()
	}
	out, cached, err := h.transformSource(ctx, o, opts, key)
	if err != nil || cached {
		return out.Data, err
	}
	// The cache is written after the slot is given back: the next
	// transformation need not wait for this one's disk or network write.
	if _, err := h.backend.Put(ctx, key, bytes.NewReader(out.Data), imaging.ContentType(out.Format)); err != nil {
		h.log.Warn("storage: cannot cache an image render", "error", err.Error())
	}
	return out.Data, nil
}

// transformSource reads o's bytes and transforms them, holding one of the
// decode slots; cached is true when another request made the render while
// this one waited for its slot (out.Data is then that render).
func (h *Handler) transformSource(ctx context.Context, o *object, opts imaging.Options, key string) (out imaging.Result, cached bool, err error) {
	select {
	case h.img.slots <- struct{}{}:
	case <-ctx.Done():
		return out, false, errRenderBusy()
	}
	defer func() { <-h.img.slots }()
	if data, err := h.cachedRender(ctx, key); err != nil || data != nil {
		return imaging.Result{Data: data}, true, err
	}
	rc, err := h.backend.Get(ctx, blobKey(o.Version), 0, -1)
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			return out, false, errNoSuchKey()
		}
		return out, false, errStore(err)
	}
	src, err := io.ReadAll(io.LimitReader(rc, h.img.maxInput+1))
	rc.Close()
	if err != nil {
		return out, false, errStore(err)
	}
	if int64(len(src)) > h.img.maxInput {
		return out, false, errSourceTooLarge()
	}
	out, err = imaging.Transform(src, opts, imaging.Limits{MaxPixels: h.img.maxPixels})
	switch {
	case errors.Is(err, imaging.ErrTooManyPixels):
		return out, false, errSourceTooManyPixels()
	case errors.Is(err, imaging.ErrUnsupported):
		return out, false, errNotAnImage()
	case err != nil:
		return out, false, errInternal(err)
	}
	return out, false, nil
}
