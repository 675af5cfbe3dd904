package auth

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// shownUser is the statement of GET /user, the busiest auth route: what the
// user object shows and nothing more (no tokens, no password hash, metadata
// as stored), one row per identity (a left join, so at least one), and
// whether session $2 of user $1 exists. It costs the database what it must
// and no more: identities come as columns, not as JSON the worker would
// have to decode; columns come bare, NULLs are defaulted and identities
// ordered by the worker (coalesce and ORDER BY cost PostgreSQL a third of
// the statement). Its columns are userIdentityRow's, in order.
const shownUser = `select u.id, u.aud, u.role, u.email, u.phone,
	u.email_confirmed_at, u.phone_confirmed_at, u.invited_at, u.confirmation_sent_at, u.recovery_sent_at,
	u.email_change_sent_at, u.phone_change_sent_at, u.reauthentication_sent_at, u.last_sign_in_at,
	u.banned_until, u.deleted_at, u.email_change, u.phone_change,
	u.raw_app_meta_data, u.raw_user_meta_data, u.is_anonymous, u.created_at, u.updated_at,
	i.id, i.provider_id, i.user_id, i.identity_data, i.provider, i.last_sign_in_at,
	i.created_at, i.updated_at, i.email,
	exists(select 1 from auth.sessions s where s.id = $2 and s.user_id = u.id),
	` + factorsColumn + `
	from auth.users u left join auth.identities i on i.user_id = u.id
	where u.id = $1`

// userIdentityRow is one row of shownUser, scanned by position
// (pgx.RowToStructByPos, in any query mode): the user's columns, one of its
// identities' (all NULL for a user without identities) and whether the
// session exists. NULL texts read as "", NULL times as nil.
type userIdentityRow struct {
	ID                     pgtype.UUID
	Aud, Role, Email       pgtype.Text
	Phone                  pgtype.Text
	EmailConfirmedAt       *time.Time
	PhoneConfirmedAt       *time.Time
	InvitedAt              *time.Time
	ConfirmationSentAt     *time.Time
	RecoverySentAt         *time.Time
	EmailChangeSentAt      *time.Time
	PhoneChangeSentAt      *time.Time
	ReauthenticationSentAt *time.Time
	LastSignInAt           *time.Time
	BannedUntil            *time.Time
	DeletedAt              *time.Time
	EmailChange            pgtype.Text
	PhoneChange            pgtype.Text
	AppMetaData            []byte // jsonb as stored
	UserMetaData           []byte
	IsAnonymous            bool
	CreatedAt, UpdatedAt   *time.Time

	IdentityID           pgtype.UUID
	IdentityProviderID   pgtype.Text
	IdentityUserID       pgtype.UUID
	IdentityData         []byte
	IdentityProvider     pgtype.Text
	IdentityLastSignInAt *time.Time
	IdentityCreatedAt    *time.Time
	IdentityUpdatedAt    *time.Time
	IdentityEmail        pgtype.Text

	SessionExists bool
	Factors       []byte // factorsColumn
}

// shownUserWithSession is userWithSession for a user that is only shown
// (GET /user): the shownUser statement, read with the defaults userColumns
// gives in SQL (now() for a NULL created_at or updated_at, "" for NULL
// texts, {} for NULL metadata) and its identities in userColumns' order.
// Its rows are scanned by pgx, in any query mode; a userBatcher reads the
// same user for less where statements can be prepared (shownUserBatched,
// whose rows it decodes itself).
func shownUserWithSession(ctx context.Context, q querier, id, sessionID uuid.UUID) (*user, bool, error) {
	rows, err := q.Query(ctx, shownUser, pgUUID(id), pgUUID(sessionID))
	if err != nil {
		return nil, false, err
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[userIdentityRow])
	if err != nil {
		return nil, false, err
	}
	return assembleShownUser(got)
}

// assembleShownUser makes the user of shownUser's rows.
func assembleShownUser(got []userIdentityRow) (*user, bool, error) {
	if len(got) == 0 {
		return nil, false, errNoUser
	}
	now := time.Now().Truncate(time.Microsecond) // now() in the statement's precision
	orNow := func(t *time.Time) time.Time {
		if t != nil {
			return *t
		}
		return now
	}
	r := &got[0]
	u := &user{
		ID: r.ID.Bytes, Aud: r.Aud.String, Role: r.Role.String, Email: r.Email.String, Phone: r.Phone.String,
		EmailConfirmedAt: r.EmailConfirmedAt, PhoneConfirmedAt: r.PhoneConfirmedAt, InvitedAt: r.InvitedAt,
		ConfirmationSentAt: r.ConfirmationSentAt, RecoverySentAt: r.RecoverySentAt, EmailChangeSentAt: r.EmailChangeSentAt,
		PhoneChangeSentAt: r.PhoneChangeSentAt, ReauthenticationSentAt: r.ReauthenticationSentAt, LastSignInAt: r.LastSignInAt,
		BannedUntil: r.BannedUntil, DeletedAt: r.DeletedAt, EmailChange: r.EmailChange.String, PhoneChange: r.PhoneChange.String,
		appMetaRaw: r.AppMetaData, userMetaRaw: r.UserMetaData, IsAnonymous: r.IsAnonymous,
		CreatedAt: orNow(r.CreatedAt), UpdatedAt: orNow(r.UpdatedAt),
	}
	if u.appMetaRaw == nil {
		u.appMetaRaw = []byte("{}")
	}
	if u.userMetaRaw == nil {
		u.userMetaRaw = []byte("{}")
	}
	withIdentity := make([]*userIdentityRow, 0, len(got))
	for i := range got {
		if got[i].IdentityID.Valid {
			withIdentity = append(withIdentity, &got[i])
		}
	}
	slices.SortFunc(withIdentity, byIdentityCreation)
	u.Identities = make([]identity, len(withIdentity))
	for i, r := range withIdentity {
		u.Identities[i] = identity{
			IdentityID: r.IdentityID.Bytes, ID: r.IdentityProviderID.String, UserID: r.IdentityUserID.Bytes,
			IdentityData: r.IdentityData, Provider: r.IdentityProvider.String, LastSignInAt: utcPtr(r.IdentityLastSignInAt),
			CreatedAt: orNow(r.IdentityCreatedAt).UTC(), UpdatedAt: orNow(r.IdentityUpdatedAt).UTC(), Email: r.IdentityEmail.String,
		}
	}
	var err error
	if u.Factors, err = decodeFactors(r.Factors); err != nil {
		return nil, false, err
	}
	return u, r.SessionExists, nil
}

// byIdentityCreation is userColumns' order of identities: by created_at,
// NULLs last, then by id.
func byIdentityCreation(a, b *userIdentityRow) int {
	switch {
	case a.IdentityCreatedAt == nil && b.IdentityCreatedAt != nil:
		return 1
	case a.IdentityCreatedAt != nil && b.IdentityCreatedAt == nil:
		return -1
	case a.IdentityCreatedAt != nil:
		if c := a.IdentityCreatedAt.Compare(*b.IdentityCreatedAt); c != 0 {
			return c
		}
	}
	return bytes.Compare(a.IdentityID.Bytes[:], b.IdentityID.Bytes[:])
}
