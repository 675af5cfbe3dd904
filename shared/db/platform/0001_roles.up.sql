-- The roles a request runs as (db.WithClaims does SET LOCAL ROLE to one of the first three),
-- named and shaped as in Supabase so that policies written for Supabase work unchanged:
--   anon           requests without a user (the anon key)
--   authenticated  requests with a signed-in user's token
--   service_role   trusted servers (the service-role key); bypasses row-level security
--   authenticator  the login role a tier may connect as, allowed to become each of them;
--                  its password is set by the deployment, never here.
--
-- Roles belong to the whole cluster, not to one database, so they may already exist (a
-- second database, or a database cloned from a template) or be being created right now by
-- another database's migration, which is why each is created only if missing and a lost
-- race is ignored.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
        ('anon',          'NOLOGIN NOINHERIT'),
        ('authenticated', 'NOLOGIN NOINHERIT'),
        ('service_role',  'NOLOGIN NOINHERIT BYPASSRLS'),
        ('authenticator', 'LOGIN NOINHERIT')
    ) AS t(name, options)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s', r.name, r.options);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- created concurrently by another database's migration
            END;
        END IF;
    END LOOP;

    FOR r IN SELECT unnest(ARRAY['anon', 'authenticated', 'service_role']) AS name
    LOOP
        IF NOT pg_catalog.pg_has_role('authenticator', r.name, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO authenticator', r.name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;
