//go:build cgo && vips

package imaging

/*
#cgo pkg-config: vips
#include <vips/vips.h>

static void mb_quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data) {}

static int mb_init(void) {
	if (VIPS_INIT("madbase")) return -1;
	// Warnings about a source (a cut file, odd metadata) become errors or
	// nothing; they are not written to the worker's stderr.
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, mb_quiet, NULL);
	// Requests run in parallel; each transformation uses one thread and
	// nothing is kept between them.
	vips_concurrency_set(1);
	vips_cache_set_max(0);
	vips_cache_set_max_mem(0);
	vips_cache_set_max_files(0);
	return 0;
}

// mb_transform scales buf to sw x sh (libvips shrinks JPEG and WebP while
// decoding, and with rotate turns the image as its EXIF orientation says),
// keeps the centred ow x oh and encodes it as format (0 JPEG,
// 1 PNG, 2 GIF, 3 WebP) at quality q.
static int mb_transform(void *buf, size_t len, int sw, int sh, int ow, int oh, int format, int q,
		int rotate, void **out, size_t *outlen) {
	VipsImage *img = NULL, *crop = NULL;
	if (vips_thumbnail_buffer(buf, len, &img, sw, "height", sh, "size", VIPS_SIZE_FORCE,
			"no_rotate", !rotate, "option_string", "fail_on=truncated", NULL)) return -1;
	if (img->Xsize != ow || img->Ysize != oh) {
		int x = (img->Xsize - ow) / 2, y = (img->Ysize - oh) / 2;
		if (x < 0) x = 0;
		if (y < 0) y = 0;
		if (ow > img->Xsize) ow = img->Xsize;
		if (oh > img->Ysize) oh = img->Ysize;
		if (vips_extract_area(img, &crop, x, y, ow, oh, NULL)) { g_object_unref(img); return -1; }
		g_object_unref(img);
		img = crop;
	}
	int r;
	switch (format) {
	case 0: r = vips_jpegsave_buffer(img, out, outlen, "Q", q, "strip", TRUE, "optimize_coding", TRUE, NULL); break;
	case 1: r = vips_pngsave_buffer(img, out, outlen, "compression", 6, "strip", TRUE, NULL); break;
	case 2: r = vips_gifsave_buffer(img, out, outlen, "strip", TRUE, NULL); break;
	default: r = vips_webpsave_buffer(img, out, outlen, "Q", q, "strip", TRUE, NULL); break;
	}
	g_object_unref(img);
	return r;
}
*/
import "C"

import (
	"errors"
	"runtime"
	"sync"
	"unsafe"
)

// Engine names the engine this build uses.
const Engine = "libvips"

var (
	initOnce sync.Once
	initErr  error
)

func engineTransform(src []byte, info Info, g Geometry, o Options) ([]byte, error) {
	initOnce.Do(func() {
		if C.mb_init() != 0 {
			initErr = errors.New("libvips did not start: " + vipsError())
		}
	})
	if initErr != nil {
		return nil, initErr
	}
	format := map[string]C.int{JPEG: 0, PNG: 1, GIF: 2, WebP: 3}[o.Format]
	if _, ok := map[string]bool{JPEG: true, PNG: true, GIF: true, WebP: true}[o.Format]; !ok {
		return nil, ErrUnsupported
	}
	// libvips keeps per-thread state (its error buffer, buffers it frees
	// at thread shutdown): the call stays on one OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer C.vips_thread_shutdown()
	var out unsafe.Pointer
	var n C.size_t
	// libvips reads src during the call only (the pipeline runs to the end
	// inside it), so it reads Go's memory without a copy.
	p := unsafe.Pointer(unsafe.SliceData(src))
	if C.mb_transform(p, C.size_t(len(src)), C.int(g.ScaleW), C.int(g.ScaleH), C.int(g.OutW), C.int(g.OutH),
		format, C.int(o.Quality), C.int(boolInt(info.Orientation > 1)), &out, &n) != 0 {
		msg := vipsError()
		if info.Format != "" && msg != "" {
			return nil, errors.Join(ErrUnsupported, errors.New(msg))
		}
		return nil, errors.New(msg)
	}
	defer C.g_free(C.gpointer(out))
	return C.GoBytes(out, C.int(n)), nil
}

func vipsError() string {
	s := C.GoString(C.vips_error_buffer())
	C.vips_error_clear()
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
