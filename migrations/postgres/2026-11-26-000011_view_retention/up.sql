-- How many days a workspace keeps the views of its share links; NULL: the instance's
-- default (`sharing.view_retention_days`).
ALTER TABLE workspaces ADD COLUMN share_view_retention_days integer
    CHECK (share_view_retention_days BETWEEN 1 AND 3650);
