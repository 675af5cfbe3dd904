package connlimit

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPerAddr(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	l := New(2)
	assert.True(t, l.Acquire(a))
	assert.True(t, l.Acquire(a))
	assert.False(t, l.Acquire(a), "the third from one address")
	assert.True(t, l.Acquire(b), "another address has its own count")
	l.Release(a)
	assert.True(t, l.Acquire(a), "a released connection makes room")
	l.Release(a)
	l.Release(a)
	l.Release(b)
	assert.Empty(t, l.open, "nothing is kept for addresses without connections")

	var off *PerAddr = New(0)
	assert.Nil(t, off)
	for range 3 {
		assert.True(t, off.Acquire(a))
	}
	off.Release(a)
}
