package auth

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// shownCacheBytes bounds what a shownCache holds (its keys and answers,
// roughly); shownEntryBytes bounds one entry, so that one user with large
// metadata cannot push out the others.
const (
	shownCacheBytes = 8 << 20
	shownEntryBytes = 64 << 10
)

// sessionColumn is shownUserBatched's session_exists, the one column that
// is not part of the user and stays out of a shownCache's key.
const sessionColumn = 24

// shownCache remembers GET /user's answers by the row they were made from.
// Apps ask for the same user again and again (supabase-js's getUser on
// every page or server request), and the row, read afresh every time
// (with the session's check), is mostly what it was: decoding it and
// writing its JSON were a sixth of the worker's CPU per request. A row
// whose bytes (and column types) equal a remembered one gets the same
// user, already written, since both are made from those bytes alone; a
// user stamped with the time of the read (a NULL created_at or
// updated_at) is not remembered. The user it hands out is shared: read
// only. The cache belongs to one batcher, so to one project's service.
type shownCache struct {
	seed maphash.Seed

	mu      sync.Mutex
	entries map[uint64]*shownEntry
	size    int
}

// shownEntry is one remembered row: its key (the column types, then each
// column's length and bytes), the key's hash, and the user it decodes to,
// with its JSON.
type shownEntry struct {
	h   uint64
	key []byte
	u   *user
}

func newShownCache() *shownCache {
	return &shownCache{seed: maphash.MakeSeed(), entries: map[uint64]*shownEntry{}}
}

// decode is decodeShownUser with the cache in front. key is a buffer it
// may reuse for the row's key (returned, grown). A row it does not hold
// yet, and may, comes with an entry for remember, which the reader calls
// once the batch is done: writing the answer then costs the reader's
// goroutine, not the batch's, which holds a connection meanwhile.
func (c *shownCache) decode(fields []pgconn.FieldDescription, values [][]byte, key []byte) (*user, bool, []byte, *shownEntry, error) {
	if len(fields) != shownColumns || len(values) != shownColumns {
		u, ok, err := decodeShownUser(fields, values)
		return u, ok, key, nil, err
	}
	key = shownKey(key[:0], fields, values)
	h := maphash.Bytes(c.seed, key)
	c.mu.Lock()
	e := c.entries[h]
	c.mu.Unlock()
	if e != nil && bytes.Equal(e.key, key) {
		if exists, ok := shownSession(fields, values); ok {
			return e.u, exists, key, nil, nil
		}
	}
	row, exists, err := decodeShownRow(fields, values)
	if err != nil {
		return nil, false, key, nil, err
	}
	if row.d.stamped {
		return &row.u, exists, key, nil, nil
	}
	return &row.u, exists, key, &shownEntry{h: h, key: bytes.Clone(key), u: &row.u}, nil
}

// remember writes e's answer and keeps it. e's user must not be shared
// yet: once kept, it is read only.
func (c *shownCache) remember(e *shownEntry) {
	shown, err := e.u.wire().appendJSON(nil)
	if err != nil {
		return // sendUser reports it
	}
	e.u.shown = shown
	c.add(e)
}

// add keeps e, dropping arbitrary entries (Go's map order) while the
// cache would hold more than shownCacheBytes.
func (c *shownCache) add(e *shownEntry) {
	n := e.bytes()
	if n > shownEntryBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[e.h]; old != nil {
		c.size -= old.bytes()
		delete(c.entries, e.h)
	}
	for k, old := range c.entries {
		if c.size+n <= shownCacheBytes {
			break
		}
		c.size -= old.bytes()
		delete(c.entries, k)
	}
	c.entries[e.h] = e
	c.size += n
}

// clear forgets every entry (the statement's columns may have changed).
func (c *shownCache) clear() {
	c.mu.Lock()
	clear(c.entries)
	c.size = 0
	c.mu.Unlock()
}

// bytes is about what e holds: its key, the row's texts and JSON the user
// copied (no more than the key), the JSON answer and the user itself.
func (e *shownEntry) bytes() int { return 2*len(e.key) + len(e.u.shown) + 1024 }

// shownKey appends a row's key to b: every column's type, then every
// column but the session's, its length (-1 for NULL) and its bytes.
func shownKey(b []byte, fields []pgconn.FieldDescription, values [][]byte) []byte {
	for _, f := range fields {
		b = binary.LittleEndian.AppendUint32(b, f.DataTypeOID)
	}
	for i, v := range values {
		if i == sessionColumn {
			continue
		}
		n := uint32(len(v))
		if v == nil {
			n = ^uint32(0)
		}
		b = binary.LittleEndian.AppendUint32(b, n)
		b = append(b, v...)
	}
	return b
}

// shownSession reads session_exists, a binary bool; ok is false when it is
// not one (decodeShownUser then says why).
func shownSession(fields []pgconn.FieldDescription, values [][]byte) (exists, ok bool) {
	v := values[sessionColumn]
	if fields[sessionColumn].DataTypeOID != pgtype.BoolOID || len(v) != 1 || v[0] > 1 {
		return false, false
	}
	return v[0] == 1, true
}
