-- Realtime: the table whose RLS policies authorize private channels, with
-- Supabase's names so policies written for Supabase work unchanged.
CREATE SCHEMA IF NOT EXISTS realtime;
GRANT USAGE ON SCHEMA realtime TO anon, authenticated, service_role;

CREATE TABLE IF NOT EXISTS realtime.messages (
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    topic       text        NOT NULL,
    extension   text        NOT NULL,
    payload     jsonb,
    event       text,
    private     boolean     DEFAULT false,
    inserted_at timestamp   NOT NULL DEFAULT now(),
    updated_at  timestamp   NOT NULL DEFAULT now(),
    PRIMARY KEY (id, inserted_at)
);
CREATE INDEX IF NOT EXISTS messages_topic_inserted_at_idx ON realtime.messages (topic, inserted_at);
ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE, DELETE ON realtime.messages TO anon, authenticated;
GRANT ALL ON realtime.messages TO service_role;

-- realtime.topic() is the topic being authorized, for policies.
CREATE OR REPLACE FUNCTION realtime.topic() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('realtime.topic', true), '')::text $$;
GRANT EXECUTE ON FUNCTION realtime.topic() TO anon, authenticated, service_role;

-- realtime.send stores a broadcast; MadBase delivers stored messages only
-- as replay for now.
CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO realtime.messages (payload, event, topic, private, extension)
  VALUES (payload, event, topic, private, 'broadcast')
$$;

-- The publication whose tables emit postgres_changes (empty until an app
-- adds tables: ALTER PUBLICATION supabase_realtime ADD TABLE ...).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
        CREATE PUBLICATION supabase_realtime;
    END IF;
END
$$;
