-- Files attached to tickets (photos, PDFs); the bytes are sealed in the blob store
-- under `ticket-<id>`.
CREATE TABLE ticket_attachments (
    id           TEXT    PRIMARY KEY NOT NULL,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    ticket_id    TEXT    NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('jpeg', 'png', 'heic', 'webp', 'pdf')),
    file_name    TEXT,
    size         BIGINT  NOT NULL CHECK (size > 0),
    sha256       BLOB    NOT NULL CHECK (length(sha256) = 32),
    by_requester BOOLEAN NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id, created_at, id);
CREATE INDEX ticket_attachments_workspace ON ticket_attachments (workspace_id);

-- One live submit link per workspace, even when two rotations race.
CREATE UNIQUE INDEX submit_links_live ON submit_links (workspace_id) WHERE disabled_at IS NULL;
