package storage

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func queryGetter(q url.Values) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if !q.Has(name) {
			return "", false
		}
		return q.Get(name), true
	}
}

func TestParseTransform(t *testing.T) {
	t.Parallel()
	q, _ := url.ParseQuery("width=400&height=300.0&resize=contain&quality=75&format=webp")
	tr, err := parseTransform(queryGetter(q), "querystring")
	require.NoError(t, err)
	assert.Equal(t, transform{Width: 400, Height: 300, Resize: "contain", Quality: 75, Format: "webp"}, tr)
	assert.Equal(t, "height:300,width:400,resize:contain,quality:75,format:webp", tr.String())
	assert.Equal(t, tr, parseTransformString(tr.String()))
	// The token string is read leniently: bad parts are dropped alone.
	assert.Equal(t, transform{Width: 10, Format: "origin"}, parseTransformString("width:10,height:x,quality:5,,resize:,format:origin,gravity:ce"))

	tj, ok, err := parseTransformJSON(json.RawMessage(`{"width": "40", "resize": "fill"}`))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, transform{Width: 40, Resize: "fill"}, tj)
	_, ok, err = parseTransformJSON(json.RawMessage(`null`))
	assert.False(t, ok)
	assert.NoError(t, err)
	_, _, err = parseTransformJSON(json.RawMessage(`[1]`))
	assert.Error(t, err)
	_, _, err = parseTransformJSON(json.RawMessage(`{"width": true}`))
	assert.Error(t, err)
}

func TestAcceptsWebP(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]bool{
		"":                                false,
		"*/*":                             false,
		"image/*":                         false,
		"image/webp":                      true,
		"image/avif,image/webp,*/*;q=0.8": true,
		"IMAGE/WEBP;q=0.5":                true,
		"image/webp;q=0":                  false,
		"text/html, image/webp ; q=0.0":   false,
		"image/webpx":                     false,
	} {
		assert.Equal(t, want, acceptsWebP(accept), accept)
	}
}

// FuzzParseTransform: no query makes the parser panic, an accepted one
// keeps its values in their ranges, and what a signed token carries reads
// back as it was written.
func FuzzParseTransform(f *testing.F) {
	for _, s := range []string{"width=400&height=300", "resize=fill&quality=100&format=origin", "width=1e3", "height=-0",
		"quality=20.000", "width=99999999999999999999", "format=avif&resize=contain", "width=%20", "width=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		tr, err := parseTransform(queryGetter(q), "querystring")
		if err != nil {
			return
		}
		if tr.Width < 0 || tr.Height < 0 || tr.Quality != 0 && (tr.Quality < 20 || tr.Quality > 100) {
			t.Fatalf("%q accepted out of range: %+v", raw, tr)
		}
		if back := parseTransformString(tr.String()); back != tr {
			t.Fatalf("%q: %+v became %+v through %q", raw, tr, back, tr.String())
		}
		_ = parseTransformString(raw)
		o := tr.options(tr.outputFormat(raw), 2500)
		if o.Width > 2500 || o.Height > 2500 {
			t.Fatalf("%q: not clamped: %+v", raw, o)
		}
		_ = renderKey("0123456789", o)
	})
}
