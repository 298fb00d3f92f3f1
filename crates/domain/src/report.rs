//! Photo reports: an ordered selection of one job's photos, each with an optional
//! caption, under a title and notes. A report belongs to its job, so the job's
//! permissions decide (as for photos); it shows only stripped variants of its photos.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::AuditDraft;
use crate::id::{JobId, PhotoId, ReportId, UserId, WorkspaceId};
use crate::page::{Page, PageRequest};
use crate::photo::Photo;
use crate::ports::{JobAccess, StoreResult};
use crate::text::{Caption, LongText, Name};

/// The most photos one report holds (a printed report of 200 pages is already long).
pub const MAX_ITEMS: usize = 200;

/// One photo of a report, in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportItem {
    /// The photo (a photo of the report's job).
    pub photo_id: PhotoId,
    /// What the photo shows, for the reader.
    pub caption: Option<Caption>,
}

/// A photo report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Its id.
    pub id: ReportId,
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The job whose photos it shows.
    pub job_id: JobId,
    /// Title.
    pub title: Name,
    /// Notes shown above the photos.
    pub notes: Option<LongText>,
    /// The photos, in order.
    pub items: Vec<ReportItem>,
    /// Who made it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When it went to trash.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A report's item with its photo's record, as read for showing it. A photo in trash
/// stays in the report (restoring it brings it back) but is not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEntry {
    /// The photo's record (`deleted_at` set while it is in trash).
    pub photo: Photo,
    /// Its caption in this report.
    pub caption: Option<Caption>,
}

impl ReportEntry {
    /// Whether the photo can be shown: live and with its stripped variants made.
    pub fn showable(&self) -> bool {
        self.photo.is_showable()
    }
}

/// Reports. Contract: a report is reachable only through its live job (a report of a
/// trashed job is not found); reads return the actor's access facts on the job in the
/// same statement; writes check that every item is a live photo of the report's job in
/// the same transaction (`Conflict::ForeignPhoto` otherwise, nothing written). Purging
/// a photo removes it from every report.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Stores a new report with its items.
    async fn create_report(&self, report: &Report, audit: AuditDraft) -> StoreResult<()>;
    /// The report (live, or trashed if `trashed`) with its entries in order and the
    /// actor's access facts on its job, in one statement; `None` if it is not a report
    /// of `job` in `ws`, or the actor is not a member there.
    async fn report_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        job: JobId,
        report: ReportId,
        trashed: bool,
    ) -> StoreResult<Option<(Report, Vec<ReportEntry>, JobAccess)>>;
    /// A page of a job's live reports (with their items), newest first.
    async fn reports_of_job(&self, ws: WorkspaceId, job: JobId, page: PageRequest) -> StoreResult<Page<Report>>;
    /// Replaces a live report's title, notes and (when `items_changed`) items, if it
    /// was not changed since `read_at` (`Conflict::Stale` otherwise).
    async fn update_report(
        &self,
        report: &Report,
        read_at: DateTime<Utc>,
        items_changed: bool,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// Moves a live report to trash; `NotFound` if there is none.
    async fn trash_report(
        &self,
        ws: WorkspaceId,
        report: ReportId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// Brings a trashed report back; `NotFound` if it is not in trash.
    async fn restore_report(&self, ws: WorkspaceId, report: ReportId, audit: AuditDraft) -> StoreResult<()>;
    /// Deletes a trashed report and its items for good; `NotFound` if it is not in trash.
    async fn purge_report(&self, ws: WorkspaceId, report: ReportId, audit: AuditDraft) -> StoreResult<()>;
}
