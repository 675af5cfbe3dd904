package eventloop

import (
	"bytes"

	fw "github.com/madbase/madbase/edge/internal/forwarding"
)

// The event loops (loop.go) read HTTP/1.1 heads themselves. They accept a
// strict subset of the protocol: whatever falls outside it is not an error
// for them but a reason to hand the connection to the fasthttp server, which
// implements the whole protocol (and its error answers).

// headStatus is the outcome of reading a head from a buffer.
type headStatus int

const (
	headIncomplete headStatus = iota // more bytes are needed
	headOK                           // parsed; the fast path can serve it
	headOther                        // complete or not, the fast path will not serve it
)

// maxHeadHeaders bounds the header lines of a head the fast path serves.
const maxHeadHeaders = 64

// headerLine is one header of a head, pointing into the read buffer.
type headerLine struct {
	name, value []byte
	// drop marks hop-by-hop headers and the ones the edge writes itself.
	drop bool
	// cors marks a response's CORS headers, which the edge replaces when it
	// answers an allowed origin.
	cors bool
}

// requestHead is a parsed request head. Slices point into the read buffer
// and live as long as the bytes there.
type requestHead struct {
	requestFields
	// lines[:n] are the head's header lines. Only the fields are cleared
	// before a parse: clearing the lines too would write 3.5 KiB per head,
	// for lines that are written before they are read.
	lines [maxHeadHeaders]headerLine
}

type requestFields struct {
	method, uri []byte
	n           int
	// contentLength is -1 without a Content-Length header.
	contentLength int64
	host          []byte
	origin        []byte
	apikey        []byte
	requestID     []byte
	forwardedFor  []byte
	forwardedProt []byte
	forwardedHost []byte
	forwarded     []byte // RFC 7239 Forwarded
	preflight     bool   // Access-Control-Request-Method is present
	connClose     bool
	size          int // bytes of the head, blank line included
}

// tchar is RFC 9110's token alphabet.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// nextLine returns the line at the start of b without its CRLF and the
// length consumed, or ok=false when no complete line is there. A bare LF
// ends nothing here: such a head goes to the full parser.
func nextLine(b []byte) (line []byte, n int, st headStatus) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, 0, headIncomplete
	}
	if i == 0 || b[i-1] != '\r' {
		return nil, 0, headOther
	}
	return b[:i-1], i + 1, headOK
}

// nextHeader reads the header line at b[off:] of a head that has n header
// lines so far, and returns it with the offset after it; a zero line means
// the blank line that ends the head. Too many lines, or one that is not a
// plain "Name: value" (an obs-fold continuation included), is headOther.
func nextHeader(b []byte, off, n int) (headerLine, int, headStatus) {
	line, k, st := nextLine(b[off:])
	if st != headOK {
		return headerLine{}, 0, st
	}
	if len(line) == 0 {
		return headerLine{}, off + k, headOK
	}
	if n == maxHeadHeaders {
		return headerLine{}, 0, headOther
	}
	name, value, ok := parseHeaderLine(line)
	if !ok {
		return headerLine{}, 0, headOther
	}
	return headerLine{name: name, value: value}, off + k, headOK
}

// parseHeaderLine splits "Name: value" and trims the value's blanks. Names
// must be tokens; values may hold no control byte but tab.
func parseHeaderLine(line []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, nil, false
	}
	name = line[:colon]
	for _, c := range name {
		if !tchar[c] {
			return nil, nil, false
		}
	}
	value = line[colon+1:]
	for _, c := range value {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return nil, nil, false
		}
	}
	return name, fw.TrimSpace(value), true
}

// parseContentLength reads a Content-Length value: digits only, no sign,
// no list, at most 18 digits.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseRequestHead reads the request head at the start of b into h.
func parseRequestHead(b []byte, h *requestHead) headStatus {
	h.requestFields = requestFields{contentLength: -1}
	line, n, st := nextLine(b)
	if st != headOK {
		return st
	}
	off := n
	// METHOD SP request-target SP HTTP/1.1
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || len(line) < sp+1+1+9 {
		return headOther
	}
	h.method = line[:sp]
	for _, c := range h.method {
		if c < 'A' || c > 'Z' {
			return headOther
		}
	}
	rest := line[sp+1:]
	if !bytes.HasSuffix(rest, []byte(" HTTP/1.1")) {
		return headOther
	}
	h.uri = rest[:len(rest)-9]
	if len(h.uri) == 0 || h.uri[0] != '/' {
		return headOther
	}
	for _, c := range h.uri {
		if c <= 0x20 || c >= 0x7f {
			return headOther
		}
	}
	for {
		hl, next, st := nextHeader(b, off, h.n)
		if st != headOK {
			return st
		}
		off = next
		if hl.name == nil {
			break // the blank line
		}
		known := fw.Lookup(hl.name)
		value := hl.value
		switch known {
		case fw.Unknown:
		case fw.Host:
			if h.host != nil {
				return headOther
			}
			h.host = value
		case fw.Expect, fw.Upgrade, fw.TransferEncoding:
			return headOther // outside the subset
		case fw.Origin:
			h.origin = value
		case fw.Apikey:
			h.apikey = value
		case fw.Connection:
			closeConn, upgrade, other := fw.ConnectionOptions(value)
			if upgrade || other {
				// A header named in Connection must be dropped too, which
				// the full server does.
				return headOther
			}
			h.connClose = h.connClose || closeConn
		case fw.ContentLength:
			cl, ok := parseContentLength(value)
			if !ok || h.contentLength >= 0 {
				return headOther
			}
			h.contentLength = cl
		case fw.ACRequestMethod:
			h.preflight = true
		case fw.XRequestID, fw.XForwardedFor, fw.XForwardedProto, fw.XForwardedHost, fw.Forwarded:
			// The edge rewrites these; which of two copies counts is left
			// to the full server.
			v := h.owned(known)
			if *v != nil {
				return headOther
			}
			*v = value
		}
		if known != fw.Unknown {
			act := known.Request()
			hl.drop = act == fw.Hop || act == fw.Own
		}
		h.lines[h.n] = hl
		h.n++
	}
	if h.host == nil {
		return headOther
	}
	h.size = off
	return headOK
}

// owned is where the request's copy of a header the edge rewrites goes.
func (h *requestHead) owned(k fw.Known) *[]byte {
	switch k {
	case fw.XRequestID:
		return &h.requestID
	case fw.XForwardedFor:
		return &h.forwardedFor
	case fw.XForwardedProto:
		return &h.forwardedProt
	case fw.XForwardedHost:
		return &h.forwardedHost
	}
	return &h.forwarded
}

// responseHead is a parsed response head from a worker.
type responseHead struct {
	responseFields
	// lines[:n] are the head's header lines (cleared as requestHead's).
	lines [maxHeadHeaders]headerLine
}

type responseFields struct {
	status int
	// statusLine is the line without "HTTP/1.x " and CRLF: "200 OK".
	statusLine []byte
	n          int
	// contentLength is -1 without a Content-Length header.
	contentLength int64
	chunked       bool
	connClose     bool
	http10        bool
	size          int
}

// parseResponseHead reads a worker's response head at the start of b. A
// head the edge cannot relay faithfully is headOther: the exchange fails
// with 502.
func parseResponseHead(b []byte, h *responseHead) headStatus {
	h.responseFields = responseFields{contentLength: -1}
	line, n, st := nextLine(b)
	if st != headOK {
		return st
	}
	off := n
	switch {
	case bytes.HasPrefix(line, []byte("HTTP/1.1 ")):
	case bytes.HasPrefix(line, []byte("HTTP/1.0 ")):
		h.http10 = true
	default:
		return headOther
	}
	h.statusLine = line[9:]
	if len(h.statusLine) < 3 || (len(h.statusLine) > 3 && h.statusLine[3] != ' ') {
		return headOther
	}
	for _, c := range h.statusLine[:3] {
		if c < '0' || c > '9' {
			return headOther
		}
		h.status = h.status*10 + int(c-'0')
	}
	if h.status < 100 {
		return headOther
	}
	for _, c := range h.statusLine {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return headOther
		}
	}
	sawTE := false
	for {
		hl, next, st := nextHeader(b, off, h.n)
		if st != headOK {
			return st
		}
		off = next
		if hl.name == nil {
			break // the blank line
		}
		known := fw.Lookup(hl.name)
		value := hl.value
		switch known {
		case fw.Unknown:
		case fw.Connection:
			closeConn, upgrade, other := fw.ConnectionOptions(value)
			if upgrade || other {
				return headOther
			}
			h.connClose = h.connClose || closeConn
		case fw.ContentLength:
			cl, ok := parseContentLength(value)
			if !ok || (h.contentLength >= 0 && cl != h.contentLength) {
				return headOther
			}
			h.contentLength = cl
		case fw.TransferEncoding:
			if sawTE || !fw.Is(value, "chunked") {
				return headOther
			}
			sawTE, h.chunked = true, true
		}
		if known != fw.Unknown {
			act := known.Response()
			hl.drop = act == fw.Hop || act == fw.Own
			hl.cors = act == fw.CORSHeader
		}
		h.lines[h.n] = hl
		h.n++
	}
	if h.chunked && h.contentLength >= 0 {
		// RFC 9112 6.3: chunked wins; the length must not be passed on.
		for i := 0; i < h.n; i++ {
			if fw.Lookup(h.lines[i].name) == fw.ContentLength {
				h.lines[i].drop = true
			}
		}
		h.contentLength = -1
	}
	if h.http10 {
		if h.chunked {
			// RFC 9112 6.1: framing an HTTP/1.0 message with
			// Transfer-Encoding is faulty; readers disagree on where it ends.
			return headOther
		}
		h.connClose = true
	}
	h.size = off
	return headOK
}

// bodiless reports whether a response to method with this status has no
// body whatever its headers say.
func bodiless(status int, head bool) bool {
	return head || status == 204 || status == 304 || (status >= 100 && status < 200)
}

// chunkedScanner follows a chunked body to find where it ends; the bytes
// themselves are relayed unchanged.
type chunkedScanner struct {
	state   int
	size    uint64
	digits  int
	lineLen int
}

const (
	chSize      = iota // hex digits of a chunk size
	chExt              // after the size: extensions up to CR
	chSizeLF           // LF after the size line
	chData             // size bytes of data
	chDataCR           // CR after the data
	chDataLF           // LF after the data
	chTrailer          // a trailer line (or the final empty line)
	chTrailerLF        // LF ending a trailer line
	chDone
)

// maxChunkLine bounds a chunk-size line with its extensions and a trailer line.
const maxChunkLine = 4096

// scan consumes bytes of the chunked body from p and returns how many
// belong to it; done is set when the body's last byte was among them.
func (s *chunkedScanner) scan(p []byte) (n int, done bool, ok bool) {
	for n < len(p) {
		c := p[n]
		switch s.state {
		case chSize:
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			case (c == ';' || c == '\r' || c == ' ' || c == '\t') && s.digits > 0:
				s.state, s.lineLen = chExt, 0
				continue
			default:
				return n, false, false
			}
			if s.digits == 15 {
				return n, false, false
			}
			s.size = s.size<<4 | uint64(d)
			s.digits++
			n++
		case chExt:
			if c == '\r' {
				s.state = chSizeLF
			} else if c == '\n' || s.lineLen >= maxChunkLine {
				return n, false, false
			}
			s.lineLen++
			n++
		case chSizeLF:
			if c != '\n' {
				return n, false, false
			}
			n++
			if s.size == 0 {
				s.state, s.lineLen = chTrailer, 0
			} else {
				s.state = chData
			}
		case chData:
			k := uint64(len(p) - n)
			if k > s.size {
				k = s.size
			}
			n += int(k)
			s.size -= k
			if s.size == 0 {
				s.state = chDataCR
			}
		case chDataCR:
			if c != '\r' {
				return n, false, false
			}
			s.state = chDataLF
			n++
		case chDataLF:
			if c != '\n' {
				return n, false, false
			}
			s.state, s.digits = chSize, 0
			n++
		case chTrailer:
			if c == '\r' {
				s.state = chTrailerLF
			} else if c == '\n' || s.lineLen >= maxChunkLine {
				return n, false, false
			} else {
				s.lineLen++
			}
			n++
		case chTrailerLF:
			if c != '\n' {
				return n, false, false
			}
			n++
			if s.lineLen == 0 {
				s.state = chDone
				return n, true, true
			}
			s.state, s.lineLen = chTrailer, 0
		default:
			return n, true, true
		}
	}
	return n, s.state == chDone, true
}
