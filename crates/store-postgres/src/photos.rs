//! Photos on PostgreSQL: reads join the photo's job, the actor's membership and grant in
//! one statement; trash, restore and purge are conditional writes with their audit
//! event in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{JobId, PhotoId, UserId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::photo::{Photo, PhotoStore, Processed};
use workvault_domain::policy::ResourceFacts;
use workvault_domain::ports::{JobAccess, Standing, StoreError, StoreResult};
use workvault_domain::queue::NewTask;

use crate::audit::append;
use crate::jobs::cursor_time;
use crate::members::role_in;
use crate::queue::enqueue_in;
use crate::rows::{PhotoRow, ProcessedCols, role};
use crate::schema::{grants, jobs, memberships, photos};
use crate::{Db, PgStore, read, write_tx};

/// The photo (live or trashed) with the actor's role and grant on its live job.
async fn with_access(
    c: &mut AsyncPgConnection,
    actor: UserId,
    ws: WorkspaceId,
    photo: PhotoId,
    trashed: bool,
) -> Result<Option<(Photo, JobAccess)>, Db> {
    let query = photos::table
        .inner_join(jobs::table.on(jobs::id.eq(photos::job_id).and(jobs::deleted_at.is_null())))
        .inner_join(
            memberships::table
                .on(memberships::workspace_id.eq(photos::workspace_id).and(memberships::user_id.eq(*actor.as_uuid()))),
        )
        .left_join(grants::table.on(grants::job_id.eq(photos::job_id).and(grants::user_id.eq(memberships::user_id))))
        .filter(photos::id.eq(*photo.as_uuid()))
        .filter(photos::workspace_id.eq(*ws.as_uuid()))
        // One statement shape for live and trashed photos, so it is prepared once.
        .filter(photos::deleted_at.is_null().eq(!trashed))
        .select((PhotoRow::as_select(), memberships::role, grants::user_id.nullable()));
    let row: Option<(PhotoRow, String, Option<Uuid>)> = query.first(c).await.optional()?;
    let Some((photo, actor_role, grant)) = row else { return Ok(None) };
    Ok(Some((photo.into_domain()?, JobAccess { role: role(&actor_role)?, granted: grant.is_some() })))
}

/// Inside a write: the job is live and `standing` holds on it (`NotFound`, `Denied`).
/// The membership, the job and the grant stay locked `FOR SHARE` (in the order
/// removals take them: membership first) until the write commits, so a removal,
/// demotion, trash or grant revocation waits for it, or it sees them.
pub(crate) async fn job_standing(c: &mut AsyncPgConnection, ws: Uuid, job: Uuid, standing: Standing) -> Result<(), Db> {
    let user = *standing.user.as_uuid();
    let role = role_in(c, ws, user).await?;
    let live: Option<Uuid> = jobs::table
        .filter(jobs::id.eq(job))
        .filter(jobs::workspace_id.eq(ws))
        .filter(jobs::deleted_at.is_null())
        .select(jobs::id)
        .for_share()
        .first(c)
        .await
        .optional()?;
    if live.is_none() {
        return Err(Db(StoreError::NotFound));
    }
    let granted: Option<Uuid> =
        grants::table.find((job, user)).select(grants::user_id).for_share().first(c).await.optional()?;
    Ok(standing.check(role, ResourceFacts::Job { granted: granted.is_some() })?)
}

#[async_trait]
impl PhotoStore for PgStore {
    async fn create_photo(
        &self,
        photo: &Photo,
        process: &NewTask,
        standing: Standing,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let row = PhotoRow::from_domain(photo);
        write_tx!(self, |c| {
            job_standing(c, row.workspace_id, row.job_id, standing).await?;
            diesel::insert_into(photos::table).values(&row).execute(c).await?;
            enqueue_in(c, process).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn photo_by_id(&self, ws: WorkspaceId, photo: PhotoId) -> StoreResult<Option<Photo>> {
        read!(self, |c| {
            let row: Option<PhotoRow> = photos::table
                .find(*photo.as_uuid())
                .filter(photos::workspace_id.eq(*ws.as_uuid()))
                .select(PhotoRow::as_select())
                .first(c)
                .await
                .optional()?;
            Ok(row.map(PhotoRow::into_domain).transpose()?)
        })
    }

    async fn finish_photo(&self, ws: WorkspaceId, photo: PhotoId, outcome: &Processed) -> StoreResult<()> {
        let cols = ProcessedCols::of(outcome.status, outcome.facts, outcome.large_size, outcome.thumb_size);
        read!(self, |c| {
            let n = diesel::update(photos::table.find(*photo.as_uuid()))
                .filter(photos::workspace_id.eq(*ws.as_uuid()))
                .set((
                    photos::status.eq(&cols.status),
                    photos::width.eq(cols.width),
                    photos::height.eq(cols.height),
                    photos::taken_at.eq(&cols.taken_at),
                    photos::has_location.eq(cols.has_location),
                    photos::large_size.eq(cols.large_size),
                    photos::thumb_size.eq(cols.thumb_size),
                ))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            Ok(())
        })
    }

    async fn photo_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        photo: PhotoId,
    ) -> StoreResult<Option<(Photo, JobAccess)>> {
        read!(self, |c| with_access(c, actor, ws, photo, false).await)
    }

    async fn photos_of_job(&self, ws: WorkspaceId, job: JobId, page: PageRequest) -> StoreResult<Page<Photo>> {
        let (at, id) = match page.after {
            Some(after) => (cursor_time(after.key)?, after.id),
            None => (DateTime::<Utc>::MAX_UTC, Uuid::max()),
        };
        read!(self, |c| {
            let rows: Vec<PhotoRow> = photos::table
                .filter(photos::workspace_id.eq(*ws.as_uuid()))
                .filter(photos::job_id.eq(*job.as_uuid()))
                .filter(photos::deleted_at.is_null())
                .filter(photos::created_at.lt(at).or(photos::created_at.eq(at).and(photos::id.lt(id))))
                .order((photos::created_at.desc(), photos::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select(PhotoRow::as_select())
                .load(c)
                .await?;
            let items = rows.into_iter().map(PhotoRow::into_domain).collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Page::from_rows(items, page.limit, |p| Cursor {
                key: p.created_at.timestamp_micros(),
                id: *p.id.as_uuid(),
            }))
        })
    }

    async fn trash_photo(
        &self,
        ws: WorkspaceId,
        photo: PhotoId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(photos::table.find(*photo.as_uuid()))
                .filter(photos::workspace_id.eq(*ws.as_uuid()))
                .filter(photos::deleted_at.is_null())
                .set(photos::deleted_at.eq(at))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn trashed_photo(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        photo: PhotoId,
    ) -> StoreResult<Option<(Photo, JobAccess)>> {
        read!(self, |c| with_access(c, actor, ws, photo, true).await)
    }

    async fn restore_photo(&self, ws: WorkspaceId, photo: PhotoId, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(photos::table.find(*photo.as_uuid()))
                .filter(photos::workspace_id.eq(*ws.as_uuid()))
                .filter(photos::deleted_at.is_not_null())
                .set(photos::deleted_at.eq(None::<DateTime<Utc>>))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn purge_photo(
        &self,
        ws: WorkspaceId,
        photo: PhotoId,
        cleanup: &NewTask,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::delete(photos::table.find(*photo.as_uuid()))
                .filter(photos::workspace_id.eq(*ws.as_uuid()))
                .filter(photos::deleted_at.is_not_null())
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            enqueue_in(c, cleanup).await?;
            append(c, audit).await?;
            Ok(())
        })
    }
}
