//! Report use cases. A report belongs to a job, so the job's permissions decide, as
//! for photos: reading a report is `ViewJob`; making, editing, reordering, trashing and
//! restoring one is `UpdateJob`; purging it for good is `DeleteJob`.

use std::collections::HashSet;

use serde_json::json;

use super::Workvault;
use super::photos::{blob_error, check};
use crate::Ctx;
use crate::blob::ByteStream;
use crate::error::{Error, field};
use crate::id::{JobId, PhotoId, ReportId, WorkspaceId};
use crate::images::variant_key;
use crate::page::{Page, PageRequest};
use crate::photo::Variant;
use crate::policy::Action;
use crate::report::{MAX_ITEMS, Report, ReportEntry, ReportItem};
use crate::text::{Caption, LongText, Name};

/// One photo of a report as a caller sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemInput {
    /// The photo.
    pub photo_id: PhotoId,
    /// Its caption.
    pub caption: Option<String>,
}

/// A new report.
#[derive(Debug, Clone, Default)]
pub struct NewReport {
    /// Title.
    pub title: String,
    /// Notes.
    pub notes: Option<String>,
    /// The photos, in order.
    pub items: Vec<ItemInput>,
}

/// A change to a report; `None` leaves a field as it is, `Some(None)` clears the notes.
/// `items`, when given, is the whole new selection in its new order (a reorder sends
/// the same photos in another order).
#[derive(Debug, Clone, Default)]
pub struct ReportChange {
    /// New title.
    pub title: Option<String>,
    /// New notes.
    pub notes: Option<Option<String>>,
    /// The new selection.
    pub items: Option<Vec<ItemInput>>,
}

/// A report as the actor may read it: the record and its entries, in order. Made only
/// by the domain once a read was authorized, so holding one is permission to read the
/// stripped variants of its showable photos ([`Workvault::report_photo`]).
#[derive(Debug, Clone)]
pub struct ReportView {
    report: Report,
    entries: Vec<ReportEntry>,
}

impl ReportView {
    /// A view of what a caller was authorized to read (here or through a share link).
    pub(super) fn new(report: Report, entries: Vec<ReportEntry>) -> Self {
        Self { report, entries }
    }

    /// The report.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Its photos, in order (trashed and unprocessed ones included, see
    /// [`ReportEntry::showable`]).
    pub fn entries(&self) -> &[ReportEntry] {
        &self.entries
    }

    /// The entries that can be shown, in order.
    pub fn showable(&self) -> impl Iterator<Item = &ReportEntry> {
        self.entries.iter().filter(|e| e.showable())
    }
}

fn items(raw: Vec<ItemInput>) -> Result<Vec<ReportItem>, Error> {
    if raw.len() > MAX_ITEMS {
        return Err(Error::invalid("items", format!("a report holds at most {MAX_ITEMS} photos")));
    }
    let mut seen = HashSet::with_capacity(raw.len());
    raw.into_iter()
        .map(|item| {
            if !seen.insert(item.photo_id) {
                return Err(Error::invalid("items", format!("photo {} is in the report twice", item.photo_id)));
            }
            let caption = item.caption.as_deref().map(Caption::parse).transpose().map_err(field("caption"))?;
            Ok(ReportItem { photo_id: item.photo_id, caption })
        })
        .collect()
}

impl Workvault {
    async fn authorize_report(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        job: JobId,
        id: ReportId,
        action: Action,
        trashed: bool,
    ) -> Result<ReportView, Error> {
        let found = self.store.report_for(ctx.user, ws, job, id, trashed).await?;
        let (report, entries, access) = found.ok_or(Error::NotFound)?;
        check(access, action)?;
        Ok(ReportView { report, entries })
    }

    /// Makes a report of `job`'s photos.
    pub async fn create_report(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId, new: NewReport) -> Result<Report, Error> {
        let title = Name::parse(&new.title).map_err(field("title"))?;
        let notes = new.notes.as_deref().map(LongText::parse).transpose().map_err(field("notes"))?;
        let items = items(new.items)?;
        self.authorize_job(ctx, ws, job, Action::UpdateJob).await?;
        let now = self.now();
        let report = Report {
            id: ReportId::generate(&*self.clock, &*self.rng),
            workspace_id: ws,
            job_id: job,
            title,
            notes,
            items,
            created_by: ctx.user,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let details = json!({"job_id": job, "title": report.title, "photos": report.items.len()});
        let audit = self.audit(ctx, ws, "report.created", ("report", report.id.to_string()), details);
        self.store.create_report(&report, audit).await?;
        Ok(report)
    }

    /// A page of a job's reports, newest first.
    pub async fn reports(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        job: JobId,
        page: PageRequest,
    ) -> Result<Page<Report>, Error> {
        self.authorize_job(ctx, ws, job, Action::ViewJob).await?;
        Ok(self.store.reports_of_job(ws, job, page).await?)
    }

    /// One report with its photos' records, authorized in one store statement.
    pub async fn report(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId, id: ReportId) -> Result<ReportView, Error> {
        self.authorize_report(ctx, ws, job, id, Action::ViewJob, false).await
    }

    /// Edits, reorders or reselects a report's photos.
    pub async fn update_report(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        job: JobId,
        id: ReportId,
        change: ReportChange,
    ) -> Result<ReportView, Error> {
        let title = change.title.as_deref().map(Name::parse).transpose().map_err(field("title"))?;
        let notes =
            change.notes.map(|n| n.as_deref().map(LongText::parse).transpose()).transpose().map_err(field("notes"))?;
        let new_items = change.items.map(items).transpose()?;
        let current = self.authorize_report(ctx, ws, job, id, Action::UpdateJob, false).await?;
        let before = &current.report;
        let mut after = before.clone();
        if let Some(title) = title {
            after.title = title;
        }
        if let Some(notes) = notes {
            after.notes = notes;
        }
        if let Some(items) = new_items {
            after.items = items;
        }
        if after == *before {
            return Ok(current);
        }
        after.updated_at = self.now();
        let items_changed = after.items != before.items;
        let mut changed = Vec::new();
        for (name, differs) in
            [("title", after.title != before.title), ("notes", after.notes != before.notes), ("items", items_changed)]
        {
            if differs {
                changed.push(name);
            }
        }
        let details = json!({"job_id": job, "fields": changed, "photos": after.items.len()});
        let audit = self.audit(ctx, ws, "report.updated", ("report", id.to_string()), details);
        self.store.update_report(&after, before.updated_at, items_changed, audit).await?;
        // Read back: the entries carry the photos' records, which the change may have
        // added.
        self.authorize_report(ctx, ws, job, id, Action::ViewJob, false).await
    }

    /// Moves a report to trash (restorable).
    pub async fn trash_report(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId, id: ReportId) -> Result<(), Error> {
        self.authorize_report(ctx, ws, job, id, Action::UpdateJob, false).await?;
        let audit = self.audit(ctx, ws, "report.trashed", ("report", id.to_string()), json!({"job_id": job}));
        Ok(self.store.trash_report(ws, id, self.now(), audit).await?)
    }

    /// Brings a report back from trash.
    pub async fn restore_report(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        job: JobId,
        id: ReportId,
    ) -> Result<ReportView, Error> {
        let mut view = self.authorize_report(ctx, ws, job, id, Action::UpdateJob, true).await?;
        let audit = self.audit(ctx, ws, "report.restored", ("report", id.to_string()), json!({"job_id": job}));
        self.store.restore_report(ws, id, audit).await?;
        view.report.deleted_at = None;
        Ok(view)
    }

    /// Deletes a trashed report for good (its photos stay).
    pub async fn purge_report(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId, id: ReportId) -> Result<(), Error> {
        let view = self.authorize_report(ctx, ws, job, id, Action::DeleteJob, true).await?;
        let details = json!({"job_id": job, "title": view.report.title});
        let audit = self.audit(ctx, ws, "report.purged", ("report", id.to_string()), details);
        Ok(self.store.purge_report(ws, id, audit).await?)
    }

    /// The bytes of a stripped variant (`large` or `thumb`) of one of the report's
    /// showable photos, streamed and decrypted. No store statement: the view is the
    /// authorization. The original is never part of a report.
    pub async fn report_photo(
        &self,
        view: &ReportView,
        photo: PhotoId,
        variant: Variant,
    ) -> Result<(u64, ByteStream), Error> {
        if variant == Variant::Original {
            return Err(Error::invalid("variant", "a report shows the stripped variants only"));
        }
        let entry = view.showable().find(|e| e.photo.id == photo).ok_or(Error::NotFound)?;
        let size = entry.photo.variant_size(variant).ok_or(Error::VariantNotReady)?;
        let key = variant_key(view.report.workspace_id, photo, variant);
        let body = self.blobs()?.get(&key, size, 0..size).await.map_err(blob_error)?;
        Ok((size, body))
    }
}
