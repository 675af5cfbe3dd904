-- The functions RLS policies call, reading the settings db.WithClaims makes with
-- set_config(..., true) for the current transaction. They follow Supabase's definitions:
-- request.jwt.claim.<name> first, then the claim inside request.jwt.claims, and '' (what
-- current_setting returns for a setting once set in the session) counts as absent.
-- The worker's auth migrations add auth.users and the rest of this schema.
CREATE SCHEMA IF NOT EXISTS auth;

-- auth.uid() is the signed-in user's id, or NULL for anon requests and for a subject that
-- is not a UUID (a policy comparing it then matches nothing instead of raising an error).
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
    LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN sub::uuid
    END
    FROM (SELECT coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
        nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
    ) AS sub) AS s
$$;

-- auth.role() is the request's role: anon, authenticated or service_role.
CREATE OR REPLACE FUNCTION auth.role() RETURNS text
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.role', true), ''),
        nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
    )
$$;

-- auth.jwt() is all the claims of the request's token, for policies on custom claims.
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim', true), ''),
        nullif(pg_catalog.current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

-- auth.email() is the signed-in user's e-mail address, as in Supabase.
CREATE OR REPLACE FUNCTION auth.email() RETURNS text
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.email', true), ''),
        nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'
    )
$$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt(), auth.email() TO anon, authenticated, service_role;
