-- The auth schema, shaped as GoTrue's (supabase/auth) so that Supabase-style SQL works
-- unchanged: apps reference auth.users(id) in foreign keys and read raw_user_meta_data in
-- triggers. Only the worker's auth capability writes these tables; the API roles (anon,
-- authenticated, service_role) get no privileges on them, as in Supabase.
CREATE SCHEMA IF NOT EXISTS auth;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'auth' AND t.typname = 'aal_level') THEN
        CREATE TYPE auth.aal_level AS ENUM ('aal1', 'aal2', 'aal3');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'auth' AND t.typname = 'factor_type') THEN
        CREATE TYPE auth.factor_type AS ENUM ('totp', 'webauthn', 'phone');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'auth' AND t.typname = 'factor_status') THEN
        CREATE TYPE auth.factor_status AS ENUM ('unverified', 'verified');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'auth' AND t.typname = 'code_challenge_method') THEN
        CREATE TYPE auth.code_challenge_method AS ENUM ('s256', 'plain');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'auth' AND t.typname = 'one_time_token_type') THEN
        CREATE TYPE auth.one_time_token_type AS ENUM ('confirmation_token', 'reauthentication_token',
            'recovery_token', 'email_change_token_new', 'email_change_token_current', 'phone_change_token');
    END IF;
END
$$;

-- Users. Email and phone are NULL when unset (the API shows ""); email is stored lower-cased
-- and phone without '+' or spaces. Tokens are hex SHA-224 hashes of the address and the
-- one-time code, '' when none is pending.
CREATE TABLE IF NOT EXISTS auth.users (
    instance_id                 uuid,
    id                          uuid        NOT NULL PRIMARY KEY,
    aud                         varchar(255),
    role                        varchar(255),
    email                       varchar(255),
    encrypted_password          varchar(255),
    email_confirmed_at          timestamptz,
    invited_at                  timestamptz,
    confirmation_token          varchar(255) DEFAULT '',
    confirmation_sent_at        timestamptz,
    recovery_token              varchar(255) DEFAULT '',
    recovery_sent_at            timestamptz,
    email_change_token_new      varchar(255) DEFAULT '',
    email_change                varchar(255) DEFAULT '',
    email_change_sent_at        timestamptz,
    last_sign_in_at             timestamptz,
    raw_app_meta_data           jsonb,
    raw_user_meta_data          jsonb,
    is_super_admin              boolean,
    created_at                  timestamptz,
    updated_at                  timestamptz,
    phone                       text        DEFAULT NULL UNIQUE,
    phone_confirmed_at          timestamptz,
    phone_change                text        DEFAULT '',
    phone_change_token          varchar(255) DEFAULT '',
    phone_change_sent_at        timestamptz,
    confirmed_at                timestamptz GENERATED ALWAYS AS (LEAST(email_confirmed_at, phone_confirmed_at)) STORED,
    email_change_token_current  varchar(255) DEFAULT '',
    email_change_confirm_status smallint    DEFAULT 0 CHECK (email_change_confirm_status >= 0 AND email_change_confirm_status <= 2),
    banned_until                timestamptz,
    reauthentication_token      varchar(255) DEFAULT '',
    reauthentication_sent_at    timestamptz,
    is_sso_user                 boolean     NOT NULL DEFAULT false,
    deleted_at                  timestamptz,
    is_anonymous                boolean     NOT NULL DEFAULT false
);
COMMENT ON TABLE auth.users IS 'Auth: stores user login data within a secure schema.';
CREATE UNIQUE INDEX IF NOT EXISTS users_email_partial_key ON auth.users (email) WHERE is_sso_user = false;
CREATE INDEX IF NOT EXISTS users_instance_id_idx ON auth.users (instance_id);
CREATE INDEX IF NOT EXISTS users_instance_id_email_idx ON auth.users (instance_id, lower(email));
CREATE INDEX IF NOT EXISTS users_is_anonymous_idx ON auth.users (is_anonymous);
CREATE INDEX IF NOT EXISTS users_created_at_idx ON auth.users (created_at DESC);
CREATE UNIQUE INDEX IF NOT EXISTS confirmation_token_idx ON auth.users (confirmation_token)
    WHERE confirmation_token !~ '^[0-9 ]*$';
CREATE UNIQUE INDEX IF NOT EXISTS recovery_token_idx ON auth.users (recovery_token)
    WHERE recovery_token !~ '^[0-9 ]*$';
CREATE UNIQUE INDEX IF NOT EXISTS email_change_token_current_idx ON auth.users (email_change_token_current)
    WHERE email_change_token_current !~ '^[0-9 ]*$';
CREATE UNIQUE INDEX IF NOT EXISTS email_change_token_new_idx ON auth.users (email_change_token_new)
    WHERE email_change_token_new !~ '^[0-9 ]*$';
CREATE UNIQUE INDEX IF NOT EXISTS reauthentication_token_idx ON auth.users (reauthentication_token)
    WHERE reauthentication_token !~ '^[0-9 ]*$';

-- Identities: one per way a user signs in. JSON "id" is provider_id (for email, the user id);
-- "identity_id" is this table's id.
CREATE TABLE IF NOT EXISTS auth.identities (
    provider_id     text        NOT NULL,
    user_id         uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    identity_data   jsonb       NOT NULL,
    provider        text        NOT NULL,
    last_sign_in_at timestamptz,
    created_at      timestamptz,
    updated_at      timestamptz,
    email           text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
    id              uuid        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    CONSTRAINT identities_provider_id_provider_unique UNIQUE (provider_id, provider)
);
COMMENT ON TABLE auth.identities IS 'Auth: stores identities associated to a user.';
CREATE INDEX IF NOT EXISTS identities_user_id_idx ON auth.identities (user_id);
CREATE INDEX IF NOT EXISTS identities_email_idx ON auth.identities (email text_pattern_ops);

-- Sessions: one per sign-in; the access token's session_id.
CREATE TABLE IF NOT EXISTS auth.sessions (
    id           uuid        NOT NULL PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at   timestamptz,
    updated_at   timestamptz,
    factor_id    uuid,
    aal          auth.aal_level,
    not_after    timestamptz,
    refreshed_at timestamp without time zone,
    user_agent   text,
    ip           inet,
    tag          text
);
COMMENT ON TABLE auth.sessions IS 'Auth: stores session data associated to a user.';
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON auth.sessions (user_id);
CREATE INDEX IF NOT EXISTS user_id_created_at_idx ON auth.sessions (user_id, created_at);
CREATE INDEX IF NOT EXISTS sessions_not_after_idx ON auth.sessions (not_after DESC);

-- Refresh tokens: a chain per session; parent is the token this one replaced.
CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
    instance_id uuid,
    id          bigserial    NOT NULL PRIMARY KEY,
    token       varchar(255) UNIQUE,
    user_id     varchar(255),
    revoked     boolean,
    created_at  timestamptz,
    updated_at  timestamptz,
    parent      varchar(255),
    session_id  uuid REFERENCES auth.sessions (id) ON DELETE CASCADE
);
COMMENT ON TABLE auth.refresh_tokens IS 'Auth: Store of tokens used to refresh JWT tokens once they expire.';
CREATE INDEX IF NOT EXISTS refresh_tokens_instance_id_idx ON auth.refresh_tokens (instance_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_instance_id_user_id_idx ON auth.refresh_tokens (instance_id, user_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_parent_idx ON auth.refresh_tokens (parent);
CREATE INDEX IF NOT EXISTS refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens (session_id, revoked);
CREATE INDEX IF NOT EXISTS refresh_tokens_updated_at_idx ON auth.refresh_tokens (updated_at DESC);

-- How each session was authenticated: the access token's amr claim.
CREATE TABLE IF NOT EXISTS auth.mfa_amr_claims (
    session_id            uuid        NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    authentication_method text        NOT NULL,
    id                    uuid        NOT NULL PRIMARY KEY,
    CONSTRAINT mfa_amr_claims_session_id_authentication_method_pkey UNIQUE (session_id, authentication_method)
);
COMMENT ON TABLE auth.mfa_amr_claims IS 'auth: stores authenticator method reference claims for multi factor authentication';

-- PKCE flows: a code challenge waiting for its verifier.
CREATE TABLE IF NOT EXISTS auth.flow_state (
    id                     uuid        NOT NULL PRIMARY KEY,
    user_id                uuid,
    auth_code              text        NOT NULL,
    code_challenge_method  auth.code_challenge_method NOT NULL,
    code_challenge         text        NOT NULL,
    provider_type          text        NOT NULL,
    provider_access_token  text,
    provider_refresh_token text,
    created_at             timestamptz,
    updated_at             timestamptz,
    authentication_method  text        NOT NULL,
    auth_code_issued_at    timestamptz
);
COMMENT ON TABLE auth.flow_state IS 'stores metadata for pkce logins';
CREATE INDEX IF NOT EXISTS idx_auth_code ON auth.flow_state (auth_code);
CREATE INDEX IF NOT EXISTS idx_user_id_auth_method ON auth.flow_state (user_id, authentication_method);
CREATE INDEX IF NOT EXISTS flow_state_created_at_idx ON auth.flow_state (created_at DESC);

-- Kept for SQL written against GoTrue's schema; MadBase keeps pending tokens on auth.users.
CREATE TABLE IF NOT EXISTS auth.one_time_tokens (
    id         uuid        NOT NULL PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    token_type auth.one_time_token_type NOT NULL,
    token_hash text        NOT NULL CHECK (char_length(token_hash) > 0),
    relates_to text        NOT NULL,
    created_at timestamp without time zone NOT NULL DEFAULT now(),
    updated_at timestamp without time zone NOT NULL DEFAULT now(),
    CONSTRAINT one_time_tokens_user_id_token_type_key UNIQUE (user_id, token_type)
);

-- MFA factors and challenges (the API lists a user's factors; enrolment is not built yet).
CREATE TABLE IF NOT EXISTS auth.mfa_factors (
    id                 uuid        NOT NULL PRIMARY KEY,
    user_id            uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    friendly_name      text,
    factor_type        auth.factor_type NOT NULL,
    status             auth.factor_status NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    secret             text,
    phone              text,
    last_challenged_at timestamptz
);
CREATE INDEX IF NOT EXISTS factor_id_created_at_idx ON auth.mfa_factors (user_id, created_at);

CREATE TABLE IF NOT EXISTS auth.mfa_challenges (
    id          uuid        NOT NULL PRIMARY KEY,
    factor_id   uuid        NOT NULL REFERENCES auth.mfa_factors (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    verified_at timestamptz,
    ip_address  inet        NOT NULL,
    otp_code    text
);

CREATE TABLE IF NOT EXISTS auth.audit_log_entries (
    instance_id uuid,
    id          uuid        NOT NULL PRIMARY KEY,
    payload     json,
    created_at  timestamptz,
    ip_address  varchar(64) NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_logs_instance_id_idx ON auth.audit_log_entries (instance_id);
