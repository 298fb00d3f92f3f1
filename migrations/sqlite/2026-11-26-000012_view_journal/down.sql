CREATE TABLE share_views_old (
    id           TEXT   PRIMARY KEY NOT NULL,
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
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
CREATE INDEX share_views_workspace ON share_views (workspace_id);

DROP TABLE view_journal;
