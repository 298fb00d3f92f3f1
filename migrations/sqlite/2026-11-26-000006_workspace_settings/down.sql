ALTER TABLE workspaces DROP COLUMN show_photo_location;
