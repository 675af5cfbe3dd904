package forwarding

import (
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/madbase/madbase/shared/metrics"
	"github.com/stretchr/testify/assert"
)

// pathTests also seed FuzzCheckPath.
var pathTests = []struct {
	path  string
	group string
	ok    bool
}{
	{"/rest/v1/items", metrics.GroupRest, true},
	{"/storage/v1/object/b1/a%20b.txt", metrics.GroupStorage, true},
	{"/storage/v1/object/b1/caf%C3%A9.png", metrics.GroupStorage, true},
	{"/storage/v1/object/b1/a..b/.hidden/x.", metrics.GroupStorage, true},
	{"/storage/v1/object/b1/%252e%252e%252fb2", metrics.GroupStorage, true},
	{"/rest/v1//items", metrics.GroupRest, true},
	{"/rest/v1/", metrics.GroupRest, true},
	{"/admin/v1/workers", metrics.GroupAdmin, true},
	{"/dashboard/", metrics.GroupAdmin, true},
	{"/dashboard", metrics.GroupAdmin, true},
	{"/dashboard/assets/app.js", metrics.GroupAdmin, true},
	{"/dashboards", metrics.GroupOther, true},
	{"/dashboard/../rest/v1/items", metrics.GroupAdmin, false},

	{"/rest/v1/..%2f..%2fadmin/v1/workers", metrics.GroupRest, false},
	{"/rest/v1/..%2F..%2Fadmin/v1/workers", metrics.GroupRest, false},
	{"/rest/v1/%2e%2e/%2e%2e/admin/v1/workers", metrics.GroupRest, false},
	{"/rest/v1/%2E%2E/%2E%2E/admin/v1/workers", metrics.GroupRest, false},
	{"/rest/v1/.%2e/x", metrics.GroupRest, false},
	{"/rest/v1/../../admin/v1/workers", metrics.GroupRest, false},
	{"/rest/v1/./items", metrics.GroupRest, false},
	{"/rest/v1/items/.", metrics.GroupRest, false},
	{"/rest/v1/items/..", metrics.GroupRest, false},
	{"/storage/v1/object/b1/%2e%2e%2fb2%2fsecret.txt", metrics.GroupStorage, false},
	{"/storage/v1/object/b1/..%5Cb2%5Csecret.txt", metrics.GroupStorage, false},
	{"/storage/v1/object/b1\\..\\b2\\secret.txt", metrics.GroupStorage, false},
	{"//admin/v1/workers", metrics.GroupOther, false},
	{"/rest//v1/items", metrics.GroupOther, false},
	{"/%72est/v1/items", metrics.GroupOther, false},
	{"/rest/v1/items%zz", metrics.GroupRest, false},
	{"/rest/v1/items%2", metrics.GroupRest, false},
	{"./rest/v1/items", metrics.GroupOther, false},
	{"*", metrics.GroupOther, false},
}

func TestCheckPath(t *testing.T) {
	for _, tt := range pathTests {
		group, ok := CheckPath([]byte(tt.path))
		assert.Equal(t, tt.group, group, tt.path)
		assert.Equal(t, tt.ok, ok, tt.path)
	}
}

// FuzzCheckPath checks that CheckPath does not panic and that every path it
// accepts names, read the way a router reads it (decoded, empty segments
// merged), a resource of the group the edge routed it to.
func FuzzCheckPath(f *testing.F) {
	for _, tt := range pathTests {
		f.Add(tt.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		group, ok := CheckPath([]byte(p))
		if group != Route([]byte(p)) {
			t.Fatalf("%q: group %s, Route says %s", p, group, Route([]byte(p)))
		}
		if !ok {
			return
		}
		lower := strings.ToLower(p)
		if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
			t.Fatalf("%q: an encoded slash accepted", p)
		}
		decoded, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("%q: accepted, but it does not decode: %v", p, err)
		}
		if strings.Contains(decoded, "\\") {
			t.Fatalf("%q: a backslash accepted", p)
		}
		for _, s := range strings.Split(decoded, "/") {
			if s == "." || s == ".." {
				t.Fatalf("%q: a dot segment accepted", p)
			}
		}
		if !strings.HasPrefix(decoded, "/") {
			return // not a path a router reads as one
		}
		read := path.Clean(decoded)
		if strings.HasSuffix(decoded, "/") && read != "/" {
			read += "/"
		}
		if g := Route([]byte(read)); g != group {
			t.Fatalf("%q: routed to %s, read by a router as %q in %s", p, group, read, g)
		}
	})
}
