use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{JobId, UserId, WorkspaceId};
use workvault_domain::model::{Grant, Job};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::policy::Role;
use workvault_domain::ports::{JobAccess, JobStore, StoreError, StoreResult};

use crate::audit::append;
use crate::rows::{GrantRow, JobRow, micros, role};
use crate::schema::{grants, jobs, memberships};
use crate::{Db, SqliteStore};

/// The authorized list: one row per visible job with the actor's role, or a single row
/// with no job when the actor is a member who sees none. A Restricted member's list
/// holds granted jobs only. Keyset order `(created_at, id)`, newest first.
pub const JOBS_FOR_SQL: &str = "\
SELECT m.role AS actor_role,
       EXISTS (SELECT 1 FROM grants g WHERE g.job_id = j.id AND g.user_id = m.user_id) AS granted,
       j.id, j.workspace_id, j.title, j.description, j.address, j.status, j.created_by, j.created_at, j.updated_at
FROM memberships m
LEFT JOIN jobs j
  ON j.workspace_id = m.workspace_id
 AND j.deleted_at IS NULL
 AND (m.role <> 'restricted' OR EXISTS (SELECT 1 FROM grants g WHERE g.job_id = j.id AND g.user_id = m.user_id))
 AND (j.created_at < ? OR (j.created_at = ? AND j.id < ?))
WHERE m.workspace_id = ? AND m.user_id = ?
ORDER BY j.created_at DESC, j.id DESC
LIMIT ?";

#[derive(QueryableByName)]
struct JobsForRow {
    #[diesel(sql_type = Text)]
    actor_role: String,
    #[diesel(sql_type = Bool)]
    granted: bool,
    #[diesel(sql_type = Nullable<Text>)]
    id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    workspace_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    description: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    address: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    created_by: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    created_at: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    updated_at: Option<i64>,
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
impl JobStore for SqliteStore {
    async fn create_job(&self, job: &Job, audit: AuditDraft) -> StoreResult<()> {
        let row = JobRow::from_domain(job);
        self.write(move |c| {
            diesel::insert_into(jobs::table).values(&row).execute(c)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn job_for(&self, actor: UserId, ws: WorkspaceId, job: JobId) -> StoreResult<Option<(Job, JobAccess)>> {
        self.run(move |c| {
            // The row, the actor's role and their grant, in one statement; no
            // membership, no row. Built with the query builder so the prepared
            // statement is cached per connection.
            let row: Option<(JobRow, String, Option<String>)> = jobs::table
                .inner_join(memberships::table.on(
                    memberships::workspace_id.eq(jobs::workspace_id).and(memberships::user_id.eq(actor.to_string())),
                ))
                .left_join(grants::table.on(grants::job_id.eq(jobs::id).and(grants::user_id.eq(memberships::user_id))))
                .filter(jobs::id.eq(job.to_string()))
                .filter(jobs::workspace_id.eq(ws.to_string()))
                .filter(jobs::deleted_at.is_null())
                .select((JobRow::as_select(), memberships::role, grants::user_id.nullable()))
                .first(c)
                .optional()?;
            let Some((job, actor_role, grant)) = row else { return Ok(None) };
            let access = JobAccess { role: role(&actor_role)?, granted: grant.is_some() };
            Ok(Some((job.into_domain()?, access)))
        })
        .await
    }

    async fn jobs_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<(Job, bool)>)>> {
        self.run(move |c| {
            let (key, id) = match page.after {
                Some(after) => (after.key, after.id.to_string()),
                None => (i64::MAX, String::from("~")),
            };
            let rows: Vec<JobsForRow> = diesel::sql_query(JOBS_FOR_SQL)
                .bind::<BigInt, _>(key)
                .bind::<BigInt, _>(key)
                .bind::<Text, _>(id)
                .bind::<Text, _>(ws.to_string())
                .bind::<Text, _>(actor.to_string())
                .bind::<BigInt, _>(i64::from(page.limit) + 1)
                .load(c)?;
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let actor_role = role(&first.actor_role)?;
            let jobs = rows
                .into_iter()
                .filter_map(JobsForRow::job)
                .map(|(j, granted)| Ok((j.into_domain()?, granted)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let page =
                Page::from_rows(jobs, page.limit, |(j, _)| Cursor { key: micros(j.created_at), id: *j.id.as_uuid() });
            Ok(Some((actor_role, page)))
        })
        .await
    }

    async fn update_job(&self, job: &Job, read_at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()> {
        let row = JobRow::from_domain(job);
        self.write(move |c| {
            let n = diesel::update(jobs::table.find(&row.id))
                .filter(jobs::workspace_id.eq(&row.workspace_id))
                .filter(jobs::deleted_at.is_null())
                .filter(jobs::updated_at.eq(micros(read_at)))
                .set((
                    jobs::title.eq(&row.title),
                    jobs::description.eq(&row.description),
                    jobs::address.eq(&row.address),
                    jobs::status.eq(&row.status),
                    jobs::updated_at.eq(row.updated_at),
                ))
                .execute(c)?;
            if n == 0 {
                // Changed by someone else since it was read, or gone.
                let live: bool = diesel::select(diesel::dsl::exists(
                    jobs::table.find(&row.id).filter(jobs::deleted_at.is_null()).select(jobs::id),
                ))
                .get_result(c)?;
                return Err(Db(if live {
                    StoreError::Conflict(workvault_domain::ports::Conflict::Stale)
                } else {
                    StoreError::NotFound
                }));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn trash_job(&self, ws: WorkspaceId, job: JobId, at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::update(jobs::table.find(job.to_string()))
                .filter(jobs::workspace_id.eq(ws.to_string()))
                .filter(jobs::deleted_at.is_null())
                .set(jobs::deleted_at.eq(micros(at)))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn put_grant(&self, grant: &Grant, audit: AuditDraft) -> StoreResult<bool> {
        let row = GrantRow::from_domain(grant);
        self.write(move |c| {
            let n = diesel::insert_into(grants::table).values(&row).on_conflict_do_nothing().execute(c);
            match n {
                Ok(0) => Ok(false),
                Ok(_) => {
                    append(c, audit)?;
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
        .await
    }

    async fn revoke_grant(&self, ws: WorkspaceId, job: JobId, user: UserId, audit: AuditDraft) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::delete(grants::table.find((job.to_string(), user.to_string())))
                .filter(grants::workspace_id.eq(ws.to_string()))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn grants(&self, ws: WorkspaceId, job: JobId) -> StoreResult<Vec<Grant>> {
        self.run(move |c| {
            let rows = grants::table
                .filter(grants::workspace_id.eq(ws.to_string()))
                .filter(grants::job_id.eq(job.to_string()))
                .order((grants::created_at.desc(), grants::user_id.desc()))
                .select(GrantRow::as_select())
                .load(c)?;
            Ok(rows.into_iter().map(GrantRow::into_domain).collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
