package auth

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// shownUser is the statement of GET /user, the busiest auth route: what the
// user object shows and nothing more (no tokens, no password hash, metadata
// as stored), one row per identity (a left join, so at least one), and
// whether session $2 of user $1 exists. It costs the database what it must
// and no more: identities come as columns, not as JSON the worker would
// have to decode; columns come bare, NULLs are defaulted and identities
// ordered by the worker (coalesce and ORDER BY cost PostgreSQL a third of
// the statement).
const shownUser = `select u.id, u.aud, u.role, u.email, u.phone,
	u.email_confirmed_at, u.phone_confirmed_at, u.invited_at, u.confirmation_sent_at, u.recovery_sent_at,
	u.email_change_sent_at, u.phone_change_sent_at, u.reauthentication_sent_at, u.last_sign_in_at,
	u.banned_until, u.deleted_at, u.email_change, u.phone_change,
	u.raw_app_meta_data, u.raw_user_meta_data, u.is_anonymous, u.created_at, u.updated_at,
	i.id, i.provider_id, i.user_id, i.identity_data, i.provider, i.last_sign_in_at,
	i.created_at, i.updated_at, i.email,
	exists(select 1 from auth.sessions s where s.id = $2 and s.user_id = u.id)
	from auth.users u left join auth.identities i on i.user_id = u.id
	where u.id = $1`

// shownUserWithSession is userWithSession for a user that is only shown
// (GET /user): the shownUser statement, read with the defaults userColumns
// gives in SQL. Its columns are decoded from their binary form here
// (binaryRow): pgx plans how to scan every column of every query again,
// which cost more than the rest of reading the row.
func shownUserWithSession(ctx context.Context, q querier, id, sessionID uuid.UUID) (*user, bool, error) {
	rows, err := q.Query(ctx, shownUser, pgUUID(id), pgUUID(sessionID))
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	u := &user{}
	var ok bool
	var created, updated *time.Time
	now := time.Now().Truncate(time.Microsecond) // now() in the statement's precision
	orNow := func(t *time.Time) time.Time {
		if t != nil {
			return *t
		}
		return now
	}
	found := false
	var stamped []stampedIdentity
	for rows.Next() {
		var r shownRow
		if binaryRowFits(rows.FieldDescriptions()) {
			r = &binaryRow{fields: rows.FieldDescriptions(), values: rows.RawValues()}
		} else { // a connection in another query mode (say, simple protocol for a pooler)
			sr, err := scanShownRow(rows)
			if err != nil {
				return nil, false, err
			}
			r = sr
		}
		found = true
		u.ID, _ = r.uuid(0)
		u.Aud, u.Role, u.Email, u.Phone = r.text(1), r.text(2), r.text(3), r.text(4)
		u.EmailConfirmedAt, u.PhoneConfirmedAt, u.InvitedAt = r.time(5), r.time(6), r.time(7)
		u.ConfirmationSentAt, u.RecoverySentAt, u.EmailChangeSentAt = r.time(8), r.time(9), r.time(10)
		u.PhoneChangeSentAt, u.ReauthenticationSentAt, u.LastSignInAt = r.time(11), r.time(12), r.time(13)
		u.BannedUntil, u.DeletedAt = r.time(14), r.time(15)
		u.EmailChange, u.PhoneChange = r.text(16), r.text(17)
		u.appMetaRaw, u.userMetaRaw = r.jsonb(18), r.jsonb(19)
		u.IsAnonymous = r.bool(20)
		created, updated = r.time(21), r.time(22)
		if identityID, valid := r.uuid(23); valid {
			idn := identity{IdentityID: identityID, ID: r.text(24), IdentityData: r.jsonb(26), Provider: r.text(27),
				LastSignInAt: r.time(28), Email: r.text(31)}
			idn.UserID, _ = r.uuid(25)
			idCreated := r.time(29)
			idn.CreatedAt, idn.UpdatedAt = orNow(idCreated), orNow(r.time(30))
			stamped = append(stamped, stampedIdentity{idn, idCreated != nil})
		}
		ok = r.bool(32)
		if err := r.error(); err != nil {
			return nil, false, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if !found {
		return nil, false, errNoUser
	}
	u.CreatedAt, u.UpdatedAt = orNow(created), orNow(updated)
	if u.appMetaRaw == nil {
		u.appMetaRaw = []byte("{}")
	}
	if u.userMetaRaw == nil {
		u.userMetaRaw = []byte("{}")
	}
	// userColumns' order: by created_at, NULLs last, then by id.
	slices.SortFunc(stamped, func(a, b stampedIdentity) int {
		switch {
		case a.stamped != b.stamped && a.stamped:
			return -1
		case a.stamped != b.stamped:
			return 1
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); a.stamped && c != 0 {
			return c
		}
		return bytes.Compare(a.IdentityID[:], b.IdentityID[:])
	})
	u.Identities = make([]identity, len(stamped))
	for i := range stamped {
		u.Identities[i] = stamped[i].identity
	}
	return u, ok, nil
}

// stampedIdentity is an identity and whether its row had a created_at.
type stampedIdentity struct {
	identity
	stamped bool
}

// shownRow reads shownUser's columns by position; NULL reads as the zero
// value (nil for a time, false for a uuid's second result).
type shownRow interface {
	uuid(i int) ([16]byte, bool)
	text(i int) string
	time(i int) *time.Time
	bool(i int) bool
	jsonb(i int) []byte
	error() error
}

// binaryRowFits reports whether the row's columns come in the formats
// binaryRow reads: binary, or text for text-like types.
func binaryRowFits(fields []pgconn.FieldDescription) bool {
	for _, f := range fields {
		switch f.DataTypeOID {
		case pgtype.TextOID, pgtype.VarcharOID, pgtype.JSONBOID:
		default:
			if f.Format != pgtype.BinaryFormatCode {
				return false
			}
		}
	}
	return true
}

// scannedRow is shownRow through pgx's own scanning, whatever the formats.
type scannedRow struct {
	vals []any
	err  error
}

func scanShownRow(rows pgx.Rows) (*scannedRow, error) {
	fields := rows.FieldDescriptions()
	r := &scannedRow{vals: make([]any, len(fields))}
	for i, f := range fields {
		switch f.DataTypeOID {
		case pgtype.UUIDOID:
			r.vals[i] = new(pgtype.UUID)
		case pgtype.TimestamptzOID:
			r.vals[i] = new(pgtype.Timestamptz)
		case pgtype.BoolOID:
			r.vals[i] = new(pgtype.Bool)
		case pgtype.JSONBOID:
			r.vals[i] = new([]byte)
		default:
			r.vals[i] = new(pgtype.Text)
		}
	}
	return r, rows.Scan(r.vals...)
}

func (r *scannedRow) uuid(i int) ([16]byte, bool) {
	v := r.vals[i].(*pgtype.UUID)
	return v.Bytes, v.Valid
}

func (r *scannedRow) text(i int) string  { return r.vals[i].(*pgtype.Text).String }
func (r *scannedRow) bool(i int) bool    { return r.vals[i].(*pgtype.Bool).Bool }
func (r *scannedRow) jsonb(i int) []byte { return *r.vals[i].(*[]byte) }
func (r *scannedRow) error() error       { return nil }

func (r *scannedRow) time(i int) *time.Time {
	v := r.vals[i].(*pgtype.Timestamptz)
	if !v.Valid {
		return nil
	}
	if v.InfinityModifier != pgtype.Finite && r.err == nil {
		r.err = fmt.Errorf("%w: column %d: an infinite timestamp", errShownColumn, i)
	}
	t := v.Time.UTC()
	return &t
}

// binaryRow decodes the columns of one row from PostgreSQL's binary format
// (text for text-like types, as pgx asks), for the few types shownUser
// returns. A column of another type or format
// (which would mean the statement and this code disagree) sets err; so does
// a timestamp of ±infinity, which pgx refuses as a time.Time too. NULL
// reads as the zero value (nil for a time).
type binaryRow struct {
	fields []pgconn.FieldDescription
	values [][]byte
	err    error
}

// errShownColumn is binaryRow's error.
var errShownColumn = errors.New("auth: unexpected column in the user statement")

// col returns column i's bytes (nil for NULL) and format when its type is
// one of oids and its format binary, or text when textOK.
func (r *binaryRow) col(i int, textOK bool, oids ...uint32) ([]byte, int16) {
	if i >= len(r.values) || i >= len(r.fields) {
		r.fail(fmt.Errorf("%w: no column %d", errShownColumn, i))
		return nil, 0
	}
	f := r.fields[i]
	if (f.Format != pgtype.BinaryFormatCode && !(textOK && f.Format == pgtype.TextFormatCode)) || !slices.Contains(oids, f.DataTypeOID) {
		r.fail(fmt.Errorf("%w: column %d (%s) has type %d in format %d", errShownColumn, i, f.Name, f.DataTypeOID, f.Format))
		return nil, 0
	}
	return r.values[i], f.Format
}

func (r *binaryRow) error() error { return r.err }

func (r *binaryRow) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *binaryRow) uuid(i int) ([16]byte, bool) {
	b, _ := r.col(i, false, pgtype.UUIDOID)
	if b == nil {
		return [16]byte{}, false
	}
	if len(b) != 16 {
		r.fail(fmt.Errorf("%w: column %d: uuid of %d bytes", errShownColumn, i, len(b)))
		return [16]byte{}, false
	}
	return [16]byte(b), true
}

// text reads text or varchar, whose binary and text forms are the same
// (pgx asks for them as text).
func (r *binaryRow) text(i int) string {
	b, _ := r.col(i, true, pgtype.TextOID, pgtype.VarcharOID)
	return string(b)
}

func (r *binaryRow) bool(i int) bool {
	b, _ := r.col(i, false, pgtype.BoolOID)
	return len(b) == 1 && b[0] == 1
}

// jsonb returns a copy of the JSON text (the binary form is a version byte,
// 1, then the text).
func (r *binaryRow) jsonb(i int) []byte {
	b, format := r.col(i, true, pgtype.JSONBOID)
	if b == nil {
		return nil
	}
	if format == pgtype.TextFormatCode {
		return bytes.Clone(b)
	}
	if len(b) == 0 || b[0] != 1 {
		r.fail(fmt.Errorf("%w: column %d: unknown jsonb version", errShownColumn, i))
		return nil
	}
	return bytes.Clone(b[1:])
}

// postgresEpoch is 2000-01-01 UTC, which binary timestamps count from, in
// microseconds after the Unix epoch.
const postgresEpoch = 946684800 * 1_000_000

// time reads a timestamptz (microseconds since 2000-01-01 UTC) in UTC.
func (r *binaryRow) time(i int) *time.Time {
	b, _ := r.col(i, false, pgtype.TimestamptzOID)
	if b == nil {
		return nil
	}
	if len(b) != 8 {
		r.fail(fmt.Errorf("%w: column %d: timestamp of %d bytes", errShownColumn, i, len(b)))
		return nil
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us == math.MaxInt64 || us == math.MinInt64 {
		r.fail(fmt.Errorf("%w: column %d: an infinite timestamp", errShownColumn, i))
		return nil
	}
	t := time.UnixMicro(us + postgresEpoch).UTC()
	return &t
}
