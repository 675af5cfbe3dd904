package stack

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// HTTP sends the benches' setup and load requests.
type HTTP struct {
	Client    *fasthttp.Client
	Timeout   time.Duration // per request; 0 waits as long as the client's own timeouts allow
	ShortURLs bool          // errors show at most 80 characters of the URL
}

// Do sends one request (a JSON body when body is not nil) and returns the
// response body (a copy) when the status is want.
func (h HTTP) Do(method, url string, headers map[string]string, body []byte, want int) ([]byte, error) {
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	var err error
	if h.Timeout > 0 {
		err = h.Client.DoTimeout(req, res, h.Timeout)
	} else {
		err = h.Client.Do(req, res)
	}
	if err != nil {
		return nil, err
	}
	if res.StatusCode() != want {
		b := res.Body()
		if len(b) > 300 {
			b = b[:300]
		}
		shown := url
		if h.ShortURLs {
			shown = ShortURL(url)
		}
		return nil, fmt.Errorf("%s %s: status %d: %s", method, shown, res.StatusCode(), b)
	}
	return append([]byte(nil), res.Body()...), nil
}

// ShortURL is u cut to 80 characters.
func ShortURL(u string) string {
	if len(u) > 80 {
		return u[:80] + "…"
	}
	return u
}
