use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
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

/// A job's columns from the right side of a left join: all null when there is none.
type ListedJob = (
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Uuid>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn listed(j: ListedJob) -> Option<JobRow> {
    let (id, workspace_id, title, description, address, status, created_by, created_at, updated_at) = j;
    Some(JobRow {
        id: id?,
        workspace_id: workspace_id?,
        title: title?,
        description,
        address,
        status: status?,
        created_by: created_by?,
        created_at: created_at?,
        updated_at: updated_at?,
    })
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
            // The member's row, left-joined to the page's visible jobs (a Restricted
            // member's granted ones only) with the member's grant on each. Built with
            // the query builder so its prepared statement is cached per connection.
            let rows: Vec<(String, ListedJob, Option<Uuid>)> = memberships::table
                .left_join(
                    jobs::table.on(jobs::workspace_id
                        .eq(memberships::workspace_id)
                        .and(jobs::deleted_at.is_null())
                        .and(jobs::created_at.lt(at).or(jobs::created_at.eq(at).and(jobs::id.lt(id))))),
                )
                .left_join(grants::table.on(grants::job_id.eq(jobs::id).and(grants::user_id.eq(memberships::user_id))))
                .filter(memberships::workspace_id.eq(*ws.as_uuid()))
                .filter(memberships::user_id.eq(*actor.as_uuid()))
                .filter(
                    memberships::role
                        .ne(Role::Restricted.as_str())
                        .or(grants::user_id.nullable().is_not_null())
                        .or(jobs::id.nullable().is_null()),
                )
                .order((jobs::created_at.desc(), jobs::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((
                    memberships::role,
                    (
                        jobs::id.nullable(),
                        jobs::workspace_id.nullable(),
                        jobs::title.nullable(),
                        jobs::description.nullable(),
                        jobs::address.nullable(),
                        jobs::status.nullable(),
                        jobs::created_by.nullable(),
                        jobs::created_at.nullable(),
                        jobs::updated_at.nullable(),
                    ),
                    grants::user_id.nullable(),
                ))
                .load(c)
                .await?;
            let actor_role = match rows.as_slice().first() {
                Some((r, _, _)) => role(r)?,
                // No row: not a member, or a Restricted member none of whose jobs on
                // this page is granted (the filter took every row); tell them apart.
                None => {
                    let member: Option<String> = memberships::table
                        .find((*ws.as_uuid(), *actor.as_uuid()))
                        .select(memberships::role)
                        .first(c)
                        .await
                        .optional()?;
                    match member {
                        Some(r) => role(&r)?,
                        None => return Ok(None),
                    }
                }
            };
            let jobs = rows
                .into_iter()
                .filter_map(|(_, job, grant)| listed(job).map(|j| (j, grant.is_some())))
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
