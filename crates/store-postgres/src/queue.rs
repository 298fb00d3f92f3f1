//! The task queue on PostgreSQL: a claim locks one due row with `FOR UPDATE SKIP
//! LOCKED`, so concurrent workers each take a different task without waiting on
//! each other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use workvault_domain::id::TaskId;
use workvault_domain::ports::{Conflict, StoreError, StoreResult, TaskQueue};
use workvault_domain::queue::{NewTask, Task, TaskState};

use crate::rows::corrupt;
use crate::schema::tasks;
use crate::{Db, PgStore, read, write_tx};

#[derive(Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = tasks)]
pub(crate) struct TaskRow {
    pub(crate) id: Uuid,
    pub(crate) kind: String,
    pub(crate) payload: String,
    pub(crate) state: String,
    pub(crate) attempts: i32,
    pub(crate) max_attempts: i32,
    pub(crate) run_at: DateTime<Utc>,
    pub(crate) lease_until: Option<DateTime<Utc>>,
    pub(crate) locked_by: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl TaskRow {
    pub(crate) fn from_domain(t: &Task) -> Self {
        Self {
            id: *t.id.as_uuid(),
            kind: t.kind.clone(),
            payload: t.payload.clone(),
            state: t.state.as_str().into(),
            attempts: t.attempts,
            max_attempts: t.max_attempts,
            run_at: t.run_at,
            lease_until: t.lease_until,
            locked_by: t.locked_by.clone(),
            last_error: t.last_error.clone(),
            created_at: t.created_at,
            updated_at: t.created_at,
        }
    }

    pub(crate) fn into_domain(self) -> Result<Task, StoreError> {
        Ok(Task {
            id: TaskId::from_uuid(self.id),
            kind: self.kind,
            payload: self.payload,
            state: TaskState::parse(&self.state).ok_or_else(|| corrupt("task state", &self.state))?,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            run_at: self.run_at,
            lease_until: self.lease_until,
            locked_by: self.locked_by,
            last_error: self.last_error,
            created_at: self.created_at,
        })
    }
}

/// Enqueues inside the caller's transaction (for port methods whose change needs
/// background work).
pub(crate) async fn enqueue_in(c: &mut AsyncPgConnection, t: &NewTask) -> Result<(), Db> {
    diesel::insert_into(tasks::table)
        .values(TaskRow {
            id: *t.id.as_uuid(),
            kind: t.kind.clone(),
            payload: t.payload.clone(),
            state: TaskState::Ready.as_str().into(),
            attempts: 0,
            max_attempts: t.max_attempts,
            run_at: t.run_at,
            lease_until: None,
            locked_by: None,
            last_error: None,
            created_at: t.created_at,
            updated_at: t.created_at,
        })
        .execute(c)
        .await?;
    Ok(())
}

/// Takes the next due task in one statement. Rows other workers hold are skipped,
/// not waited for.
const CLAIM_SQL: &str = "\
UPDATE tasks SET state = 'running', locked_by = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3
WHERE id = (
    SELECT id FROM tasks
    WHERE ((state = 'ready' AND run_at <= $3) OR (state = 'running' AND lease_until <= $3 AND attempts < max_attempts))
    ORDER BY run_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING *";

const RUNNING: &str = "running";

#[async_trait]
impl TaskQueue for PgStore {
    async fn enqueue(&self, task: &NewTask) -> StoreResult<()> {
        let task = task.clone();
        read!(self, |c| enqueue_in(c, &task).await)
    }

    async fn cancel(&self, task: TaskId) -> StoreResult<()> {
        read!(self, |c| {
            let ready = tasks::table.find(*task.as_uuid()).filter(tasks::state.eq(TaskState::Ready.as_str()));
            diesel::delete(ready).execute(c).await?;
            Ok(())
        })
    }

    async fn claim(&self, worker: &str, now: DateTime<Utc>, lease: chrono::Duration) -> StoreResult<Option<Task>> {
        let worker = worker.to_owned();
        read!(self, |c| {
            // A lease that expired on the last attempt: the task is given up.
            diesel::update(tasks::table)
                .filter(tasks::state.eq(RUNNING))
                .filter(tasks::lease_until.le(now))
                .filter(tasks::attempts.ge(tasks::max_attempts))
                .set((
                    tasks::state.eq("dead"),
                    tasks::last_error.eq("the worker's lease expired on the last attempt"),
                    tasks::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
            let row: Option<TaskRow> = diesel::sql_query(CLAIM_SQL)
                .bind::<Text, _>(worker)
                .bind::<Timestamptz, _>(now + lease)
                .bind::<Timestamptz, _>(now)
                .get_result(c)
                .await
                .optional()?;
            Ok(row.map(TaskRow::into_domain).transpose()?)
        })
    }

    async fn extend_lease(&self, task: TaskId, worker: &str, until: DateTime<Utc>) -> StoreResult<()> {
        let worker = worker.to_owned();
        read!(self, |c| {
            let n = diesel::update(tasks::table.find(*task.as_uuid()))
                .filter(tasks::state.eq(RUNNING))
                .filter(tasks::locked_by.eq(worker))
                .set(tasks::lease_until.eq(until))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::Conflict(Conflict::LeaseLost)));
            }
            Ok(())
        })
    }

    async fn complete(&self, task: TaskId, worker: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let worker = worker.to_owned();
        read!(self, |c| {
            let n = diesel::update(tasks::table.find(*task.as_uuid()))
                .filter(tasks::state.eq(RUNNING))
                .filter(tasks::locked_by.eq(worker))
                .set((tasks::state.eq("done"), tasks::lease_until.eq(None::<DateTime<Utc>>), tasks::updated_at.eq(now)))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::Conflict(Conflict::LeaseLost)));
            }
            Ok(())
        })
    }

    async fn fail(
        &self,
        task: TaskId,
        worker: &str,
        error: &str,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<TaskState> {
        let (id, worker, error) = (*task.as_uuid(), worker.to_owned(), error.chars().take(2000).collect::<String>());
        write_tx!(self, |c| {
            let row: Option<TaskRow> = tasks::table
                .find(id)
                .filter(tasks::state.eq(RUNNING))
                .filter(tasks::locked_by.eq(&worker))
                .select(TaskRow::as_select())
                .for_update()
                .first(c)
                .await
                .optional()?;
            let Some(row) = row else { return Err(Db(StoreError::Conflict(Conflict::LeaseLost))) };
            let next = if row.attempts >= row.max_attempts { TaskState::Dead } else { TaskState::Ready };
            diesel::update(tasks::table.find(id))
                .set((
                    tasks::state.eq(next.as_str()),
                    tasks::run_at.eq(retry_at),
                    tasks::lease_until.eq(None::<DateTime<Utc>>),
                    tasks::locked_by.eq(None::<String>),
                    tasks::last_error.eq(error),
                    tasks::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
            Ok(next)
        })
    }

    async fn task(&self, task: TaskId) -> StoreResult<Option<Task>> {
        read!(self, |c| {
            let row = tasks::table.find(*task.as_uuid()).select(TaskRow::as_select()).first(c).await.optional()?;
            Ok(row.map(TaskRow::into_domain).transpose()?)
        })
    }
}
