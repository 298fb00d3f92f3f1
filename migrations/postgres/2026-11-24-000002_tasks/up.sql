-- The background task queue: enqueued in the transaction of the change that needs the
-- work, claimed with FOR UPDATE SKIP LOCKED, leased, retried with backoff, then dead.
CREATE TABLE tasks (
    id           uuid        PRIMARY KEY,
    kind         text        NOT NULL,
    payload      text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('ready', 'running', 'done', 'dead')),
    attempts     integer     NOT NULL,
    max_attempts integer     NOT NULL CHECK (max_attempts > 0),
    run_at       timestamptz NOT NULL,
    lease_until  timestamptz,
    locked_by    text,
    last_error   text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
-- What a worker looks at: due tasks, and running tasks whose lease may have expired.
CREATE INDEX tasks_due ON tasks (run_at, id) WHERE state IN ('ready', 'running');
