-- Workspace settings. `show_photo_location`: whether Owners and Admins may read the
-- GPS location kept in a photo's encrypted original (off by default).
ALTER TABLE workspaces ADD COLUMN show_photo_location boolean NOT NULL DEFAULT false;
