//! Photos on SQLite: reads join the photo's job, the actor's membership and grant in
//! one statement; trash, restore and purge are conditional writes with their audit
//! event in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{JobId, PhotoId, UserId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::photo::{Photo, PhotoStore, Processed};
use workvault_domain::policy::ResourceFacts;
use workvault_domain::ports::{JobAccess, Standing, StoreError, StoreResult};
use workvault_domain::queue::NewTask;

use crate::audit::append;
use crate::members::role_in;
use crate::queue::enqueue_in;
use crate::rows::{PhotoRow, ProcessedCols, micros, role};
use crate::schema::{grants, jobs, memberships, photos};
use crate::{Db, SqliteStore};

/// The photo (live or trashed) with the actor's role and grant on its live job.
fn with_access(
    c: &mut SqliteConnection,
    actor: UserId,
    ws: WorkspaceId,
    photo: PhotoId,
    trashed: bool,
) -> Result<Option<(Photo, JobAccess)>, Db> {
    let query = photos::table
        .inner_join(jobs::table.on(jobs::id.eq(photos::job_id).and(jobs::deleted_at.is_null())))
        .inner_join(
            memberships::table
                .on(memberships::workspace_id.eq(photos::workspace_id).and(memberships::user_id.eq(actor.to_string()))),
        )
        .left_join(grants::table.on(grants::job_id.eq(photos::job_id).and(grants::user_id.eq(memberships::user_id))))
        .filter(photos::id.eq(photo.to_string()))
        .filter(photos::workspace_id.eq(ws.to_string()))
        // One statement shape for live and trashed photos, so it is prepared once.
        .filter(photos::deleted_at.is_null().eq(!trashed))
        .select((PhotoRow::as_select(), memberships::role, grants::user_id.nullable()));
    let row: Option<(PhotoRow, String, Option<String>)> = query.first(c).optional()?;
    let Some((photo, actor_role, grant)) = row else { return Ok(None) };
    Ok(Some((photo.into_domain()?, JobAccess { role: role(&actor_role)?, granted: grant.is_some() })))
}

/// Inside a write: the job is live and `standing` holds on it (`NotFound`, `Denied`).
pub(crate) fn job_standing(c: &mut SqliteConnection, ws: &str, job: &str, standing: Standing) -> Result<(), Db> {
    let live: Option<String> = jobs::table
        .filter(jobs::id.eq(job))
        .filter(jobs::workspace_id.eq(ws))
        .filter(jobs::deleted_at.is_null())
        .select(jobs::id)
        .first(c)
        .optional()?;
    if live.is_none() {
        return Err(Db(StoreError::NotFound));
    }
    let user = standing.user.to_string();
    let granted: Option<String> = grants::table.find((job, &user)).select(grants::user_id).first(c).optional()?;
    Ok(standing.check(role_in(c, ws, &user)?, ResourceFacts::Job { granted: granted.is_some() })?)
}

#[async_trait]
impl PhotoStore for SqliteStore {
    async fn create_photo(
        &self,
        photo: &Photo,
        process: &NewTask,
        standing: Standing,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let row = PhotoRow::from_domain(photo);
        let task = process.clone();
        self.write(move |c| {
            job_standing(c, &row.workspace_id, &row.job_id, standing)?;
            diesel::insert_into(photos::table).values(&row).execute(c)?;
            enqueue_in(c, &task)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn photo_by_id(&self, ws: WorkspaceId, photo: PhotoId) -> StoreResult<Option<Photo>> {
        self.run(move |c| {
            let row: Option<PhotoRow> = photos::table
                .find(photo.to_string())
                .filter(photos::workspace_id.eq(ws.to_string()))
                .select(PhotoRow::as_select())
                .first(c)
                .optional()?;
            Ok(row.map(PhotoRow::into_domain).transpose()?)
        })
        .await
    }

    async fn finish_photo(&self, ws: WorkspaceId, photo: PhotoId, outcome: &Processed) -> StoreResult<()> {
        let cols = ProcessedCols::of(outcome.status, outcome.facts, outcome.large_size, outcome.thumb_size);
        self.write(move |c| {
            let n = diesel::update(photos::table.find(photo.to_string()))
                .filter(photos::workspace_id.eq(ws.to_string()))
                .set((
                    photos::status.eq(cols.status),
                    photos::width.eq(cols.width),
                    photos::height.eq(cols.height),
                    photos::taken_at.eq(cols.taken_at),
                    photos::has_location.eq(cols.has_location),
                    photos::large_size.eq(cols.large_size),
                    photos::thumb_size.eq(cols.thumb_size),
                ))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            Ok(())
        })
        .await
    }

    async fn photo_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        photo: PhotoId,
    ) -> StoreResult<Option<(Photo, JobAccess)>> {
        self.run(move |c| with_access(c, actor, ws, photo, false)).await
    }

    async fn photos_of_job(&self, ws: WorkspaceId, job: JobId, page: PageRequest) -> StoreResult<Page<Photo>> {
        self.run(move |c| {
            let (key, id) = match page.after {
                Some(after) => (after.key, after.id.to_string()),
                None => (i64::MAX, String::from("~")),
            };
            let rows: Vec<PhotoRow> = photos::table
                .filter(photos::workspace_id.eq(ws.to_string()))
                .filter(photos::job_id.eq(job.to_string()))
                .filter(photos::deleted_at.is_null())
                .filter(photos::created_at.lt(key).or(photos::created_at.eq(key).and(photos::id.lt(id))))
                .order((photos::created_at.desc(), photos::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select(PhotoRow::as_select())
                .load(c)?;
            let items = rows.into_iter().map(PhotoRow::into_domain).collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Page::from_rows(items, page.limit, |p| Cursor { key: micros(p.created_at), id: *p.id.as_uuid() }))
        })
        .await
    }

    async fn trash_photo(
        &self,
        ws: WorkspaceId,
        photo: PhotoId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::update(photos::table.find(photo.to_string()))
                .filter(photos::workspace_id.eq(ws.to_string()))
                .filter(photos::deleted_at.is_null())
                .set(photos::deleted_at.eq(micros(at)))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn trashed_photo(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        photo: PhotoId,
    ) -> StoreResult<Option<(Photo, JobAccess)>> {
        self.run(move |c| with_access(c, actor, ws, photo, true)).await
    }

    async fn restore_photo(&self, ws: WorkspaceId, photo: PhotoId, audit: AuditDraft) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::update(photos::table.find(photo.to_string()))
                .filter(photos::workspace_id.eq(ws.to_string()))
                .filter(photos::deleted_at.is_not_null())
                .set(photos::deleted_at.eq(None::<i64>))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn purge_photo(
        &self,
        ws: WorkspaceId,
        photo: PhotoId,
        cleanup: &NewTask,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let task = cleanup.clone();
        self.write(move |c| {
            let n = diesel::delete(photos::table.find(photo.to_string()))
                .filter(photos::workspace_id.eq(ws.to_string()))
                .filter(photos::deleted_at.is_not_null())
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            enqueue_in(c, &task)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }
}
