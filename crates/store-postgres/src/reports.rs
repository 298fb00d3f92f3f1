//! Reports on PostgreSQL. A report is read with its items, their photos and the
//! actor's access facts on its job in one statement; writes check the selection
//! against the job's live photos in the same transaction, holding those rows
//! (`FOR SHARE`) so a concurrent trash or purge waits for the write to finish.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{JobId, PhotoId, ReportId, UserId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::ports::{Conflict, JobAccess, StoreError, StoreResult};
use workvault_domain::report::{Report, ReportEntry, ReportItem, ReportStore};
use workvault_domain::text::{Caption, LongText, Name};

use crate::audit::append;
use crate::jobs::cursor_time;
use crate::rows::{PhotoRow, role, text};
use crate::schema::{grants, jobs, memberships, photos, report_items, reports};
use crate::{Db, PgStore, read, write_tx};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = reports)]
pub(crate) struct ReportRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub job_id: Uuid,
    pub title: String,
    pub notes: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = report_items)]
pub(crate) struct ItemRow {
    pub report_id: Uuid,
    pub position: i32,
    pub photo_id: Uuid,
    pub caption: Option<String>,
}

impl ReportRow {
    pub fn from_domain(r: &Report) -> Self {
        Self {
            id: *r.id.as_uuid(),
            workspace_id: *r.workspace_id.as_uuid(),
            job_id: *r.job_id.as_uuid(),
            title: r.title.to_string(),
            notes: r.notes.as_ref().map(|n| n.to_string()),
            created_by: *r.created_by.as_uuid(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        }
    }

    pub fn into_domain(self, items: Vec<ReportItem>) -> Result<Report, StoreError> {
        Ok(Report {
            id: ReportId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            job_id: JobId::from_uuid(self.job_id),
            title: text("report title", &self.title, Name::parse)?,
            notes: self.notes.as_deref().map(|n| text("report notes", n, LongText::parse)).transpose()?,
            items,
            created_by: UserId::from_uuid(self.created_by),
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
        })
    }
}

impl ItemRow {
    pub fn of(report: &Report) -> Vec<Self> {
        (0..)
            .zip(&report.items)
            .map(|(position, item)| Self {
                report_id: *report.id.as_uuid(),
                position,
                photo_id: *item.photo_id.as_uuid(),
                caption: item.caption.as_ref().map(|c| c.to_string()),
            })
            .collect()
    }

    pub fn into_domain(self) -> Result<ReportItem, StoreError> {
        Ok(ReportItem {
            photo_id: PhotoId::from_uuid(self.photo_id),
            caption: self.caption.as_deref().map(|c| text("caption", c, Caption::parse)).transpose()?,
        })
    }
}

/// Refuses a selection that names anything but live photos of the report's job, and
/// holds the photos' rows until the transaction ends.
async fn check_selection(c: &mut AsyncPgConnection, report: &Report) -> Result<(), Db> {
    if report.items.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = report.items.iter().map(|i| *i.photo_id.as_uuid()).collect();
    let live: Vec<Uuid> = photos::table
        .filter(photos::workspace_id.eq(*report.workspace_id.as_uuid()))
        .filter(photos::job_id.eq(*report.job_id.as_uuid()))
        .filter(photos::deleted_at.is_null())
        .filter(photos::id.eq_any(&ids))
        .select(photos::id)
        .for_share()
        .load(c)
        .await?;
    if live.len() != ids.len() {
        return Err(Db(StoreError::Conflict(Conflict::ForeignPhoto)));
    }
    Ok(())
}

pub(crate) async fn insert_items(c: &mut AsyncPgConnection, report: &Report) -> Result<(), Db> {
    let rows = ItemRow::of(report);
    if !rows.is_empty() {
        diesel::insert_into(report_items::table).values(&rows).execute(c).await?;
    }
    Ok(())
}

/// The items of some reports, grouped by report, in order.
pub(crate) async fn items_of(c: &mut AsyncPgConnection, ids: Vec<Uuid>) -> Result<HashMap<Uuid, Vec<ReportItem>>, Db> {
    let rows: Vec<ItemRow> = report_items::table
        .filter(report_items::report_id.eq_any(ids))
        .order((report_items::report_id, report_items::position))
        .select(ItemRow::as_select())
        .load(c)
        .await?;
    let mut grouped: HashMap<Uuid, Vec<ReportItem>> = HashMap::new();
    for row in rows {
        grouped.entry(row.report_id).or_default().push(row.into_domain()?);
    }
    Ok(grouped)
}

type ReadRow = (ReportRow, String, Option<Uuid>, Option<(i32, Option<String>)>, Option<PhotoRow>);

/// One row of a report read: the report, then one item and its photo (none when the
/// report has no items: the left joins' empty side).
pub(crate) type ItemRead = (ReportRow, Option<(i32, Option<String>)>, Option<PhotoRow>);

/// The report and its entries, in order, from the rows of one read.
pub(crate) fn report_and_entries(
    rows: impl IntoIterator<Item = ItemRead>,
) -> Result<Option<(Report, Vec<ReportEntry>)>, StoreError> {
    let mut head = None;
    let (mut items, mut entries) = (Vec::new(), Vec::new());
    for (row, item, photo) in rows {
        if let (Some((_, caption)), Some(photo)) = (item, photo) {
            let photo = photo.into_domain()?;
            let caption = caption.as_deref().map(|c| text("caption", c, Caption::parse)).transpose()?;
            items.push(ReportItem { photo_id: photo.id, caption: caption.clone() });
            entries.push(ReportEntry { photo, caption });
        }
        head.get_or_insert(row);
    }
    let Some(head) = head else { return Ok(None) };
    Ok(Some((head.into_domain(items)?, entries)))
}

/// Turns the rows of the one-statement read into the report, its entries and the
/// actor's access.
fn assemble(rows: Vec<ReadRow>) -> Result<Option<(Report, Vec<ReportEntry>, JobAccess)>, StoreError> {
    let Some((_, actor_role, grant, _, _)) = <[ReadRow]>::first(&rows) else { return Ok(None) };
    let access = JobAccess { role: role(actor_role)?, granted: grant.is_some() };
    let found = report_and_entries(rows.into_iter().map(|(r, _, _, item, photo)| (r, item, photo)))?;
    Ok(found.map(|(report, entries)| (report, entries, access)))
}

#[async_trait]
impl ReportStore for PgStore {
    async fn create_report(&self, report: &Report, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            check_selection(c, report).await?;
            diesel::insert_into(reports::table).values(ReportRow::from_domain(report)).execute(c).await?;
            insert_items(c, report).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn report_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        job: JobId,
        report: ReportId,
        trashed: bool,
    ) -> StoreResult<Option<(Report, Vec<ReportEntry>, JobAccess)>> {
        read!(self, |c| {
            let rows: Vec<ReadRow> = reports::table
                .inner_join(jobs::table.on(jobs::id.eq(reports::job_id).and(jobs::deleted_at.is_null())))
                .inner_join(memberships::table.on(
                    memberships::workspace_id.eq(reports::workspace_id).and(memberships::user_id.eq(*actor.as_uuid())),
                ))
                .left_join(
                    grants::table.on(grants::job_id.eq(reports::job_id).and(grants::user_id.eq(memberships::user_id))),
                )
                .left_join(report_items::table.on(report_items::report_id.eq(reports::id)))
                .left_join(photos::table.on(photos::id.eq(report_items::photo_id)))
                .filter(reports::id.eq(*report.as_uuid()))
                .filter(reports::workspace_id.eq(*ws.as_uuid()))
                .filter(reports::job_id.eq(*job.as_uuid()))
                .filter(reports::deleted_at.is_null().eq(!trashed))
                .order(report_items::position)
                .select((
                    ReportRow::as_select(),
                    memberships::role,
                    grants::user_id.nullable(),
                    (report_items::position, report_items::caption).nullable(),
                    // In table order, as `PhotoRow` is laid out.
                    photos::all_columns.nullable(),
                ))
                .load(c)
                .await?;
            Ok(assemble(rows)?)
        })
    }

    async fn reports_of_job(&self, ws: WorkspaceId, job: JobId, page: PageRequest) -> StoreResult<Page<Report>> {
        let (at, id) = match page.after {
            Some(after) => (cursor_time(after.key)?, after.id),
            None => (DateTime::<Utc>::MAX_UTC, Uuid::max()),
        };
        read!(self, |c| {
            let rows: Vec<ReportRow> = reports::table
                .filter(reports::workspace_id.eq(*ws.as_uuid()))
                .filter(reports::job_id.eq(*job.as_uuid()))
                .filter(reports::deleted_at.is_null())
                .filter(reports::created_at.lt(at).or(reports::created_at.eq(at).and(reports::id.lt(id))))
                .order((reports::created_at.desc(), reports::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select(ReportRow::as_select())
                .load(c)
                .await?;
            let mut items = items_of(c, rows.iter().map(|r| r.id).collect()).await?;
            let reports = rows
                .into_iter()
                .map(|r| {
                    let its = items.remove(&r.id).unwrap_or_default();
                    r.into_domain(its)
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Page::from_rows(reports, page.limit, |r| Cursor {
                key: r.created_at.timestamp_micros(),
                id: *r.id.as_uuid(),
            }))
        })
    }

    async fn update_report(
        &self,
        report: &Report,
        read_at: DateTime<Utc>,
        items_changed: bool,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let row = ReportRow::from_domain(report);
        write_tx!(self, |c| {
            let n = diesel::update(reports::table.find(row.id))
                .filter(reports::workspace_id.eq(row.workspace_id))
                .filter(reports::deleted_at.is_null())
                .filter(reports::updated_at.eq(read_at))
                .set((
                    reports::title.eq(&row.title),
                    reports::notes.eq(&row.notes),
                    reports::updated_at.eq(row.updated_at),
                ))
                .execute(c)
                .await?;
            if n == 0 {
                let live: bool = diesel::select(diesel::dsl::exists(
                    reports::table.find(row.id).filter(reports::deleted_at.is_null()).select(reports::id),
                ))
                .get_result(c)
                .await?;
                return Err(Db(if live { StoreError::Conflict(Conflict::Stale) } else { StoreError::NotFound }));
            }
            if items_changed {
                check_selection(c, report).await?;
                diesel::delete(report_items::table.filter(report_items::report_id.eq(row.id))).execute(c).await?;
                insert_items(c, report).await?;
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn trash_report(
        &self,
        ws: WorkspaceId,
        report: ReportId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(reports::table.find(*report.as_uuid()))
                .filter(reports::workspace_id.eq(*ws.as_uuid()))
                .filter(reports::deleted_at.is_null())
                .set(reports::deleted_at.eq(at))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn restore_report(&self, ws: WorkspaceId, report: ReportId, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(reports::table.find(*report.as_uuid()))
                .filter(reports::workspace_id.eq(*ws.as_uuid()))
                .filter(reports::deleted_at.is_not_null())
                .set(reports::deleted_at.eq(None::<DateTime<Utc>>))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn purge_report(&self, ws: WorkspaceId, report: ReportId, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            // Items go with the report (ON DELETE CASCADE).
            let n = diesel::delete(reports::table.find(*report.as_uuid()))
                .filter(reports::workspace_id.eq(*ws.as_uuid()))
                .filter(reports::deleted_at.is_not_null())
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }
}
