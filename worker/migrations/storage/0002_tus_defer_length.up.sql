-- A resumable upload created with Upload-Defer-Length has no length until a
-- later PATCH gives it (tus's creation-defer-length extension).
ALTER TABLE storage.tus_uploads ALTER COLUMN upload_length DROP NOT NULL;
