//! Reports on SQLite. A report is read with its items, their photos and the actor's
//! access facts on its job in one statement; writes check the selection against the
//! job's live photos in the same transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{JobId, ReportId, UserId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::ports::{Conflict, JobAccess, StoreError, StoreResult};
use workvault_domain::report::{Report, ReportEntry, ReportItem, ReportStore};
use workvault_domain::text::{Caption, LongText, Name};

use crate::audit::append;
use crate::rows::{PhotoRow, id, micros, opt_time, role, text, time};
use crate::schema::{grants, jobs, memberships, photos, report_items, reports};
use crate::{Db, SqliteStore};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = reports)]
pub(crate) struct ReportRow {
    pub id: String,
    pub workspace_id: String,
    pub job_id: String,
    pub title: String,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = report_items)]
pub(crate) struct ItemRow {
    pub report_id: String,
    pub position: i32,
    pub photo_id: String,
    pub caption: Option<String>,
}

impl ReportRow {
    pub fn from_domain(r: &Report) -> Self {
        Self {
            id: r.id.to_string(),
            workspace_id: r.workspace_id.to_string(),
            job_id: r.job_id.to_string(),
            title: r.title.to_string(),
            notes: r.notes.as_ref().map(|n| n.to_string()),
            created_by: r.created_by.to_string(),
            created_at: micros(r.created_at),
            updated_at: micros(r.updated_at),
            deleted_at: r.deleted_at.map(micros),
        }
    }

    pub fn into_domain(self, items: Vec<ReportItem>) -> Result<Report, StoreError> {
        Ok(Report {
            id: id(&self.id)?,
            workspace_id: id(&self.workspace_id)?,
            job_id: id(&self.job_id)?,
            title: text("report title", &self.title, Name::parse)?,
            notes: self.notes.as_deref().map(|n| text("report notes", n, LongText::parse)).transpose()?,
            items,
            created_by: id(&self.created_by)?,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
            deleted_at: opt_time(self.deleted_at)?,
        })
    }
}

impl ItemRow {
    pub fn of(report: &Report) -> Vec<Self> {
        let report_id = report.id.to_string();
        (0..)
            .zip(&report.items)
            .map(|(position, item)| Self {
                report_id: report_id.clone(),
                position,
                photo_id: item.photo_id.to_string(),
                caption: item.caption.as_ref().map(|c| c.to_string()),
            })
            .collect()
    }

    pub fn into_domain(self) -> Result<ReportItem, StoreError> {
        Ok(ReportItem {
            photo_id: id(&self.photo_id)?,
            caption: self.caption.as_deref().map(|c| text("caption", c, Caption::parse)).transpose()?,
        })
    }
}

/// Refuses a selection that names anything but live photos of the report's job.
fn check_selection(c: &mut SqliteConnection, report: &Report) -> Result<(), Db> {
    if report.items.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = report.items.iter().map(|i| i.photo_id.to_string()).collect();
    let live: i64 = photos::table
        .filter(photos::workspace_id.eq(report.workspace_id.to_string()))
        .filter(photos::job_id.eq(report.job_id.to_string()))
        .filter(photos::deleted_at.is_null())
        .filter(photos::id.eq_any(&ids))
        .count()
        .get_result(c)?;
    if usize::try_from(live).ok() != Some(ids.len()) {
        return Err(Db(StoreError::Conflict(Conflict::ForeignPhoto)));
    }
    Ok(())
}

pub(crate) fn insert_items(c: &mut SqliteConnection, report: &Report) -> Result<(), Db> {
    let rows = ItemRow::of(report);
    if !rows.is_empty() {
        diesel::insert_into(report_items::table).values(&rows).execute(c)?;
    }
    Ok(())
}

/// The items of some reports, grouped by report, in order.
pub(crate) fn items_of(c: &mut SqliteConnection, ids: Vec<String>) -> Result<HashMap<String, Vec<ReportItem>>, Db> {
    let rows: Vec<ItemRow> = report_items::table
        .filter(report_items::report_id.eq_any(ids))
        .order((report_items::report_id, report_items::position))
        .select(ItemRow::as_select())
        .load(c)?;
    let mut grouped: HashMap<String, Vec<ReportItem>> = HashMap::new();
    for row in rows {
        let report = row.report_id.clone();
        grouped.entry(report).or_default().push(row.into_domain()?);
    }
    Ok(grouped)
}

type ReadRow = (ReportRow, String, Option<String>, Option<(i32, Option<String>)>, Option<PhotoRow>);

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
impl ReportStore for SqliteStore {
    async fn create_report(&self, report: &Report, audit: AuditDraft) -> StoreResult<()> {
        let report = report.clone();
        self.write(move |c| {
            check_selection(c, &report)?;
            diesel::insert_into(reports::table).values(ReportRow::from_domain(&report)).execute(c)?;
            insert_items(c, &report)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn report_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        job: JobId,
        report: ReportId,
        trashed: bool,
    ) -> StoreResult<Option<(Report, Vec<ReportEntry>, JobAccess)>> {
        self.run(move |c| {
            let rows: Vec<ReadRow> = reports::table
                .inner_join(jobs::table.on(jobs::id.eq(reports::job_id).and(jobs::deleted_at.is_null())))
                .inner_join(memberships::table.on(
                    memberships::workspace_id.eq(reports::workspace_id).and(memberships::user_id.eq(actor.to_string())),
                ))
                .left_join(
                    grants::table.on(grants::job_id.eq(reports::job_id).and(grants::user_id.eq(memberships::user_id))),
                )
                .left_join(report_items::table.on(report_items::report_id.eq(reports::id)))
                .left_join(photos::table.on(photos::id.eq(report_items::photo_id)))
                .filter(reports::id.eq(report.to_string()))
                .filter(reports::workspace_id.eq(ws.to_string()))
                .filter(reports::job_id.eq(job.to_string()))
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
                .load(c)?;
            Ok(assemble(rows)?)
        })
        .await
    }

    async fn reports_of_job(&self, ws: WorkspaceId, job: JobId, page: PageRequest) -> StoreResult<Page<Report>> {
        self.run(move |c| {
            let (key, id) = match page.after {
                Some(after) => (after.key, after.id.to_string()),
                None => (i64::MAX, String::from("~")),
            };
            let rows: Vec<ReportRow> = reports::table
                .filter(reports::workspace_id.eq(ws.to_string()))
                .filter(reports::job_id.eq(job.to_string()))
                .filter(reports::deleted_at.is_null())
                .filter(reports::created_at.lt(key).or(reports::created_at.eq(key).and(reports::id.lt(id))))
                .order((reports::created_at.desc(), reports::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select(ReportRow::as_select())
                .load(c)?;
            let mut items = items_of(c, rows.iter().map(|r| r.id.clone()).collect())?;
            let reports = rows
                .into_iter()
                .map(|r| {
                    let its = items.remove(&r.id).unwrap_or_default();
                    r.into_domain(its)
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Page::from_rows(reports, page.limit, |r| Cursor { key: micros(r.created_at), id: *r.id.as_uuid() }))
        })
        .await
    }

    async fn update_report(
        &self,
        report: &Report,
        read_at: DateTime<Utc>,
        items_changed: bool,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let report = report.clone();
        self.write(move |c| {
            let row = ReportRow::from_domain(&report);
            let n = diesel::update(reports::table.find(&row.id))
                .filter(reports::workspace_id.eq(&row.workspace_id))
                .filter(reports::deleted_at.is_null())
                .filter(reports::updated_at.eq(micros(read_at)))
                .set((
                    reports::title.eq(&row.title),
                    reports::notes.eq(&row.notes),
                    reports::updated_at.eq(row.updated_at),
                ))
                .execute(c)?;
            if n == 0 {
                let live: bool = diesel::select(diesel::dsl::exists(
                    reports::table.find(&row.id).filter(reports::deleted_at.is_null()).select(reports::id),
                ))
                .get_result(c)?;
                return Err(Db(if live { StoreError::Conflict(Conflict::Stale) } else { StoreError::NotFound }));
            }
            if items_changed {
                check_selection(c, &report)?;
                diesel::delete(report_items::table.filter(report_items::report_id.eq(&row.id))).execute(c)?;
                insert_items(c, &report)?;
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn trash_report(
        &self,
        ws: WorkspaceId,
        report: ReportId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::update(reports::table.find(report.to_string()))
                .filter(reports::workspace_id.eq(ws.to_string()))
                .filter(reports::deleted_at.is_null())
                .set(reports::deleted_at.eq(micros(at)))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn restore_report(&self, ws: WorkspaceId, report: ReportId, audit: AuditDraft) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::update(reports::table.find(report.to_string()))
                .filter(reports::workspace_id.eq(ws.to_string()))
                .filter(reports::deleted_at.is_not_null())
                .set(reports::deleted_at.eq(None::<i64>))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn purge_report(&self, ws: WorkspaceId, report: ReportId, audit: AuditDraft) -> StoreResult<()> {
        self.write(move |c| {
            // Items go with the report (ON DELETE CASCADE).
            let n = diesel::delete(reports::table.find(report.to_string()))
                .filter(reports::workspace_id.eq(ws.to_string()))
                .filter(reports::deleted_at.is_not_null())
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }
}
