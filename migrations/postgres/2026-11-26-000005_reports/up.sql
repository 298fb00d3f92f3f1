-- Photo reports: an ordered selection of one job's photos with captions. Items point
-- at photos of the report's job (checked in the writing transaction); purging a photo
-- removes it from every report.
CREATE TABLE reports (
    id           uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    job_id       uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    title        text        NOT NULL,
    notes        text,
    created_by   uuid        NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz
);
CREATE INDEX reports_list ON reports (job_id, created_at, id);
CREATE INDEX reports_workspace ON reports (workspace_id);
CREATE INDEX reports_created_by ON reports (created_by);

CREATE TABLE report_items (
    report_id uuid    NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    position  integer NOT NULL CHECK (position >= 0),
    photo_id  uuid    NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    caption   text,
    PRIMARY KEY (report_id, position),
    UNIQUE (report_id, photo_id)
);
CREATE INDEX report_items_photo ON report_items (photo_id);
