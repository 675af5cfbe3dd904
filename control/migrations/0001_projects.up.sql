-- Projects: the Supabase projects one MadBase serves besides the default one (the
-- environment). Only control reads and writes this schema; edges and workers learn a
-- project from the configuration control publishes over NATS.
--
-- Every secret column holds a value sealed with MADBASE_ENCRYPTION_KEY (shared/secretbox:
-- "v1:" and base64), bound to the project's ref and the column, so neither a dump of this
-- database nor a row copied to another ref gives a secret away.
CREATE SCHEMA IF NOT EXISTS madbase_control;
REVOKE ALL ON SCHEMA madbase_control FROM PUBLIC;

CREATE TABLE madbase_control.projects (
    -- The subdomain and the ref claim of the project's keys.
    ref                 text        PRIMARY KEY
                        CHECK (ref ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'),
    -- Changes when a ref is deleted and created again, so holders of an old
    -- configuration tell the new project from a stale revision of the old one.
    id                  uuid        NOT NULL UNIQUE,
    name                text        NOT NULL,
    -- created: control made database_name on the platform's server and may drop it;
    -- external: a database given at creation, never dropped by MadBase.
    db_mode             text        NOT NULL CHECK (db_mode IN ('created', 'external')),
    database_name       text        NOT NULL,
    database_url        text        NOT NULL, -- sealed
    jwt_secret          text        NOT NULL, -- sealed; signs the project's keys and tokens
    keys_issued_at      timestamptz NOT NULL, -- iat of the legacy keys signed with jwt_secret
    previous_jwt_secret text,                 -- sealed; verifies until previous_retires_at
    previous_issued_at  timestamptz,
    previous_retires_at timestamptz,
    -- Project-level settings by variable name. Secret ones (SMTP_PASS, S3 keys) are in
    -- secret_settings, each value sealed.
    settings            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    secret_settings     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- Grows by one on every change; published with the configuration.
    revision            bigint      NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((previous_jwt_secret IS NULL) = (previous_retires_at IS NULL))
);
