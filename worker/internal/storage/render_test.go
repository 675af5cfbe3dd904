package storage

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/shared/apitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "golang.org/x/image/webp" // decodes the WebP renders
)

// testJPEG is a w × h JPEG with some detail.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x * y) % 256), 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}))
	return buf.Bytes()
}

// dims decodes an answer's image header: its format and size.
func dims(t *testing.T, r *apitest.Response) (string, int, int) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(r.Body))
	require.NoError(t, err, "%d %s", r.Status, r.Body)
	return format, cfg.Width, cfg.Height
}

// renderKeys is the render cache's keys on the backend.
func (e *env) renderKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	require.NoError(t, e.backend.Walk(testCtx(t), func(k string, _ time.Time) error {
		if strings.HasPrefix(k, "renders/") {
			keys = append(keys, k)
		}
		return nil
	}))
	return keys
}

func TestRender(t *testing.T) {
	t.Parallel()
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kind)
			e.createBucket(t, "img", false, nil)
			e.createBucket(t, "pub", true, nil)
			photo := testJPEG(t, 640, 480)
			e.upload(t, "img", "a/photo.jpg", e.Service, photo, map[string]string{"Content-Type": "image/jpeg"})
			e.upload(t, "pub", "photo.jpg", e.Service, photo, map[string]string{"Content-Type": "image/jpeg"})
			e.upload(t, "img", "notes.txt", e.Service, []byte("not an image at all"), map[string]string{"Content-Type": "image/png"})
			svc := as(e.Service)

			for _, tc := range []struct {
				query, accept string
				format        string
				w, h          int
			}{
				{"width=64&height=48", "", "jpeg", 64, 48},
				{"width=50&height=50", "", "jpeg", 50, 50},
				{"width=50&height=50&resize=cover", "", "jpeg", 50, 50},
				{"width=50&height=50&resize=contain", "", "jpeg", 50, 38},
				{"width=50&height=20&resize=fill", "", "jpeg", 50, 20},
				{"width=100", "", "jpeg", 100, 75},
				{"height=30", "", "jpeg", 40, 30},
				{"width=5000", "", "jpeg", 640, 480}, // never enlarged
				{"width=64&quality=30", "", "jpeg", 64, 48},
				{"width=64", "image/avif,image/webp,*/*", "webp", 64, 48},
				{"width=64&format=origin", "image/webp,*/*", "jpeg", 64, 48},
				{"width=64", "*/*", "jpeg", 64, 48},
				{"width=64", "image/webp;q=0, */*", "jpeg", 64, 48},
				{"width=64&format=webp", "", "webp", 64, 48},
			} {
				h := as(e.Service)
				if tc.accept != "" {
					h["Accept"] = tc.accept
				}
				res := e.ok(t, apitest.Request{URL: "/render/image/authenticated/img/a/photo.jpg?" + tc.query, Headers: h})
				f, w, hh := dims(t, res)
				assert.Equal(t, []any{tc.format, tc.w, tc.h}, []any{f, w, hh}, "%s (Accept %q)", tc.query, tc.accept)
				assert.Equal(t, "image/"+tc.format, res.Header.Get("Content-Type"), tc.query)
			}

			// The second request for a render reads the cache: the backend
			// holds it, and what it holds is what is served.
			before := len(e.renderKeys(t))
			first := e.ok(t, apitest.Request{URL: "/render/image/authenticated/img/a/photo.jpg?width=33", Headers: svc})
			keys := e.renderKeys(t)
			require.Len(t, keys, before+1)
			marker := testPNG(t, 7, 3)
			var cached string
			for _, k := range keys {
				rc, err := e.backend.Get(testCtx(t), k, 0, -1)
				require.NoError(t, err)
				var b bytes.Buffer
				_, _ = b.ReadFrom(rc)
				rc.Close()
				if bytes.Equal(b.Bytes(), first.Body) {
					cached = k
				}
			}
			require.NotEmpty(t, cached, "the render is on the backend")
			_, err := e.backend.Put(testCtx(t), cached, bytes.NewReader(marker), "image/png")
			require.NoError(t, err)
			second := e.ok(t, apitest.Request{URL: "/render/image/authenticated/img/a/photo.jpg?width=33", Headers: svc})
			assert.Equal(t, marker, second.Body, "served from the cache")
			assert.Equal(t, "image/png", second.Header.Get("Content-Type"))
			assert.Len(t, e.renderKeys(t), before+1)

			// A conditional request with the render's tag is a 304.
			tag := first.Header.Get("ETag")
			require.NotEmpty(t, tag)
			nm := e.Do(t, apitest.Request{URL: "/render/image/authenticated/img/a/photo.jpg?width=33", Headers: as(e.Service, "If-None-Match", tag)})
			assert.Equal(t, 304, nm.Status)
			other := e.ok(t, apitest.Request{URL: "/render/image/authenticated/img/a/photo.jpg?width=34", Headers: svc})
			assert.NotEqual(t, tag, other.Header.Get("ETag"))

			// A public bucket renders for anyone; a private one does not.
			pub := e.ok(t, apitest.Request{URL: "/render/image/public/pub/photo.jpg?width=20"})
			_, w, h := dims(t, pub)
			assert.Equal(t, []int{20, 15}, []int{w, h})

			apitest.Run(t, e.Env, []apitest.Scenario{
				{Name: "private bucket on the public route", URL: "/render/image/public/img/a/photo.jpg?width=20",
					WantStatus: 400, WantFields: refused(codeNoSuchBucket)},
				{Name: "anon cannot see a private object", URL: "/render/image/authenticated/img/a/photo.jpg?width=20",
					Headers: as(e.Anon), WantStatus: 400, WantFields: refused(codeNoSuchKey)},
				{Name: "missing object", URL: "/render/image/authenticated/img/nope.jpg?width=20", Headers: svc,
					WantStatus: 400, WantFields: refused(codeNoSuchKey)},
				{Name: "not an image", URL: "/render/image/authenticated/img/notes.txt?width=20", Headers: svc,
					WantStatus: 400, WantFields: map[string]any{"statusCode": "400", "code": codeInvalidRequest,
						"message": "The source image is invalid or unsupported for rendering"}},
				{Name: "width not an integer", URL: "/render/image/authenticated/img/a/photo.jpg?width=abc", Headers: svc,
					WantStatus: 400, WantFields: map[string]any{"code": codeInvalidRequest, "message": "querystring/width must be integer"}},
				{Name: "negative height", URL: "/render/image/authenticated/img/a/photo.jpg?height=-1", Headers: svc,
					WantStatus: 400, WantFields: map[string]any{"message": "querystring/height must be >= 0"}},
				{Name: "quality too low", URL: "/render/image/authenticated/img/a/photo.jpg?quality=10", Headers: svc,
					WantStatus: 400, WantFields: map[string]any{"message": "querystring/quality must be >= 20"}},
				{Name: "quality too high", URL: "/render/image/authenticated/img/a/photo.jpg?quality=101", Headers: svc,
					WantStatus: 400, WantFields: map[string]any{"message": "querystring/quality must be <= 100"}},
				{Name: "unknown resize", URL: "/render/image/authenticated/img/a/photo.jpg?resize=zoom", Headers: svc,
					WantStatus: 400, WantFields: map[string]any{"message": "querystring/resize must be equal to one of the allowed values"}},
				{Name: "unknown format", URL: "/render/image/authenticated/img/a/photo.jpg?format=bmp", Headers: svc,
					WantStatus: 400, WantFields: map[string]any{"message": "querystring/format must be equal to one of the allowed values"}},
				{Name: "download names the file", URL: "/render/image/public/pub/photo.jpg?width=20&download=small.jpg",
					WantStatus: 200, WantHeaders: map[string]string{"Content-Disposition": "attachment; filename=small.jpg; filename*=UTF-8''small.jpg"}},
			})
		})
	}
}

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))))
	return buf.Bytes()
}

func TestRenderSigned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "img", false, nil)
	e.upload(t, "img", "photo.jpg", e.Service, testJPEG(t, 640, 480), map[string]string{"Content-Type": "image/jpeg"})

	var signed struct{ SignedURL string }
	e.serviceOK(t, "POST", "/object/sign/img/photo.jpg", map[string]any{"expiresIn": 60,
		"transform": map[string]any{"width": 32, "height": 32, "resize": "contain", "quality": 70}}).JSON(t, &signed)
	require.True(t, strings.HasPrefix(signed.SignedURL, "/render/image/sign/img/photo.jpg?token="), signed.SignedURL)
	res := e.ok(t, apitest.Request{URL: signed.SignedURL})
	f, w, h := dims(t, res)
	assert.Equal(t, []any{"jpeg", 32, 24}, []any{f, w, h})
	assert.NotEmpty(t, res.Header.Get("Expires"))

	// The token's transformation is enforced: other options in the query
	// change nothing, and the token does not open the original.
	res = e.ok(t, apitest.Request{URL: signed.SignedURL + "&width=300&height=300&resize=fill&format=webp"})
	f, w, h = dims(t, res)
	assert.Equal(t, []any{"jpeg", 32, 24}, []any{f, w, h})
	tok := strings.SplitN(signed.SignedURL, "token=", 2)[1]
	orig := e.Do(t, apitest.Request{URL: "/object/sign/img/photo.jpg?token=" + tok})
	assert.Equal(t, codeInvalidSignature, errCode(orig))

	// A webp transformation signed is webp whatever the client accepts.
	e.serviceOK(t, "POST", "/object/sign/img/photo.jpg", map[string]any{"expiresIn": 60,
		"transform": map[string]any{"width": 16, "format": "webp"}}).JSON(t, &signed)
	f, w, h = dims(t, e.ok(t, apitest.Request{URL: signed.SignedURL}))
	assert.Equal(t, []any{"webp", 16, 12}, []any{f, w, h})

	// An empty transform signs a plain download URL.
	e.serviceOK(t, "POST", "/object/sign/img/photo.jpg", map[string]any{"expiresIn": 60, "transform": map[string]any{}}).JSON(t, &signed)
	assert.True(t, strings.HasPrefix(signed.SignedURL, "/object/sign/img/photo.jpg?token="), signed.SignedURL)

	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "bad quality in the transform", Method: "POST", URL: "/object/sign/img/photo.jpg", Headers: as(e.Service),
			Body:       map[string]any{"expiresIn": 60, "transform": map[string]any{"quality": 5}},
			WantStatus: 400, WantFields: map[string]any{"code": codeInvalidRequest, "message": "body/transform/quality must be >= 20"}},
		{Name: "fractional width in the transform", Method: "POST", URL: "/object/sign/img/photo.jpg", Headers: as(e.Service),
			Body:       map[string]any{"expiresIn": 60, "transform": map[string]any{"width": 1.5}},
			WantStatus: 400, WantFields: map[string]any{"message": "body/transform/width must be integer"}},
		{Name: "a render token for another object", URL: "/render/image/sign/img/other.jpg?token=" + tok,
			WantStatus: 400, WantFields: refused(codeInvalidSignature)},
	})
}

func TestRenderLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local", func(o *Options) {
		o.Config.ImageMaxInputBytes = 20000
		o.Config.ImageMaxPixels = 300 * 200
		o.Config.ImageMaxDimension = 100
	})
	e.createBucket(t, "img", false, nil)
	big := testJPEG(t, 640, 480)
	require.Greater(t, len(big), 20000)
	e.upload(t, "img", "big.jpg", e.Service, big, nil)
	e.upload(t, "img", "wide.png", e.Service, testPNG(t, 301, 200), nil)
	e.upload(t, "img", "small.png", e.Service, testPNG(t, 300, 200), nil)
	svc := as(e.Service)
	apitest.Run(t, e.Env, []apitest.Scenario{
		{Name: "source over the byte limit", URL: "/render/image/authenticated/img/big.jpg?width=10", Headers: svc,
			WantStatus: 400, WantFields: map[string]any{"code": codeInvalidRequest, "message": "The source image file is too large to process"}},
		{Name: "source over the pixel limit", URL: "/render/image/authenticated/img/wide.png?width=10", Headers: svc,
			WantStatus: 400, WantFields: map[string]any{"code": codeInvalidRequest, "message": "The source image resolution is too large to process"}},
	})
	// Asked sizes are clamped to the largest dimension.
	f, w, h := dims(t, e.ok(t, apitest.Request{URL: "/render/image/authenticated/img/small.png?width=240", Headers: svc}))
	assert.Equal(t, []any{"png", 100, 67}, []any{f, w, h})
}

func TestRenderDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local", func(o *Options) { o.Config.ImageTransformation = false })
	e.createBucket(t, "pub", true, nil)
	e.upload(t, "pub", "photo.jpg", e.Service, testJPEG(t, 64, 48), nil)
	for _, u := range []string{"/render/image/public/pub/photo.jpg?width=10", "/render/image/authenticated/pub/photo.jpg?width=10"} {
		assert.Equal(t, 404, e.Do(t, apitest.Request{URL: u, Headers: as(e.Service)}).Status, u)
	}
	var signed struct{ SignedURL string }
	e.serviceOK(t, "POST", "/object/sign/pub/photo.jpg", map[string]any{"expiresIn": 60, "transform": map[string]any{"width": 10}}).JSON(t, &signed)
	assert.True(t, strings.HasPrefix(signed.SignedURL, "/object/sign/pub/photo.jpg?token="), signed.SignedURL)
	assert.Equal(t, 404, e.Do(t, apitest.Request{URL: "/render/image/sign/pub/photo.jpg?token=" + strings.SplitN(signed.SignedURL, "token=", 2)[1]}).Status)
}

// TestRenderCacheCleaned: renders of a version no row points to any more
// are orphans the cleaner deletes; the live version's stay.
func TestRenderCacheCleaned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "img", false, nil)
	e.upload(t, "img", "photo.jpg", e.Service, testJPEG(t, 64, 48), nil)
	e.ok(t, apitest.Request{URL: "/render/image/authenticated/img/photo.jpg?width=10", Headers: as(e.Service)})
	old := e.renderKeys(t)
	require.Len(t, old, 1)
	e.upload(t, "img", "photo.jpg", e.Service, testJPEG(t, 80, 40), map[string]string{"x-upsert": "true"})
	_, w, _ := dims(t, e.ok(t, apitest.Request{URL: "/render/image/authenticated/img/photo.jpg?width=40&height=40&resize=contain", Headers: as(e.Service)}))
	assert.Equal(t, 40, w, "the new version renders anew")
	require.Len(t, e.renderKeys(t), 2)
	_, err := e.h.CleanOrphans(testCtx(t), time.Now().Add(time.Hour))
	require.NoError(t, err)
	left := e.renderKeys(t)
	require.Len(t, left, 1)
	assert.NotEqual(t, old[0], left[0])
}
