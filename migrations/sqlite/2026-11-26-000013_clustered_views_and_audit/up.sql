-- Every share link view writes a view and an audit event (`bench/share-view`). Both
-- tables are clustered on the key they are read by (WITHOUT ROWID), so each row is one
-- B-tree entry, where a rowid table with a text key and its indexes took three or four.

-- A link's views, listed newest first and pruned link by link on this key (so the
-- index on `at` goes too).
CREATE TABLE share_views_new (
    id           TEXT   NOT NULL,
    workspace_id TEXT   NOT NULL,
    link_id      TEXT   NOT NULL REFERENCES share_links (id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    viewed       TEXT   NOT NULL CHECK (viewed IN ('page', 'download')),
    network      TEXT   NOT NULL,
    browser      TEXT   NOT NULL,
    PRIMARY KEY (link_id, at, id)
) WITHOUT ROWID;
INSERT INTO share_views_new SELECT id, workspace_id, link_id, at, viewed, network, browser FROM share_views;
DROP TABLE share_views;
ALTER TABLE share_views_new RENAME TO share_views;

-- A workspace's chain, in order. Event ids are UUIDv7, unique as made; nothing looks
-- an event up by its id.
CREATE TABLE audit_events_new (
    id           TEXT   NOT NULL,
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
    PRIMARY KEY (workspace_id, seq)
) WITHOUT ROWID;
INSERT INTO audit_events_new
    SELECT id, workspace_id, seq, at, actor, action, target_kind, target_id, details, request_id, prev_hash, hash
    FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;

-- Append-only: the application never changes or removes an event.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
