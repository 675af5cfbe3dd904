package forwarding

import (
	"bytes"
	"strings"

	"github.com/madbase/madbase/shared/jwtauth"
)

// projectCORS is an immutable view of the created projects' CORS, replaced
// as a whole when a project changes.
type projectCORS struct {
	// byRef holds the projects that set ALLOWED_ORIGINS; a project without
	// the setting takes the edge's.
	byRef map[string]*CORS
}

// maxRef is the longest ref (see docs/projects.md); a longer Host label
// names no project.
const maxRef = 40

// SetProjectOrigins replaces the created projects' CORS: origins maps a
// project's ref to its ALLOWED_ORIGINS setting, split at commas. A project
// absent from it takes the edge's ALLOWED_ORIGINS. Requests that began
// before keep what they chose.
func (p *Policy) SetProjectOrigins(origins map[string][]string) {
	if len(origins) == 0 {
		// No project of its own: one atomic load per request, as before
		// projects.
		p.projects.Store(nil)
		return
	}
	pc := &projectCORS{byRef: make(map[string]*CORS, len(origins))}
	for ref, o := range origins {
		c := NewCORS(o)
		pc.byRef[ref] = &c
	}
	p.projects.Store(pc)
}

// CORSFor is the CORS of a request's project: the project the Host names
// as <ref>.<PROJECT_DOMAIN> (host is the Host, or the X-Forwarded-Host
// the edge passes on), else, when key is not nil, the one the unverified
// ref claim of the request's apikey names; the edge's own for the default
// project and any request that names no project with origins of its own.
// Without such projects it costs one atomic load and allocates nothing.
// A key's claim is not verified here: the worker refuses a key its project
// did not sign, and CORS only tells a browser which answers it may show.
func (p *Policy) CORSFor(host, key []byte) *CORS {
	pc := p.projects.Load()
	if pc == nil {
		return &p.CORS
	}
	if p.domain != "" {
		var buf [maxRef]byte
		if ref, ok := hostRef(host, p.domain, buf[:0]); ok {
			if c := pc.byRef[string(ref)]; c != nil {
				return c
			}
			return &p.CORS // the Host's project wins over the key's
		}
	}
	if len(key) > 0 && !bytes.HasPrefix(key, []byte("sb_")) {
		if c := pc.byRef[jwtauth.UnverifiedRef(string(key))]; c != nil {
			return c
		}
	}
	return &p.CORS
}

// hostRef reads the ref of a Host <ref>.<domain> (domain with its leading
// dot, in lower case) into buf, in lower case; ok is false for any other
// host. Only the first of a list of hosts (X-Forwarded-Host) counts, and a
// port or a trailing dot is ignored, as the worker reads it.
func hostRef(host []byte, domain string, buf []byte) ([]byte, bool) {
	if i := bytes.IndexByte(host, ','); i >= 0 {
		host = host[:i]
	}
	host = TrimSpace(host)
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	host = bytes.TrimSuffix(host, []byte("."))
	if len(host) <= len(domain) || !equalLower(host[len(host)-len(domain):], domain) {
		return nil, false
	}
	label := host[:len(host)-len(domain)]
	if len(label) > cap(buf) || bytes.IndexByte(label, '.') >= 0 {
		return nil, false
	}
	for _, c := range label {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf, true
}

// domainSuffix is "." + PROJECT_DOMAIN in lower case, "" when unset.
func domainSuffix(d string) string {
	d = strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d)), "."), ".")
	if d == "" {
		return ""
	}
	return "." + d
}
