package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// querier is what the store's functions run on: the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// The auth tables are the auth capability's own: it reads and writes them
// directly as the worker's database user (as GoTrue does with its own
// role), not through db.WithClaims, whose request roles must never see
// password hashes. Every statement uses bind parameters.

// userColumns selects a user row and its identities in one statement.
const userColumns = `u.id, coalesce(u.aud, ''), coalesce(u.role, ''), coalesce(u.email, ''), coalesce(u.phone, ''),
	coalesce(u.encrypted_password, ''),
	u.email_confirmed_at, u.phone_confirmed_at, u.invited_at, u.confirmation_sent_at, u.recovery_sent_at,
	u.email_change_sent_at, u.phone_change_sent_at, u.reauthentication_sent_at, u.last_sign_in_at,
	u.banned_until, u.deleted_at,
	coalesce(u.confirmation_token, ''), coalesce(u.recovery_token, ''), coalesce(u.email_change_token_new, ''),
	coalesce(u.email_change_token_current, ''), coalesce(u.email_change, ''),
	coalesce(u.email_change_confirm_status, 0)::int, coalesce(u.phone_change, ''), coalesce(u.phone_change_token, ''),
	coalesce(u.reauthentication_token, ''),
	coalesce(u.raw_app_meta_data, '{}'::jsonb), coalesce(u.raw_user_meta_data, '{}'::jsonb), u.is_anonymous,
	coalesce(u.created_at, now()), coalesce(u.updated_at, now()),
	coalesce((select json_agg(json_build_object(
		'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id, 'identity_data', i.identity_data,
		'provider', i.provider, 'last_sign_in_at', i.last_sign_in_at, 'created_at', coalesce(i.created_at, now()),
		'updated_at', coalesce(i.updated_at, now()), 'email', coalesce(i.email, '')) order by i.created_at, i.id)
		from auth.identities i where i.user_id = u.id), '[]'::json),
	` + factorsColumn

func scanUser(row pgx.Row, extra ...any) (*user, error) {
	u := &user{}
	var app, meta, ids, factors []byte
	dest := []any{
		(*[16]byte)(&u.ID), &u.Aud, &u.Role, &u.Email, &u.Phone, &u.EncryptedPassword,
		&u.EmailConfirmedAt, &u.PhoneConfirmedAt, &u.InvitedAt, &u.ConfirmationSentAt, &u.RecoverySentAt,
		&u.EmailChangeSentAt, &u.PhoneChangeSentAt, &u.ReauthenticationSentAt, &u.LastSignInAt,
		&u.BannedUntil, &u.DeletedAt,
		&u.ConfirmationToken, &u.RecoveryToken, &u.EmailChangeTokenNew, &u.EmailChangeTokenCurrent, &u.EmailChange,
		&u.EmailChangeConfirmStatus, &u.PhoneChange, &u.PhoneChangeToken, &u.ReauthenticationToken,
		&app, &meta, &u.IsAnonymous, &u.CreatedAt, &u.UpdatedAt, &ids, &factors,
	}
	err := row.Scan(append(dest, extra...)...)
	if err != nil {
		return nil, err
	}
	if err = decodeExact(app, &u.AppMetaData); err != nil {
		return nil, err
	}
	if err := decodeExact(meta, &u.UserMetaData); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(ids, &u.Identities); err != nil {
		return nil, err
	}
	for i := range u.Identities {
		u.Identities[i].utc()
	}
	if u.Factors, err = decodeFactors(factors); err != nil {
		return nil, err
	}
	return u, nil
}

// decodeExact decodes stored JSON keeping numbers as written (a metadata
// number must come back with all its digits).
func decodeExact(b []byte, dst any) error {
	if m, ok := dst.(*map[string]any); ok && string(b) == "{}" {
		*m = map[string]any{} // the usual empty metadata, without a decoder
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(dst)
}

// errNoUser is returned by the lookups when no row matches.
var errNoUser = errors.New("auth: no such user")

func oneUser(row pgx.Row, extra ...any) (*user, error) {
	u, err := scanUser(row, extra...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoUser
	}
	return u, err
}

func userByID(ctx context.Context, q querier, id uuid.UUID) (*user, error) {
	return oneUser(q.QueryRow(ctx, `select `+userColumns+` from auth.users u where u.id = $1`, id))
}

// userByIDForUpdate locks the user's row for the rest of the transaction.
func userByIDForUpdate(ctx context.Context, q querier, id uuid.UUID) (*user, error) {
	return oneUser(q.QueryRow(ctx, `select `+userColumns+` from auth.users u where u.id = $1 for update of u`, id))
}

// userByEmailForUpdate finds the user of an address and locks its row for
// the rest of the transaction (errNoUser when there is none): one query
// where a lookup and a lock by id would take two.
func userByEmailForUpdate(ctx context.Context, q querier, email string) (*user, error) {
	return oneUser(q.QueryRow(ctx, `select `+userColumns+` from auth.users u
		where u.email = $1 and not u.is_sso_user order by u.created_at limit 1 for update of u`, email))
}

func userByEmail(ctx context.Context, q querier, email string) (*user, error) {
	return oneUser(q.QueryRow(ctx, `select `+userColumns+` from auth.users u
		where u.email = $1 and not u.is_sso_user order by u.created_at limit 1`, email))
}

func userByPhone(ctx context.Context, q querier, phone string) (*user, error) {
	return oneUser(q.QueryRow(ctx, `select `+userColumns+` from auth.users u where u.phone = $1`, phone))
}

// userWithSession loads a user and whether the session exists for them, in
// one statement. (uuid arguments go as pgUUID: in binary instead of through
// uuid.UUID's driver.Valuer string.)
func userWithSession(ctx context.Context, q querier, id, sessionID uuid.UUID) (*user, bool, error) {
	var ok bool
	u, err := oneUser(q.QueryRow(ctx, `select `+userColumns+`, `+sessionExists, pgUUID(id), pgUUID(sessionID)), &ok)
	return u, ok, err
}

// sessionExists ends the statement of userWithSession: user $1, and
// whether their session $2 exists.
const sessionExists = `exists(select 1 from auth.sessions s where s.id = $2 and s.user_id = u.id)
		from auth.users u where u.id = $1`

// emailTaken reports whether another user than except has the email (as
// address or as pending change confirmed elsewhere).
func emailTaken(ctx context.Context, q querier, email string, except uuid.UUID) (bool, error) {
	var taken bool
	err := q.QueryRow(ctx, `select exists(select 1 from auth.users where email = $1 and id <> $2 and not is_sso_user)`,
		email, except).Scan(&taken)
	return taken, err
}

func phoneTaken(ctx context.Context, q querier, phone string, except uuid.UUID) (bool, error) {
	var taken bool
	err := q.QueryRow(ctx, `select exists(select 1 from auth.users where phone = $1 and id <> $2)`, phone, except).Scan(&taken)
	return taken, err
}

// insertUser writes a new user row. Triggers an app put on auth.users may
// change it, so callers reload it afterwards.
func insertUser(ctx context.Context, q querier, u *user) error {
	_, err := q.Exec(ctx, `insert into auth.users (instance_id, id, aud, role, email, phone, encrypted_password,
		email_confirmed_at, phone_confirmed_at, invited_at, confirmation_token, confirmation_sent_at,
		raw_app_meta_data, raw_user_meta_data, is_super_admin, created_at, updated_at, is_anonymous, banned_until,
		recovery_token, email_change_token_new, email_change, email_change_token_current, phone_change,
		phone_change_token, reauthentication_token)
		values ('00000000-0000-0000-0000-000000000000', $1, $2, $3, nullif($4, ''), nullif($5, ''), $6,
		$7, $8, $9, $10, $11, $12, $13, false, $14, $14, $15, $16, '', '', '', '', '', '', '')`,
		u.ID, u.Aud, u.Role, u.Email, u.Phone, u.EncryptedPassword,
		u.EmailConfirmedAt, u.PhoneConfirmedAt, u.InvitedAt, u.ConfirmationToken, u.ConfirmationSentAt,
		nonNilMap(u.AppMetaData), nonNilMap(u.UserMetaData), u.CreatedAt, u.IsAnonymous, u.BannedUntil)
	return err
}

// insertIdentity adds an identity for provider ("email" or "phone") whose
// subject is the user id.
func insertIdentity(ctx context.Context, q querier, userID uuid.UUID, provider string, data map[string]any, now time.Time) error {
	_, err := q.Exec(ctx, `insert into auth.identities (id, provider_id, user_id, identity_data, provider, created_at, updated_at)
		values ($1, $2, $3, $4, $5, $6, $6)
		on conflict (provider_id, provider) do update set identity_data = excluded.identity_data, updated_at = excluded.updated_at`,
		uuid.New(), userID.String(), userID, data, provider, now)
	return err
}

// addProvider records provider in the user's app_metadata (provider first,
// providers list) as GoTrue does.
func addProvider(ctx context.Context, q querier, userID uuid.UUID, provider string) error {
	_, err := q.Exec(ctx, `update auth.users set raw_app_meta_data =
		jsonb_set(jsonb_set(coalesce(raw_app_meta_data, '{}'::jsonb), '{provider}',
			coalesce(raw_app_meta_data -> 'provider', to_jsonb($2::text))),
		'{providers}', (select coalesce(jsonb_agg(distinct p), '[]'::jsonb) from (
			select jsonb_array_elements_text(case jsonb_typeof(raw_app_meta_data -> 'providers')
				when 'array' then raw_app_meta_data -> 'providers' else '[]'::jsonb end) as p
			union select $2::text) ps))
		where id = $1`, userID, provider)
	return err
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// isUniqueViolation reports a unique_violation on constraint (any when "").
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// pgUUID passes a uuid to pgx in binary when the statement's parameter type
// is known (the extended protocol), as text otherwise (the simple protocol
// a connection pooler may need): a uuid.UUID always goes through its
// string, a [16]byte cannot go as text.
func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }
