-- Extensions live in their own schema, as on Supabase: in public their functions (crypt,
-- gen_random_bytes, digest, uuid_generate_v4, ...) would be exposed by /rest/v1/rpc/ to
-- every role that may call public functions. The database's search_path ends with
-- "extensions", so unqualified calls keep working in every new session; REST requests get
-- it from DB_EXTRA_SEARCH_PATH (public,extensions). Databases migrated before this file
-- have their extensions moved; pg_depend keeps columns' defaults and functions pointing at
-- the moved functions.
CREATE SCHEMA IF NOT EXISTS extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA extensions GRANT EXECUTE ON FUNCTIONS TO anon, authenticated, service_role;

DO $$
DECLARE
    ext record;
BEGIN
    FOR ext IN
        SELECT e.extname
        FROM pg_catalog.pg_extension e
        JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname IN ('pgcrypto', 'uuid-ossp') AND n.nspname = 'public'
    LOOP
        EXECUTE format('ALTER EXTENSION %I SET SCHEMA extensions', ext.extname);
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pgcrypto')
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pgcrypto') THEN
        CREATE EXTENSION pgcrypto SCHEMA extensions;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'uuid-ossp')
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'uuid-ossp') THEN
        CREATE EXTENSION "uuid-ossp" SCHEMA extensions;
    END IF;
    EXECUTE format('ALTER DATABASE %I SET search_path = "$user", public, extensions', current_database());
END
$$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA extensions TO anon, authenticated, service_role;
-- This session too, so that migrations applied after this one in the same run can call
-- the functions unqualified.
SELECT pg_catalog.set_config('search_path', '"$user", public, extensions', false);
