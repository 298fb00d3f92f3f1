use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
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

/// A job's columns from the right side of a left join: all null when there is none.
type ListedJob = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
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
            // The member's row, left-joined to the page's visible jobs (a Restricted
            // member's granted ones only) with the member's grant on each, in one
            // statement built with the query builder.
            let rows: Vec<(String, ListedJob, Option<String>)> = memberships::table
                .left_join(
                    jobs::table.on(jobs::workspace_id
                        .eq(memberships::workspace_id)
                        .and(jobs::deleted_at.is_null())
                        .and(jobs::created_at.lt(key).or(jobs::created_at.eq(key).and(jobs::id.lt(id))))),
                )
                .left_join(grants::table.on(grants::job_id.eq(jobs::id).and(grants::user_id.eq(memberships::user_id))))
                .filter(memberships::workspace_id.eq(ws.to_string()))
                .filter(memberships::user_id.eq(actor.to_string()))
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
                .load(c)?;
            let actor_role = match rows.as_slice().first() {
                Some((r, _, _)) => role(r)?,
                // No row: not a member, or a Restricted member none of whose jobs on
                // this page is granted (the filter took every row); tell them apart.
                None => {
                    let member: Option<String> = memberships::table
                        .find((ws.to_string(), actor.to_string()))
                        .select(memberships::role)
                        .first(c)
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
