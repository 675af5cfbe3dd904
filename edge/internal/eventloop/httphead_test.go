package eventloop

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	fw "github.com/madbase/madbase/edge/internal/forwarding"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The event loops trust these parsers to say headOther for anything outside
// the strict subset, so the tests below pin both what is served and what is
// handed on. The fuzz targets check the same properties on any input and
// compare every head they accept with net/http's reading of it.

// noCL is requestHead.contentLength and responseHead.contentLength without a
// Content-Length header.
const noCL int64 = -1

const testAnonKey = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYW5vbiIsImlzcyI6InN1cGFiYXNlIn0.dGVzdC1zaWduYXR1cmU"

// joinHead joins lines into a head: each line ends with CRLF and a blank line
// closes it.
func joinHead(lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n\r\n"
}

// restGet is a GET head for the REST API with a Host line and lines after it.
func restGet(lines ...string) string {
	return joinHead(append([]string{"GET /rest/v1/todos HTTP/1.1", "Host: localhost:8000"}, lines...)...)
}

// worker200 is a worker's 200 head with lines after the status line.
func worker200(lines ...string) string {
	return joinHead(append([]string{"HTTP/1.1 200 OK"}, lines...)...)
}

// fillerHeaders returns n lines "X-Test-<i>: v".
func fillerHeaders(n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("X-Test-%d: v", i)
	}
	return l
}

var supabaseGet = joinHead(
	"GET /rest/v1/todos?select=*&id=eq.1 HTTP/1.1",
	"host: localhost:8000",
	"apikey: "+testAnonKey,
	"authorization: Bearer "+testAnonKey,
	"x-client-info: supabase-js-node/2.45.4",
	"accept-profile: public",
	"accept: */*",
	"accept-language: *",
	"sec-fetch-mode: cors",
	"user-agent: node",
	"accept-encoding: gzip, deflate",
	"connection: keep-alive",
)

var supabasePost = joinHead(
	"POST /auth/v1/token?grant_type=password HTTP/1.1",
	"Host: localhost:8000",
	"apikey: "+testAnonKey,
	"Authorization: Bearer "+testAnonKey,
	"Content-Type: application/json;charset=UTF-8",
	"X-Client-Info: supabase-js-web/2.45.4",
	"X-Supabase-Api-Version: 2024-01-01",
	"Origin: http://localhost:3000",
	"Content-Length: 53",
)

func headStatusName(s headStatus) string {
	switch s {
	case headIncomplete:
		return "headIncomplete"
	case headOK:
		return "headOK"
	case headOther:
		return "headOther"
	}
	return "headStatus(" + strconv.Itoa(int(s)) + ")"
}

// inHead tells whether s lies inside b, by address: the parsers must return
// views of the head, never of another buffer or past its end.
func inHead(b, s []byte) bool {
	if s == nil {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= base && p+uintptr(len(s)) <= base+uintptr(len(b))
}

// checkHeadLines checks that every header line points into head.
func checkHeadLines(t testing.TB, head []byte, lines []headerLine) {
	t.Helper()
	for i, l := range lines {
		if !inHead(head, l.name) || !inHead(head, l.value) {
			t.Fatalf("header %d (%q: %q) does not lie inHead the head", i, l.name, l.value)
		}
		if len(l.name) == 0 {
			t.Fatalf("header %d has an empty name", i)
		}
	}
}

// checkHeadDrop checks that lines named in drop are marked drop and lines named
// in keep are not; each name must appear at least once.
func checkHeadDrop(t *testing.T, lines []headerLine, drop, keep []string) {
	t.Helper()
	for _, set := range []struct {
		names []string
		want  bool
	}{{drop, true}, {keep, false}} {
		for _, name := range set.names {
			seen := false
			for _, l := range lines {
				if bytes.EqualFold(l.name, []byte(name)) {
					seen = true
					assert.Equal(t, set.want, l.drop, "drop of %s", name)
				}
			}
			assert.True(t, seen, "no %s line", name)
		}
	}
}

// requestHeadTests also seed FuzzParseRequestHead.
var requestHeadTests = []struct {
	name          string
	head          string // the bytes parsed; "" when the case builds them
	after         string // bytes after the head that must stay unread
	want          headStatus
	wantMethod    string // checked when set
	wantURI       string // checked when set
	wantHost      string
	wantCL        int64 // checked on headOK
	wantClose     bool
	wantFwd       string
	wantOrigin    string
	wantRequestID string
	wantPreflight bool
	wantLines     int // checked when set
	wantDrop      []string
	wantKeep      []string
}{
	{
		name: "supabase-js select", head: supabaseGet, want: headOK,
		wantMethod: "GET", wantURI: "/rest/v1/todos?select=*&id=eq.1", wantHost: "localhost:8000", wantCL: noCL,
		wantLines: 11, wantDrop: []string{"connection"},
		wantKeep: []string{"host", "apikey", "authorization", "x-client-info", "accept-profile", "accept-encoding"},
	},
	{
		name: "supabase-js sign-in with its body", head: supabasePost,
		after: `{"email":"a@example.com","password":"hunter2hunter2"}`, want: headOK,
		wantMethod: "POST", wantURI: "/auth/v1/token?grant_type=password", wantHost: "localhost:8000", wantCL: 53,
		wantOrigin: "http://localhost:3000", wantKeep: []string{"Content-Length", "Origin", "Content-Type"},
	},
	{
		name: "pipelined request left unread", head: restGet(), after: restGet("X-Second: yes"), want: headOK,
		wantHost: "localhost:8000", wantCL: noCL, wantLines: 1,
	},
	{name: "minimal head", head: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", want: headOK, wantURI: "/", wantHost: "a", wantCL: noCL},
	{name: "storage upload", head: joinHead("PUT /storage/v1/object/avatars/u1/a.png HTTP/1.1", "Host: api.example.com", "Content-Type: image/png", "x-upsert: true", "Content-Length: 1048576"), want: headOK, wantMethod: "PUT", wantHost: "api.example.com", wantCL: 1048576},
	{name: "empty Host value", head: joinHead("GET / HTTP/1.1", "Host:"), want: headOK, wantHost: "", wantCL: noCL},
	{name: "value blanks trimmed", head: joinHead("GET / HTTP/1.1", "Host: \t example.com \t"), want: headOK, wantHost: "example.com", wantCL: noCL},
	{name: "tab inside a value", head: restGet("X-A: a\tb"), want: headOK, wantHost: "localhost:8000", wantCL: noCL},
	{name: "obs-text in a value", head: restGet("X-Name: caf\xc3\xa9"), want: headOK, wantHost: "localhost:8000", wantCL: noCL},
	{name: "empty value", head: restGet("X-Empty:"), want: headOK, wantHost: "localhost:8000", wantCL: noCL},

	// Incomplete heads; every prefix is covered by TestParseRequestHeadPrefixes.
	{name: "nothing", head: "", want: headIncomplete},
	{name: "request line only", head: "GET / HTTP/1.1\r\n", want: headIncomplete},
	{name: "no blank line", head: "GET / HTTP/1.1\r\nHost: a\r\n", want: headIncomplete},
	{name: "blank line without LF", head: "GET / HTTP/1.1\r\nHost: a\r\n\r", want: headIncomplete},

	// Request line.
	{name: "HTTP/1.0", head: joinHead("GET / HTTP/1.0", "Host: a"), want: headOther},
	{name: "HTTP/2 preface", head: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: headOther},
	{name: "HTTP/1.2", head: joinHead("GET / HTTP/1.2", "Host: a"), want: headOther},
	{name: "lowercase version", head: joinHead("GET / http/1.1", "Host: a"), want: headOther},
	{name: "lowercase method", head: joinHead("get / HTTP/1.1", "Host: a"), want: headOther},
	{name: "method with a dash", head: joinHead("M-SEARCH / HTTP/1.1", "Host: a"), want: headOther},
	{name: "no method", head: joinHead(" / HTTP/1.1", "Host: a"), want: headOther},
	{name: "no target", head: joinHead("GET HTTP/1.1", "Host: a"), want: headOther},
	{name: "empty target", head: joinHead("GET  HTTP/1.1", "Host: a"), want: headOther},
	{name: "absolute-form target", head: joinHead("GET http://localhost:8000/rest/v1/todos HTTP/1.1", "Host: localhost:8000"), want: headOther},
	{name: "asterisk-form target", head: joinHead("OPTIONS * HTTP/1.1", "Host: a"), want: headOther},
	{name: "authority-form target", head: joinHead("CONNECT localhost:8000 HTTP/1.1", "Host: localhost:8000"), want: headOther},
	{name: "two spaces after method", head: joinHead("GET  /a HTTP/1.1", "Host: a"), want: headOther},
	{name: "space in target", head: joinHead("GET /a b HTTP/1.1", "Host: a"), want: headOther},
	{name: "tab before version", head: joinHead("GET /a\tHTTP/1.1", "Host: a"), want: headOther},
	{name: "trailing space", head: joinHead("GET /a HTTP/1.1 ", "Host: a"), want: headOther},
	{name: "control byte in target", head: joinHead("GET /a\x01 HTTP/1.1", "Host: a"), want: headOther},
	{name: "DEL in target", head: joinHead("GET /a\x7f HTTP/1.1", "Host: a"), want: headOther},
	{name: "non-ASCII target", head: joinHead("GET /caf\xc3\xa9 HTTP/1.1", "Host: a"), want: headOther},
	{name: "CR in request line", head: joinHead("GET /a\r HTTP/1.1", "Host: a"), want: headOther},
	{name: "leading blank line", head: "\r\n" + restGet(), want: headOther},

	// Line endings and folding.
	{name: "bare LF line endings", head: "GET / HTTP/1.1\nHost: a\n\n", want: headOther},
	{name: "bare LF after request line", head: "GET / HTTP/1.1\nHost: a\r\n\r\n", want: headOther},
	{name: "bare LF after a header", head: "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", want: headOther},
	{name: "bare LF blank line", head: "GET / HTTP/1.1\r\nHost: a\r\n\n", want: headOther},
	{name: "bare LF first", head: "\n", want: headOther},
	{name: "bare CR in a value", head: restGet("X-A: a\rb"), want: headOther},
	{name: "obs-fold with a space", head: restGet("X-A: a", " b"), want: headOther},
	{name: "obs-fold with a tab", head: restGet("X-A: a", "\tb"), want: headOther},

	// Host.
	{name: "no Host", head: joinHead("GET / HTTP/1.1", "Accept: */*"), want: headOther},
	{name: "no headers at all", head: "GET / HTTP/1.1\r\n\r\n", want: headOther},
	{name: "two Host lines", head: restGet("Host: evil.example.com"), want: headOther},
	{name: "two Host lines, other case", head: restGet("HOST: localhost:8000"), want: headOther},
	{name: "lowercase host", head: joinHead("GET / HTTP/1.1", "host: a"), want: headOK, wantHost: "a", wantCL: noCL, wantKeep: []string{"Host"}},

	// Framing and upgrades.
	{name: "Transfer-Encoding", head: joinHead("POST /rest/v1/todos HTTP/1.1", "Host: a", "Transfer-Encoding: chunked"), want: headOther},
	{name: "transfer-encoding lowercase", head: joinHead("POST /rest/v1/todos HTTP/1.1", "Host: a", "transfer-encoding: chunked"), want: headOther},
	{name: "Transfer-Encoding with Content-Length", head: joinHead("POST /rest/v1/todos HTTP/1.1", "Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"), want: headOther},
	{name: "Upgrade websocket", head: restGet("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"), want: headOther},
	{name: "Upgrade h2c", head: restGet("Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"), want: headOther},
	{name: "Expect 100-continue", head: joinHead("POST /storage/v1/object/b/f HTTP/1.1", "Host: a", "Content-Length: 10", "Expect: 100-continue"), want: headOther},

	// Connection.
	{name: "Connection close", head: restGet("Connection: close"), want: headOK, wantHost: "localhost:8000", wantCL: noCL, wantClose: true, wantDrop: []string{"Connection"}},
	{name: "Connection CLOSE", head: restGet("Connection: CLOSE"), want: headOK, wantHost: "localhost:8000", wantCL: noCL, wantClose: true},
	{name: "Connection keep-alive", head: restGet("Connection: keep-alive"), want: headOK, wantHost: "localhost:8000", wantCL: noCL, wantDrop: []string{"Connection"}},
	{name: "Connection list", head: restGet("Connection: keep-alive, close"), want: headOK, wantHost: "localhost:8000", wantCL: noCL, wantClose: true},
	{name: "Connection empty", head: restGet("Connection:"), want: headOK, wantHost: "localhost:8000", wantCL: noCL},
	{name: "Connection Foo", head: restGet("Connection: Foo"), want: headOther},
	{name: "Connection keep-alive, Foo", head: restGet("Connection: keep-alive, Foo"), want: headOther},
	{name: "Connection Upgrade", head: restGet("Connection: Upgrade"), want: headOther},
	{name: "Connection TE", head: restGet("Connection: TE", "TE: trailers"), want: headOther},

	// Content-Length.
	{name: "Content-Length zero", head: restGet("Content-Length: 0"), want: headOK, wantHost: "localhost:8000", wantCL: 0},
	{name: "Content-Length with blanks", head: restGet("Content-Length:  17 "), want: headOK, wantHost: "localhost:8000", wantCL: 17},
	{name: "Content-Length leading zeros", head: restGet("Content-Length: 007"), want: headOK, wantHost: "localhost:8000", wantCL: 7},
	{name: "Content-Length 18 digits", head: restGet("Content-Length: 999999999999999999"), want: headOK, wantHost: "localhost:8000", wantCL: 999999999999999999},
	{name: "content-length lowercase", head: restGet("content-length: 3"), want: headOK, wantHost: "localhost:8000", wantCL: 3},
	{name: "Content-Length 19 digits", head: restGet("Content-Length: 1000000000000000000"), want: headOther},
	{name: "Content-Length overflowing int64", head: restGet("Content-Length: 99999999999999999999"), want: headOther},
	{name: "Content-Length +5", head: restGet("Content-Length: +5"), want: headOther},
	{name: "Content-Length -1", head: restGet("Content-Length: -1"), want: headOther},
	{name: "Content-Length 5,5", head: restGet("Content-Length: 5,5"), want: headOther},
	{name: "Content-Length 5, 5", head: restGet("Content-Length: 5, 5"), want: headOther},
	{name: "Content-Length hex", head: restGet("Content-Length: 0x10"), want: headOther},
	{name: "Content-Length 1 2", head: restGet("Content-Length: 1 2"), want: headOther},
	{name: "Content-Length empty", head: restGet("Content-Length:"), want: headOther},
	{name: "Content-Length twice, same value", head: restGet("Content-Length: 5", "Content-Length: 5"), want: headOther},
	{name: "Content-Length twice, other value", head: restGet("Content-Length: 5", "Content-Length: 6"), want: headOther},

	// Headers the edge reads or drops.
	{
		name: "X-Forwarded-For captured and dropped", head: restGet("X-Forwarded-For: 203.0.113.7, 10.0.0.1"), want: headOK,
		wantHost: "localhost:8000", wantCL: noCL, wantFwd: "203.0.113.7, 10.0.0.1", wantDrop: []string{"X-Forwarded-For"},
	},
	{name: "x-forwarded-for lowercase", head: restGet("x-forwarded-for: 203.0.113.7"), want: headOK, wantHost: "localhost:8000", wantCL: noCL, wantFwd: "203.0.113.7", wantDrop: []string{"x-forwarded-for"}},
	{name: "X-Forwarded-For twice", head: restGet("X-Forwarded-For: 203.0.113.7", "X-Forwarded-For: 10.0.0.1"), want: headOther},
	// The edge rewrites these; which of two copies counts is left to the full parser.
	{name: "X-Forwarded-Proto twice", head: restGet("X-Forwarded-Proto: https", "X-Forwarded-Proto: http"), want: headOther},
	{name: "X-Forwarded-Host twice", head: restGet("X-Forwarded-Host: a.example", "X-Forwarded-Host: b.example"), want: headOther},
	{name: "X-Request-Id twice", head: restGet("X-Request-Id: a", "X-Request-Id: b"), want: headOther},
	{name: "X-Forwarded-Proto and -Host dropped", head: restGet("X-Forwarded-Proto: https", "X-Forwarded-Host: api.example.com"), want: headOK, wantHost: "localhost:8000", wantCL: noCL, wantDrop: []string{"X-Forwarded-Proto", "X-Forwarded-Host"}},
	{name: "X-Request-Id captured and dropped", head: restGet("X-Request-Id: 6f1c2a9e-req"), want: headOK, wantHost: "localhost:8000", wantCL: noCL, wantRequestID: "6f1c2a9e-req", wantDrop: []string{"X-Request-Id"}},
	{
		name: "hop-by-hop names dropped",
		head: restGet("Keep-Alive: timeout=5", "TE: trailers", "Trailer: Expires", "Proxy-Connection: keep-alive", "Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authenticate: Basic"),
		want: headOK, wantHost: "localhost:8000", wantCL: noCL,
		wantDrop: []string{"Keep-Alive", "TE", "Trailer", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate"},
		wantKeep: []string{"Host"},
	},
	{
		name: "hop-by-hop names in lowercase dropped",
		head: restGet("keep-alive: timeout=5", "te: trailers", "trailer: Expires", "proxy-connection: keep-alive", "proxy-authorization: Basic dXNlcjpwYXNz"),
		want: headOK, wantHost: "localhost:8000", wantCL: noCL,
		wantDrop: []string{"keep-alive", "te", "trailer", "proxy-connection", "proxy-authorization"},
	},
	{
		name: "names of the same lengths kept", head: restGet("Te-X: 1", "Origin-X: 1", "Trailers: 1", "Keep-Alivx: 1", "X-Forwarded-Fox: 1", "Proxy-Authorizatio: 1"),
		want: headOK, wantHost: "localhost:8000", wantCL: noCL,
		wantKeep: []string{"Te-X", "Origin-X", "Trailers", "Keep-Alivx", "X-Forwarded-Fox", "Proxy-Authorizatio"},
	},
	{
		name: "CORS preflight", head: joinHead("OPTIONS /rest/v1/todos HTTP/1.1", "Host: a", "Origin: http://localhost:3000", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: apikey,authorization,content-type"),
		want: headOK, wantMethod: "OPTIONS", wantHost: "a", wantCL: noCL, wantOrigin: "http://localhost:3000", wantPreflight: true,
	},

	// Header count.
	{name: "64 header lines", head: restGet(fillerHeaders(63)...), want: headOK, wantHost: "localhost:8000", wantCL: noCL, wantLines: 64},
	{name: "65 header lines", head: restGet(fillerHeaders(64)...), want: headOther},
	{name: "200 header lines", head: restGet(fillerHeaders(199)...), want: headOther},

	// Malformed header lines.
	{name: "NUL in a value", head: restGet("X-A: a\x00b"), want: headOther},
	{name: "ESC in a value", head: restGet("X-A: \x1b[31m"), want: headOther},
	{name: "DEL in a value", head: restGet("X-A: a\x7f"), want: headOther},
	{name: "control byte in Host", head: joinHead("GET / HTTP/1.1", "Host: a\x0bb"), want: headOther},
	{name: "space before colon", head: joinHead("GET / HTTP/1.1", "Host : a"), want: headOther},
	{name: "empty name", head: restGet(": x"), want: headOther},
	{name: "no colon", head: restGet("X-A"), want: headOther},
	{name: "non-token name", head: restGet("X(A): b"), want: headOther},
	{name: "non-ASCII name", head: restGet("X-\xc3\xa9: b"), want: headOther},
}

// headParser is parseRequestHead or parseResponseHead into a struct of the
// caller's: it returns the status and the head's size.
type headParser func([]byte) (headStatus, int)

func requestParser(h *requestHead) headParser {
	return func(b []byte) (headStatus, int) { return parseRequestHead(b, h), h.size }
}

func responseParser(h *responseHead) headParser {
	return func(b []byte) (headStatus, int) { return parseResponseHead(b, h), h.size }
}

// parseCase parses head followed by after and checks the status against
// want, that the parser wrote nothing, and on headOK that the head parsed
// is head, after left unread. It returns that head, nil on another status.
func parseCase(t *testing.T, head, after string, want headStatus, parse headParser) []byte {
	t.Helper()
	b := []byte(head + after)
	orig := bytes.Clone(b)
	got, size := parse(b)
	require.Equal(t, headStatusName(want), headStatusName(got))
	assert.Equal(t, orig, b, "the parser must not write to the buffer")
	if got != headOK {
		return nil
	}
	assert.Equal(t, len(head), size, "size is the head with its blank line")
	assert.Equal(t, after, string(b[size:]), "bytes after the head stay unread")
	return b[:size]
}

// checkPrefixes checks that parse says headIncomplete on every proper
// prefix of head, each a copy with no room after it, so reading past the
// prefix would fault.
func checkPrefixes(t testing.TB, head []byte, parse headParser) {
	t.Helper()
	for i := 0; i < len(head); i++ {
		p := bytes.Clone(head[:i])
		if got, _ := parse(p); got != headIncomplete {
			t.Fatalf("prefix %q: got %s, want headIncomplete", p, headStatusName(got))
		}
	}
}

// checkInPieces checks a head arriving in pieces: until its blank line is
// complete the parser must ask for more, and only the whole head is headOK.
func checkInPieces(t *testing.T, head string, parse headParser) {
	t.Helper()
	b := []byte(head)
	checkPrefixes(t, b, parse)
	got, size := parse(b)
	require.Equal(t, "headOK", headStatusName(got))
	assert.Equal(t, len(b), size)
}

func TestParseRequestHead(t *testing.T) {
	for _, tt := range requestHeadTests {
		t.Run(tt.name, func(t *testing.T) {
			var h requestHead
			head := parseCase(t, tt.head, tt.after, tt.want, requestParser(&h))
			if head == nil {
				return
			}
			assert.True(t, bytes.HasSuffix(head, []byte("\r\n\r\n")))
			if tt.wantMethod != "" {
				assert.Equal(t, tt.wantMethod, string(h.method))
			}
			if tt.wantURI != "" {
				assert.Equal(t, tt.wantURI, string(h.uri))
			}
			if tt.wantLines != 0 {
				assert.Equal(t, tt.wantLines, h.n)
			}
			assert.Equal(t, tt.wantHost, string(h.host))
			assert.Equal(t, tt.wantCL, h.contentLength)
			assert.Equal(t, tt.wantClose, h.connClose)
			assert.Equal(t, tt.wantFwd, string(h.forwardedFor))
			assert.Equal(t, tt.wantOrigin, string(h.origin))
			assert.Equal(t, tt.wantRequestID, string(h.requestID))
			assert.Equal(t, tt.wantPreflight, h.preflight)
			assert.True(t, inHead(head, h.method) && inHead(head, h.uri) && inHead(head, h.host))
			checkHeadLines(t, head, h.lines[:h.n])
			checkHeadDrop(t, h.lines[:h.n], tt.wantDrop, tt.wantKeep)
		})
	}
}

// A head arrives in pieces (checkInPieces).
func TestParseRequestHeadPrefixes(t *testing.T) {
	for _, head := range []string{supabaseGet, supabasePost, restGet(fillerHeaders(63)...), "GET / HTTP/1.1\r\nHost: a\r\n\r\n"} {
		var h requestHead
		checkInPieces(t, head, requestParser(&h))
	}
}

// A parse must not keep anything of the previous one in the same struct,
// as the loops reuse one requestHead per connection.
func TestParseRequestHeadResets(t *testing.T) {
	var h requestHead
	require.Equal(t, headOK, parseRequestHead([]byte(restGet("X-Forwarded-For: 1.2.3.4", "Origin: http://x", "X-Request-Id: r1", "Content-Length: 5", "Connection: close", "Access-Control-Request-Method: GET")), &h))
	require.Equal(t, headOK, parseRequestHead([]byte(restGet()), &h))
	assert.Nil(t, h.forwardedFor)
	assert.Nil(t, h.origin)
	assert.Nil(t, h.requestID)
	assert.Equal(t, noCL, h.contentLength)
	assert.False(t, h.connClose)
	assert.False(t, h.preflight)
	assert.Equal(t, 1, h.n)
}

var fiberJSON = worker200(
	"Date: Tue, 04 Mar 2025 10:00:00 GMT",
	"Content-Type: application/json; charset=utf-8",
	"Content-Length: 25",
	"Content-Range: 0-0/*",
	"X-Request-Id: 01JNB4Y7M2ZQ",
	"X-Madbase-Worker: w-7f3a",
)

// responseHeadTests also seed FuzzParseResponseHead.
var responseHeadTests = []struct {
	name         string
	head         string
	after        string
	want         headStatus
	wantStatus   int
	wantLine     string // checked when set
	wantCL       int64  // checked on headOK
	wantChunked  bool
	wantClose    bool
	wantHTTP10   bool
	wantBodiless bool // bodiless(status, false)
	wantDrop     []string
	wantKeep     []string
}{
	{
		name: "fiber JSON with its body", head: fiberJSON, after: `[{"id":1,"task":"write"}]`, want: headOK,
		wantStatus: 200, wantLine: "200 OK", wantCL: 25,
		wantDrop: []string{"X-Request-Id", "X-Madbase-Worker"}, wantKeep: []string{"Content-Length", "Content-Type", "Date", "Content-Range"},
	},
	{name: "next response left unread", head: worker200("Content-Length: 0"), after: worker200("Content-Length: 0"), want: headOK, wantStatus: 200, wantCL: 0},
	{name: "lowercase names", head: worker200("content-length: 2", "x-request-id: r", "x-madbase-worker: w"), want: headOK, wantStatus: 200, wantCL: 2, wantDrop: []string{"x-request-id", "x-madbase-worker"}},
	{name: "no framing", head: worker200("Content-Type: text/plain"), want: headOK, wantStatus: 200, wantCL: noCL},
	{name: "201 with a reason of several words", head: joinHead("HTTP/1.1 201 Created Just Now", "Content-Length: 0"), want: headOK, wantStatus: 201, wantLine: "201 Created Just Now", wantCL: 0},
	{name: "599", head: joinHead("HTTP/1.1 599 Whatever"), want: headOK, wantStatus: 599, wantCL: noCL},

	// Status line.
	{name: "no reason phrase", head: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", want: headOK, wantStatus: 200, wantLine: "200", wantCL: 0},
	{name: "empty reason phrase", head: "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", want: headOK, wantStatus: 404, wantLine: "404 ", wantCL: 0},
	{name: "obs-text reason", head: joinHead("HTTP/1.1 200 D\xc3\xa9j\xc3\xa0"), want: headOK, wantStatus: 200, wantCL: noCL},
	{name: "two-digit status", head: joinHead("HTTP/1.1 20 OK"), want: headOther},
	{name: "four-digit status", head: joinHead("HTTP/1.1 2000 OK"), want: headOther},
	{name: "status below 100", head: joinHead("HTTP/1.1 099 Low"), want: headOther},
	{name: "status 000", head: joinHead("HTTP/1.1 000 Zero"), want: headOther},
	{name: "non-digit status", head: joinHead("HTTP/1.1 2x0 OK"), want: headOther},
	{name: "signed status", head: joinHead("HTTP/1.1 +20 OK"), want: headOther},
	{name: "two spaces before status", head: joinHead("HTTP/1.1  200 OK"), want: headOther},
	{name: "tab after status", head: joinHead("HTTP/1.1 200\tOK"), want: headOther},
	{name: "no status", head: joinHead("HTTP/1.1"), want: headOther},
	{name: "no status after space", head: joinHead("HTTP/1.1 "), want: headOther},
	{name: "HTTP/2", head: joinHead("HTTP/2 200"), want: headOther},
	{name: "HTTP/1.2", head: joinHead("HTTP/1.2 200 OK"), want: headOther},
	{name: "lowercase protocol", head: joinHead("http/1.1 200 OK"), want: headOther},
	{name: "ICY", head: joinHead("ICY 200 OK"), want: headOther},
	{name: "NUL in reason", head: joinHead("HTTP/1.1 200 O\x00K"), want: headOther},
	{name: "DEL in reason", head: joinHead("HTTP/1.1 200 OK\x7f"), want: headOther},
	{name: "CR in reason", head: joinHead("HTTP/1.1 200 O\rK"), want: headOther},
	{name: "blank first line", head: "\r\nHTTP/1.1 200 OK\r\n\r\n", want: headOther},
	{name: "bare LF line endings", head: "HTTP/1.1 200 OK\nContent-Length: 0\n\n", want: headOther},
	{name: "bare LF blank line", head: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", want: headOther},
	{name: "obs-fold", head: worker200("X-A: a", " b"), want: headOther},

	// Incomplete.
	{name: "nothing", head: "", want: headIncomplete},
	{name: "status line only", head: "HTTP/1.1 200 OK\r\n", want: headIncomplete},
	{name: "status line without LF", head: "HTTP/1.1 200 OK\r", want: headIncomplete},
	{name: "no blank line", head: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", want: headIncomplete},

	// Chunked.
	{name: "chunked", head: worker200("Content-Type: text/event-stream", "Transfer-Encoding: chunked"), want: headOK, wantStatus: 200, wantCL: noCL, wantChunked: true, wantKeep: []string{"Transfer-Encoding"}},
	{name: "Chunked", head: worker200("Transfer-Encoding: Chunked"), want: headOK, wantStatus: 200, wantCL: noCL, wantChunked: true},
	{name: "transfer-encoding CHUNKED", head: worker200("transfer-encoding:  CHUNKED "), want: headOK, wantStatus: 200, wantCL: noCL, wantChunked: true},
	{
		name: "Content-Length then chunked: length dropped", head: worker200("Content-Length: 10", "Transfer-Encoding: chunked"), want: headOK,
		wantStatus: 200, wantCL: noCL, wantChunked: true, wantDrop: []string{"Content-Length"}, wantKeep: []string{"Transfer-Encoding"},
	},
	{
		name: "chunked then Content-Length: length dropped", head: worker200("Transfer-Encoding: chunked", "Content-Length: 10", "Content-Length: 10"), want: headOK,
		wantStatus: 200, wantCL: noCL, wantChunked: true, wantDrop: []string{"Content-Length"},
	},
	{name: "Transfer-Encoding twice", head: worker200("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), want: headOther},
	{name: "Transfer-Encoding gzip", head: worker200("Transfer-Encoding: gzip"), want: headOther},
	{name: "Transfer-Encoding gzip, chunked", head: worker200("Transfer-Encoding: gzip, chunked"), want: headOther},
	{name: "Transfer-Encoding chunked, chunked", head: worker200("Transfer-Encoding: chunked, chunked"), want: headOther},
	{name: "Transfer-Encoding identity", head: worker200("Transfer-Encoding: identity", "Content-Length: 2"), want: headOther},
	{name: "Transfer-Encoding empty", head: worker200("Transfer-Encoding:"), want: headOther},

	// Content-Length.
	{name: "Content-Length twice, same value", head: worker200("Content-Length: 5", "Content-Length: 5"), want: headOK, wantStatus: 200, wantCL: 5},
	{name: "Content-Length twice, other value", head: worker200("Content-Length: 5", "Content-Length: 6"), want: headOther},
	{name: "Content-Length 5,5", head: worker200("Content-Length: 5,5"), want: headOther},
	{name: "Content-Length +5", head: worker200("Content-Length: +5"), want: headOther},
	{name: "Content-Length -1", head: worker200("Content-Length: -1"), want: headOther},
	{name: "Content-Length 19 digits", head: worker200("Content-Length: 1000000000000000000"), want: headOther},
	{name: "Content-Length empty", head: worker200("Content-Length: "), want: headOther},
	{name: "Content-Length invalid after chunked", head: worker200("Transfer-Encoding: chunked", "Content-Length: x"), want: headOther},

	// Connection.
	{name: "HTTP/1.0", head: joinHead("HTTP/1.0 200 OK", "Content-Type: text/plain"), want: headOK, wantStatus: 200, wantCL: noCL, wantClose: true, wantHTTP10: true},
	{name: "HTTP/1.0 with Content-Length", head: joinHead("HTTP/1.0 200 OK", "Content-Length: 2"), want: headOK, wantStatus: 200, wantCL: 2, wantClose: true, wantHTTP10: true},
	{name: "HTTP/1.0 keep-alive still closes", head: joinHead("HTTP/1.0 200 OK", "Content-Length: 2", "Connection: keep-alive"), want: headOK, wantStatus: 200, wantCL: 2, wantClose: true, wantHTTP10: true},
	{
		// RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has
		// faulty framing; readers disagree on where it ends, so it is refused.
		name: "HTTP/1.0 chunked refused", head: joinHead("HTTP/1.0 200 OK", "Transfer-Encoding: chunked"), want: headOther,
	},
	{name: "Connection close", head: worker200("Content-Length: 0", "Connection: close"), want: headOK, wantStatus: 200, wantCL: 0, wantClose: true, wantDrop: []string{"Connection"}},
	{name: "Connection keep-alive", head: worker200("Content-Length: 0", "Connection: keep-alive", "Keep-Alive: timeout=5"), want: headOK, wantStatus: 200, wantCL: 0, wantDrop: []string{"Connection", "Keep-Alive"}},
	{name: "Connection Upgrade", head: worker200("Connection: Upgrade"), want: headOther},
	{name: "Connection X-Secret", head: worker200("Connection: close, X-Secret", "X-Secret: 1"), want: headOther},

	// Bodiless statuses.
	{name: "204", head: "HTTP/1.1 204 No Content\r\nDate: Tue, 04 Mar 2025 10:00:00 GMT\r\n\r\n", want: headOK, wantStatus: 204, wantLine: "204 No Content", wantCL: noCL, wantBodiless: true},
	{name: "304 with a length", head: joinHead("HTTP/1.1 304 Not Modified", "ETag: \"abc\"", "Content-Length: 120"), want: headOK, wantStatus: 304, wantCL: 120, wantBodiless: true},
	{name: "100 Continue", head: "HTTP/1.1 100 Continue\r\n\r\n", after: worker200("Content-Length: 0"), want: headOK, wantStatus: 100, wantCL: noCL, wantBodiless: true},
	{name: "103 Early Hints", head: joinHead("HTTP/1.1 103 Early Hints", "Link: </style.css>; rel=preload"), want: headOK, wantStatus: 103, wantCL: noCL, wantBodiless: true},
	{name: "101", head: joinHead("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"), want: headOther},
	{name: "199", head: joinHead("HTTP/1.1 199 Odd"), want: headOK, wantStatus: 199, wantCL: noCL, wantBodiless: true},
	{name: "200 is not bodiless", head: worker200(), want: headOK, wantStatus: 200, wantCL: noCL},

	// Dropped and kept names.
	{
		name: "hop-by-hop names dropped", head: worker200("Content-Length: 0", "Keep-Alive: timeout=5", "TE: trailers", "Trailer: Expires", "Upgrade: h2c", "Proxy-Connection: close", "Proxy-Authenticate: Basic"),
		want: headOK, wantStatus: 200, wantCL: 0, wantDrop: []string{"Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Connection", "Proxy-Authenticate"},
	},
	{
		name: "cookies and caching kept", head: worker200("Content-Length: 0", "Set-Cookie: a=1; HttpOnly", "Set-Cookie: b=2", "Cache-Control: no-store", "Vary: Origin"),
		want: headOK, wantStatus: 200, wantCL: 0, wantKeep: []string{"Set-Cookie", "Cache-Control", "Vary"},
	},
	{name: "64 header lines", head: worker200(fillerHeaders(64)...), want: headOK, wantStatus: 200, wantCL: noCL},
	{name: "65 header lines", head: worker200(fillerHeaders(65)...), want: headOther},
	{name: "NUL in a value", head: worker200("X-A: \x00"), want: headOther},
	{name: "space before colon", head: worker200("Content-Length : 0"), want: headOther},
	{name: "no colon", head: worker200("Content-Length 0"), want: headOther},
}

func TestParseResponseHead(t *testing.T) {
	for _, tt := range responseHeadTests {
		t.Run(tt.name, func(t *testing.T) {
			var h responseHead
			head := parseCase(t, tt.head, tt.after, tt.want, responseParser(&h))
			if head == nil {
				return
			}
			assert.Equal(t, tt.wantStatus, h.status)
			if tt.wantLine != "" {
				assert.Equal(t, tt.wantLine, string(h.statusLine))
			}
			assert.True(t, inHead(head, h.statusLine))
			assert.Equal(t, tt.wantCL, h.contentLength)
			assert.Equal(t, tt.wantChunked, h.chunked)
			assert.Equal(t, tt.wantClose, h.connClose, "connClose")
			assert.Equal(t, tt.wantHTTP10, h.http10)
			assert.Equal(t, tt.wantBodiless, bodiless(h.status, false))
			checkHeadLines(t, head, h.lines[:h.n])
			checkHeadDrop(t, h.lines[:h.n], tt.wantDrop, tt.wantKeep)
		})
	}
}

func TestParseResponseHeadPrefixes(t *testing.T) {
	for _, head := range []string{
		worker200("Content-Type: application/json", "Content-Length: 2", "X-Madbase-Worker: w"),
		worker200("Transfer-Encoding: chunked", fillerHeaders(63)[0]),
		"HTTP/1.1 204\r\n\r\n",
	} {
		var h responseHead
		checkInPieces(t, head, responseParser(&h))
	}
}

func TestBodiless(t *testing.T) {
	tests := []struct {
		status int
		head   bool
		want   bool
	}{
		{200, false, false},
		{200, true, true},
		{404, true, true},
		{204, false, true},
		{304, false, true},
		{100, false, true},
		{101, false, true},
		{199, false, true},
		{205, false, false},
		{299, false, false},
		{500, false, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, bodiless(tt.status, tt.head), "status %d, HEAD %v", tt.status, tt.head)
	}
}

func TestParseContentLength(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"0", 0, true},
		{"5", 5, true},
		{"0005", 5, true},
		{"1048576", 1048576, true},
		{"999999999999999999", 999999999999999999, true},
		{"000000000000000000", 0, true},
		{"1000000000000000000", 0, false},
		{"0000000000000000000", 0, false},
		{"", 0, false},
		{"+5", 0, false},
		{"-1", 0, false},
		{"5,5", 0, false},
		{" 5", 0, false},
		{"5 ", 0, false},
		{"1e3", 0, false},
		{"0x1f", 0, false},
		{"５", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseContentLength([]byte(tt.in))
		assert.Equal(t, tt.wantOK, ok, "%q", tt.in)
		if ok {
			assert.Equal(t, tt.want, got, "%q", tt.in)
		}
	}
}

func TestParseHeaderLine(t *testing.T) {
	tests := []struct {
		in                  string
		wantName, wantValue string
		wantOK              bool
	}{
		{"Host: a", "Host", "a", true},
		{"apikey:key", "apikey", "key", true},
		{"X-A:  \t a b \t ", "X-A", "a b", true},
		{"X-A:", "X-A", "", true},
		{"X-A: \t ", "X-A", "", true},
		{"X-A: a:b", "X-A", "a:b", true},
		{"!#$%&'*+-.^_`|~09az: v", "!#$%&'*+-.^_`|~09az", "v", true},
		{"X-A: caf\xc3\xa9", "X-A", "caf\xc3\xa9", true},
		{": v", "", "", false},
		{"no colon", "", "", false},
		{"", "", "", false},
		{" X-A: a", "", "", false},
		{"X-A : a", "", "", false},
		{"X A: a", "", "", false},
		{"X\"A: a", "", "", false},
		{"X/A: a", "", "", false},
		{"X-A: a\x00", "", "", false},
		{"X-A: a\r", "", "", false},
		{"X-A: a\n", "", "", false},
		{"X-A: a\x7f", "", "", false},
	}
	for _, tt := range tests {
		name, value, ok := parseHeaderLine([]byte(tt.in))
		assert.Equal(t, tt.wantOK, ok, "%q", tt.in)
		if ok {
			assert.Equal(t, tt.wantName, string(name), "%q", tt.in)
			assert.Equal(t, tt.wantValue, string(value), "%q", tt.in)
		}
	}
}

func TestConnectionTokens(t *testing.T) {
	tests := []struct {
		in        string
		wantOK    bool
		wantClose bool
	}{
		{"close", true, true},
		{"Close", true, true},
		{"keep-alive", true, false},
		{"Keep-Alive", true, false},
		{"keep-alive, close", true, true},
		{" , close ,, ", true, true},
		{"", true, false},
		{"upgrade", false, false},
		{"close, Upgrade", false, true},
		{"X-Secret", false, false},
		{"closed", false, false},
		{"close keep-alive", false, false},
	}
	for _, tt := range tests {
		closeConn, upgrade, other := fw.ConnectionOptions([]byte(tt.in))
		ok := !upgrade && !other // the loops serve close and keep-alive only
		assert.Equal(t, tt.wantOK, ok, "%q", tt.in)
		if ok {
			assert.Equal(t, tt.wantClose, closeConn, "%q", tt.in)
		}
	}
}

// validChunked are complete chunked bodies, as a worker writes them.
var validChunked = []struct {
	name string
	body string
}{
	{"final chunk only", "0\r\n\r\n"},
	{"one chunk", "5\r\nhello\r\n0\r\n\r\n"},
	{"SSE events", oneChunk("event: ping\ndata: {\"n\":1}\n\n") + oneChunk("event: ping\ndata: {\"n\":2}\n\n") + "0\r\n\r\n"},
	{"uppercase hex", "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"},
	{"lowercase hex", "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"},
	{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n"},
	{"data holding CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n"},
	{"extensions", "5;name=value\r\nhello\r\n6;a;b=\"q\"\r\n world\r\n0;last\r\n\r\n"},
	{"blank before the extension", "5 ;x\r\nhello\r\n0\t;y\r\n\r\n"},
	{"trailers", "5\r\nhello\r\n0\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n"},
	{"extension and trailer", "3;a=1\r\nabc\r\n0;b=2\r\nX-T: 1\r\n\r\n"},
	{"binary data", "8\r\n\x00\xff\r\n\n\r\x00\x01\r\n0\r\n\r\n"},
	{"15 hex digits of zero", "000000000000005\r\nhello\r\n0\r\n\r\n"},
	{"longest extension", "1;" + strings.Repeat("x", maxChunkLine-1) + "\r\na\r\n0\r\n\r\n"},
	{"longest trailer", "0\r\n" + strings.Repeat("t", maxChunkLine) + "\r\n\r\n"},
	{"4 KiB chunk", fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 4096, strings.Repeat("d", 4096))},
}

// oneChunk frames s as one chunk.
func oneChunk(s string) string {
	return fmt.Sprintf("%x\r\n%s\r\n", len(s), s)
}

// scanPieces scans b in the pieces cut at the given offsets and returns the
// bytes consumed and whether done and ok were reported.
func scanPieces(s *chunkedScanner, b []byte, cuts []int) (n int, done, ok bool) {
	prev := 0
	for _, c := range append(cuts, len(b)) {
		if c < prev {
			continue
		}
		k, d, o := s.scan(b[prev:c])
		n += k
		if !o || d {
			return n, d, o
		}
		prev = c
	}
	return n, false, true
}

func TestChunkedScanner(t *testing.T) {
	next := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range validChunked {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)

			// Whole, with the next response behind it.
			var s chunkedScanner
			n, done, ok := s.scan([]byte(tt.body + next))
			require.True(t, ok)
			assert.True(t, done)
			assert.Equal(t, len(body), n, "the next response stays unread")
			n, done, ok = s.scan([]byte(next))
			assert.Equal(t, []any{0, true, true}, []any{n, done, ok}, "a finished scanner reads nothing more")

			// Byte by byte: done exactly at the last byte.
			s = chunkedScanner{}
			for i := range body {
				n, done, ok := s.scan(body[i : i+1])
				require.True(t, ok, "byte %d", i)
				require.Equal(t, 1, n, "byte %d", i)
				require.Equal(t, i == len(body)-1, done, "done at byte %d of %d", i, len(body))
			}

			// Every split in two, the tail followed by the next response.
			for i := 0; i <= len(body); i++ {
				s = chunkedScanner{}
				n1, done1, ok1 := s.scan(body[:i])
				require.True(t, ok1)
				require.Equal(t, i, n1)
				require.Equal(t, i == len(body), done1)
				n2, done2, ok2 := s.scan([]byte(tt.body[i:] + next))
				require.True(t, ok2)
				require.True(t, done2)
				require.Equal(t, len(body)-i, n2, "split at %d", i)
			}

			// Random splits of the body and the next response.
			all := []byte(tt.body + next)
			for range 50 {
				cuts := make([]int, rng.IntN(8))
				for j := range cuts {
					cuts[j] = rng.IntN(len(all) + 1)
				}
				s = chunkedScanner{}
				n, done, ok := scanPieces(&s, all, slices.Sorted(slices.Values(cuts)))
				require.Equal(t, []any{len(body), true, true}, []any{n, done, ok}, "cuts %v", cuts)
			}
		})
	}
}

func TestChunkedScannerIncomplete(t *testing.T) {
	for _, in := range []string{
		"", "5", "5\r", "5\r\n", "5\r\nhel", "5\r\nhello", "5\r\nhello\r", "5\r\nhello\r\n",
		"5;ext", "0\r\n", "0\r\n\r", "0\r\nX-T: 1\r\n", "0\r\nX-T: 1\r\n\r",
		"fffffffffffffff\r\n" + strings.Repeat("x", 100),
	} {
		var s chunkedScanner
		n, done, ok := s.scan([]byte(in))
		assert.Equal(t, []any{len(in), false, true}, []any{n, done, ok}, "%q", in)
	}
}

func TestChunkedScannerInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty size line", "\r\n"},
		{"non-hex size", "g\r\n"},
		{"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"},
		{"negative size", "-5\r\n"},
		{"plus sign", "+5\r\n"},
		{"leading blank", " 5\r\nhello\r\n"},
		{"extension without size", ";x\r\n"},
		{"16 hex digits", "0000000000000005\r\nhello\r\n0\r\n\r\n"},
		{"17 hex digits", "10000000000000000\r\n"},
		{"bare LF after size", "5\nhello\r\n"},
		{"bare LF in extension", "5;x\nhello\r\n"},
		{"CR CR after size", "5\r\r\nhello\r\n"},
		{"missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"},
		{"data longer than size", "5\r\nhello!\r\n"},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n"},
		{"CR then junk after data", "5\r\nhello\rX"},
		{"extension too long", "5;" + strings.Repeat("x", maxChunkLine) + "\r\nhello\r\n"},
		{"trailer too long", "0\r\n" + strings.Repeat("t", maxChunkLine+1) + "\r\n\r\n"},
		{"bare LF ending the body", "0\r\n\n"},
		{"bare LF after a trailer", "0\r\nX-T: 1\n\r\n"},
		{"CR then junk ending the body", "0\r\n\rX"},
		{"HTTP head instead", "HTTP/1.1 200 OK\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s chunkedScanner
			n, done, ok := s.scan([]byte(tt.in))
			assert.False(t, ok, "whole")
			assert.False(t, done)
			assert.LessOrEqual(t, n, len(tt.in))

			s = chunkedScanner{}
			failed := false
			for i := 0; i < len(tt.in) && !failed; i++ {
				n, _, ok := s.scan([]byte(tt.in[i : i+1]))
				if !ok {
					failed = true
					assert.Equal(t, 0, n, "the bad byte is not consumed")
				}
			}
			assert.True(t, failed, "byte by byte")
		})
	}
}

// refChunked reads a chunked body line by line, independently of the
// scanner's state machine, with the same limits: at most 15 size digits,
// extensions and trailer lines of at most maxChunkLine bytes, CRLF only. It
// returns the body's length when b holds all of it, refMore when b is a
// valid beginning and refBad when b cannot begin a valid body.
func refChunked(b []byte) int {
	off := 0
	for {
		line, complete := b[off:], false
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, complete = line[:i], true
		}
		digits := 0
		for digits < len(line) && refHex(line[digits]) {
			digits++
		}
		if digits > 15 || (digits == 0 && (complete || len(line) > 0)) {
			return refBad
		}
		ext := line[digits:]
		if len(ext) > 0 && !strings.ContainsRune(";\r \t", rune(ext[0])) {
			return refBad
		}
		if !refLine(ext, complete) {
			return refBad
		}
		if !complete {
			return refMore
		}
		size, _ := strconv.ParseUint(string(line[:digits]), 16, 64)
		off += len(line) + 1
		if size > 0 {
			if uint64(len(b)-off) < size {
				return refMore
			}
			off += int(size)
			for _, c := range []byte("\r\n") {
				if off == len(b) {
					return refMore
				}
				if b[off] != c {
					return refBad
				}
				off++
			}
			continue
		}
		for {
			line, complete := b[off:], false
			if i := bytes.IndexByte(line, '\n'); i >= 0 {
				line, complete = line[:i], true
			}
			if !refLine(line, complete) {
				return refBad
			}
			if !complete {
				return refMore
			}
			off += len(line) + 1
			if len(line) == 1 {
				return off
			}
		}
	}
}

const (
	refMore = -1
	refBad  = -2
)

func refHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// refLine checks the rest of a size line or a trailer line, without its LF:
// a complete one ends in its only CR, and neither holds more than
// maxChunkLine bytes before that CR.
func refLine(l []byte, complete bool) bool {
	cr := bytes.IndexByte(l, '\r')
	switch {
	case complete && (cr < 0 || cr != len(l)-1):
		return false
	case !complete && cr >= 0 && cr != len(l)-1:
		return false
	}
	if cr >= 0 {
		l = l[:cr]
	}
	return len(l) <= maxChunkLine
}

func TestRefChunked(t *testing.T) {
	for _, tt := range validChunked {
		assert.Equal(t, len(tt.body), refChunked([]byte(tt.body+"HTTP/1.1")), tt.name)
	}
	assert.Equal(t, refMore, refChunked([]byte("5\r\nhel")))
	assert.Equal(t, refBad, refChunked([]byte("5\r\nhelloX")))
}

// framedHead parses data and checks what both parsers promise of any
// input: the input is left as it was, an incomplete head has no blank line,
// and a head they serve ends at the first blank line. It returns that head,
// or nil when the parser did not serve the input.
func framedHead(t *testing.T, data []byte, parse headParser) []byte {
	t.Helper()
	orig := bytes.Clone(data)
	st, size := parse(data)
	if !bytes.Equal(orig, data) {
		t.Fatal("the parser wrote to its input")
	}
	switch st {
	case headIncomplete:
		if bytes.Contains(data, []byte("\r\n\r\n")) {
			t.Fatalf("headIncomplete with a blank line in %q", data)
		}
		return nil
	case headOther:
		return nil
	case headOK:
	default:
		t.Fatalf("status %d", st)
	}
	if size <= 0 || size > len(data) {
		t.Fatalf("size %d for %d bytes", size, len(data))
	}
	if end := bytes.Index(data, []byte("\r\n\r\n")); end+4 != size {
		t.Fatalf("size %d, first blank line ends at %d", size, end+4)
	}
	return data[:size]
}

// FuzzParseRequestHead checks on any input that the parser does not panic,
// that a head it serves is framed by its first blank line and points into
// it, that no shorter prefix of it is complete, and that net/http reads the
// same method, target, Host, length and headers from it.
func FuzzParseRequestHead(f *testing.F) {
	for _, tt := range requestHeadTests {
		f.Add([]byte(tt.head + tt.after))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h requestHead
		head := framedHead(t, data, requestParser(&h))
		// The loops parse every head into the same struct, which only
		// clears its fields: what an earlier head left must not show.
		used := &requestHead{}
		parseRequestHead([]byte(supabaseGet), used)
		if st := parseRequestHead(data, used); st != parseRequestHead(data, &h) ||
			!reflect.DeepEqual(used.requestFields, h.requestFields) || !reflect.DeepEqual(used.lines[:used.n], h.lines[:h.n]) {
			t.Fatalf("a used head parses %q otherwise than a new one", data)
		}
		if head == nil {
			return
		}
		if h.n > maxHeadHeaders || h.host == nil {
			t.Fatalf("%d lines, host %q", h.n, h.host)
		}
		for _, s := range [][]byte{h.method, h.uri, h.host} {
			if !inHead(head, s) {
				t.Fatalf("%q does not lie inHead the head", s)
			}
		}
		for _, s := range [][]byte{h.origin, h.requestID, h.forwardedFor, h.forwardedProt, h.forwardedHost} {
			if s != nil && !inHead(head, s) {
				t.Fatalf("%q does not lie inHead the head", s)
			}
		}
		checkHeadLines(t, head, h.lines[:h.n])
		if h.size <= 4096 {
			var p requestHead
			checkPrefixes(t, head, requestParser(&p))
		}
		compareRequest(t, head, &h)
	})
}

// compareRequest reads head with net/http and compares.
func compareRequest(t *testing.T, head []byte, h *requestHead) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		if _, uerr := url.ParseRequestURI(string(h.uri)); uerr != nil {
			return // the loops hand on targets needing decoding (fastPath)
		}
		t.Fatalf("net/http rejects a served head: %v\n%q", err, head)
	}
	wantCL := h.contentLength
	if wantCL < 0 {
		wantCL = 0
	}
	got := []any{req.Method, req.RequestURI, req.Host, req.ContentLength, req.Close}
	want := []any{string(h.method), string(h.uri), string(h.host), wantCL, h.connClose}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("net/http reads %v, the parser %v\n%q", got, want, head)
	}
	for _, l := range h.lines[:h.n] {
		key := textproto.CanonicalMIMEHeaderKey(string(l.name))
		if key == "Host" {
			continue
		}
		if !slices.Contains(req.Header[key], string(l.value)) {
			t.Fatalf("net/http has %s: %q, the parser %q\n%q", key, req.Header[key], l.value, head)
		}
	}
}

// FuzzParseResponseHead checks the response parser like
// FuzzParseRequestHead, against net/http's ReadResponse.
func FuzzParseResponseHead(f *testing.F) {
	for _, tt := range responseHeadTests {
		f.Add([]byte(tt.head + tt.after))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h responseHead
		head := framedHead(t, data, responseParser(&h))
		used := &responseHead{}
		parseResponseHead([]byte(worker200("Content-Type: application/json", "Content-Length: 2", "Vary: Origin")), used)
		if st := parseResponseHead(data, used); st != parseResponseHead(data, &h) ||
			!reflect.DeepEqual(used.responseFields, h.responseFields) || !reflect.DeepEqual(used.lines[:used.n], h.lines[:h.n]) {
			t.Fatalf("a used head parses %q otherwise than a new one", data)
		}
		if head == nil {
			return
		}
		if !inHead(head, h.statusLine) || h.n > maxHeadHeaders {
			t.Fatalf("status line %q, %d lines", h.statusLine, h.n)
		}
		if code, err := strconv.Atoi(string(h.statusLine[:3])); err != nil || code != h.status || code < 100 {
			t.Fatalf("status %d from %q", h.status, h.statusLine)
		}
		checkHeadLines(t, head, h.lines[:h.n])
		if h.chunked {
			if h.contentLength != noCL {
				t.Fatalf("chunked with length %d", h.contentLength)
			}
			for _, l := range h.lines[:h.n] {
				if fw.Is(l.name, "content-length") && !l.drop {
					t.Fatal("Content-Length relayed with chunked")
				}
			}
		}
		if h.http10 && !h.chunked && !h.connClose {
			t.Fatal("HTTP/1.0 kept open")
		}
		if h.size <= 4096 {
			var p responseHead
			checkPrefixes(t, head, responseParser(&p))
		}
		compareResponse(t, head, &h)
	})
}

// compareResponse reads head with net/http and compares.
func compareResponse(t *testing.T, head []byte, h *responseHead) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		if strings.Contains(err.Error(), "trailer") {
			return // the chunked body is relayed as it is, trailers too
		}
		t.Fatalf("net/http rejects a served head: %v\n%q", err, head)
	}
	if resp.StatusCode != h.status {
		t.Fatalf("net/http reads status %d, the parser %d", resp.StatusCode, h.status)
	}
	// A body without framing ends with the connection: net/http says
	// close, the loops read until it closes.
	unbounded := !bodiless(h.status, false) && !h.chunked && h.contentLength < 0
	if !unbounded && resp.Close && !h.connClose {
		t.Fatalf("net/http closes after %q, the parser does not", head)
	}
	if !unbounded && !h.http10 && resp.Close != h.connClose {
		t.Fatalf("net/http close=%v, the parser %v\n%q", resp.Close, h.connClose, head)
	}
	if !bodiless(h.status, false) {
		chunked := len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"
		if chunked != h.chunked || resp.ContentLength != h.contentLength {
			t.Fatalf("net/http reads chunked=%v length %d, the parser chunked=%v length %d\n%q",
				chunked, resp.ContentLength, h.chunked, h.contentLength, head)
		}
	}
	for _, l := range h.lines[:h.n] {
		if l.drop || fw.Is(l.name, "transfer-encoding") {
			continue
		}
		key := textproto.CanonicalMIMEHeaderKey(string(l.name))
		if !slices.Contains(resp.Header[key], string(l.value)) {
			t.Fatalf("net/http has %s: %q, the parser %q\n%q", key, resp.Header[key], l.value, head)
		}
	}
}

// FuzzChunkedScanner checks that the scanner does not panic, reads no
// more than it is given, gives the same answer however the input is split,
// and agrees with refChunked.
func FuzzChunkedScanner(f *testing.F) {
	for _, tt := range validChunked {
		if len(tt.body) < 256 {
			f.Add([]byte(tt.body))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s chunkedScanner
		n, done, ok := s.scan(data)
		if n < 0 || n > len(data) {
			t.Fatalf("n=%d for %d bytes", n, len(data))
		}
		if ok && !done && n != len(data) {
			t.Fatalf("stopped at %d of %d without finishing", n, len(data))
		}
		if done {
			if !ok {
				t.Fatal("done but not ok")
			}
			if k, d, o := s.scan(data[n:]); k != 0 || !d || !o {
				t.Fatalf("after the end: %d %v %v", k, d, o)
			}
		}

		switch ref := refChunked(data); {
		case ref >= 0 && !(ok && done && n == ref):
			t.Fatalf("reference ends the body at %d, the scanner %d %v %v\n%q", ref, n, done, ok, data)
		case ref == refMore && !(ok && !done):
			t.Fatalf("reference wants more, the scanner %d %v %v\n%q", n, done, ok, data)
		case ref == refBad && ok:
			t.Fatalf("reference rejects, the scanner %d %v %v\n%q", n, done, ok, data)
		}

		step := 1
		if len(data) > 512 {
			step = len(data) / 512
		}
		for i := 0; i <= len(data); i += step {
			var s chunkedScanner
			k, d, o := scanPieces(&s, data, []int{i})
			if k != n || d != done || o != ok {
				t.Fatalf("split at %d: %d %v %v, whole: %d %v %v", i, k, d, o, n, done, ok)
			}
		}
	})
}
