package forwarding

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHostRef(t *testing.T) {
	for _, c := range []struct {
		host, ref string
		ok        bool
	}{
		{"alpha.supa.test", "alpha", true},
		{"ALPHA.Supa.Test", "alpha", true},
		{"alpha.supa.test:8000", "alpha", true},
		{"alpha.supa.test.", "alpha", true},
		{"alpha.supa.test, other.example", "alpha", true},
		{" alpha.supa.test ", "alpha", true},
		{"supa.test", "", false},
		{".supa.test", "", false},
		{"x.alpha.supa.test", "", false},
		{"alphasupa.test", "", false},
		{"alpha.supa.test.evil", "", false},
		{"[::1]:8000", "", false},
		{"", "", false},
		{strings.Repeat("a", 41) + ".supa.test", "", false},
		{strings.Repeat("a", 40) + ".supa.test", strings.Repeat("a", 40), true},
	} {
		var buf [maxRef]byte
		ref, ok := hostRef([]byte(c.host), domainSuffix("Supa.Test."), buf[:0])
		assert.Equal(t, c.ok, ok, c.host)
		assert.Equal(t, c.ref, string(ref), c.host)
	}
}

func jwtWithRef(ref string) []byte {
	enc := base64.RawURLEncoding.EncodeToString
	return []byte(enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(`{"ref":"`+ref+`"}`)) + ".sig")
}

func TestCORSFor(t *testing.T) {
	p := NewPolicy(false, []string{"https://env.example"}, "supa.test")
	def := &p.CORS
	assert.Same(t, def, p.CORSFor([]byte("alpha.supa.test"), jwtWithRef("alpha")), "no project yet")

	p.SetProjectOrigins(map[string][]string{"alpha": {"https://a.example"}, "star": {"*"}})
	alpha := p.CORSFor([]byte("alpha.supa.test"), nil)
	assert.True(t, alpha.Allowed([]byte("https://A.example")))
	assert.False(t, alpha.Allowed([]byte("https://env.example")))
	assert.Same(t, alpha, p.CORSFor(nil, jwtWithRef("alpha")), "the key's ref names the project")
	assert.Same(t, def, p.CORSFor([]byte("beta.supa.test"), jwtWithRef("alpha")), "the Host's project wins")
	assert.Same(t, def, p.CORSFor([]byte("127.0.0.1:8000"), jwtWithRef("beta")))
	assert.Same(t, def, p.CORSFor([]byte("127.0.0.1:8000"), []byte("sb_publishable_x")))
	assert.Same(t, def, p.CORSFor([]byte("127.0.0.1:8000"), []byte("not a jwt")))
	assert.True(t, p.CORSFor([]byte("star.supa.test"), nil).Any)

	p.SetProjectOrigins(nil)
	assert.Same(t, def, p.CORSFor([]byte("alpha.supa.test"), jwtWithRef("alpha")), "projects removed")

	noDomain := NewPolicy(false, []string{"https://env.example"}, "")
	noDomain.SetProjectOrigins(map[string][]string{"alpha": {"https://a.example"}})
	assert.Same(t, &noDomain.CORS, noDomain.CORSFor([]byte("alpha.supa.test"), nil), "without PROJECT_DOMAIN the Host names no project")
	assert.NotSame(t, &noDomain.CORS, noDomain.CORSFor(nil, jwtWithRef("alpha")))
}

// The loops ask for every request with an Origin: with no project of its
// own origins, and for a project's Host, that allocates nothing.
func TestCORSForAllocatesNothing(t *testing.T) {
	p := NewPolicy(false, []string{"https://env.example"}, "supa.test")
	host, origin := []byte("Alpha.supa.test:443"), []byte("https://Env.example")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = p.CORSFor(host, nil).Allowed(origin) }))
	p.SetProjectOrigins(map[string][]string{"alpha": {"https://a.example"}})
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = p.CORSFor(host, nil).Allowed(origin) }))
}
