ALTER TABLE workspaces DROP COLUMN share_view_retention_days;
