package storage

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		h               string
		size            int64
		start, end      int64
		ok, satisfiable bool
	}{
		{"bytes=0-9", 100, 0, 9, true, true},
		{"bytes=90-", 100, 90, 99, true, true},
		{"bytes=90-1000", 100, 90, 99, true, true},
		{"bytes=-10", 100, 90, 99, true, true},
		{"bytes=-1000", 100, 0, 99, true, true},
		{"bytes=100-", 100, 0, 0, false, false},
		{"bytes=-0", 100, 0, 0, false, false},
		{"bytes=0-0", 0, 0, 0, false, false},
		{"bytes=5-2", 100, 0, 0, false, true},
		{"bytes=0-1,5-6", 100, 0, 0, false, true},
		{"items=0-1", 100, 0, 0, false, true},
		{"bytes=a-b", 100, 0, 0, false, true},
		{"bytes=-", 100, 0, 0, false, true},
	} {
		s, e, ok, sat := parseRange(tc.h, tc.size)
		assert.Equal(t, tc.ok, ok, tc.h)
		assert.Equal(t, tc.satisfiable, sat, tc.h)
		if ok {
			assert.Equal(t, tc.start, s, tc.h)
			assert.Equal(t, tc.end, e, tc.h)
		}
	}
}
