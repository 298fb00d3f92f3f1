-- Helpdesk tickets, their replies, and the public submit links they come through. A
-- ticket from a submit link carries the SHA-256 of its tracking token.
CREATE TABLE submit_links (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash   bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by   uuid        NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    disabled_at  timestamptz
);
CREATE INDEX submit_links_list ON submit_links (workspace_id, created_at);
CREATE INDEX submit_links_created_by ON submit_links (created_by);

CREATE TABLE tickets (
    id              uuid        PRIMARY KEY,
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    priority        text        NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id     uuid        REFERENCES users (id) ON DELETE SET NULL,
    requester_name  text,
    requester_email text,
    created_by      uuid        REFERENCES users (id) ON DELETE SET NULL,
    submit_link_id  uuid        REFERENCES submit_links (id) ON DELETE SET NULL,
    track_hash      bytea       UNIQUE CHECK (track_hash IS NULL OR length(track_hash) = 32),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX tickets_list ON tickets (workspace_id, created_at, id);
CREATE INDEX tickets_order ON tickets (workspace_id, id);
CREATE INDEX tickets_assignee ON tickets (assignee_id);
CREATE INDEX tickets_created_by ON tickets (created_by);
CREATE INDEX tickets_submit_link ON tickets (submit_link_id);

CREATE TABLE ticket_replies (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    ticket_id    uuid        NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    -- A member's reply names them; a requester's names nobody.
    author_id    uuid        REFERENCES users (id),
    by_requester boolean     NOT NULL,
    body         text        NOT NULL,
    created_at   timestamptz NOT NULL,
    CHECK (by_requester = (author_id IS NULL))
);
CREATE INDEX ticket_replies_thread ON ticket_replies (ticket_id, created_at, id);
CREATE INDEX ticket_replies_workspace ON ticket_replies (workspace_id);
CREATE INDEX ticket_replies_author ON ticket_replies (author_id);
