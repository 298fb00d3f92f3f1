-- The background task queue: enqueued in the transaction of the change that needs the
-- work, claimed by a single writer, leased, retried with backoff, then dead.
CREATE TABLE tasks (
    id           TEXT    PRIMARY KEY NOT NULL,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('ready', 'running', 'done', 'dead')),
    attempts     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
    run_at       BIGINT  NOT NULL,
    lease_until  BIGINT,
    locked_by    TEXT,
    last_error   TEXT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE INDEX tasks_due ON tasks (run_at, id) WHERE state IN ('ready', 'running');
