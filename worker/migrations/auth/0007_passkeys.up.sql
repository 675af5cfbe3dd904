-- Passkeys (WebAuthn), with GoTrue's table and column names so that passkeys
-- kept by a GoTrue database read the same here.
--
-- webauthn_credentials: one row per passkey a user registered. credential_id
-- is the authenticator's id for it (what a sign-in names), public_key the
-- COSE key it signs with, sign_count the authenticator's last counter.
CREATE TABLE IF NOT EXISTS auth.webauthn_credentials (
    id               uuid        NOT NULL PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    credential_id    bytea       NOT NULL,
    public_key       bytea       NOT NULL,
    attestation_type text        NOT NULL DEFAULT '',
    aaguid           uuid,
    sign_count       bigint      NOT NULL DEFAULT 0,
    transports       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    backup_eligible  boolean     NOT NULL DEFAULT false,
    backed_up        boolean     NOT NULL DEFAULT false,
    friendly_name    text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS webauthn_credentials_credential_id_key ON auth.webauthn_credentials (credential_id);
CREATE INDEX IF NOT EXISTS webauthn_credentials_user_id_idx ON auth.webauthn_credentials (user_id);

-- webauthn_challenges: a ceremony between its options and its verify. Each is
-- answered once (the verify deletes it) and before expires_at. A
-- registration belongs to the signed-in user; a sign-in to nobody yet.
CREATE TABLE IF NOT EXISTS auth.webauthn_challenges (
    id             uuid        NOT NULL PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid        REFERENCES auth.users (id) ON DELETE CASCADE,
    challenge_type text        NOT NULL CHECK (challenge_type IN ('signup', 'registration', 'authentication')),
    session_data   jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS webauthn_challenges_user_id_idx ON auth.webauthn_challenges (user_id);
CREATE INDEX IF NOT EXISTS webauthn_challenges_expires_at_idx ON auth.webauthn_challenges (expires_at);
