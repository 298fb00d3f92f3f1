use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{JobId, UserId, WorkspaceId};
use workvault_domain::model::{Grant, Job};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::policy::Role;
use workvault_domain::ports::{JobAccess, JobStore, StoreError, StoreResult};

use crate::audit::append;
use crate::rows::{GrantRow, JobRow, corrupt, role};
use crate::schema::{grants, jobs, memberships};
use crate::{Db, PgStore, read, write_tx};

/// A cursor's key (microseconds) back as a timestamp.
pub(crate) fn cursor_time(key: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(key).ok_or_else(|| corrupt("cursor", &key.to_string()))
}

/// The authorized list: one row per visible job with the actor's role, or a single row
/// with no job when the actor is a member who sees none. A Restricted member's list
/// holds granted jobs only. Keyset order `(created_at, id)`, newest first.
pub const JOBS_FOR_SQL: &str = "\
SELECT m.role AS actor_role,
       EXISTS (SELECT 1 FROM grants g WHERE g.job_id = j.id AND g.user_id = m.user_id) AS granted,
       j.id, j.workspace_id, j.title, j.description, j.address, j.status, j.created_by, j.created_at, j.updated_at
FROM memberships m
LEFT JOIN LATERAL (
    SELECT * FROM jobs j
    WHERE j.workspace_id = m.workspace_id
      AND j.deleted_at IS NULL
      AND (m.role <> 'restricted' OR EXISTS (SELECT 1 FROM grants g WHERE g.job_id = j.id AND g.user_id = m.user_id))
      AND (j.created_at, j.id) < ($1, $2)
    ORDER BY j.created_at DESC, j.id DESC
    LIMIT $3
) j ON true
WHERE m.workspace_id = $4 AND m.user_id = $5
ORDER BY j.created_at DESC, j.id DESC";

#[derive(QueryableByName)]
struct JobsForRow {
    #[diesel(sql_type = Text)]
    actor_role: String,
    #[diesel(sql_type = Bool)]
    granted: bool,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    workspace_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    description: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    address: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    created_by: Option<Uuid>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    created_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    updated_at: Option<DateTime<Utc>>,
}

impl JobsForRow {
    fn job(self) -> Option<(JobRow, bool)> {
        let granted = self.granted;
        Some((
            JobRow {
                id: self.id?,
                workspace_id: self.workspace_id?,
                title: self.title?,
                description: self.description,
                address: self.address,
                status: self.status?,
                created_by: self.created_by?,
                created_at: self.created_at?,
                updated_at: self.updated_at?,
            },
            granted,
        ))
    }
}

#[async_trait]
impl JobStore for PgStore {
    async fn create_job(&self, job: &Job, audit: AuditDraft) -> StoreResult<()> {
        let row = JobRow::from_domain(job);
        write_tx!(self, |c| {
            diesel::insert_into(jobs::table).values(&row).execute(c).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn job_for(&self, actor: UserId, ws: WorkspaceId, job: JobId) -> StoreResult<Option<(Job, JobAccess)>> {
        read!(self, |c| {
            // Built with the query builder so the prepared statement is cached per
            // connection (a raw `sql_query` is prepared anew on every call).
            let row: Option<(JobRow, String, Option<Uuid>)> = jobs::table
                .inner_join(memberships::table.on(
                    memberships::workspace_id.eq(jobs::workspace_id).and(memberships::user_id.eq(*actor.as_uuid())),
                ))
                .left_join(grants::table.on(grants::job_id.eq(jobs::id).and(grants::user_id.eq(memberships::user_id))))
                .filter(jobs::id.eq(*job.as_uuid()))
                .filter(jobs::workspace_id.eq(*ws.as_uuid()))
                .filter(jobs::deleted_at.is_null())
                .select((JobRow::as_select(), memberships::role, grants::user_id.nullable()))
                .first(c)
                .await
                .optional()?;
            let Some((job, actor_role, grant)) = row else { return Ok(None) };
            let access = JobAccess { role: role(&actor_role)?, granted: grant.is_some() };
            Ok(Some((job.into_domain()?, access)))
        })
    }

    async fn jobs_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<(Job, bool)>)>> {
        let (at, id) = match page.after {
            Some(after) => (cursor_time(after.key)?, after.id),
            None => (DateTime::<Utc>::MAX_UTC, Uuid::max()),
        };
        read!(self, |c| {
            let rows: Vec<JobsForRow> = diesel::sql_query(JOBS_FOR_SQL)
                .bind::<Timestamptz, _>(at)
                .bind::<SqlUuid, _>(id)
                .bind::<BigInt, _>(i64::from(page.limit) + 1)
                .bind::<SqlUuid, _>(*ws.as_uuid())
                .bind::<SqlUuid, _>(*actor.as_uuid())
                .load(c)
                .await?;
            let Some(first) = rows.as_slice().first() else { return Ok(None) };
            let actor_role = role(&first.actor_role)?;
            let jobs = rows
                .into_iter()
                .filter_map(JobsForRow::job)
                .map(|(j, granted)| Ok((j.into_domain()?, granted)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let page = Page::from_rows(jobs, page.limit, |j| Cursor {
                key: j.0.created_at.timestamp_micros(),
                id: *j.0.id.as_uuid(),
            });
            Ok(Some((actor_role, page)))
        })
    }

    async fn update_job(&self, job: &Job, read_at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()> {
        let row = JobRow::from_domain(job);
        write_tx!(self, |c| {
            let n = diesel::update(jobs::table.find(row.id))
                .filter(jobs::workspace_id.eq(row.workspace_id))
                .filter(jobs::deleted_at.is_null())
                .filter(jobs::updated_at.eq(read_at))
                .set((
                    jobs::title.eq(&row.title),
                    jobs::description.eq(&row.description),
                    jobs::address.eq(&row.address),
                    jobs::status.eq(&row.status),
                    jobs::updated_at.eq(row.updated_at),
                ))
                .execute(c)
                .await?;
            if n == 0 {
                // Changed by someone else since it was read, or gone.
                let live: bool = diesel::select(diesel::dsl::exists(
                    jobs::table.find(row.id).filter(jobs::deleted_at.is_null()).select(jobs::id),
                ))
                .get_result(c)
                .await?;
                return Err(Db(if live {
                    StoreError::Conflict(workvault_domain::ports::Conflict::Stale)
                } else {
                    StoreError::NotFound
                }));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn trash_job(&self, ws: WorkspaceId, job: JobId, at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(jobs::table.find(*job.as_uuid()))
                .filter(jobs::workspace_id.eq(*ws.as_uuid()))
                .filter(jobs::deleted_at.is_null())
                .set(jobs::deleted_at.eq(at))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn put_grant(&self, grant: &Grant, audit: AuditDraft) -> StoreResult<bool> {
        let row = GrantRow::from_domain(grant);
        write_tx!(self, |c| {
            let n = diesel::insert_into(grants::table).values(&row).on_conflict_do_nothing().execute(c).await;
            match n {
                Ok(0) => Ok(false),
                Ok(_) => {
                    append(c, audit).await?;
                    Ok(true)
                }
                // The member left meanwhile (no membership for the foreign key).
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                )) => Err(Db(StoreError::NotFound)),
                Err(e) => Err(e.into()),
            }
        })
    }

    async fn revoke_grant(&self, ws: WorkspaceId, job: JobId, user: UserId, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::delete(grants::table.find((*job.as_uuid(), *user.as_uuid())))
                .filter(grants::workspace_id.eq(*ws.as_uuid()))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn grants(&self, ws: WorkspaceId, job: JobId) -> StoreResult<Vec<Grant>> {
        read!(self, |c| {
            let rows = grants::table
                .filter(grants::workspace_id.eq(*ws.as_uuid()))
                .filter(grants::job_id.eq(*job.as_uuid()))
                .order((grants::created_at.desc(), grants::user_id.desc()))
                .select(GrantRow::as_select())
                .load(c)
                .await?;
            Ok(rows.into_iter().map(GrantRow::into_domain).collect())
        })
    }
}
