package imaging

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// photo is a w × h JPEG with smooth gradients and detail, like a photo.
func photo(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = uint8((x*255/w + y*255/h + (x*y)%31) / 2)
		}
	}
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			img.Cb[y*img.CStride+x] = uint8(x * 255 / (w / 2))
			img.Cr[y*img.CStride+x] = uint8(y * 255 / (h / 2))
		}
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}))
	return buf.Bytes()
}

func TestPlan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		w, h int
		o    Options
		want Geometry
	}{
		{"no size keeps the source", 400, 300, Options{}, Geometry{400, 300, 400, 300}},
		{"cover, same aspect", 4000, 3000, Options{Width: 400, Height: 300}, Geometry{400, 300, 400, 300}},
		{"cover crops the overflow", 4000, 3000, Options{Width: 100, Height: 100}, Geometry{133, 100, 100, 100}},
		{"width only follows the aspect", 4000, 3000, Options{Width: 200}, Geometry{200, 150, 200, 150}},
		{"height only follows the aspect", 4000, 3000, Options{Height: 150, Resize: Contain}, Geometry{200, 150, 200, 150}},
		{"contain fits inside", 4000, 3000, Options{Width: 100, Height: 100, Resize: Contain}, Geometry{100, 75, 100, 75}},
		{"fill stretches", 4000, 3000, Options{Width: 100, Height: 100, Resize: Fill}, Geometry{100, 100, 100, 100}},
		{"never enlarges", 40, 30, Options{Width: 400, Height: 300}, Geometry{40, 30, 40, 30}},
		{"cover of a small source crops to the box", 40, 30, Options{Width: 20, Height: 200}, Geometry{40, 30, 20, 30}},
		{"fill never enlarges a side", 40, 30, Options{Width: 400, Height: 10, Resize: Fill}, Geometry{40, 10, 40, 10}},
		{"a side never rounds to zero", 4000, 10, Options{Width: 100, Resize: Contain}, Geometry{100, 1, 100, 1}},
	} {
		assert.Equal(t, tc.want, Plan(tc.w, tc.h, tc.o), tc.name)
	}
}

func decode(t *testing.T, b []byte) (image.Config, string) {
	t.Helper()
	cfg, f, err := image.DecodeConfig(bytes.NewReader(b))
	require.NoError(t, err)
	return cfg, f
}

func TestTransform(t *testing.T) {
	t.Parallel()
	src := photo(t, 640, 480)
	for _, tc := range []struct {
		o          Options
		format     string
		w, h       int
		wantResult string
	}{
		{Options{Width: 64, Height: 48}, JPEG, 64, 48, ""},
		{Options{Width: 50, Height: 50}, JPEG, 50, 50, ""},
		{Options{Width: 50, Height: 50, Resize: Contain}, JPEG, 50, 38, ""},
		{Options{Width: 50, Height: 20, Resize: Fill}, JPEG, 50, 20, ""},
		{Options{Width: 64, Format: WebP}, WebP, 64, 48, ""},
		{Options{Width: 64, Format: PNG}, PNG, 64, 48, ""},
		{Options{Width: 64, Format: GIF}, GIF, 64, 48, ""},
	} {
		res, err := Transform(src, tc.o, Limits{})
		require.NoError(t, err, "%+v", tc.o)
		assert.Equal(t, tc.format, res.Format)
		cfg, f := decode(t, res.Data)
		assert.Equal(t, tc.format, f, "%+v", tc.o)
		assert.Equal(t, [2]int{tc.w, tc.h}, [2]int{cfg.Width, cfg.Height}, "%+v", tc.o)
		assert.Equal(t, [2]int{tc.w, tc.h}, [2]int{res.Width, res.Height}, "%+v", tc.o)
	}
	// A PNG with transparency keeps it.
	img := image.NewNRGBA(image.Rect(0, 0, 80, 40))
	img.Set(1, 1, color.NRGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	res, err := Transform(buf.Bytes(), Options{Width: 40}, Limits{})
	require.NoError(t, err)
	cfg, f := decode(t, res.Data)
	assert.Equal(t, PNG, f)
	assert.Equal(t, 40, cfg.Width)
	assert.Equal(t, 20, cfg.Height)
}

func TestTransformRefuses(t *testing.T) {
	t.Parallel()
	_, err := Transform([]byte("hello, not an image"), Options{Width: 10}, Limits{})
	assert.ErrorIs(t, err, ErrUnsupported)
	src := photo(t, 100, 100)
	_, err = Transform(src[:len(src)/3], Options{Width: 10}, Limits{})
	assert.Error(t, err, "a cut JPEG")
	_, err = Transform(src, Options{Width: 10}, Limits{MaxPixels: 100*100 - 1})
	assert.ErrorIs(t, err, ErrTooManyPixels)
	_, err = Transform(src, Options{Width: 10}, Limits{MaxPixels: 100 * 100})
	assert.NoError(t, err)
}

// BenchmarkTransform is the engine alone on a 4000×3000 JPEG (imgbench
// compares whole servers).
func BenchmarkTransform(b *testing.B) {
	src := photo(b, 4000, 3000)
	for _, f := range []string{JPEG, WebP} {
		b.Run(f, func(b *testing.B) {
			for b.Loop() {
				if _, err := Transform(src, Options{Width: 400, Height: 300, Format: f}, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// withOrientation inserts an EXIF APP1 segment giving orientation o
// right after a JPEG's SOI.
func withOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte{'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, byte(o >> 8), byte(o), 0, 0, 0, 0, 0, 0, 0, 0}
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := append([]byte{0xff, 0xe1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, app1...)
	return append(out, jpg[2:]...)
}

func TestOrientation(t *testing.T) {
	t.Parallel()
	// 64×32 stored, red in the top-left quarter, the rest white.
	img := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			c := color.RGBA{255, 255, 255, 255}
			if x < 32 && y < 16 {
				c = color.RGBA{255, 0, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}))
	plain := buf.Bytes()
	assert.Equal(t, 1, jpegOrientation(plain))
	// Orientation 6: displayed turned 90° clockwise, 32×64, the red
	// quarter at the top right.
	turned := withOrientation(plain, 6)
	info, err := Probe(turned)
	require.NoError(t, err)
	assert.Equal(t, Info{Format: JPEG, Width: 32, Height: 64, Orientation: 6}, info)
	res, err := Transform(turned, Options{Width: 16, Format: PNG}, Limits{})
	require.NoError(t, err)
	out, err := png.Decode(bytes.NewReader(res.Data))
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 16, 32), out.Bounds())
	red := func(x, y int) bool {
		r, g, b, _ := out.At(x, y).RGBA()
		return r > 0xc000 && g < 0x4000 && b < 0x4000
	}
	assert.True(t, red(12, 4), "top right is red")
	assert.False(t, red(4, 4), "top left is not")
	assert.False(t, red(12, 28), "bottom right is not")
	// Malformed EXIF is no orientation.
	assert.Equal(t, 1, jpegOrientation(withOrientation(plain, 9)))
	assert.Equal(t, 1, jpegOrientation(plain[:3]))
}
