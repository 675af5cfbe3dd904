package auth

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// binField is one field of a row in PostgreSQL's binary record format.
type binField struct {
	oid uint32
	b   []byte // nil: NULL
}

func appendBinValue(dst, b []byte) []byte {
	if b == nil {
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	return append(binary.BigEndian.AppendUint32(dst, uint32(len(b))), b...)
}

// binRecord is a row in PostgreSQL's binary record format.
func binRecord(fields ...binField) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(fields)))
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, f.oid)
		b = appendBinValue(b, f.b)
	}
	return b
}

// binRowArray is an array of rows in PostgreSQL's binary array format.
func binRowArray(rows ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0) // no dimension: empty
	if len(rows) > 0 {
		b = binary.BigEndian.AppendUint32(nil, 1)
	}
	b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
	b = binary.BigEndian.AppendUint32(b, recordOID)
	if len(rows) == 0 {
		return b
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(rows)))
	b = binary.BigEndian.AppendUint32(b, 1)
	for _, r := range rows {
		b = appendBinValue(b, r)
	}
	return b
}

// ints are big-endian 32-bit integers.
func ints(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

func binTime(us int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(us)) }

// shownRowFixture is a row of shownUserBatched in binary, for a user with one
// identity and one factor, and its columns' types.
func shownRowFixture(t *testing.T) ([]pgconn.FieldDescription, [][]byte) {
	t.Helper()
	id := uuid.MustParse("11111111-2222-4333-8444-555555555555")
	jsonb := func(s string) []byte { return append([]byte{1}, s...) }
	identityID := uuid.MustParse("aaaaaaaa-2222-4333-8444-555555555555")
	identity := binRecord(
		binField{pgtype.UUIDOID, identityID[:]},
		binField{pgtype.TextOID, []byte(id.String())}, binField{pgtype.JSONBOID, jsonb(`{"sub": "x"}`)},
		binField{pgtype.TextOID, []byte("email")}, binField{pgtype.TimestamptzOID, nil},
		binField{pgtype.TimestamptzOID, binTime(1)}, binField{pgtype.TimestamptzOID, binTime(2)}, binField{pgtype.TextOID, []byte("a@b.c")})
	factorID := uuid.MustParse("ffffffff-2222-4333-8444-555555555555")
	factor := binRecord(
		binField{pgtype.UUIDOID, factorID[:]}, binField{pgtype.TextOID, nil}, binField{pgtype.TextOID, []byte("totp")},
		binField{pgtype.TextOID, []byte("verified")}, binField{pgtype.TextOID, nil},
		binField{pgtype.TimestamptzOID, binTime(3)}, binField{pgtype.TimestamptzOID, binTime(4)}, binField{pgtype.TimestamptzOID, nil})
	oids := []uint32{pgtype.UUIDOID, pgtype.VarcharOID, pgtype.VarcharOID, pgtype.VarcharOID, pgtype.TextOID}
	values := [][]byte{id[:], []byte("authenticated"), []byte("authenticated"), []byte("a@b.c"), nil}
	for range 11 {
		oids, values = append(oids, pgtype.TimestamptzOID), append(values, nil)
	}
	oids = append(oids, pgtype.VarcharOID, pgtype.TextOID, pgtype.JSONBOID, pgtype.JSONBOID, pgtype.BoolOID,
		pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.RecordArrayOID, pgtype.BoolOID, pgtype.RecordArrayOID)
	values = append(values, []byte(""), nil, jsonb(`{"provider": "email"}`), nil, []byte{0},
		binTime(5), binTime(6), binRowArray(identity), []byte{1}, binRowArray(factor))
	require.Len(t, values, shownColumns)
	fields := make([]pgconn.FieldDescription, len(oids))
	for i, oid := range oids {
		fields[i].DataTypeOID = oid
	}
	return fields, values
}

// TestDecodeShownUser decodes shownUserBatched's binary row by hand-made
// bytes, and refuses, with errShownColumn and without panicking, each way
// its arrays of rows can be malformed.
func TestDecodeShownUser(t *testing.T) {
	fields, values := shownRowFixture(t)
	u, exists, err := decodeShownUser(fields, values)
	require.NoError(t, err)
	assert.True(t, exists)
	assert.Equal(t, "a@b.c", u.Email)
	assert.Equal(t, `{}`, string(u.userMetaRaw), "NULL metadata reads as {}")
	require.Len(t, u.Identities, 1)
	assert.Equal(t, "aaaaaaaa-2222-4333-8444-555555555555", u.Identities[0].IdentityID.String())
	assert.Equal(t, u.ID, u.Identities[0].UserID)
	assert.Equal(t, `{"sub": "x"}`, string(u.Identities[0].IdentityData))
	assert.Nil(t, u.Identities[0].LastSignInAt)
	assert.Equal(t, int64(postgresEpoch+2), u.Identities[0].UpdatedAt.UnixMicro())
	require.Len(t, u.Factors, 1)
	assert.Equal(t, "", u.Factors[0].FriendlyName)
	assert.Equal(t, "verified", u.Factors[0].Status)
	assert.Nil(t, u.Factors[0].LastChallengedAt)

	fields, values = shownRowFixture(t)
	values[25] = binRowArray()
	u, _, err = decodeShownUser(fields, values)
	require.NoError(t, err)
	assert.Nil(t, u.Factors, "no factors: none shown")

	uuidField := binField{pgtype.UUIDOID, make([]byte, 16)}
	good := values[23]
	for name, bad := range map[string][]byte{
		"NULL":                   nil,
		"short":                  good[:6],
		"cut in a row":           good[:len(good)-3],
		"trailing bytes":         append(append([]byte{}, good...), 0),
		"two dimensions":         append(ints(2), good[4:]...),
		"of ints":                append(ints(1, 0, pgtype.Int4OID, 1, 1, 4), 0, 0, 0, 1),
		"more rows than bytes":   append(ints(1, 0, recordOID, 1<<30, 1), good[20:]...),
		"negative rows":          append(ints(1, 0, recordOID, 0xfffffffe, 1), good[20:]...),
		"a NULL row":             ints(1, 0, recordOID, 1, 1, 0xffffffff),
		"a row of one field":     binRowArray(binRecord(uuidField)),
		"a row of a wrong type":  binRowArray(binRecord(uuidField, uuidField, uuidField, uuidField, uuidField, uuidField, uuidField, uuidField)),
		"a field cut short":      binRowArray(binRecord(uuidField)[:10]),
		"a field's length below": binRowArray(append(binary.BigEndian.AppendUint32(nil, 8), 0, 0, 0, 25, 0x80, 0, 0, 0)),
	} {
		for _, col := range []int{23, 25} {
			fields, values := shownRowFixture(t)
			values[col] = bad
			assert.NotPanics(t, func() {
				u, _, err := decodeShownUser(fields, values)
				assert.ErrorIs(t, err, errShownColumn, "%s in column %d", name, col)
				assert.Nil(t, u, name)
			}, name)
		}
	}
	fields, values = shownRowFixture(t)
	fields[23].DataTypeOID = pgtype.TextArrayOID
	_, _, err = decodeShownUser(fields, values)
	assert.ErrorIs(t, err, errShownColumn, "identities of another type")
	_, _, err = decodeShownUser(fields[:25], values[:25])
	assert.ErrorIs(t, err, errShownColumn, "a column short")
}

// TestUserBatcherRunsABatchPerProcessor: more batches at once than the
// worker has processors would only split the waiting reads into smaller
// batches.
func TestUserBatcherRunsABatchPerProcessor(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://localhost:1/none?pool_max_conns=64")
	require.NoError(t, err)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg) // connects lazily: never here
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	assert.Equal(t, min(64, runtime.GOMAXPROCS(0)), newUserBatcher(pool, t.Context()).max)
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(one.Close)
	assert.Equal(t, 1, newUserBatcher(one, t.Context()).max, "no more than the pool's connections")
}
