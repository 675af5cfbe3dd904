package auth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// errShownColumn is decodeShownUser's error: the statement and this code
// disagree about a column, or a timestamp is infinite (which pgx refuses as
// a time.Time too).
var errShownColumn = errors.New("auth: unexpected column in the user statement")

// recordOID is the type of an anonymous row (row(...)), the element of
// shownUserBatched's arrays.
const recordOID = 2249

// shownColumns is how many columns shownUserBatched has.
const shownColumns = 26

// shownRow is what decodeShownUser allocates for one row, in one piece: the
// user, its times (which the user points into) and the texts and JSON it
// copies out of the connection's buffer.
type shownRow struct {
	u     user
	times [13]time.Time
	d     shownDecoder
}

// decodeShownUser decodes shownUserBatched's row, in binary, into the user
// shownUserWithSession reads (the same defaults and order) and whether the
// session exists.
func decodeShownUser(fields []pgconn.FieldDescription, values [][]byte) (*user, bool, error) {
	row, exists, err := decodeShownRow(fields, values)
	if err != nil {
		return nil, false, err
	}
	return &row.u, exists, nil
}

// decodeShownRow is decodeShownUser's work; the row also says whether the
// user was stamped with the time of the read (shownDecoder.stamped).
func decodeShownRow(fields []pgconn.FieldDescription, values [][]byte) (*shownRow, bool, error) {
	if len(fields) != shownColumns || len(values) != shownColumns {
		return nil, false, fmt.Errorf("%w: %d columns", errShownColumn, len(values))
	}
	row := new(shownRow)
	u, d, times := &row.u, &row.d, &row.times
	// Texts and JSON are cut from one string and one slice; the arrays'
	// rows hold both (their length is an upper bound).
	var textBytes, jsonBytes int
	for i := range values {
		switch fields[i].DataTypeOID {
		case pgtype.TextOID, pgtype.VarcharOID:
			textBytes += len(values[i])
		case pgtype.JSONOID, pgtype.JSONBOID:
			jsonBytes += len(values[i])
		case pgtype.RecordArrayOID:
			textBytes += len(values[i])
			jsonBytes += len(values[i])
		}
	}
	d.texts.Grow(textBytes)
	d.json = make([]byte, 0, jsonBytes)
	col := func(i int) (uint32, []byte, int) { return fields[i].DataTypeOID, values[i], i }
	u.ID = d.uuid(col(0))
	u.Aud, u.Role, u.Email, u.Phone = d.text(col(1)), d.text(col(2)), d.text(col(3)), d.text(col(4))
	for k, t := range [...]**time.Time{&u.EmailConfirmedAt, &u.PhoneConfirmedAt, &u.InvitedAt,
		&u.ConfirmationSentAt, &u.RecoverySentAt, &u.EmailChangeSentAt, &u.PhoneChangeSentAt,
		&u.ReauthenticationSentAt, &u.LastSignInAt, &u.BannedUntil, &u.DeletedAt} {
		oid, b, i := col(5 + k)
		*t = d.time(oid, b, i, &times[k])
	}
	u.EmailChange, u.PhoneChange = d.text(col(16)), d.text(col(17))
	u.appMetaRaw, u.userMetaRaw = d.jsonText(col(18)), d.jsonText(col(19))
	u.IsAnonymous = d.bool(col(20))
	now := time.Now().Truncate(time.Microsecond) // now() in the statement's precision
	u.CreatedAt, u.UpdatedAt = now, now
	if oid, b, i := col(21); d.time(oid, b, i, &times[11]) != nil {
		u.CreatedAt = times[11]
	} else {
		d.stamped = true
	}
	if oid, b, i := col(22); d.time(oid, b, i, &times[12]) != nil {
		u.UpdatedAt = times[12]
	} else {
		d.stamped = true
	}
	if u.appMetaRaw == nil {
		u.appMetaRaw = []byte("{}")
	}
	if u.userMetaRaw == nil {
		u.userMetaRaw = []byte("{}")
	}
	oid, b, i := col(23)
	u.Identities = d.identities(u.ID, now, oid, b, i)
	exists := d.bool(col(24))
	u.Factors = d.factors(col(25))
	if d.err != nil {
		return nil, false, d.err
	}
	return row, exists, nil
}

// identities reads the user's identities, an array of rows, in userColumns'
// order: by created_at, NULLs last (then stamped now), then by id.
func (d *shownDecoder) identities(userID uuid.UUID, now time.Time, oid uint32, b []byte, at int) []identity {
	a := d.rows(oid, b, at)
	if d.err != nil {
		return nil
	}
	ids := make([]identity, a.n)
	var unstamped []bool // whether ids[k] had no created_at; only for several
	if a.n > 1 {
		unstamped = make([]bool, a.n)
	}
	var last, t time.Time
	for k := range ids {
		r := a.next(d, 8)
		id := &ids[k]
		id.IdentityID, id.ID, id.UserID = d.uuid(r.next(d)), d.text(r.next(d)), userID
		id.IdentityData, id.Provider = d.jsonText(r.next(d)), d.text(r.next(d))
		if oid, b, at := r.next(d); d.time(oid, b, at, &last) != nil {
			id.LastSignInAt = new(time.Time)
			*id.LastSignInAt = last
		}
		id.CreatedAt, id.UpdatedAt = now, now
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			id.CreatedAt = t
		} else {
			d.stamped = true
			if unstamped != nil {
				unstamped[k] = true
			}
		}
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			id.UpdatedAt = t
		} else {
			d.stamped = true
		}
		id.Email = d.text(r.next(d))
		r.end(d)
		if d.err != nil {
			return nil
		}
	}
	a.end(d)
	if unstamped == nil {
		return ids
	}
	order := make([]int, len(ids))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case unstamped[a] && !unstamped[b]:
			return 1
		case !unstamped[a] && unstamped[b]:
			return -1
		case !unstamped[a]:
			if c := ids[a].CreatedAt.Compare(ids[b].CreatedAt); c != 0 {
				return c
			}
		}
		return bytes.Compare(ids[a].IdentityID[:], ids[b].IdentityID[:])
	})
	sorted := make([]identity, len(ids))
	for k, o := range order {
		sorted[k] = ids[o]
	}
	return sorted
}

// factors reads the user's MFA factors, an array of rows, in factorsColumn's
// order (by created_at, then id); nil when none.
func (d *shownDecoder) factors(oid uint32, b []byte, at int) []factorJSON {
	a := d.rows(oid, b, at)
	if d.err != nil || a.n == 0 {
		return nil
	}
	fs := make([]factorJSON, a.n)
	var t time.Time
	for k := range fs {
		r := a.next(d, 8)
		f := &fs[k]
		f.ID, f.FriendlyName, f.FactorType = d.uuid(r.next(d)), d.text(r.next(d)), d.text(r.next(d))
		f.Status, f.Phone = d.text(r.next(d)), d.text(r.next(d))
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			f.CreatedAt = t
		}
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			f.UpdatedAt = t
		}
		if oid, b, at := r.next(d); d.time(oid, b, at, &t) != nil {
			f.LastChallengedAt = new(time.Time)
			*f.LastChallengedAt = t
		}
		r.end(d)
		if d.err != nil {
			return nil
		}
	}
	a.end(d)
	slices.SortFunc(fs, func(a, b factorJSON) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return fs
}

// shownDecoder reads values in PostgreSQL's binary format, for the few types
// shownUserBatched returns, checking each one's type. A value of another
// type, or malformed, sets err (the first such); NULL reads as the zero value
// (nil for a time or JSON). Texts and JSON are copied out of the
// connection's buffer into texts and json (sized beforehand, so that one
// allocation holds each). at is where a value comes from, for errors: its
// column.
type shownDecoder struct {
	err     error
	stamped bool // a time came from the clock, not the row
	texts   strings.Builder
	json    []byte
}

func (d *shownDecoder) fail(at int, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: column %d: %s", errShownColumn, at, fmt.Sprintf(format, args...))
	}
}

// is reports whether a value has type want (or one of also), else fails.
func (d *shownDecoder) is(oid uint32, at int, want uint32, also ...uint32) bool {
	if oid == want || slices.Contains(also, oid) {
		return true
	}
	d.fail(at, "type %d, not %d", oid, want)
	return false
}

func (d *shownDecoder) uuid(oid uint32, b []byte, at int) uuid.UUID {
	if !d.is(oid, at, pgtype.UUIDOID) || b == nil {
		return uuid.Nil
	}
	if len(b) != 16 {
		d.fail(at, "a uuid of %d bytes", len(b))
		return uuid.Nil
	}
	return uuid.UUID(b)
}

// text reads text or varchar, whose binary form is the text; "" for NULL.
func (d *shownDecoder) text(oid uint32, b []byte, at int) string {
	if !d.is(oid, at, pgtype.TextOID, pgtype.VarcharOID) || len(b) == 0 {
		return ""
	}
	start := d.texts.Len()
	d.texts.Write(b)
	return d.texts.String()[start:]
}

func (d *shownDecoder) bool(oid uint32, b []byte, at int) bool {
	if !d.is(oid, at, pgtype.BoolOID) {
		return false
	}
	if b != nil && len(b) != 1 {
		d.fail(at, "a bool of %d bytes", len(b))
	}
	return len(b) == 1 && b[0] == 1
}

// jsonText returns a copy of a json or jsonb value's text (jsonb's binary
// form is a version byte, 1, then the text); nil for NULL.
func (d *shownDecoder) jsonText(oid uint32, b []byte, at int) []byte {
	if !d.is(oid, at, pgtype.JSONBOID, pgtype.JSONOID) || b == nil {
		return nil
	}
	if oid == pgtype.JSONBOID {
		if len(b) == 0 || b[0] != 1 {
			d.fail(at, "unknown jsonb version")
			return nil
		}
		b = b[1:]
	}
	start := len(d.json)
	d.json = append(d.json, b...)
	return d.json[start:len(d.json):len(d.json)]
}

// postgresEpoch is 2000-01-01 UTC, which binary timestamps count from, in
// microseconds after the Unix epoch.
const postgresEpoch = 946684800 * 1_000_000

// time reads a timestamptz (microseconds since 2000-01-01 UTC) into *t, in
// UTC as the user object writes it, and returns t; nil for NULL.
func (d *shownDecoder) time(oid uint32, b []byte, at int, t *time.Time) *time.Time {
	if !d.is(oid, at, pgtype.TimestamptzOID) || b == nil {
		return nil
	}
	if len(b) != 8 {
		d.fail(at, "a timestamp of %d bytes", len(b))
		return nil
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us == math.MaxInt64 || us == math.MinInt64 {
		d.fail(at, "an infinite timestamp")
		return nil
	}
	*t = time.UnixMicro(us + postgresEpoch).UTC()
	return t
}

// rowArray reads a one-dimensional array of rows (or an empty one): n rows,
// each read with next.
type rowArray struct {
	p  binReader
	n  int
	at int
}

// rows starts reading an array of rows; n is 0 when it is malformed (err
// set).
func (d *shownDecoder) rows(oid uint32, b []byte, at int) rowArray {
	if !d.is(oid, at, pgtype.RecordArrayOID) {
		return rowArray{}
	}
	if b == nil {
		d.fail(at, "a NULL array")
		return rowArray{}
	}
	a := rowArray{p: binReader{b: b}, at: at}
	ndim, _, elem := a.p.int32(), a.p.int32(), uint32(a.p.int32())
	switch {
	case a.p.bad:
		d.fail(at, "a short array")
		return rowArray{}
	case ndim == 0:
		return a
	case ndim != 1 || elem != recordOID:
		d.fail(at, "an array of %d dimensions of type %d", ndim, elem)
		return rowArray{}
	}
	n := a.p.int32()
	a.p.int32() // the lower bound
	// Each row takes at least 8 bytes (its length and field count).
	if a.p.bad || n < 0 || int(n) > len(a.p.b)/8 {
		d.fail(at, "a malformed array")
		return rowArray{}
	}
	a.n = int(n)
	return a
}

// next starts reading the array's next row, which must have fields fields.
func (a *rowArray) next(d *shownDecoder, fields int) rowFields {
	rec, ok := a.p.value()
	if !ok || rec == nil {
		d.fail(a.at, "a malformed or NULL row")
		return rowFields{at: a.at}
	}
	r := rowFields{p: binReader{b: rec}, at: a.at}
	if n := r.p.int32(); r.p.bad || int(n) != fields {
		d.fail(a.at, "a row of %d fields, not %d", n, fields)
		r.p.bad = true
	}
	return r
}

// end checks that the array had nothing after its rows.
func (a *rowArray) end(d *shownDecoder) {
	if len(a.p.b) != 0 {
		d.fail(a.at, "a malformed array")
	}
}

// rowFields reads the fields of a row (a record in binary: the field count,
// then each field's type, length and bytes).
type rowFields struct {
	p  binReader
	at int
}

// next returns the row's next field: its type, its bytes (nil for NULL) and
// where it comes from.
func (r *rowFields) next(d *shownDecoder) (uint32, []byte, int) {
	if r.p.bad {
		return 0, nil, r.at
	}
	oid := uint32(r.p.int32())
	b, ok := r.p.value()
	if !ok {
		d.fail(r.at, "a malformed row")
		return 0, nil, r.at
	}
	return oid, b, r.at
}

// end checks that the row had no more fields.
func (r *rowFields) end(d *shownDecoder) {
	if !r.p.bad && len(r.p.b) != 0 {
		d.fail(r.at, "a row of more fields")
	}
}

// binReader reads the big-endian integers and length-prefixed values of
// PostgreSQL's binary array and row formats; bad is set when b runs short.
type binReader struct {
	b   []byte
	bad bool
}

func (p *binReader) int32() int32 {
	if len(p.b) < 4 {
		p.bad, p.b = true, nil
		return 0
	}
	v := int32(binary.BigEndian.Uint32(p.b))
	p.b = p.b[4:]
	return v
}

// value reads a length-prefixed value: nil for NULL (length -1).
func (p *binReader) value() ([]byte, bool) {
	n := p.int32()
	switch {
	case p.bad:
		return nil, false
	case n == -1:
		return nil, true
	case n < 0 || int(n) > len(p.b):
		p.bad, p.b = true, nil
		return nil, false
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v, true
}
