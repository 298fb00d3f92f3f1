-- Helpdesk tickets, their replies, and the public submit links they come through. A
-- ticket from a submit link carries the SHA-256 of its tracking token.
CREATE TABLE submit_links (
    id           TEXT   PRIMARY KEY NOT NULL,
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash   BLOB   NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by   TEXT   NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    disabled_at  BIGINT
);
CREATE INDEX submit_links_list ON submit_links (workspace_id, created_at);
CREATE INDEX submit_links_created_by ON submit_links (created_by);

CREATE TABLE tickets (
    id              TEXT   PRIMARY KEY NOT NULL,
    workspace_id    TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    subject         TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    status          TEXT   NOT NULL CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    priority        TEXT   NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id     TEXT   REFERENCES users (id) ON DELETE SET NULL,
    requester_name  TEXT,
    requester_email TEXT,
    created_by      TEXT   REFERENCES users (id) ON DELETE SET NULL,
    submit_link_id  TEXT   REFERENCES submit_links (id) ON DELETE SET NULL,
    track_hash      BLOB   UNIQUE CHECK (track_hash IS NULL OR length(track_hash) = 32),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX tickets_list ON tickets (workspace_id, created_at, id);
CREATE INDEX tickets_order ON tickets (workspace_id, id);
CREATE INDEX tickets_assignee ON tickets (assignee_id);
CREATE INDEX tickets_created_by ON tickets (created_by);
CREATE INDEX tickets_submit_link ON tickets (submit_link_id);

CREATE TABLE ticket_replies (
    id           TEXT    PRIMARY KEY NOT NULL,
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    ticket_id    TEXT    NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    -- A member's reply names them; a requester's names nobody.
    author_id    TEXT    REFERENCES users (id),
    by_requester BOOLEAN NOT NULL,
    body         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    CHECK (by_requester = (author_id IS NULL))
);
CREATE INDEX ticket_replies_thread ON ticket_replies (ticket_id, created_at, id);
CREATE INDEX ticket_replies_workspace ON ticket_replies (workspace_id);
CREATE INDEX ticket_replies_author ON ticket_replies (author_id);
