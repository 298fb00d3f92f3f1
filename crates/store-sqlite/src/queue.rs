//! The task queue on SQLite: SQLite has one writer, so a claim (in a `BEGIN IMMEDIATE`
//! transaction) cannot race another.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use workvault_domain::id::TaskId;
use workvault_domain::ports::{Conflict, StoreError, StoreResult, TaskQueue};
use workvault_domain::queue::{NewTask, Task, TaskState};

use crate::rows::{corrupt, id, micros, opt_time, time};
use crate::schema::tasks;
use crate::{Db, SqliteStore};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = tasks)]
pub(crate) struct TaskRow {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) payload: String,
    pub(crate) state: String,
    pub(crate) attempts: i32,
    pub(crate) max_attempts: i32,
    pub(crate) run_at: i64,
    pub(crate) lease_until: Option<i64>,
    pub(crate) locked_by: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl TaskRow {
    pub(crate) fn from_domain(t: &Task, updated_at: DateTime<Utc>) -> Self {
        Self {
            id: t.id.to_string(),
            kind: t.kind.clone(),
            payload: t.payload.clone(),
            state: t.state.as_str().into(),
            attempts: t.attempts,
            max_attempts: t.max_attempts,
            run_at: micros(t.run_at),
            lease_until: t.lease_until.map(micros),
            locked_by: t.locked_by.clone(),
            last_error: t.last_error.clone(),
            created_at: micros(t.created_at),
            updated_at: micros(updated_at),
        }
    }

    pub(crate) fn into_domain(self) -> Result<Task, StoreError> {
        Ok(Task {
            id: id(&self.id)?,
            kind: self.kind,
            payload: self.payload,
            state: TaskState::parse(&self.state).ok_or_else(|| corrupt("task state", &self.state))?,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            run_at: time(self.run_at)?,
            lease_until: opt_time(self.lease_until)?,
            locked_by: self.locked_by,
            last_error: self.last_error,
            created_at: time(self.created_at)?,
        })
    }
}

/// Enqueues inside the caller's transaction (for port methods whose change needs
/// background work).
pub(crate) fn enqueue_in(c: &mut SqliteConnection, t: &NewTask) -> Result<(), Db> {
    let at = micros(t.created_at);
    diesel::insert_into(tasks::table)
        .values(TaskRow {
            id: t.id.to_string(),
            kind: t.kind.clone(),
            payload: t.payload.clone(),
            state: TaskState::Ready.as_str().into(),
            attempts: 0,
            max_attempts: t.max_attempts,
            run_at: micros(t.run_at),
            lease_until: None,
            locked_by: None,
            last_error: None,
            created_at: at,
            updated_at: at,
        })
        .execute(c)?;
    Ok(())
}

const RUNNING: &str = "running";

#[async_trait]
impl TaskQueue for SqliteStore {
    async fn enqueue(&self, task: &NewTask) -> StoreResult<()> {
        let task = task.clone();
        self.write(move |c| enqueue_in(c, &task)).await
    }

    async fn cancel(&self, task: TaskId) -> StoreResult<()> {
        self.write(move |c| {
            let ready = tasks::table.find(task.to_string()).filter(tasks::state.eq(TaskState::Ready.as_str()));
            diesel::delete(ready).execute(c)?;
            Ok(())
        })
        .await
    }

    async fn claim(&self, worker: &str, now: DateTime<Utc>, lease: chrono::Duration) -> StoreResult<Option<Task>> {
        let (worker, now, until) = (worker.to_owned(), micros(now), micros(now + lease));
        self.write(move |c| {
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
                .execute(c)?;
            let due: Option<String> = tasks::table
                .filter(
                    (tasks::state.eq("ready").and(tasks::run_at.le(now)))
                        .or(tasks::state.eq(RUNNING).and(tasks::lease_until.le(now))),
                )
                .order((tasks::run_at.asc(), tasks::id.asc()))
                .select(tasks::id)
                .first(c)
                .optional()?;
            let Some(due) = due else { return Ok(None) };
            let row: TaskRow = diesel::update(tasks::table.find(due))
                .set((
                    tasks::state.eq(RUNNING),
                    tasks::locked_by.eq(worker),
                    tasks::lease_until.eq(until),
                    tasks::attempts.eq(tasks::attempts + 1),
                    tasks::updated_at.eq(now),
                ))
                .returning(TaskRow::as_returning())
                .get_result(c)?;
            Ok(Some(row.into_domain()?))
        })
        .await
    }

    async fn extend_lease(&self, task: TaskId, worker: &str, until: DateTime<Utc>) -> StoreResult<()> {
        let (task, worker) = (task.to_string(), worker.to_owned());
        self.write(move |c| {
            let n = diesel::update(tasks::table.find(task))
                .filter(tasks::state.eq(RUNNING))
                .filter(tasks::locked_by.eq(worker))
                .set(tasks::lease_until.eq(micros(until)))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::Conflict(Conflict::LeaseLost)));
            }
            Ok(())
        })
        .await
    }

    async fn complete(&self, task: TaskId, worker: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let (task, worker) = (task.to_string(), worker.to_owned());
        self.write(move |c| {
            let n = diesel::update(tasks::table.find(task))
                .filter(tasks::state.eq(RUNNING))
                .filter(tasks::locked_by.eq(worker))
                .set((tasks::state.eq("done"), tasks::lease_until.eq(None::<i64>), tasks::updated_at.eq(micros(now))))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::Conflict(Conflict::LeaseLost)));
            }
            Ok(())
        })
        .await
    }

    async fn fail(
        &self,
        task: TaskId,
        worker: &str,
        error: &str,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<TaskState> {
        let (task, worker, error) = (task.to_string(), worker.to_owned(), error.chars().take(2000).collect::<String>());
        self.write(move |c| {
            let row: Option<TaskRow> = tasks::table
                .find(&task)
                .filter(tasks::state.eq(RUNNING))
                .filter(tasks::locked_by.eq(&worker))
                .select(TaskRow::as_select())
                .first(c)
                .optional()?;
            let Some(row) = row else { return Err(Db(StoreError::Conflict(Conflict::LeaseLost))) };
            let next = if row.attempts >= row.max_attempts { TaskState::Dead } else { TaskState::Ready };
            diesel::update(tasks::table.find(&task))
                .set((
                    tasks::state.eq(next.as_str()),
                    tasks::run_at.eq(micros(retry_at)),
                    tasks::lease_until.eq(None::<i64>),
                    tasks::locked_by.eq(None::<String>),
                    tasks::last_error.eq(error),
                    tasks::updated_at.eq(micros(now)),
                ))
                .execute(c)?;
            Ok(next)
        })
        .await
    }

    async fn task(&self, task: TaskId) -> StoreResult<Option<Task>> {
        let task = task.to_string();
        self.run(move |c| {
            let row = tasks::table.find(task).select(TaskRow::as_select()).first(c).optional()?;
            Ok(row.map(TaskRow::into_domain).transpose()?)
        })
        .await
    }
}
