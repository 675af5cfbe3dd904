-- Broadcast from the database: rows inserted into realtime.messages (realtime.send()) are
-- read from the WAL through this publication and fanned out as broadcasts.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'madbase_realtime_messages') THEN
        CREATE PUBLICATION madbase_realtime_messages FOR TABLE realtime.messages WITH (publish = 'insert');
    END IF;
END
$$;
