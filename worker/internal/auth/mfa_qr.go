package auth

import (
	"fmt"
	"image/color"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// qrQuietZone is the blank border around the code, in modules (the QR
// standard asks for four).
const qrQuietZone = 4

// qrSVG draws content as a QR code in SVG: one path of unit squares, dark
// modules only, on a white background, scalable (viewBox in modules). The
// matrix comes from boombuler/barcode, which pquerna/otp already uses for
// its PNG images, so no other QR library is needed.
func qrSVG(content string) (string, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return "", err
	}
	b := code.Bounds()
	w, h := b.Dx(), b.Dy() // a QR code is square
	size := w + 2*qrQuietZone
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`,
		size, size, size*4, size*4)
	fmt.Fprintf(&sb, `<rect width="100%%" height="100%%" fill="#ffffff"/><path fill="#000000" d="`)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if dark(code.At(b.Min.X+x, b.Min.Y+y)) {
				fmt.Fprintf(&sb, "M%d %dh1v1h-1z", x+qrQuietZone, y+qrQuietZone)
			}
		}
	}
	sb.WriteString(`"/></svg>`)
	return sb.String(), nil
}

func dark(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}
