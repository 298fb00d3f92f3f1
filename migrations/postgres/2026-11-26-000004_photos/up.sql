-- Job photos. The bytes are in the blob store (encrypted with the workspace's key);
-- the row is written only once the blob is complete.
CREATE TABLE photos (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    job_id       uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    image_type   text        NOT NULL CHECK (image_type IN ('jpeg', 'png', 'heic', 'webp')),
    size         bigint      NOT NULL CHECK (size > 0),
    sha256       bytea       NOT NULL CHECK (length(sha256) = 32),
    file_name    text,
    created_by   uuid        NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    -- Processing: variants and what was read of the image (never its location).
    status       text        NOT NULL CHECK (status IN ('processing', 'ready', 'unprocessable')),
    width        integer,
    height       integer,
    taken_at     text,
    has_location boolean     NOT NULL DEFAULT false,
    large_size   bigint,
    thumb_size   bigint
);
CREATE INDEX photos_list ON photos (job_id, created_at, id);
CREATE INDEX photos_workspace ON photos (workspace_id);
CREATE INDEX photos_created_by ON photos (created_by);
