-- After DDL that changes what the REST API can serve (tables, views, columns, functions,
-- types, schemas, comments), send NOTIFY pgrst, 'reload schema': every worker LISTENs and
-- reloads its schema cache. Event triggers need a superuser; when the migrating role is not
-- one, nothing is installed and reloads come from NOTIFY or control's NATS message instead.
CREATE SCHEMA IF NOT EXISTS pgrst;

CREATE OR REPLACE FUNCTION pgrst.ddl_watch() RETURNS event_trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    cmd record;
BEGIN
    FOR cmd IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands()
    LOOP
        IF cmd.schema_name IS DISTINCT FROM 'pg_temp' AND cmd.command_tag IN (
            'CREATE SCHEMA', 'ALTER SCHEMA', 'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO',
            'ALTER TABLE', 'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE', 'CREATE VIEW',
            'ALTER VIEW', 'CREATE MATERIALIZED VIEW', 'ALTER MATERIALIZED VIEW',
            'CREATE FUNCTION', 'ALTER FUNCTION', 'CREATE TRIGGER', 'CREATE TYPE', 'ALTER TYPE',
            'CREATE RULE', 'COMMENT', 'GRANT', 'REVOKE', 'CREATE INDEX'
        ) THEN
            NOTIFY pgrst, 'reload schema';
            RETURN;
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pgrst.drop_watch() RETURNS event_trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    obj record;
BEGIN
    FOR obj IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
    LOOP
        IF obj.is_temporary IS NOT TRUE AND obj.object_type IN (
            'schema', 'table', 'foreign table', 'view', 'materialized view', 'function',
            'trigger', 'type', 'rule', 'table column', 'index', 'table constraint'
        ) THEN
            NOTIFY pgrst, 'reload schema';
            RETURN;
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE NOTICE 'not a superuser: the schema reload event triggers are not installed';
        RETURN;
    END IF;
    DROP EVENT TRIGGER IF EXISTS pgrst_ddl_watch;
    DROP EVENT TRIGGER IF EXISTS pgrst_drop_watch;
    CREATE EVENT TRIGGER pgrst_ddl_watch ON ddl_command_end EXECUTE FUNCTION pgrst.ddl_watch();
    CREATE EVENT TRIGGER pgrst_drop_watch ON sql_drop EXECUTE FUNCTION pgrst.drop_watch();
END
$$;
