CREATE TABLE audit_events_old (
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
INSERT INTO audit_events_old
    SELECT id, workspace_id, seq, at, actor, action, target_kind, target_id, details, request_id, prev_hash, hash
    FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_old RENAME TO audit_events;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

CREATE TABLE share_views_old (
    id           TEXT   PRIMARY KEY NOT NULL,
    workspace_id TEXT   NOT NULL,
    link_id      TEXT   NOT NULL REFERENCES share_links (id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    viewed       TEXT   NOT NULL CHECK (viewed IN ('page', 'download')),
    network      TEXT   NOT NULL,
    browser      TEXT   NOT NULL
);
INSERT INTO share_views_old SELECT id, workspace_id, link_id, at, viewed, network, browser FROM share_views;
DROP TABLE share_views;
ALTER TABLE share_views_old RENAME TO share_views;
CREATE INDEX share_views_list ON share_views (link_id, at, id);
CREATE INDEX share_views_at ON share_views (at);
