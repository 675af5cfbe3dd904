package logsink

// Ring keeps the most recent records in a fixed amount of memory: once full,
// each Push drops the oldest record. It is not safe for concurrent use; Sink
// guards it.
type Ring struct {
	buf  []Record
	head int // index of the oldest record
	n    int
}

// NewRing makes a ring holding at most size records (at least one).
func NewRing(size int) *Ring {
	if size < 1 {
		size = 1
	}
	return &Ring{buf: make([]Record, size)}
}

// Push appends rec, dropping the oldest record when the ring is full. It
// reports whether a record was dropped.
func (r *Ring) Push(rec Record) (dropped bool) {
	if r.n < len(r.buf) {
		r.buf[(r.head+r.n)%len(r.buf)] = rec
		r.n++
		return false
	}
	r.buf[r.head] = rec
	r.head = (r.head + 1) % len(r.buf)
	return true
}

// Len is how many records the ring holds.
func (r *Ring) Len() int { return r.n }

// Cap is how many records the ring can hold.
func (r *Ring) Cap() int { return len(r.buf) }

// at returns the i-th record, 0 being the oldest.
func (r *Ring) at(i int) Record { return r.buf[(r.head+i)%len(r.buf)] }

// Last returns, oldest first, the newest limit records for which match is
// true (every record when match is nil; all matching ones when limit <= 0).
func (r *Ring) Last(limit int, match func(Record) bool) []Record {
	var out []Record
	for i := r.n - 1; i >= 0; i-- {
		if limit > 0 && len(out) == limit {
			break
		}
		rec := r.at(i)
		if match == nil || match(rec) {
			out = append(out, rec)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
