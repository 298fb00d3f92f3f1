-- Files attached to tickets (photos, PDFs); the bytes are sealed in the blob store
-- under `ticket-<id>`.
CREATE TABLE ticket_attachments (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    ticket_id    uuid        NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind         text        NOT NULL CHECK (kind IN ('jpeg', 'png', 'heic', 'webp', 'pdf')),
    file_name    text,
    size         bigint      NOT NULL CHECK (size > 0),
    sha256       bytea       NOT NULL CHECK (length(sha256) = 32),
    by_requester boolean     NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id, created_at, id);
CREATE INDEX ticket_attachments_workspace ON ticket_attachments (workspace_id);

-- One live submit link per workspace, even when two rotations race.
CREATE UNIQUE INDEX submit_links_live ON submit_links (workspace_id) WHERE disabled_at IS NULL;
