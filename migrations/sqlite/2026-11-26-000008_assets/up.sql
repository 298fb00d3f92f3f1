-- Assets: the workspace's equipment records, and the custom fields it defines for them.
CREATE TABLE asset_fields (
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key          TEXT   NOT NULL,
    label        TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

CREATE TABLE assets (
    id            TEXT   PRIMARY KEY NOT NULL,
    workspace_id  TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT   NOT NULL,
    tag           TEXT,
    serial        TEXT,
    category      TEXT,
    status        TEXT   NOT NULL CHECK (status IN ('in_use', 'in_stock', 'in_repair', 'retired', 'lost')),
    location      TEXT,
    assignee_id   TEXT   REFERENCES users (id) ON DELETE SET NULL,
    purchase_date TEXT,
    cost_cents    BIGINT CHECK (cost_cents >= 0),
    notes         TEXT,
    -- The custom values: a JSON object of key to text.
    custom        TEXT   NOT NULL DEFAULT '{}',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
CREATE INDEX assets_list ON assets (workspace_id, created_at, id);
CREATE INDEX assets_order ON assets (workspace_id, id);
CREATE INDEX assets_assignee ON assets (assignee_id);
