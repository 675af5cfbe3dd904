//go:build !cgo || !vips

package imaging

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"

	"github.com/HugoSmits86/nativewebp"
	"golang.org/x/image/draw"
)

// Engine names the engine this build uses.
const Engine = "pure Go"

func engineTransform(src []byte, info Info, g Geometry, o Options) ([]byte, error) {
	img, _, err := image.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, ErrUnsupported
	}
	if info.Orientation > 1 {
		img = orient(toRGBA(img), info.Orientation)
	}
	img = scaleCrop(img, g)
	var buf bytes.Buffer
	switch o.Format {
	case JPEG:
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: o.Quality})
	case PNG:
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	case GIF:
		err = gif.Encode(&buf, img, nil)
	case WebP:
		// Pure-Go WebP encoders write lossless WebP: quality does not apply.
		err = nativewebp.Encode(&buf, img, nil)
	default:
		return nil, ErrUnsupported
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// scaleCrop scales img to g's scaled size and keeps its centred output box.
// Large reductions first halve with a box filter (cheap, and what keeps
// the interpolating pass from aliasing), then finish with Catmull-Rom.
func scaleCrop(img image.Image, g Geometry) image.Image {
	b := img.Bounds()
	if b.Dx() != g.ScaleW || b.Dy() != g.ScaleH {
		for b.Dx() >= 4*g.ScaleW && b.Dy() >= 4*g.ScaleH {
			img = halve(img)
			b = img.Bounds()
		}
		dst := image.NewRGBA(image.Rect(0, 0, g.ScaleW, g.ScaleH))
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
		img, b = dst, dst.Bounds()
	}
	if b.Dx() == g.OutW && b.Dy() == g.OutH {
		return img
	}
	x0 := b.Min.X + (b.Dx()-g.OutW)/2
	y0 := b.Min.Y + (b.Dy()-g.OutH)/2
	out := image.NewRGBA(image.Rect(0, 0, g.OutW, g.OutH))
	draw.Draw(out, out.Bounds(), img, image.Pt(x0, y0), draw.Src)
	return out
}

// halve averages each 2×2 block of img.
func halve(img image.Image) image.Image {
	b := img.Bounds()
	w, h := b.Dx()/2, b.Dy()/2
	src := toRGBA(img)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		r0 := src.Pix[(2*y)*src.Stride:]
		r1 := src.Pix[(2*y+1)*src.Stride:]
		d := dst.Pix[y*dst.Stride:]
		for x := 0; x < w; x++ {
			i := 8 * x
			for c := 0; c < 4; c++ {
				d[4*x+c] = uint8((uint16(r0[i+c]) + uint16(r0[i+4+c]) + uint16(r1[i+c]) + uint16(r1[i+4+c]) + 2) / 4)
			}
		}
	}
	return dst
}

// toRGBA converts img to RGBA with its origin at 0,0.
func toRGBA(img image.Image) *image.RGBA {
	if r, ok := img.(*image.RGBA); ok && r.Rect.Min == (image.Point{}) {
		return r
	}
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}

// orient turns src as EXIF orientation o says (2–8).
func orient(src *image.RGBA, o int) *image.RGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dw, dh := w, h
	if swapsSides(o) {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			default:
				dx, dy = x, y
			}
			copy(dst.Pix[dy*dst.Stride+4*dx:dy*dst.Stride+4*dx+4], src.Pix[y*src.Stride+4*x:y*src.Stride+4*x+4])
		}
	}
	return dst
}
