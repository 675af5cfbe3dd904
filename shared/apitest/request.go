package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Request is one request to the Env's API.
type Request struct {
	// Method is GET when empty.
	Method string
	// URL is the path and query, e.g. "/rest/v1/books?id=eq.1"; it is sent
	// as written, percent-encodings included.
	URL string
	// Headers are set on top of the Env's; "" removes one of the Env's.
	// "Host" sets the request's host.
	Headers map[string]string
	// Body is nil or "" (none), a string or []byte (sent as is), an
	// io.Reader (streamed), or any other value, sent as its JSON encoding.
	Body any
}

// Response is an answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// String is the body as text.
func (r *Response) String() string { return string(r.Body) }

// JSON decodes the body into v, failing the test if it is not JSON.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("apitest: the body is not the JSON expected (%v): %s", err, r.Body)
	}
}

// Map decodes the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends r and reads the whole answer; a request that cannot be sent or
// read fails the test.
func (e *Env) Do(t testing.TB, r Request) *Response {
	t.Helper()
	body, isText, err := encodeBody(r.Body)
	if err != nil {
		t.Fatalf("apitest: encoding the body of %s %s: %v", r.Method, r.URL, err)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	ctx, cancel := e.context(t)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.base+e.Prefix+r.URL, body)
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	if isText && e.ContentType != "" {
		req.Header.Set("Content-Type", e.ContentType)
	}
	setHeaders(req, e.Headers)
	setHeaders(req, r.Headers)
	res, err := e.send(req)
	if err != nil {
		t.Fatalf("apitest: %s %s: %v", method, r.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("apitest: reading the answer to %s %s: %v", method, r.URL, err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// encodeBody turns a Request's Body into a reader; isText reports a string
// or JSON body, which gets the Env's content type.
func encodeBody(b any) (r io.Reader, isText bool, err error) {
	switch v := b.(type) {
	case nil:
		return nil, false, nil
	case string:
		if v == "" {
			return nil, false, nil
		}
		return strings.NewReader(v), true, nil
	case []byte:
		return bytes.NewReader(v), false, nil
	case io.Reader:
		return v, false, nil
	default:
		j, err := json.Marshal(v)
		if err != nil {
			return nil, false, err
		}
		return bytes.NewReader(j), true, nil
	}
}

func setHeaders(req *http.Request, h map[string]string) {
	for k, v := range h {
		switch {
		case strings.EqualFold(k, "Host"):
			req.Host = v
		case v == "":
			req.Header.Del(k)
		default:
			req.Header.Set(k, v)
		}
	}
}
