-- Share links: public, read-only, expiring, revocable; the token is kept only as its
-- SHA-256. A link dies with its job, report or photo (purge).
CREATE TABLE share_links (
    id             uuid        PRIMARY KEY,
    workspace_id   uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    job_id         uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    target_kind    text        NOT NULL CHECK (target_kind IN ('report', 'photo', 'job')),
    report_id      uuid        REFERENCES reports (id) ON DELETE CASCADE,
    photo_id       uuid        REFERENCES photos (id) ON DELETE CASCADE,
    token_hash     bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    password_hash  text,
    allow_download boolean     NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    created_by     uuid        NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL,
    CHECK ((target_kind = 'report') = (report_id IS NOT NULL)),
    CHECK ((target_kind = 'photo') = (photo_id IS NOT NULL))
);
CREATE INDEX share_links_list ON share_links (workspace_id, created_at, id);
CREATE INDEX share_links_job ON share_links (job_id);
CREATE INDEX share_links_report ON share_links (report_id);
CREATE INDEX share_links_photo ON share_links (photo_id);
CREATE INDEX share_links_created_by ON share_links (created_by);

-- Every view of a link, and no more of the viewer than this.
CREATE TABLE share_views (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    link_id      uuid        NOT NULL REFERENCES share_links (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    viewed       text        NOT NULL CHECK (viewed IN ('page', 'download')),
    network      text        NOT NULL,
    browser      text        NOT NULL
);
CREATE INDEX share_views_list ON share_views (link_id, at, id);
CREATE INDEX share_views_at ON share_views (at);
CREATE INDEX share_views_workspace ON share_views (workspace_id);

-- Fixed-window counters (password attempts), shared by every node.
CREATE TABLE rate_limits (
    key          text        NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_window ON rate_limits (window_start);
