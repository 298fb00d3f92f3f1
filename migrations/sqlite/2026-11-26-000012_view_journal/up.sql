-- The journal segments (files of share link views, see the store's `journal` module)
-- whose views are in the database. A segment is named here in the transaction that
-- writes its views, and forgotten once its file is deleted: a segment found on disk
-- and named here was written already.
CREATE TABLE view_journal (
    segment TEXT PRIMARY KEY NOT NULL
);

-- Views lose their own foreign key to the workspace, and with it their index on it:
-- a workspace's links go with the workspace, and their views with them (through
-- `link_id`). One B-tree fewer to write for every view.
CREATE TABLE share_views_new (
    id           TEXT   PRIMARY KEY NOT NULL,
    workspace_id TEXT   NOT NULL,
    link_id      TEXT   NOT NULL REFERENCES share_links (id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    viewed       TEXT   NOT NULL CHECK (viewed IN ('page', 'download')),
    network      TEXT   NOT NULL,
    browser      TEXT   NOT NULL
);
INSERT INTO share_views_new SELECT id, workspace_id, link_id, at, viewed, network, browser FROM share_views;
DROP TABLE share_views;
ALTER TABLE share_views_new RENAME TO share_views;
CREATE INDEX share_views_list ON share_views (link_id, at, id);
CREATE INDEX share_views_at ON share_views (at);
