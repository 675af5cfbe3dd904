package forwarding

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLookupFindsEveryNameInAnyCase(t *testing.T) {
	for k := Known(1); k < numKnown; k++ {
		name := k.Name()
		assert.Equal(t, name, strings.ToLower(name), "table names are lower case")
		for _, spelling := range []string{name, strings.ToUpper(name), canonical(name)} {
			assert.Equal(t, k, Lookup([]byte(spelling)), spelling)
		}
	}
	for _, other := range []string{"", "t", "tf", "Te-X", "Origin-X", "Trailers", "Keep-Alivx", "X-Forwarded-Fox",
		"Proxy-Authorizatio", "content-type", "apikeys", "authorization", strings.Repeat("x", 100), "connectio\xc3"} {
		assert.Equal(t, Unknown, Lookup([]byte(other)), other)
	}
}

func canonical(name string) string {
	parts := strings.Split(name, "-")
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, "-")
}

// TestHopByHopIsRFC9110s: the headers no engine forwards in either
// direction are RFC 9110's hop-by-hop fields, as httputil.ReverseProxy
// lists them, and Expect (the edge answers 100-continue itself).
func TestHopByHopIsRFC9110s(t *testing.T) {
	var hop []string
	for k := Known(1); k < numKnown; k++ {
		if k.Request() == Hop {
			hop = append(hop, k.Name())
		}
	}
	assert.ElementsMatch(t, []string{"connection", "proxy-connection", "keep-alive", "proxy-authenticate",
		"proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect"}, hop)
	assert.Equal(t, Framing, TransferEncoding.Response(), "a response's Transfer-Encoding frames its body")
	for _, k := range []Known{XRequestID, XForwardedFor, XForwardedProto, XForwardedHost, Forwarded} {
		assert.Equal(t, Own, k.Request(), k.Name())
	}
	for _, k := range []Known{XRequestID, XMadbaseWorker} {
		assert.Equal(t, Own, k.Response(), k.Name())
	}
}

func TestConnectionOptions(t *testing.T) {
	for _, tt := range []struct {
		in                    string
		close, upgrade, other bool
	}{
		{"close", true, false, false},
		{"Keep-Alive", false, false, false},
		{"keep-alive, Upgrade", false, true, false},
		{" , close ,, X-Secret", true, false, true},
		{"", false, false, false},
		{"closed", false, false, true},
	} {
		c, u, o := ConnectionOptions([]byte(tt.in))
		assert.Equal(t, [3]bool{tt.close, tt.upgrade, tt.other}, [3]bool{c, u, o}, "%q", tt.in)
	}
	assert.True(t, Named([]byte("keep-alive, X-Secret"), []byte("x-secret")))
	assert.False(t, Named([]byte("keep-alive, X-Secret"), []byte("x-secre")))
}

func TestForwardedValues(t *testing.T) {
	for _, trust := range []bool{false, true} {
		p := NewPolicy(trust, nil, "")
		assert.Equal(t, "6.6.6.6, 10.0.0.1", string(AppendForwardedFor(nil, []byte("6.6.6.6"), []byte("10.0.0.1"))))
		assert.Equal(t, "10.0.0.1", string(AppendForwardedFor(nil, nil, []byte("10.0.0.1"))))
		assert.Equal(t, "http", string(p.ForwardedProto(nil, false)))
		assert.Equal(t, "https", string(p.ForwardedProto(nil, true)))
		assert.Equal(t, "api.test", string(p.ForwardedHost(nil, []byte("api.test"))))
		if trust {
			assert.Equal(t, "https", string(p.ForwardedProto([]byte("https"), false)))
			assert.Equal(t, "evil.test", string(p.ForwardedHost([]byte("evil.test"), []byte("api.test"))))
			assert.Equal(t, "for=1.2.3.4", string(p.Forwarded([]byte("for=1.2.3.4"))))
		} else {
			assert.Equal(t, "http", string(p.ForwardedProto([]byte("https"), false)))
			assert.Equal(t, "api.test", string(p.ForwardedHost([]byte("evil.test"), []byte("api.test"))))
			assert.Nil(t, p.Forwarded([]byte("for=1.2.3.4")))
		}
	}
}

func TestRequestIDs(t *testing.T) {
	p := NewPolicy(false, nil, "")
	a, b := string(p.IDs.Append(nil)), string(p.IDs.Append(nil))
	assert.NotEqual(t, a, b)
	assert.True(t, ValidRequestID([]byte(a)))
	assert.False(t, ValidRequestID([]byte("has space")))
	assert.False(t, ValidRequestID([]byte(strings.Repeat("a", 201))))
	assert.False(t, ValidRequestID(nil))

	// Ids from local generators differ from each other's and from the
	// shared counter's; enough are drawn that the counters' digits overlap.
	seen := map[string]bool{}
	l1, l2 := p.IDs.Local(), p.IDs.Local()
	for range 2000 {
		for _, id := range [][]byte{p.IDs.Append(nil), l1.Append(nil), l2.Append(nil)} {
			require.True(t, ValidRequestID(id), string(id))
			require.False(t, seen[string(id)], "%s made twice", id)
			seen[string(id)] = true
		}
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	name := []byte("X-Forwarded-Proto")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Lookup(name) }))
}
