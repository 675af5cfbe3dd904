-- gen_random_bytes(), crypt() and uuid_generate_v4() are what Supabase projects use in
-- defaults and functions. Both ship in PostgreSQL's contrib (Debian's postgresql package
-- includes it); a server without contrib still migrates, and only SQL that calls them fails.
-- They live in public (Supabase puts them in an "extensions" schema on its search_path), so
-- unqualified calls work without changing any role's search_path.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pgcrypto') THEN
        CREATE EXTENSION IF NOT EXISTS pgcrypto;
    ELSE
        RAISE NOTICE 'extension pgcrypto is not available on this server; skipped';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'uuid-ossp') THEN
        CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
    ELSE
        RAISE NOTICE 'extension uuid-ossp is not available on this server; skipped';
    END IF;
END
$$;
