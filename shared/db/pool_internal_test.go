package db

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHasParam(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		conn string
		want bool
	}{
		{"postgres://h/db?pool_max_conns=5", true},
		{"postgres://h/db?sslmode=disable&pool_max_conns=5", true},
		{"host=h pool_max_conns=5", true},
		{"host=h pool_max_conns = 5", true},
		{"postgres://h/db?xpool_max_conns=5", false},
		{"postgres://h/db?pool_max_conns_other=5", false},
		{"postgres://pool_max_conns@h/db", false},
		{"postgres://h/db", false},
	} {
		assert.Equal(t, tc.want, hasParam(tc.conn, "pool_max_conns"), tc.conn)
	}
}
