package functions

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/google/uuid"
)

// Bounds of what natives hand out.
const (
	maxLogMessage     = 8 << 10
	maxRandomBytes    = 65536
	maxMultipartParts = 1000
	maxTimers         = 10000
)

// host is what the natives need from the worker: who fetch may reach and
// how.
type host struct {
	client *http.Client
	// allow are FUNCTIONS_FETCH_ALLOW_HOSTS; self is the host:port of
	// MadBase's own API, always allowed.
	allow      []string
	self       atomic.Pointer[string]
	fetchLimit int
}

// isSelf reports whether u is MadBase's own API.
func (h *host) isSelf(u *url.URL) bool {
	self := h.self.Load()
	return self != nil && selfHost(u.Scheme, u.Host) == *self
}

// allowed reports whether fetch may reach u.
func (h *host) allowed(u *url.URL) bool {
	hostport := strings.ToLower(u.Host)
	name := strings.ToLower(u.Hostname())
	if u.Port() == "" {
		if u.Scheme == "https" {
			hostport = name + ":443"
		} else {
			hostport = name + ":80"
		}
	}
	if self := h.self.Load(); self != nil && hostport == *self {
		return true
	}
	for _, a := range h.allow {
		a = strings.ToLower(a)
		switch {
		case a == "*":
			return true
		case strings.HasPrefix(a, "*."):
			if strings.HasSuffix(name, a[1:]) {
				return true
			}
		case strings.Contains(a, ":"):
			if a == hostport {
				return true
			}
		case a == name:
			return true
		}
	}
	return false
}

// natives is the __native object the prelude builds the web APIs on.
func (in *instance) natives() map[string]any {
	vm := in.vm
	throw := func(format string, args ...any) {
		panic(vm.NewTypeError(fmt.Sprintf(format, args...)))
	}
	return map[string]any{
		"encodeUTF8": func(s string) goja.ArrayBuffer {
			return vm.NewArrayBuffer([]byte(s))
		},
		"decodeUTF8": func(v goja.Value) string {
			b := bytesOf(v)
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
			if utf8.Valid(b) {
				return string(b)
			}
			return strings.ToValidUTF8(string(b), "\uFFFD")
		},
		"randomUUID": func() string { return uuid.NewString() },
		"randomBytes": func(n int) goja.ArrayBuffer {
			if n < 0 || n > maxRandomBytes {
				throw("getRandomValues: at most %d bytes", maxRandomBytes)
			}
			b := make([]byte, n)
			_, _ = rand.Read(b)
			return vm.NewArrayBuffer(b)
		},
		"digest": func(alg string, data goja.Value) goja.ArrayBuffer {
			var h hash.Hash
			switch alg {
			case "SHA-1":
				h = sha1.New()
			case "SHA-256":
				h = sha256.New()
			case "SHA-384":
				h = sha512.New384()
			case "SHA-512":
				h = sha512.New()
			default:
				throw("crypto.subtle.digest: unsupported algorithm %q", alg)
			}
			h.Write(bytesOf(data))
			return vm.NewArrayBuffer(h.Sum(nil))
		},
		"atob": func(s string) string {
			s = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r' {
					return -1
				}
				return r
			}, s)
			s = strings.TrimRight(s, "=")
			b, err := base64.RawStdEncoding.DecodeString(s)
			if err != nil {
				panic(vm.NewGoError(errors.New("atob: the string is not correctly encoded")))
			}
			return latin1(b)
		},
		"btoa": func(s string) string {
			b := make([]byte, 0, len(s))
			for _, r := range s {
				if r > 0xff {
					throw("btoa: the string contains characters outside of the Latin1 range")
				}
				b = append(b, byte(r))
			}
			return base64.StdEncoding.EncodeToString(b)
		},
		"parseURL": func(raw, base string) any {
			u, err := parseURL(raw, base)
			if err != nil {
				return err.Error()
			}
			return urlParts(u)
		},
		"parseMultipart": func(data goja.Value, contentType string) any {
			parts, err := parseMultipart(vm, bytesOf(data), contentType)
			if err != nil {
				return err.Error()
			}
			return parts
		},
		"log": func(level, msg string) {
			inv := in.inv
			if inv == nil || inv.log == nil {
				return
			}
			if len(msg) > maxLogMessage {
				msg = msg[:maxLogMessage] + "…"
			}
			lvl := slog.LevelInfo
			switch level {
			case "debug":
				lvl = slog.LevelDebug
			case "warn":
				lvl = slog.LevelWarn
			case "error":
				lvl = slog.LevelError
			}
			inv.log().Log(context.Background(), lvl, msg, "source", "console")
		},
		"env": func(k string) any {
			if in.inv == nil {
				return nil
			}
			if v, ok := in.inv.env[k]; ok {
				return v
			}
			return nil
		},
		"envAll": func() map[string]any {
			out := map[string]any{}
			if in.inv != nil {
				for k, v := range in.inv.env {
					out[k] = v
				}
			}
			return out
		},
		"now":        func() float64 { return float64(time.Since(in.start).Microseconds()) / 1000 },
		"setTimeout": in.setTimeout,
		"clearTimeout": func(t *timer) {
			if t != nil && t.t.Stop() {
				t.inv.pending--
			}
		},
		"fetch": in.fetch,
		"chunk": func(v goja.Value) bool {
			if in.inv == nil || in.inv.chunk == nil {
				return false
			}
			return in.inv.chunk(append([]byte(nil), bytesOf(v)...))
		},
	}
}

// timer is a setTimeout's handle.
type timer struct {
	t   *time.Timer
	inv *invocation
}

func (in *instance) setTimeout(fn goja.Callable, ms float64) *timer {
	inv := in.inv
	if inv == nil {
		panic(in.vm.NewTypeError("setTimeout outside of a request"))
	}
	if inv.pending >= maxTimers {
		panic(in.vm.NewTypeError("too many timers"))
	}
	if ms < 0 || ms != ms {
		ms = 0
	}
	d := time.Duration(ms * float64(time.Millisecond))
	inv.pending++
	t := &timer{inv: inv}
	t.t = time.AfterFunc(d, func() {
		in.post(inv, func() error {
			inv.pending--
			_, err := fn(goja.Undefined())
			return err
		})
	})
	return t
}

// fetch starts a request on its own goroutine; resolve or reject run on
// the instance's once it is answered.
func (in *instance) fetch(method, rawURL string, headers [][]string, body goja.Value, resolve, reject goja.Callable) {
	inv := in.inv
	vm := in.vm
	fail := func(msg string) { _, _ = reject(goja.Undefined(), vm.ToValue(msg)) }
	if inv == nil {
		fail("fetch outside of a request")
		return
	}
	if inv.fetches >= in.host.fetchLimit {
		fail(fmt.Sprintf("at most %d fetches per invocation (FUNCTIONS_FETCH_LIMIT)", in.host.fetchLimit))
		return
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fail("only http and https URLs can be fetched")
		return
	}
	if !in.host.allowed(u) {
		fail(fmt.Sprintf("%s is not an allowed host (FUNCTIONS_FETCH_ALLOW_HOSTS)", u.Host))
		return
	}
	var rb io.Reader
	if b := bytesOf(body); b != nil {
		rb = bytes.NewReader(append([]byte(nil), b...))
	}
	req, err := http.NewRequestWithContext(inv.ctx, method, u.String(), rb)
	if err != nil {
		fail(err.Error())
		return
	}
	for _, h := range headers {
		if len(h) == 2 && !strings.EqualFold(h[0], "host") && !strings.EqualFold(h[0], "content-length") {
			req.Header.Add(h[0], h[1])
		}
	}
	if in.host.isSelf(u) {
		// A function calling functions: the callee knows how deep it is,
		// so a function calling itself ends (depthHeader).
		req.Header.Set(depthHeader, strconv.Itoa(inv.depth+1))
	}
	inv.fetches++
	inv.pending++
	limit := inv.lim.maxResponse
	go func() {
		res, err := in.host.client.Do(req)
		var data []byte
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(res.Body, limit+1))
			_ = res.Body.Close()
			if err == nil && int64(len(data)) > limit {
				err = errors.New("the response is larger than FUNCTIONS_MAX_RESPONSE_BYTES")
			}
		}
		in.post(inv, func() error {
			inv.pending--
			if err != nil {
				msg := err.Error()
				var ue *url.Error
				if errors.As(err, &ue) {
					msg = ue.Err.Error()
				}
				_, cerr := reject(goja.Undefined(), vm.ToValue(msg))
				return cerr
			}
			hs := []any{}
			for k, vs := range res.Header {
				for _, v := range vs {
					hs = append(hs, []any{k, v})
				}
			}
			obj := map[string]any{
				"status": res.StatusCode, "statusText": http.StatusText(res.StatusCode), "headers": hs,
				"body": vm.NewArrayBuffer(data),
			}
			_, cerr := resolve(goja.Undefined(), vm.ToValue(obj))
			return cerr
		})
	}()
}

// newHTTPClient is fetch's client: redirects are followed only to allowed
// hosts.
func newHTTPClient(h *host) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			if !h.allowed(req.URL) {
				return fmt.Errorf("redirect to %s, which is not an allowed host", req.URL.Host)
			}
			return nil
		},
	}
}

// bytesOf reads an ArrayBuffer or a typed array's bytes, without copying.
func bytesOf(v goja.Value) []byte {
	if v == nil || goja.IsNull(v) || goja.IsUndefined(v) {
		return nil
	}
	switch x := v.Export().(type) {
	case []byte:
		return x
	case goja.ArrayBuffer:
		return x.Bytes()
	case string:
		return []byte(x)
	}
	return nil
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func parseURL(raw, base string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New(raw)
	}
	if base != "" {
		b, err := url.Parse(strings.TrimSpace(base))
		if err != nil || b.Scheme == "" {
			return nil, errors.New(base)
		}
		u = b.ResolveReference(u)
	}
	if u.Scheme == "" {
		return nil, errors.New(raw)
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		return nil, errors.New(raw)
	}
	return u, nil
}

func urlParts(u *url.URL) map[string]any {
	p := map[string]any{
		"protocol": u.Scheme + ":", "hostname": strings.ToLower(u.Hostname()), "port": u.Port(),
		"pathname": u.EscapedPath(), "search": "", "hash": "", "username": "", "password": "",
	}
	if u.Opaque != "" {
		p["pathname"] = u.Opaque
	}
	if (u.Scheme == "http" && u.Port() == "80") || (u.Scheme == "https" && u.Port() == "443") {
		p["port"] = ""
	}
	if p["pathname"] == "" && (u.Scheme == "http" || u.Scheme == "https") {
		p["pathname"] = "/"
	}
	if u.RawQuery != "" {
		p["search"] = "?" + u.RawQuery
	}
	if u.Fragment != "" {
		p["hash"] = "#" + u.EscapedFragment()
	}
	if u.User != nil {
		p["username"] = u.User.Username()
		p["password"], _ = u.User.Password()
	}
	return p
}

func parseMultipart(vm *goja.Runtime, data []byte, contentType string) ([]any, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, errors.New("not a multipart body (Content-Type lacks a boundary)")
	}
	r := multipart.NewReader(bytes.NewReader(data), params["boundary"])
	var out []any
	for len(out) < maxMultipartParts {
		p, err := r.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		entry := map[string]any{"name": p.FormName()}
		if fn := p.FileName(); fn != "" || p.Header.Get("Content-Type") != "" && p.Header.Get("Content-Type") != "text/plain" {
			entry["filename"] = fn
			entry["type"] = p.Header.Get("Content-Type")
			entry["data"] = vm.NewArrayBuffer(b)
		} else {
			entry["value"] = string(b)
		}
		out = append(out, entry)
	}
	return nil, fmt.Errorf("more than %d parts", maxMultipartParts)
}
