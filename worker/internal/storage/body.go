package storage

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// maxJSONBody caps the JSON bodies of non-upload routes.
const maxJSONBody = 2 << 20

// maxFieldBytes caps one multipart text field (metadata is ≤ 1 MiB upstream).
const maxFieldBytes = 1 << 20

// bodyStream is the request body as a stream, never buffered whole. With
// a declared Content-Length, a body that ends early is an error
// (io.ErrUnexpectedEOF), never a shorter object.
func bodyStream(c *fiber.Ctx) io.Reader {
	var r io.Reader
	if s := c.Context().RequestBodyStream(); s != nil {
		r = s
	} else {
		r = bytes.NewReader(c.Request().Body())
	}
	if cl := c.Request().Header.ContentLength(); cl >= 0 {
		return &exactReader{r: r, want: int64(cl)}
	}
	return r
}

// exactReader fails a stream that ends before want bytes.
type exactReader struct {
	r    io.Reader
	want int64
	n    int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if errors.Is(err, io.EOF) && e.n < e.want {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// readSmallBody reads a JSON-sized body, refusing more than maxJSONBody.
func readSmallBody(c *fiber.Ctx) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(bodyStream(c), maxJSONBody+1))
	if err != nil {
		return nil, errBadRequest("Could not read the request body")
	}
	if len(b) > maxJSONBody {
		return nil, errTooLarge()
	}
	return b, nil
}

// upload is one object body being received: its attributes and its bytes.
type upload struct {
	mime            string
	cacheControl    string
	contentEncoding string
	userMeta        json.RawMessage
	// file streams the object bytes.
	file io.Reader
	// finish reads what follows the file part of a multipart body (text
	// fields a user FormData put after the file).
	finish func() error
	// raw is true for a raw body, whose Content-Length is the object size.
	raw bool
	// close releases what the body holds (pre-parsed multipart files).
	close func()
}

// openUpload works out the body encoding (docs/api/storage.md §4.1): multipart/form-data
// is parsed as a stream up to the file part; anything else is the raw bytes.
func openUpload(c *fiber.Ctx) (*upload, error) {
	ct := string(c.Request().Header.ContentType())
	mediaType, params, _ := mime.ParseMediaType(ct)
	if mediaType == "multipart/form-data" && params["boundary"] != "" {
		return openMultipart(c, params["boundary"])
	}
	u := &upload{
		mime:            ct,
		cacheControl:    strings.Clone(c.Get(fiber.HeaderCacheControl)),
		contentEncoding: strings.Clone(c.Get(fiber.HeaderContentEncoding)),
		file:            bodyStream(c),
		raw:             true,
		finish:          func() error { return nil },
		close:           func() {},
	}
	if strings.TrimSpace(u.mime) == "" {
		u.mime = "application/octet-stream"
	}
	if u.cacheControl == "" {
		u.cacheControl = "no-cache"
	}
	if m := c.Get("x-metadata"); m != "" {
		if raw, err := base64.StdEncoding.DecodeString(m); err == nil && json.Valid(raw) {
			u.userMeta = raw
		}
	}
	return u, nil
}

func (u *upload) setField(name, value string) {
	switch name {
	case "cacheControl":
		if value != "" {
			u.cacheControl = "max-age=" + value
		}
	case "contentType":
		if value != "" {
			u.mime = value
		}
	case "contentEncoding":
		u.contentEncoding = value
	case "metadata":
		if json.Valid([]byte(value)) {
			u.userMeta = json.RawMessage(value)
		}
	}
}

func openMultipart(c *fiber.Ctx, boundary string) (*upload, error) {
	u := &upload{cacheControl: "no-cache", finish: func() error { return nil }, close: func() {}}
	// fasthttp pre-parses multipart bodies of known length (files over 16
	// MiB go to temporary files); chunked ones arrive as a stream.
	if !c.Request().IsBodyStream() {
		return openParsedForm(c, u)
	}
	mr := multipart.NewReader(bodyStream(c), boundary)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errNoContent()
		}
		if err != nil {
			return nil, errBadRequest("Invalid multipart body")
		}
		if p.FileName() == "" && p.FormName() != "" {
			v, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
			if err != nil || len(v) > maxFieldBytes {
				return nil, errBadRequest("Invalid multipart field " + p.FormName())
			}
			u.setField(p.FormName(), string(v))
			continue
		}
		if u.mime == "" {
			u.mime = p.Header.Get("Content-Type")
		}
		if u.mime == "" {
			u.mime = "application/octet-stream"
		}
		u.file = p
		u.finish = func() error {
			for {
				p, err := mr.NextPart()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return errBadRequest("Invalid multipart body")
				}
				if p.FileName() == "" && p.FormName() != "" {
					v, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
					if err != nil || len(v) > maxFieldBytes {
						return errBadRequest("Invalid multipart field " + p.FormName())
					}
					u.setField(p.FormName(), string(v))
				}
			}
		}
		return u, nil
	}
}

func openParsedForm(c *fiber.Ctx, u *upload) (*upload, error) {
	form, err := c.MultipartForm()
	if err != nil {
		return nil, errBadRequest("Invalid multipart body")
	}
	return openFormValues(u, form)
}

func openFormValues(u *upload, form *multipart.Form) (*upload, error) {
	for _, name := range []string{"cacheControl", "contentType", "contentEncoding", "metadata"} {
		if v := form.Value[name]; len(v) > 0 {
			u.setField(name, v[0])
		}
	}
	for _, fhs := range form.File {
		if len(fhs) == 0 {
			continue
		}
		fh := fhs[0]
		f, err := fh.Open()
		if err != nil {
			return nil, errInternal(err)
		}
		if u.mime == "" {
			u.mime = fh.Header.Get("Content-Type")
		}
		if u.mime == "" {
			u.mime = "application/octet-stream"
		}
		u.file, u.close = f, func() { _ = f.Close() }
		return u, nil
	}
	return nil, errNoContent()
}

// mimeAllowed checks a mime type against a bucket's allowed_mime_types,
// comparing type and subtype split on '/', with "type/*" wildcards (the
// upstream rule: parameters stay part of the subtype).
func mimeAllowed(mt string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	typ, sub, _ := strings.Cut(mt, "/")
	for _, a := range allowed {
		at, as, _ := strings.Cut(a, "/")
		if at == typ && (as == "*" || as == sub) {
			return true
		}
	}
	return false
}

// countingReader counts bytes and fails once more than max went through.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

var errOverLimit = errors.New("storage: object over the size limit")

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, errOverLimit
	}
	return n, err
}
