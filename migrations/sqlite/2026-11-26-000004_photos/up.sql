-- Job photos. The bytes are in the blob store (encrypted with the workspace's key);
-- the row is written only once the blob is complete.
CREATE TABLE photos (
    id           TEXT   PRIMARY KEY NOT NULL,
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    job_id       TEXT   NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    image_type   TEXT   NOT NULL CHECK (image_type IN ('jpeg', 'png', 'heic', 'webp')),
    size         BIGINT NOT NULL CHECK (size > 0),
    sha256       BLOB   NOT NULL CHECK (length(sha256) = 32),
    file_name    TEXT,
    created_by   TEXT   NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    deleted_at   BIGINT,
    -- Processing: variants and what was read of the image (never its location).
    status       TEXT    NOT NULL CHECK (status IN ('processing', 'ready', 'unprocessable')),
    width        INTEGER,
    height       INTEGER,
    taken_at     TEXT,
    has_location BOOLEAN NOT NULL DEFAULT FALSE,
    large_size   BIGINT,
    thumb_size   BIGINT
);
CREATE INDEX photos_list ON photos (job_id, created_at, id);
CREATE INDEX photos_workspace ON photos (workspace_id);
CREATE INDEX photos_created_by ON photos (created_by);
