-- Foundation: users, workspaces, memberships, grants, jobs, invites, sign-in links,
-- sessions and the per-workspace audit hash chain. Ids are UUIDv7, times timestamptz
-- (microseconds), token hashes SHA-256 bytes.

CREATE TABLE users (
    id          uuid        PRIMARY KEY,
    issuer      text        NOT NULL,
    subject     text        NOT NULL,
    email       text        NOT NULL,
    created_at  timestamptz NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX users_email ON users (email);

CREATE TABLE workspaces (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE memberships (
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         text        NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'restricted')),
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
-- At most one Owner per workspace, whatever the writers do.
CREATE UNIQUE INDEX memberships_one_owner ON memberships (workspace_id) WHERE role = 'owner';
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_list ON memberships (workspace_id, created_at, user_id);

CREATE TABLE jobs (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    title        text        NOT NULL,
    description  text,
    address      text,
    status       text        NOT NULL CHECK (status IN ('open', 'in_progress', 'completed', 'archived')),
    created_by   uuid        NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz
);
CREATE INDEX jobs_list ON jobs (workspace_id, created_at, id);
CREATE INDEX jobs_created_by ON jobs (created_by);

CREATE TABLE grants (
    job_id       uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    user_id      uuid        NOT NULL,
    workspace_id uuid        NOT NULL,
    granted_by   uuid        NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (job_id, user_id),
    -- Removing a membership removes its grants.
    FOREIGN KEY (workspace_id, user_id) REFERENCES memberships (workspace_id, user_id) ON DELETE CASCADE
);
CREATE INDEX grants_member ON grants (workspace_id, user_id);
CREATE INDEX grants_granted_by ON grants (granted_by);

CREATE TABLE invites (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    role         text        NOT NULL CHECK (role IN ('admin', 'member', 'restricted')),
    email        text,
    token_hash   bytea       NOT NULL UNIQUE,
    created_by   uuid        NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    accepted_by  uuid        REFERENCES users (id),
    accepted_at  timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX invites_list ON invites (workspace_id, created_at, id);
CREATE INDEX invites_created_by ON invites (created_by);
CREATE INDEX invites_accepted_by ON invites (accepted_by);

CREATE TABLE sign_in_links (
    token_hash  bytea       PRIMARY KEY,
    email       text        NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

CREATE TABLE sessions (
    id           uuid        PRIMARY KEY,
    token_hash   bytea       NOT NULL UNIQUE,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);

-- The audit log outlives what it records, so it has no foreign keys.
CREATE TABLE audit_events (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    seq          bigint      NOT NULL,
    at           timestamptz NOT NULL,
    actor        text        NOT NULL,
    action       text        NOT NULL,
    target_kind  text        NOT NULL,
    target_id    text        NOT NULL,
    details      text        NOT NULL,
    request_id   uuid,
    prev_hash    bytea       NOT NULL,
    hash         bytea       NOT NULL,
    UNIQUE (workspace_id, seq)
);

-- The head of each workspace's chain; appends lock this row (SELECT … FOR UPDATE).
CREATE TABLE audit_heads (
    workspace_id uuid   PRIMARY KEY,
    seq          bigint NOT NULL,
    hash         bytea  NOT NULL
);

-- Append-only: the application never changes or removes an event.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
