-- The storage schema as supabase/storage lays it out (migrations/tenant/*), so that
-- policies such as
--   create policy "own folder" on storage.objects for insert to authenticated
--   with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);
-- work unchanged. Object bytes live in the worker's backend (local disk or S3) under the
-- object's version; the row is the source of truth for which bytes exist.
CREATE SCHEMA IF NOT EXISTS storage;

DO $$
BEGIN
    CREATE TYPE storage.buckettype AS ENUM ('STANDARD', 'ANALYTICS', 'VECTOR');
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$$;

CREATE TABLE storage.buckets (
    id                 text PRIMARY KEY,
    name               text NOT NULL,
    owner              uuid,
    owner_id           text,
    public             boolean NOT NULL DEFAULT false,
    avif_autodetection boolean NOT NULL DEFAULT false,
    file_size_limit    bigint,
    allowed_mime_types text[],
    type               storage.buckettype NOT NULL DEFAULT 'STANDARD',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX bname ON storage.buckets (name);

CREATE TABLE storage.objects (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bucket_id        text NOT NULL REFERENCES storage.buckets (id),
    name             text NOT NULL,
    owner            uuid,
    owner_id         text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_accessed_at timestamptz NOT NULL DEFAULT now(),
    metadata         jsonb,
    user_metadata    jsonb,
    version          text,
    path_tokens      text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED
);
CREATE UNIQUE INDEX bucketid_objname ON storage.objects (bucket_id, name);
CREATE INDEX name_prefix_search ON storage.objects (bucket_id, name text_pattern_ops);
CREATE INDEX objects_version ON storage.objects (version);

-- updated_at follows every update, as upstream's update_updated_at_column trigger.
CREATE OR REPLACE FUNCTION storage.update_updated_at_column() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END
$$;
CREATE TRIGGER update_objects_updated_at BEFORE UPDATE ON storage.objects
    FOR EACH ROW EXECUTE FUNCTION storage.update_updated_at_column();

-- Path helpers used in policies.
-- foldername('a/b/c.png') = {a,b}
CREATE OR REPLACE FUNCTION storage.foldername(name text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    _parts text[];
BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    RETURN _parts[1 : array_length(_parts, 1) - 1];
END
$$;

-- filename('a/b/c.png') = 'c.png'
CREATE OR REPLACE FUNCTION storage.filename(name text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    _parts text[];
BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    RETURN _parts[array_length(_parts, 1)];
END
$$;

-- extension('a/x.tar.gz') = 'gz'; a name without a dot is returned whole.
CREATE OR REPLACE FUNCTION storage.extension(name text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    _parts    text[];
    _filename text;
BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    SELECT _parts[array_length(_parts, 1)] INTO _filename;
    RETURN reverse(split_part(reverse(_filename), '.', 1));
END
$$;

ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;

GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA storage TO anon, authenticated, service_role;
GRANT ALL ON ALL SEQUENCES IN SCHEMA storage TO anon, authenticated, service_role;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA storage TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT EXECUTE ON FUNCTIONS TO anon, authenticated, service_role;

-- Unfinished resumable (TUS) uploads, shared by every worker: the edge may send each
-- PATCH to a different one. Chunks are kept in the backend under tus/<id>/<offset>
-- until the last one arrives; only the worker uses this table (as service_role).
CREATE TABLE storage.tus_uploads (
    id            text PRIMARY KEY,
    bucket_id     text NOT NULL,
    name          text NOT NULL,
    upload_length bigint NOT NULL,
    upload_offset bigint NOT NULL DEFAULT 0,
    chunks        bigint[] NOT NULL DEFAULT '{}',
    upsert        boolean NOT NULL DEFAULT false,
    owner_id      text,
    claims        jsonb NOT NULL,
    content_type  text NOT NULL,
    cache_control text NOT NULL,
    user_metadata jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
REVOKE ALL ON storage.tus_uploads FROM anon, authenticated;
GRANT ALL ON storage.tus_uploads TO service_role;
