package logsink

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rec(i int) Record {
	return Record{Raw: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), Tier: fmt.Sprint(i % 2)}
}

func raws(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Raw)
	}
	return out
}

func TestRingBounded(t *testing.T) {
	t.Parallel()
	r := NewRing(3)
	assert.Equal(t, 3, r.Cap())
	assert.Empty(t, r.Last(0, nil))
	for i := 1; i <= 2; i++ {
		assert.False(t, r.Push(rec(i)))
	}
	assert.Equal(t, 2, r.Len())
	assert.Equal(t, []string{`{"n":1}`, `{"n":2}`}, raws(r.Last(0, nil)))
	assert.False(t, r.Push(rec(3)))
	for i := 4; i <= 10; i++ {
		assert.True(t, r.Push(rec(i)), "push %d drops the oldest", i)
		require.Equal(t, 3, r.Len(), "never more than its size")
	}
	assert.Equal(t, []string{`{"n":8}`, `{"n":9}`, `{"n":10}`}, raws(r.Last(0, nil)), "oldest dropped, oldest first")
}

func TestRingLastLimitAndMatch(t *testing.T) {
	t.Parallel()
	r := NewRing(10)
	for i := 1; i <= 15; i++ {
		r.Push(rec(i))
	}
	assert.Equal(t, []string{`{"n":14}`, `{"n":15}`}, raws(r.Last(2, nil)), "newest limit records, oldest first")
	odd := func(x Record) bool { return x.Tier == "1" }
	assert.Equal(t, []string{`{"n":11}`, `{"n":13}`, `{"n":15}`}, raws(r.Last(3, odd)))
	assert.Equal(t, []string{`{"n":7}`, `{"n":9}`, `{"n":11}`, `{"n":13}`, `{"n":15}`}, raws(r.Last(0, odd)))
}

func TestRingSizeOne(t *testing.T) {
	t.Parallel()
	r := NewRing(0)
	assert.Equal(t, 1, r.Cap())
	r.Push(rec(1))
	r.Push(rec(2))
	assert.Equal(t, []string{`{"n":2}`}, raws(r.Last(0, nil)))
}
