package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/madbase/madbase/shared/apierr"
	"github.com/madbase/madbase/worker/internal/imaging"
)

// transform is an image transformation as storage-api takes it: from a
// render route's query, a signed URL request's transform object, or the
// transformations string a signed render token carries.
type transform struct {
	Width, Height int
	Resize        string // cover, contain, fill; "" is cover
	Format        string // origin, webp, avif; "" picks by Accept
	Quality       int    // 20–100; 0 is the default
}

// Format values storage-api accepts.
const (
	formatOrigin = "origin"
	formatWebP   = "webp"
	formatAVIF   = "avif"
)

// errTransformParam is storage-api's answer to a transformation option
// that fails its schema: the request validation's 400, naming the value by
// its place (querystring/width, body/transform/quality).
func errTransformParam(where, name, problem string) *apierr.Error {
	return newErr(400, codeInvalidRequest, "Bad Request", where+"/"+name+" "+problem)
}

// parseTransform reads the options from get (a query's or a JSON object's
// values as text), checking them as storage-api's schema does; where is the
// values' place for the error message.
func parseTransform(get func(name string) (string, bool), where string) (transform, error) {
	var t transform
	ints := []struct {
		name     string
		dst      *int
		min, max int
	}{
		{"width", &t.Width, 0, math.MaxInt32},
		{"height", &t.Height, 0, math.MaxInt32},
		{"quality", &t.Quality, 20, 100},
	}
	for _, f := range ints {
		raw, ok := get(f.name)
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) || n != math.Trunc(n) {
			return transform{}, errTransformParam(where, f.name, "must be integer")
		}
		if n < float64(f.min) {
			return transform{}, errTransformParam(where, f.name, "must be >= "+strconv.Itoa(f.min))
		}
		if n > float64(f.max) {
			return transform{}, errTransformParam(where, f.name, "must be <= "+strconv.Itoa(f.max))
		}
		*f.dst = int(n)
	}
	enums := []struct {
		name    string
		dst     *string
		allowed []string
	}{
		{"resize", &t.Resize, []string{imaging.Cover, imaging.Contain, imaging.Fill}},
		{"format", &t.Format, []string{formatOrigin, formatAVIF, formatWebP}},
	}
	for _, f := range enums {
		raw, ok := get(f.name)
		if !ok {
			continue
		}
		found := false
		for _, a := range f.allowed {
			found = found || raw == a
		}
		if !found {
			return transform{}, errTransformParam(where, f.name, "must be equal to one of the allowed values")
		}
		*f.dst = raw
	}
	return t, nil
}

// parseTransformJSON reads a signed URL request's transform object; null
// or absent is no transformation (ok false).
func parseTransformJSON(raw json.RawMessage) (t transform, ok bool, err error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return transform{}, false, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return transform{}, false, errTransformParam("body", "transform", "must be object")
	}
	t, err = parseTransform(func(name string) (string, bool) {
		v, ok := m[name]
		switch v := v.(type) {
		case nil:
			return "", false
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64), ok
		case string:
			return v, ok
		case bool:
			return strconv.FormatBool(v), ok
		default:
			return "?", ok
		}
	}, "body/transform")
	if err != nil {
		return transform{}, false, err
	}
	// An empty transform is none, as storage-api signs it.
	return t, t != transform{}, nil
}

// String is t as a signed render token carries it (the transformations
// claim), in a fixed order: height, width, resize, quality, format, as
// storage-api writes it.
func (t transform) String() string {
	var parts []string
	if t.Height > 0 {
		parts = append(parts, "height:"+strconv.Itoa(t.Height))
	}
	if t.Width > 0 {
		parts = append(parts, "width:"+strconv.Itoa(t.Width))
	}
	if t.Resize != "" {
		parts = append(parts, "resize:"+t.Resize)
	}
	if t.Quality > 0 {
		parts = append(parts, "quality:"+strconv.Itoa(t.Quality))
	}
	if t.Format != "" {
		parts = append(parts, "format:"+t.Format)
	}
	return strings.Join(parts, ",")
}

// parseTransformString reads a token's transformations claim. The claim
// was written by this server and signed, so it is read leniently, as
// storage-api reads it: unknown or malformed parts are skipped, and the
// values are checked like a query's.
func parseTransformString(s string) transform {
	vals := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(p, ":")
		if !ok || value == "" {
			continue
		}
		vals[name] = value
	}
	var t transform
	get := func(name string) (string, bool) { v, ok := vals[name]; return v, ok }
	// Each option alone, so one bad value drops only itself.
	for _, name := range []string{"width", "height", "quality", "resize", "format"} {
		one, err := parseTransform(func(n string) (string, bool) {
			if n != name {
				return "", false
			}
			return get(n)
		}, "token")
		if err != nil {
			continue
		}
		switch name {
		case "width":
			t.Width = one.Width
		case "height":
			t.Height = one.Height
		case "quality":
			t.Quality = one.Quality
		case "resize":
			t.Resize = one.Resize
		case "format":
			t.Format = one.Format
		}
	}
	return t
}

// outputFormat is the format t renders to for a request with accept:
// webp when asked for (avif too: this server does not encode AVIF), the
// source's for origin, and when no format is given webp if the client
// accepts it (as storage-api's imgproxy, with WebP detection, decides);
// "" is the source's format.
func (t transform) outputFormat(accept string) string {
	switch t.Format {
	case formatWebP, formatAVIF:
		return imaging.WebP
	case formatOrigin:
		return ""
	}
	if acceptsWebP(accept) {
		return imaging.WebP
	}
	return ""
}

// acceptsWebP reports whether an Accept header names image/webp with a
// non-zero quality (a wildcard does not count: an <img> with */* may not
// decode WebP).
func acceptsWebP(accept string) bool {
	for _, r := range strings.Split(accept, ",") {
		mt, params, _ := strings.Cut(r, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "image/webp") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				if q, err := strconv.ParseFloat(v, 64); err == nil && q <= 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// options is t as the imaging package takes it, sides clamped to
// [1, maxDim] as storage-api clamps them.
func (t transform) options(format string, maxDim int) imaging.Options {
	clamp := func(v int) int {
		if v <= 0 {
			return 0
		}
		return min(v, maxDim)
	}
	o := imaging.Options{Width: clamp(t.Width), Height: clamp(t.Height), Resize: t.Resize, Quality: t.Quality, Format: format}
	if o.Resize == "" {
		o.Resize = imaging.Cover
	}
	if o.Quality == 0 {
		o.Quality = imaging.DefaultQuality
	}
	return o
}

// renderKey is where the render of one version of an object with o is
// cached on the backend: under the version, so a new write never serves an
// old render and the cleaner drops renders with the version they belong to.
func renderKey(version string, o imaging.Options) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(o.Width) + "x" + strconv.Itoa(o.Height) + "," + o.Resize + ",q" +
		strconv.Itoa(o.Quality) + "," + o.Format))
	return "renders/" + strings.TrimPrefix(blobKey(version), "objects/") + "/" + hex.EncodeToString(sum[:16])
}

// renderVersion is the object version a render key belongs to, for the
// orphan cleaner.
func renderVersion(key string) string {
	parts := strings.Split(key, "/")
	if len(parts) < 4 {
		return ""
	}
	return parts[2]
}
