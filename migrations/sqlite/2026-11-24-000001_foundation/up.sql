-- Foundation: users, workspaces, memberships, grants, jobs, invites, sign-in links,
-- sessions and the per-workspace audit hash chain.
-- Times are microseconds since the Unix epoch (UTC); ids are UUIDv7 text.

CREATE TABLE users (
    id          TEXT    PRIMARY KEY NOT NULL,
    issuer      TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    email       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX users_email ON users (email);

CREATE TABLE workspaces (
    id          TEXT    PRIMARY KEY NOT NULL,
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE memberships (
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'restricted')),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
-- At most one Owner per workspace, whatever the writers do.
CREATE UNIQUE INDEX memberships_one_owner ON memberships (workspace_id) WHERE role = 'owner';
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_list ON memberships (workspace_id, created_at, user_id);

CREATE TABLE jobs (
    id           TEXT   PRIMARY KEY NOT NULL,
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    title        TEXT   NOT NULL,
    description  TEXT,
    address      TEXT,
    status       TEXT   NOT NULL CHECK (status IN ('open', 'in_progress', 'completed', 'archived')),
    created_by   TEXT   NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    deleted_at   BIGINT
);
CREATE INDEX jobs_list ON jobs (workspace_id, created_at, id);
CREATE INDEX jobs_created_by ON jobs (created_by);

CREATE TABLE grants (
    job_id       TEXT   NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    user_id      TEXT   NOT NULL,
    workspace_id TEXT   NOT NULL,
    granted_by   TEXT   NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (job_id, user_id),
    -- Removing a membership removes its grants.
    FOREIGN KEY (workspace_id, user_id) REFERENCES memberships (workspace_id, user_id) ON DELETE CASCADE
);
CREATE INDEX grants_member ON grants (workspace_id, user_id);
CREATE INDEX grants_granted_by ON grants (granted_by);

CREATE TABLE invites (
    id           TEXT   PRIMARY KEY NOT NULL,
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    role         TEXT   NOT NULL CHECK (role IN ('admin', 'member', 'restricted')),
    email        TEXT,
    token_hash   BLOB   NOT NULL UNIQUE,
    created_by   TEXT   NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_by  TEXT   REFERENCES users (id),
    accepted_at  BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX invites_list ON invites (workspace_id, created_at, id);
CREATE INDEX invites_created_by ON invites (created_by);
CREATE INDEX invites_accepted_by ON invites (accepted_by);

CREATE TABLE sign_in_links (
    token_hash  BLOB   PRIMARY KEY NOT NULL,
    email       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE sessions (
    id           TEXT   PRIMARY KEY NOT NULL,
    token_hash   BLOB   NOT NULL UNIQUE,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);

-- The audit log outlives what it records, so it has no foreign keys.
CREATE TABLE audit_events (
    id           TEXT   PRIMARY KEY NOT NULL,
    workspace_id TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    actor        TEXT   NOT NULL,
    action       TEXT   NOT NULL,
    target_kind  TEXT   NOT NULL,
    target_id    TEXT   NOT NULL,
    details      TEXT   NOT NULL,
    request_id   TEXT,
    prev_hash    BLOB   NOT NULL,
    hash         BLOB   NOT NULL,
    UNIQUE (workspace_id, seq)
);

-- The head of each workspace's chain; appends update it in the writing transaction.
CREATE TABLE audit_heads (
    workspace_id TEXT   PRIMARY KEY NOT NULL,
    seq          BIGINT NOT NULL,
    hash         BLOB   NOT NULL
);

-- Append-only: the application never changes or removes an event.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
