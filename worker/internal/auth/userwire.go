package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// GET /user is the auth API's hottest request (supabase-js calls it on
// every getUser, and server-side apps on every page). For it PostgreSQL
// builds the user object itself, in the one statement that also checks the
// session, and the worker sends the bytes on: no scanning of thirty columns,
// no decoding and re-encoding of metadata and identities. Everywhere else
// the object is written by (*user).MarshalJSON; TestUserWireSQLMatchesGo
// keeps the two the same object for users in every state.

// wireTime formats a timestamptz as Go's time.Time marshals a UTC time:
// RFC 3339 with "Z" and the fraction's trailing zeros dropped.
func wireTime(expr string) string {
	return `regexp_replace(to_char((` + expr + `) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\.?0+Z$', 'Z')`
}

// userWireSQL is the user object (spec §2.1) of the row u as jsonb text.
// Keys whose value is null are left out, as userJSON's omitempty does; no
// top-level key of the object is null otherwise.
var userWireSQL = `(select jsonb_object_agg(e.key, e.value) from jsonb_each(jsonb_build_object(
	'id', u.id, 'aud', coalesce(u.aud, ''), 'role', coalesce(u.role, ''),
	'email', coalesce(u.email, ''), 'email_confirmed_at', ` + wireTime("u.email_confirmed_at") + `,
	'phone', coalesce(u.phone, ''), 'phone_confirmed_at', ` + wireTime("u.phone_confirmed_at") + `,
	'confirmation_sent_at', ` + wireTime("u.confirmation_sent_at") + `,
	'confirmed_at', ` + wireTime("least(u.email_confirmed_at, u.phone_confirmed_at)") + `,
	'invited_at', ` + wireTime("u.invited_at") + `, 'recovery_sent_at', ` + wireTime("u.recovery_sent_at") + `,
	'new_email', nullif(u.email_change, ''), 'email_change_sent_at', ` + wireTime("u.email_change_sent_at") + `,
	'new_phone', nullif(u.phone_change, ''), 'phone_change_sent_at', ` + wireTime("u.phone_change_sent_at") + `,
	'reauthentication_sent_at', ` + wireTime("u.reauthentication_sent_at") + `,
	'last_sign_in_at', ` + wireTime("u.last_sign_in_at") + `,
	'app_metadata', coalesce(u.raw_app_meta_data, '{}'::jsonb),
	'user_metadata', coalesce(u.raw_user_meta_data, '{}'::jsonb),
	'identities', coalesce((select jsonb_agg(jsonb_build_object(
			'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id, 'identity_data', i.identity_data,
			'provider', i.provider, 'created_at', ` + wireTime("coalesce(i.created_at, now())") + `,
			'updated_at', ` + wireTime("coalesce(i.updated_at, now())") + `)
		|| case when i.last_sign_in_at is null then '{}'::jsonb
			else jsonb_build_object('last_sign_in_at', ` + wireTime("i.last_sign_in_at") + `) end
		|| case when coalesce(i.email, '') = '' then '{}'::jsonb else jsonb_build_object('email', i.email) end
		order by i.created_at, i.id)
		from auth.identities i where i.user_id = u.id), '[]'::jsonb),
	'banned_until', ` + wireTime("u.banned_until") + `,
	'created_at', ` + wireTime("coalesce(u.created_at, now())") + `,
	'updated_at', ` + wireTime("coalesce(u.updated_at, now())") + `,
	'deleted_at', ` + wireTime("u.deleted_at") + `,
	'is_anonymous', u.is_anonymous)) e where e.value <> 'null'::jsonb)::text`

var userWireWithSessionSQL = `select ` + userWireSQL + `,
	exists(select 1 from auth.sessions s where s.id = $2 and s.user_id = u.id)
	from auth.users u where u.id = $1`

// userWireWithSession returns the user object of id as JSON, and whether
// sessionID is one of the user's sessions. errNoUser when there is no such
// user.
func userWireWithSession(ctx context.Context, q querier, id, sessionID uuid.UUID) ([]byte, bool, error) {
	var body []byte
	var ok bool
	err := q.QueryRow(ctx, userWireWithSessionSQL, id, sessionID).Scan(&body, &ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, errNoUser
	}
	if err != nil {
		return nil, false, err
	}
	// jsonb's text has a space after every colon and comma; the API's
	// other answers are compact.
	var out bytes.Buffer
	out.Grow(len(body))
	if err := json.Compact(&out, body); err != nil {
		return nil, false, err
	}
	return out.Bytes(), ok, nil
}
