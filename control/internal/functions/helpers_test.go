package functions

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
)

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

func httptestRequest(method, path, body string) *http.Request {
	return httptest.NewRequest(method, path, strings.NewReader(body))
}
