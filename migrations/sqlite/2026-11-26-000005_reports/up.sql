-- Photo reports: an ordered selection of one job's photos with captions. Items point
-- at photos of the report's job (checked in the writing transaction); purging a photo
-- removes it from every report.
CREATE TABLE reports (
    id           TEXT   PRIMARY KEY NOT NULL,
    workspace_id TEXT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    job_id       TEXT   NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    title        TEXT   NOT NULL,
    notes        TEXT,
    created_by   TEXT   NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    deleted_at   BIGINT
);
CREATE INDEX reports_list ON reports (job_id, created_at, id);
CREATE INDEX reports_workspace ON reports (workspace_id);
CREATE INDEX reports_created_by ON reports (created_by);

CREATE TABLE report_items (
    report_id TEXT    NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL CHECK (position >= 0),
    photo_id  TEXT    NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    caption   TEXT,
    PRIMARY KEY (report_id, position),
    UNIQUE (report_id, photo_id)
);
CREATE INDEX report_items_photo ON report_items (photo_id);
