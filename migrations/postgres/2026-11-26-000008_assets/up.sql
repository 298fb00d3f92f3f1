-- Assets: the workspace's equipment records, and the custom fields it defines for them.
CREATE TABLE asset_fields (
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key          text        NOT NULL,
    label        text        NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

CREATE TABLE assets (
    id            uuid        PRIMARY KEY,
    workspace_id  uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text        NOT NULL,
    tag           text,
    serial        text,
    category      text,
    status        text        NOT NULL CHECK (status IN ('in_use', 'in_stock', 'in_repair', 'retired', 'lost')),
    location      text,
    assignee_id   uuid        REFERENCES users (id) ON DELETE SET NULL,
    purchase_date date,
    cost_cents    bigint      CHECK (cost_cents >= 0),
    notes         text,
    -- The custom values: a JSON object of key to text.
    custom        text        NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz
);
CREATE INDEX assets_list ON assets (workspace_id, created_at, id);
CREATE INDEX assets_order ON assets (workspace_id, id);
CREATE INDEX assets_assignee ON assets (assignee_id);
