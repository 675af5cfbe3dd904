// Package imaging resizes and re-encodes images for storage's image
// transformations (docs/api/storage.md, "Image transformations"): decode,
// scale to a box (cover, contain or fill), encode as JPEG, PNG, GIF or WebP.
//
// Two engines do the pixel work. Built with the vips tag (and cgo, and
// libvips-dev), it is libvips, which decodes JPEGs at a fraction of their
// size (shrink-on-load) and is what imgproxy, the server Supabase runs for
// this, is built on; bench/cmd/imgbench measures the two. The default build
// (go run ./cmd/madbase dev on a machine without libvips, the Docker image)
// uses a pure-Go engine that does the same work several times more slowly
// and writes lossless WebP. Either way the geometry is
// decided here, once, so both engines give the same dimensions.
package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // decoders for DecodeConfig and the pure-Go engine
	_ "image/jpeg" //
	_ "image/png"  //
	"math"

	_ "golang.org/x/image/webp" //
)

// Resize modes, as storage-api names them.
const (
	// Cover fills the box, keeping the aspect ratio and cropping the
	// overflow around the centre (the default).
	Cover = "cover"
	// Contain fits the image inside the box, keeping the aspect ratio.
	Contain = "contain"
	// Fill stretches the image to the box.
	Fill = "fill"
)

// Formats an image is read from and written to.
const (
	JPEG = "jpeg"
	PNG  = "png"
	GIF  = "gif"
	WebP = "webp"
)

// DefaultQuality is the encoder quality when the request gives none (as
// imgproxy's default).
const DefaultQuality = 80

// Options is one transformation. Zero Width and Height keep the source's
// size (and re-encode); one zero side follows the other by the aspect ratio.
type Options struct {
	Width, Height int
	Resize        string // Cover, Contain or Fill; "" is Cover
	Quality       int    // 1–100; 0 is DefaultQuality
	Format        string // output format; "" keeps the source's
}

// Limits bound the work one transformation may cause.
type Limits struct {
	// MaxPixels is the largest source resolution (width × height) decoded.
	MaxPixels int64
}

// Errors a caller maps to its API's answers.
var (
	// ErrUnsupported is a source that is not an image this package reads.
	ErrUnsupported = errors.New("imaging: the source is not a supported image")
	// ErrTooManyPixels is a source over Limits.MaxPixels.
	ErrTooManyPixels = errors.New("imaging: the source resolution is too large")
)

// Info is what a source's header says. Width and Height are as displayed:
// a JPEG whose EXIF orientation turns it by 90° has its sides swapped.
type Info struct {
	Format        string
	Width, Height int
	// Orientation is the EXIF orientation the engine applies (1: none).
	Orientation int
}

// Probe reads a source's format and size from its header, without decoding
// its pixels.
func Probe(src []byte) (Info, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(src))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, ErrUnsupported
	}
	switch format {
	case JPEG, PNG, GIF, WebP:
	default:
		return Info{}, ErrUnsupported
	}
	info := Info{Format: format, Width: cfg.Width, Height: cfg.Height, Orientation: 1}
	if format == JPEG {
		info.Orientation = jpegOrientation(src)
		if swapsSides(info.Orientation) {
			info.Width, info.Height = info.Height, info.Width
		}
	}
	return info, nil
}

// Geometry is how an engine turns the source into the output: scale the
// whole source to ScaleW × ScaleH, then keep the centred OutW × OutH.
type Geometry struct {
	ScaleW, ScaleH int
	OutW, OutH     int
}

// Plan decides the geometry of o for a source of w × h. Images are never
// enlarged: a box larger than the source keeps the source's size (cover
// still crops to the box's shape where the source is larger on one side).
func Plan(w, h int, o Options) Geometry {
	if o.Width <= 0 && o.Height <= 0 {
		return Geometry{ScaleW: w, ScaleH: h, OutW: w, OutH: h}
	}
	fw, fh := float64(w), float64(h)
	sx, sy := float64(o.Width)/fw, float64(o.Height)/fh
	switch {
	case o.Width <= 0:
		sx = sy
	case o.Height <= 0:
		sy = sx
	}
	switch o.Resize {
	case Fill:
		sx, sy = math.Min(sx, 1), math.Min(sy, 1)
		g := Geometry{ScaleW: side(fw * sx), ScaleH: side(fh * sy)}
		g.OutW, g.OutH = g.ScaleW, g.ScaleH
		return g
	case Contain:
		s := math.Min(math.Min(sx, sy), 1)
		g := Geometry{ScaleW: side(fw * s), ScaleH: side(fh * s)}
		g.OutW, g.OutH = g.ScaleW, g.ScaleH
		return g
	default:
		s := math.Min(math.Max(sx, sy), 1)
		g := Geometry{ScaleW: side(fw * s), ScaleH: side(fh * s)}
		g.OutW, g.OutH = g.ScaleW, g.ScaleH
		if o.Width > 0 && o.Width < g.OutW {
			g.OutW = o.Width
		}
		if o.Height > 0 && o.Height < g.OutH {
			g.OutH = o.Height
		}
		return g
	}
}

func side(v float64) int { return max(1, int(math.Round(v))) }

// Result is a transformed image.
type Result struct {
	Data          []byte
	Format        string
	Width, Height int
}

// ContentType is the MIME type of a format.
func ContentType(format string) string {
	switch format {
	case JPEG:
		return "image/jpeg"
	case PNG:
		return "image/png"
	case GIF:
		return "image/gif"
	case WebP:
		return "image/webp"
	}
	return "application/octet-stream"
}

// Transform applies o to src within l. The caller bounds how many run at
// once (each holds a decoded image).
func Transform(src []byte, o Options, l Limits) (Result, error) {
	info, err := Probe(src)
	if err != nil {
		return Result{}, err
	}
	if l.MaxPixels > 0 && int64(info.Width)*int64(info.Height) > l.MaxPixels {
		return Result{}, ErrTooManyPixels
	}
	if o.Format == "" {
		o.Format = info.Format
	}
	if o.Quality <= 0 || o.Quality > 100 {
		o.Quality = DefaultQuality
	}
	g := Plan(info.Width, info.Height, o)
	out, err := engineTransform(src, info, g, o)
	if err != nil {
		return Result{}, fmt.Errorf("imaging (%s): %w", Engine, err)
	}
	return Result{Data: out, Format: o.Format, Width: g.OutW, Height: g.OutH}, nil
}
